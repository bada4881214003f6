/*
 * blob_arena.c - event text of window entries, carved from shared chunks
 * (see blob_arena.h).
 *
 * One event typically feeds several correlation windows, so its evidence
 * and fields are stored once and shared: the arena hands the last blob
 * out again while the content is the same event's.  Blobs are carved from
 * chunks (64 KiB for event text) in arrival order and counted per chunk,
 * not per blob:
 * entries are trimmed roughly in time order, so most releases hit one of
 * the few chunks of a timespan ago, and a chunk is freed when its last
 * entry goes.  (A long-lived window can pin a chunk: bounded by the
 * windows' own lifetimes.)
 *
 * The reference counts live in a small dense table indexed by chunk
 * number, not in the chunks: a release then touches a table line that
 * stays in cache instead of a chunk header.  (Headers at 64 KiB-aligned
 * addresses would also all fall into the same few cache sets.)  A few
 * emptied chunks are kept for reuse, so a steady stream does not keep
 * returning memory to the allocator and faulting it in again.
 */
#include "blob_arena.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX


void blob_arena_init(struct blob_arena *a, size_t chunk_size)
{
    memset(a, 0, sizeof *a);
    a->chunk_size = chunk_size;
    a->open = NONE;
    a->last_chunk = NONE;
}

void blob_arena_free(struct blob_arena *a)
{
    for (uint32_t i = 0; i < a->nchunks; i++)
        free(a->chunks[i].mem);
    for (size_t i = 0; i < a->nspare; i++)
        free(a->spare[i]);
    free(a->chunks);
    free(a->free_slots);
    blob_arena_init(a, a->chunk_size);
}

void blob_arena_release(struct blob_arena *a, uint32_t c)
{
    struct blob_chunk *ch = &a->chunks[c];
    if (--ch->refs)
        return;
    a->bytes -= ch->size;
    if (ch->size == a->chunk_size && a->nspare < BLOB_SPARE_MAX)
        a->spare[a->nspare++] = ch->mem;
    else
        free(ch->mem);
    ch->mem = NULL;
    if (a->open == c)
        a->open = NONE;
    if (a->nfree == a->free_cap) {
        a->free_cap = a->free_cap ? a->free_cap * 2 : 64;
        a->free_slots = aw_xrealloc(a->free_slots, a->free_cap * sizeof *a->free_slots);
    }
    a->free_slots[a->nfree++] = c;
}

/* A new chunk of at least `need` bytes becomes the open one. */
static void open_chunk(struct blob_arena *a, size_t need)
{
    size_t size = need > a->chunk_size ? need : a->chunk_size;
    char *mem = size == a->chunk_size && a->nspare ? a->spare[--a->nspare] : aw_xmalloc(size);
    uint32_t c;
    if (a->nfree) {
        c = a->free_slots[--a->nfree];
    } else {
        if (a->nchunks == a->chunks_cap) {
            a->chunks_cap = a->chunks_cap ? a->chunks_cap * 2 : 64;
            a->chunks = aw_xrealloc(a->chunks, a->chunks_cap * sizeof *a->chunks);
        }
        c = a->nchunks++;
    }
    a->chunks[c] = (struct blob_chunk){mem, size, 0, 1}; /* the arena's hold while open */
    a->bytes += size;
    uint32_t old = a->open;
    a->open = c;
    if (old != NONE)
        blob_arena_release(a, old);
}

/* Room for n bytes in the open chunk, held once for the caller. */
static char *carve(struct blob_arena *a, size_t n, uint32_t *chunk)
{
    size_t need = (n + 7) & ~(size_t)7;
    if (a->open == NONE || a->chunks[a->open].used + need > a->chunks[a->open].size)
        open_chunk(a, need);
    struct blob_chunk *ch = &a->chunks[a->open];
    char *b = ch->mem + ch->used;
    ch->used += need;
    ch->refs++;
    *chunk = a->open;
    return b;
}

uint32_t blob_arena_copy(struct blob_arena *a, const char *p, size_t n, char **data)
{
    uint32_t c;
    char *b = carve(a, n + 1, &c);
    if (n)
        memcpy(b, p, n);
    b[n] = '\0';
    *data = b;
    return c;
}

uint32_t blob_arena_put(struct blob_arena *a, uint64_t id, const char *p1, size_t n1, const char *p2,
                        size_t n2, const char **data)
{
    size_t len = n1 + n2;
    /* One event's entries carry its identity and the same content: no
     * need to compare (an upstream alert's entries are keyed by the
     * alert, each with content of its own). */
    if (a->last_chunk != NONE && a->last_len == len &&
        (a->last_id == id || ((!n1 || memcmp(a->last_data, p1, n1) == 0) &&
                              (!n2 || memcmp(a->last_data + n1, p2, n2) == 0)))) {
        a->chunks[a->last_chunk].refs++;
        a->last_id = id;
        *data = a->last_data;
        return a->last_chunk;
    }
    uint32_t c;
    char *b = carve(a, len, &c);
    a->chunks[c].refs++; /* one for the entry, one for last_chunk */
    if (n1)
        memcpy(b, p1, n1);
    if (n2)
        memcpy(b + n1, p2, n2);
    uint32_t old = a->last_chunk;
    a->last_chunk = c;
    a->last_data = b;
    a->last_len = len;
    a->last_id = id;
    if (old != NONE)
        blob_arena_release(a, old);
    *data = b;
    return c;
}
