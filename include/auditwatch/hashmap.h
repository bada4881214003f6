/*
 * hashmap.h - open-addressing hash map from 64-bit keys to pointers.
 *
 * Keys are already hashes (aw_hash64 of names and group values), so the
 * map uses them directly with linear probing and backward-shift deletion
 * (no tombstones, so lookups stay short after many deletions).  Key 0 is
 * reserved as "empty"; callers map a 0 key to 1.
 */
#ifndef AUDITWATCH_HASHMAP_H
#define AUDITWATCH_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

struct aw_hashmap {
    uint64_t *keys;
    void **values;
    size_t cap, n; /* cap is a power of two */
};

void aw_hashmap_init(struct aw_hashmap *m);
void aw_hashmap_free(struct aw_hashmap *m);
void *aw_hashmap_get(const struct aw_hashmap *m, uint64_t key);
/* Insert or replace. */
void aw_hashmap_put(struct aw_hashmap *m, uint64_t key, void *value);
/* Remove; returns the old value or NULL. */
void *aw_hashmap_remove(struct aw_hashmap *m, uint64_t key);
static inline uint64_t aw_hashmap_key(uint64_t h) { return h ? h : 1; }
/* Bytes held by the table itself. */
size_t aw_hashmap_bytes(const struct aw_hashmap *m);

#endif
