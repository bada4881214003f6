/*
 * hashmap.c - open-addressing hash map (see hashmap.h).
 *
 * Load factor is kept at or below 1/2; growth doubles the table and
 * reinserts.  Deletion shifts later members of the probe run back so that
 * no tombstones are needed.
 */
#include "auditwatch/hashmap.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>

void aw_hashmap_init(struct aw_hashmap *m)
{
    m->keys = NULL;
    m->values = NULL;
    m->cap = m->n = 0;
}

void aw_hashmap_free(struct aw_hashmap *m)
{
    free(m->keys);
    free(m->values);
    aw_hashmap_init(m);
}

static size_t slot_of(const struct aw_hashmap *m, uint64_t key)
{
    return (size_t)(key * 0x9E3779B97F4A7C15ULL >> 7) & (m->cap - 1);
}

static void grow(struct aw_hashmap *m)
{
    size_t old_cap = m->cap;
    uint64_t *old_keys = m->keys;
    void **old_values = m->values;
    m->cap = old_cap ? old_cap * 2 : 16;
    m->keys = aw_xcalloc(m->cap, sizeof *m->keys);
    m->values = aw_xcalloc(m->cap, sizeof *m->values);
    m->n = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old_keys[i])
            aw_hashmap_put(m, old_keys[i], old_values[i]);
    free(old_keys);
    free(old_values);
}

void *aw_hashmap_get(const struct aw_hashmap *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    for (size_t i = slot_of(m, key);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key)
            return m->values[i];
        if (m->keys[i] == 0)
            return NULL;
    }
}

void aw_hashmap_put(struct aw_hashmap *m, uint64_t key, void *value)
{
    if ((m->n + 1) * 2 > m->cap)
        grow(m);
    for (size_t i = slot_of(m, key);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key) {
            m->values[i] = value;
            return;
        }
        if (m->keys[i] == 0) {
            m->keys[i] = key;
            m->values[i] = value;
            m->n++;
            return;
        }
    }
}

void *aw_hashmap_remove(struct aw_hashmap *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1, i = slot_of(m, key);
    while (m->keys[i] != key) {
        if (m->keys[i] == 0)
            return NULL;
        i = (i + 1) & mask;
    }
    void *old = m->values[i];
    /* Backward-shift: move later members of the run into the hole when
     * their home slot allows it. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
        size_t home = slot_of(m, m->keys[j]);
        /* j may move to hole if home is not in (hole, j] cyclically. */
        int in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!in_range) {
            m->keys[hole] = m->keys[j];
            m->values[hole] = m->values[j];
            hole = j;
        }
    }
    m->keys[hole] = 0;
    m->values[hole] = NULL;
    m->n--;
    return old;
}

size_t aw_hashmap_bytes(const struct aw_hashmap *m)
{
    return m->cap * (sizeof *m->keys + sizeof *m->values);
}
