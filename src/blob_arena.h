/*
 * blob_arena.h - reference-counted storage of window entries' event text
 * for the memory store (blob_arena.c).
 *
 * A blob is the evidence and fields text of one event, shared by every
 * window entry the event feeds (or, with blob_arena_copy, any private
 * text: a window's group).  The caller keeps, per entry, the blob's
 * bytes pointer and its chunk number, and releases the chunk number when
 * the entry goes.
 */
#ifndef AUDITWATCH_BLOB_ARENA_H
#define AUDITWATCH_BLOB_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define BLOB_SPARE_MAX 8

struct blob_chunk {
    char *mem;   /* NULL: the slot is free */
    size_t size; /* bytes of mem */
    size_t used; /* bytes carved so far */
    size_t refs; /* blobs handed out from it, plus the arena's own holds */
};

struct blob_arena {
    struct blob_chunk *chunks; /* the chunk table, indexed by chunk number */
    uint32_t nchunks, chunks_cap;
    uint32_t *free_slots; /* chunk numbers of free table slots */
    uint32_t nfree, free_cap;
    uint32_t open; /* the chunk new blobs are carved from (UINT32_MAX: none) */
    /* the most recent blob, handed out again for the same content */
    uint32_t last_chunk; /* UINT32_MAX: none */
    const char *last_data;
    size_t last_len;
    uint64_t last_id;
    char *spare[BLOB_SPARE_MAX]; /* emptied standard chunks kept for reuse */
    size_t nspare;
    size_t bytes; /* bytes of the chunks in use (spares not counted) */
    size_t chunk_size;
};

/* chunk_size: the size of a chunk (a bigger blob gets one of its own). */
void blob_arena_init(struct blob_arena *a, size_t chunk_size);
void blob_arena_free(struct blob_arena *a);

/* The blob holding evidence then fields (n1 + n2 bytes), for an entry
 * whose dedupe identity is id: the previous blob when it was made for the
 * same id or holds the same bytes, else a new one.  Returns the blob's
 * chunk number (to release later) and its bytes in *data (valid until
 * that release).  Aborts when out of memory. */
uint32_t blob_arena_put(struct blob_arena *a, uint64_t id, const char *p1, size_t n1, const char *p2,
                        size_t n2, const char **data);

/* A private copy of n bytes plus a NUL (not shared with later puts);
 * returns its chunk number as blob_arena_put does. */
uint32_t blob_arena_copy(struct blob_arena *a, const char *p, size_t n, char **data);

/* An entry holding a blob of chunk number c is gone. */
void blob_arena_release(struct blob_arena *a, uint32_t c);

#endif
