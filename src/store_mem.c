/*
 * store_mem.c - the embedded window store (see store.h).
 *
 * Windows are found through an open-addressing index keyed by hash(rule)
 * mixed with the group hash; each slot holds the key next to the window
 * pointer, so a lookup costs one cache line of the index and then the
 * window itself.  A window holds its entries in a vector sorted by
 * (time, id): live entries are [start, start + n), so trimming old entries
 * is an index bump and appends (the usual, in-order case) are amortized
 * O(1); an out-of-order entry is placed by binary search on (time, id),
 * which also finds a duplicate (an event's identity implies its time).
 *
 * Replay is bound by memory latency, not instructions: every event of a
 * busy rule lands in a different, mostly cold window.  So a window is
 * three cache lines, laid out by use: line 0 what every lookup and add
 * reads (key, vector, times), line 1 the inline first entry (most groups
 * see one event) and the LRU links, line 2 the meta in compact form (the
 * rare alert id and the group text out of line).  Windows are carved from
 * 64-byte-aligned slabs.  Entries' event text lives in a blob arena
 * (blob_arena.c), shared by the windows one event feeds; windows' group
 * texts live in an arena of their own, so that they cost neither a malloc
 * nor, when the window expires cold, a free() that touches allocator
 * metadata.
 *
 * Memory is bounded two ways.  By event time: every window has a TTL
 * after its newest entry, measured against the clock the pipeline sets
 * (its watermark, so nothing still waiting for finalization expires), and
 * windows are kept in approximately least-recently-updated order (CLOCK:
 * an update only marks a window) so expired ones are found at the cold
 * end; a window that cannot expire soon (no TTL) goes round again rather
 * than hold back the others.  By a byte cap: when the accounted bytes
 * exceed it, the coldest windows are evicted whole and counted (a
 * warning-worthy event: raise the cap or lower timespans).
 *
 * Sets (first_seen, service map) are hash sets of member hashes with the
 * time each was first seen.  Pending finalizations are one binary min-heap
 * per rule.
 */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditwatch/hash.h"
#include "auditwatch/hashmap.h"
#include "auditwatch/store.h"
#include "blob_arena.h"
#include "xalloc.h"

struct mem_entry {
    int64_t time;
    uint64_t id, value;
    uint32_t tag, evidence_len, fields_len;
    uint32_t chunk;   /* the blob's chunk in the arena */
    const char *blob; /* evidence then fields */
};

struct mem_window {
    /* line 0: every lookup and add */
    alignas(64) uint64_t key; /* hash of rule and group: the window's name */
    struct mem_entry *entries; /* &one while cap is 1 */
    uint32_t start, n, cap;
    bool has_meta;
    bool finalizing; /* popped, pending_done not called yet */
    bool updated;    /* added to since it was put at the head of the LRU list */
    int64_t newest_time, ttl_ms;
    int64_t queued_time; /* time this window is queued for finalization at, or AW_TIME_NONE */
    /* line 1 */
    struct mem_entry one; /* most groups see one event: no array, no extra cache miss */
    struct mem_window *prev, *next; /* LRU: head = most recently updated */
    /* line 2: the meta (struct aw_window_meta) in compact form */
    char *group_json; /* NUL-terminated, in the blob arena */
    uint32_t group_len;
    uint32_t group_chunk; /* group_json's chunk in the arena */
    char *alert_id; /* owned copy of meta.alert_id, NULL while it is "" */
    int64_t cursor_time;
    uint64_t cursor_id;
    int64_t suppress_until;
    uint64_t suppress_entry;
};

_Static_assert(sizeof(struct mem_window) == 3 * 64, "a window is three cache lines");

/* The window index: open addressing, linear probing, load at most 1/2,
 * backward-shift deletion (as hashmap.c, with key and value side by side). */
struct win_slot {
    uint64_t key; /* 0: empty */
    struct mem_window *w;
};

struct win_index {
    struct win_slot *slots;
    size_t cap, n; /* cap is a power of two */
};

/* Windows are carved from slabs and recycled through a free list. */
#define SLAB_WINDOWS 256

struct slab {
    struct slab *next;
};

struct pending_item {
    int64_t time;
    uint64_t group_hash;
};

struct pending_heap {
    char *rule;
    struct pending_item *items;
    size_t n, cap;
};

struct mem_set {
    struct aw_hashmap members; /* member hash -> first-seen time (as uintptr) */
};

struct mem_store {
    struct aw_store base;
    struct win_index windows;
    struct aw_hashmap sets;
    struct aw_hashmap heaps; /* rule hash -> pending_heap */
    struct mem_window *lru_head, *lru_tail;
    size_t bytes, cap; /* accounted bytes: windows, entries, index (plus the arena's, total_bytes) */
    int64_t max_time; /* the event-time clock (set_clock) */
    struct blob_arena blobs;  /* entries' event text */
    struct blob_arena groups; /* windows' group texts: long-lived, kept apart so that they
                                 pin chunks of their own kind, not chunks of event text */
    struct mem_window *free_windows; /* recycled windows, linked through next */
    struct slab *slabs;
    struct mem_window *last_window; /* the window of the last lookup */
    struct pending_heap *last_heap; /* the heap of the last lookup */
    uint64_t last_heap_key;
    struct aw_store_stats st;
};

#define WINDOW_OVERHEAD (sizeof(struct mem_window) + 2 * sizeof(struct win_slot))
#define ENTRY_OVERHEAD (sizeof(struct mem_entry) + 16)



static size_t total_bytes(const struct mem_store *s) { return s->bytes + s->blobs.bytes + s->groups.bytes; }

uint64_t aw_store_rule_hash(const char *rule) { return aw_hash64(rule, strlen(rule), 0x52554c45); }

static uint64_t rule_hash(const char *rule) { return aw_store_rule_hash(rule); }

static uint64_t window_key(const struct aw_wkey *k)
{
    uint64_t rh = k->rule_hash ? k->rule_hash : rule_hash(k->rule);
    return aw_hashmap_key(rh ^ (k->group_hash * 0xC2B2AE3D27D4EB4FULL));
}

/* --------------------------------------------------------- window index */

static size_t index_home(const struct win_index *x, uint64_t key)
{
    return (size_t)(key * 0x9E3779B97F4A7C15ULL >> 7) & (x->cap - 1);
}

static struct mem_window *index_get(const struct win_index *x, uint64_t key)
{
    if (!x->cap)
        return NULL;
    for (size_t i = index_home(x, key);; i = (i + 1) & (x->cap - 1)) {
        if (x->slots[i].key == key)
            return x->slots[i].w;
        if (x->slots[i].key == 0)
            return NULL;
    }
}

/* Insert a key that is not there yet. */
static void index_put(struct win_index *x, uint64_t key, struct mem_window *w)
{
    if ((x->n + 1) * 2 > x->cap) {
        struct win_slot *old = x->slots;
        size_t old_cap = x->cap;
        x->cap = old_cap ? old_cap * 2 : 64;
        x->slots = aw_xcalloc(x->cap, sizeof *x->slots);
        x->n = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].key)
                index_put(x, old[i].key, old[i].w);
        free(old);
    }
    size_t i = index_home(x, key);
    while (x->slots[i].key)
        i = (i + 1) & (x->cap - 1);
    x->slots[i] = (struct win_slot){key, w};
    x->n++;
}

static void index_remove(struct win_index *x, uint64_t key)
{
    if (!x->cap)
        return;
    size_t mask = x->cap - 1, i = index_home(x, key);
    while (x->slots[i].key != key) {
        if (x->slots[i].key == 0)
            return;
        i = (i + 1) & mask;
    }
    /* Backward shift: move later members of the run into the hole when
     * their home slot allows it. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; x->slots[j].key; j = (j + 1) & mask) {
        size_t home = index_home(x, x->slots[j].key);
        bool in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!in_range) {
            x->slots[hole] = x->slots[j];
            hole = j;
        }
    }
    x->slots[hole] = (struct win_slot){0, NULL};
    x->n--;
}

/* ------------------------------------------------------------ LRU list */

static void lru_unlink(struct mem_store *s, struct mem_window *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        s->lru_head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        s->lru_tail = w->prev;
    w->prev = w->next = NULL;
}

/* A new window goes to the head; an update only marks the window
 * (enforce_limits gives marked windows at the tail a second chance). */
static void lru_push_head(struct mem_store *s, struct mem_window *w)
{
    w->prev = NULL;
    w->next = s->lru_head;
    if (s->lru_head)
        s->lru_head->prev = w;
    s->lru_head = w;
    if (!s->lru_tail)
        s->lru_tail = w;
}

/* ------------------------------------------------------------- windows */

static struct mem_window *window_alloc(struct mem_store *s)
{
    if (!s->free_windows) {
        /* slab header in the first window-sized cell, keeping alignment */
        char *mem = aw_xnonnull(aligned_alloc(alignof(struct mem_window), (SLAB_WINDOWS + 1) * sizeof(struct mem_window)));
        struct slab *sl = (struct slab *)mem;
        sl->next = s->slabs;
        s->slabs = sl;
        struct mem_window *cells = (struct mem_window *)mem + 1;
        for (size_t i = 0; i < SLAB_WINDOWS; i++) {
            cells[i].next = s->free_windows;
            s->free_windows = &cells[i];
        }
    }
    struct mem_window *w = s->free_windows;
    s->free_windows = w->next;
    return w;
}

/* Bytes a window accounts for (entries' blobs are the arena's). */
static size_t window_bytes(const struct mem_window *w)
{
    return WINDOW_OVERHEAD + (size_t)w->n * ENTRY_OVERHEAD +
           (w->entries != &w->one ? (size_t)w->cap * sizeof(struct mem_entry) : 0) +
           (w->alert_id ? sizeof((struct aw_window_meta *)0)->alert_id : 0);
}

static void window_free(struct mem_store *s, struct mem_window *w)
{
    for (size_t i = 0; i < w->n; i++)
        blob_arena_release(&s->blobs, w->entries[w->start + i].chunk);
    s->st.entries -= w->n;
    s->st.windows--;
    s->bytes -= window_bytes(w);
    lru_unlink(s, w);
    index_remove(&s->windows, w->key);
    if (s->last_window == w)
        s->last_window = NULL;
    if (w->entries != &w->one)
        free(w->entries);
    if (w->group_json)
        blob_arena_release(&s->groups, w->group_chunk);
    free(w->alert_id);
    w->next = s->free_windows;
    s->free_windows = w;
}

/* Drop windows past their TTL and, over the cap, the coldest ones.
 *
 * The LRU order is kept the way the CLOCK algorithm keeps it: an update
 * only marks its window, and a marked window that reaches the tail is
 * unmarked and put back at the head instead of being judged.  Moving a
 * window on every update would touch its two neighbours, cold windows
 * both, for every event; this way a window moves about once per
 * lifetime.  The order is approximate, which only delays an expiry or
 * changes which of two nearly-as-cold windows the cap evicts first. */
#define LONG_LIFE_MS ((int64_t)60 * 60 * 1000)

/* Whether w expires (if ever) more than LONG_LIFE_MS after clock. */
static bool far_from_expiry(const struct mem_window *w, int64_t clock)
{
    if (w->ttl_ms <= 0 || w->newest_time == AW_TIME_NONE)
        return true;
    if (clock > INT64_MAX - LONG_LIFE_MS)
        return false;
    int64_t bound = clock + LONG_LIFE_MS; /* newest + ttl > bound, without overflow: */
    return bound < INT64_MIN + w->ttl_ms || w->newest_time > bound - w->ttl_ms;
}

static void enforce_limits(struct mem_store *s, struct mem_window *keep)
{
    int rounds = 2;
    while (s->lru_tail && s->lru_tail != keep) {
        struct mem_window *w = s->lru_tail;
        /* A window waiting for (or in) its finalization is not expired:
         * event time can jump past its TTL in the very pass that will
         * finalize it (a sparse stream, a partition catching up), and a
         * chained alert's add must not drop it first. */
        bool expired = w->ttl_ms > 0 && w->newest_time != AW_TIME_NONE && s->max_time != AW_TIME_NONE &&
                       s->max_time > INT64_MIN + w->ttl_ms && /* no overflow for a clock at its minimum */
                       w->newest_time < s->max_time - w->ttl_ms && w->queued_time == AW_TIME_NONE &&
                       !w->finalizing;
        /* A window that cannot expire soon (no TTL: first_seen's
         * learning start; no entries; a long timespan) must not hold back
         * the expiry of everything behind it: it goes round again, a few
         * per call so that a list of such windows costs little. */
        bool long_lived = s->max_time != AW_TIME_NONE && far_from_expiry(w, s->max_time);
        if (expired) {
            window_free(s, w);
        } else if (w->updated || (long_lived && rounds > 0 && total_bytes(s) <= s->cap)) {
            if (!w->updated)
                rounds--;
            w->updated = false; /* a second chance */
            lru_unlink(s, w);
            lru_push_head(s, w);
        } else if (total_bytes(s) > s->cap) {
            s->st.evicted += w->n;
            window_free(s, w);
        } else {
            break;
        }
    }
}

static struct mem_window *window_get(struct mem_store *s, const struct aw_wkey *k, bool create)
{
    uint64_t key = window_key(k);
    /* A detector makes several calls on one window in a row (add, queue;
     * meta, scan, count, meta): keep the last one at hand. */
    if (s->last_window && s->last_window->key == key)
        return s->last_window;
    struct mem_window *w = index_get(&s->windows, key);
    if (w)
        s->last_window = w;
    if (w || !create)
        return w;
    w = window_alloc(s);
    memset(w, 0, sizeof *w);
    w->key = key;
    w->newest_time = AW_TIME_NONE;
    w->queued_time = AW_TIME_NONE;
    w->cursor_time = AW_TIME_NONE;
    w->suppress_until = AW_TIME_NONE;
    s->bytes += window_bytes(w);
    s->st.windows++;
    index_put(&s->windows, key, w);
    s->last_window = w;
    lru_push_head(s, w);
    return w;
}

/* The window's meta in the store's interface form (strings stay ours). */
static void meta_out(const struct mem_window *w, struct aw_window_meta *m)
{
    m->group_json = w->group_json;
    m->group_json_len = w->group_len;
    m->cursor_time = w->cursor_time;
    m->cursor_id = w->cursor_id;
    m->suppress_until = w->suppress_until;
    m->suppress_entry = w->suppress_entry;
    if (w->alert_id)
        memcpy(m->alert_id, w->alert_id, sizeof m->alert_id);
    else
        m->alert_id[0] = '\0';
    m->entries = 0;
}

static int cmp_entry(int64_t t1, uint64_t id1, int64_t t2, uint64_t id2)
{
    if (t1 != t2)
        return t1 < t2 ? -1 : 1;
    if (id1 != id2)
        return id1 < id2 ? -1 : 1;
    return 0;
}

/* First live index whose time is > t (upper bound). */
static size_t upper_bound(const struct mem_window *w, int64_t t)
{
    size_t lo = 0, hi = w->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->entries[w->start + mid].time <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void trim(struct mem_store *s, struct mem_window *w, int64_t before)
{
    while (w->n && w->entries[w->start].time < before) {
        blob_arena_release(&s->blobs, w->entries[w->start].chunk);
        s->bytes -= ENTRY_OVERHEAD;
        w->start++;
        w->n--;
        s->st.entries--;
    }
    if (w->n == 0)
        w->start = 0;
}

/* Room for one more entry at the end of the live range. */
static void make_room(struct mem_store *s, struct mem_window *w)
{
    if (w->start + w->n < w->cap)
        return;
    if (w->start > 0 && w->start >= w->n) { /* compact instead of growing */
        memmove(w->entries, w->entries + w->start, w->n * sizeof *w->entries);
        w->start = 0;
        return;
    }
    uint32_t ncap = w->cap ? w->cap * 2 : 1;
    struct mem_entry *ne;
    if (ncap == 1) {
        ne = &w->one;
    } else {
        ne = aw_xmalloc(ncap * sizeof *ne);
        memcpy(ne, w->entries, w->cap * sizeof *ne);
        if (w->entries != &w->one)
            free(w->entries);
        s->bytes += (ncap - (w->cap == 1 ? 0 : w->cap)) * sizeof *ne;
    }
    w->entries = ne;
    w->cap = ncap;
}

static int mem_window_add(struct aw_store *base, const struct aw_wkey *k,
                          const struct aw_window_entry *e, int64_t trim_before_ms, int64_t ttl_ms,
                          bool *added, struct aw_window_meta *meta, bool *meta_found)
{
    struct mem_store *s = (struct mem_store *)base;
    struct mem_window *w = window_get(s, k, true);
    if (trim_before_ms != AW_TIME_NONE)
        trim(s, w, trim_before_ms);
    *added = false;
    /* Position: the first entry that does not sort before (time, id),
     * by binary search on both keys - logs with one-second stamps put
     * many entries at the same time, so a scan of equal times would be
     * quadratic.  An equal entry there is a duplicate. */
    size_t pos;
    if (w->n == 0 || cmp_entry(w->entries[w->start + w->n - 1].time, w->entries[w->start + w->n - 1].id,
                               e->time_ms, e->id_hash) < 0) {
        pos = w->n; /* the common case: in order, append */
    } else {
        size_t lo = 0, hi = w->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            const struct mem_entry *x = &w->entries[w->start + mid];
            if (cmp_entry(x->time, x->id, e->time_ms, e->id_hash) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        pos = lo;
        if (pos < w->n) {
            const struct mem_entry *x = &w->entries[w->start + pos];
            if (cmp_entry(x->time, x->id, e->time_ms, e->id_hash) == 0)
                goto done; /* duplicate */
        }
    }
    make_room(s, w);
    struct mem_entry *slot = &w->entries[w->start + pos];
    memmove(slot + 1, slot, (w->n - pos) * sizeof *slot);
    slot->time = e->time_ms;
    slot->id = e->id_hash;
    slot->value = e->value_hash;
    slot->tag = e->tag;
    slot->evidence_len = (uint32_t)e->evidence_len;
    slot->fields_len = (uint32_t)e->fields_len;
    slot->chunk = blob_arena_put(&s->blobs, e->id_hash, e->evidence, e->evidence_len, e->fields, e->fields_len,
                                 &slot->blob);
    s->bytes += ENTRY_OVERHEAD;
    w->n++;
    s->st.entries++;
    *added = true;
done:
    if (w->newest_time == AW_TIME_NONE || e->time_ms > w->newest_time)
        w->newest_time = e->time_ms;
    if (ttl_ms > w->ttl_ms)
        w->ttl_ms = ttl_ms;
    w->updated = true;
    enforce_limits(s, w);
    if (meta) {
        *meta_found = w->has_meta;
        if (w->has_meta)
            meta_out(w, meta);
        meta->entries = w->n;
    }
    return 0;
}

static void to_public(const struct mem_entry *x, struct aw_window_entry *out)
{
    out->time_ms = x->time;
    out->id_hash = x->id;
    out->value_hash = x->value;
    out->tag = x->tag;
    out->evidence = x->blob;
    out->evidence_len = x->evidence_len;
    out->fields = x->blob + x->evidence_len;
    out->fields_len = x->fields_len;
}

static int mem_window_scan(struct aw_store *base, const struct aw_wkey *k, int64_t from_excl,
                           int64_t to_incl, aw_entry_fn fn, void *ctx)
{
    struct mem_store *s = (struct mem_store *)base;
    struct mem_window *w = window_get(s, k, false);
    if (!w)
        return 0;
    size_t i = from_excl == AW_TIME_NONE ? 0 : upper_bound(w, from_excl);
    for (; i < w->n; i++) {
        const struct mem_entry *x = &w->entries[w->start + i];
        if (x->time > to_incl)
            break;
        struct aw_window_entry pub;
        to_public(x, &pub);
        if (fn(ctx, &pub))
            break;
    }
    return 0;
}

static int mem_window_count(struct aw_store *base, const struct aw_wkey *k, int64_t from_excl,
                            int64_t to_incl, uint64_t *count)
{
    struct mem_store *s = (struct mem_store *)base;
    struct mem_window *w = window_get(s, k, false);
    *count = 0;
    if (!w)
        return 0;
    size_t lo = from_excl == AW_TIME_NONE ? 0 : upper_bound(w, from_excl);
    size_t hi = upper_bound(w, to_incl);
    *count = hi > lo ? hi - lo : 0;
    return 0;
}

static int mem_meta_get(struct aw_store *base, const struct aw_wkey *k, struct aw_window_meta *m,
                        bool *found)
{
    struct mem_store *s = (struct mem_store *)base;
    struct mem_window *w = window_get(s, k, false);
    *found = w && w->has_meta;
    if (*found)
        meta_out(w, m);
    return 0;
}

static int mem_meta_put(struct aw_store *base, const struct aw_wkey *k, const struct aw_window_meta *m,
                        int64_t ttl_ms)
{
    struct mem_store *s = (struct mem_store *)base;
    struct mem_window *w = window_get(s, k, true);
    const char *group = m->group_json ? m->group_json : "";
    if (!w->group_json || (group != w->group_json && (m->group_json_len != w->group_len ||
                                                      memcmp(group, w->group_json, w->group_len) != 0))) {
        char *copy;
        uint32_t chunk = blob_arena_copy(&s->groups, group, m->group_json_len, &copy);
        if (w->group_json) {
            blob_arena_release(&s->groups, w->group_chunk);
        }
        w->group_json = copy;
        w->group_len = (uint32_t)m->group_json_len;
        w->group_chunk = chunk;
    } /* else: the same text, keep ours */
    w->cursor_time = m->cursor_time;
    w->cursor_id = m->cursor_id;
    w->suppress_until = m->suppress_until;
    w->suppress_entry = m->suppress_entry;
    if (!m->alert_id[0]) {
        if (w->alert_id)
            s->bytes -= sizeof m->alert_id;
        free(w->alert_id);
        w->alert_id = NULL;
    } else if (!w->alert_id || strncmp(w->alert_id, m->alert_id, sizeof m->alert_id) != 0) {
        if (!w->alert_id) {
            w->alert_id = aw_xmalloc(sizeof m->alert_id);
            s->bytes += sizeof m->alert_id;
        }
        memcpy(w->alert_id, m->alert_id, sizeof m->alert_id - 1);
        w->alert_id[sizeof m->alert_id - 1] = '\0';
    }
    w->has_meta = true;
    if (ttl_ms > w->ttl_ms)
        w->ttl_ms = ttl_ms;
    return 0;
}

/* ------------------------------------------------------------- pending */

static struct pending_heap *heap_for(struct mem_store *s, const char *rule, uint64_t rh, bool create)
{
    uint64_t key = aw_hashmap_key(rh ? rh : rule_hash(rule));
    if (s->last_heap && s->last_heap_key == key)
        return s->last_heap;
    struct pending_heap *h = aw_hashmap_get(&s->heaps, key);
    if (!h && create) {
        h = aw_xmalloc(sizeof *h);
        memset(h, 0, sizeof *h);
        h->rule = strdup(rule);
        aw_hashmap_put(&s->heaps, key, h);
    }
    if (h) { /* heaps live as long as the store */
        s->last_heap = h;
        s->last_heap_key = key;
    }
    return h;
}

static bool item_less(const struct pending_item *a, const struct pending_item *b)
{
    return a->time < b->time || (a->time == b->time && a->group_hash < b->group_hash);
}

static int mem_pending_push(struct aw_store *base, const struct aw_wkey *k, int64_t time_ms)
{
    struct mem_store *s = (struct mem_store *)base;
    struct mem_window *w = window_get(s, k, false);
    if (w) {
        /* Queued once per window at its earliest pending time. */
        if (w->queued_time != AW_TIME_NONE && w->queued_time <= time_ms)
            return 0;
        w->queued_time = time_ms; /* an earlier push: the stale heap item is skipped on pop */
    }
    struct pending_heap *h = heap_for(s, k->rule, k->rule_hash, true);
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->items = aw_xrealloc(h->items, h->cap * sizeof *h->items);
    }
    size_t i = h->n++;
    struct pending_item it = {time_ms, k->group_hash};
    while (i > 0 && item_less(&it, &h->items[(i - 1) / 2])) {
        h->items[i] = h->items[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->items[i] = it;
    s->st.pending++;
    return 0;
}

static int mem_pending_pop(struct aw_store *base, const struct aw_wkey *rule, int64_t up_to_ms,
                           uint64_t *group_hash, int64_t *time_ms, bool *found)
{
    struct mem_store *s = (struct mem_store *)base;
    struct pending_heap *h = heap_for(s, rule->rule, rule->rule_hash, false);
    *found = false;
again:
    if (!h || h->n == 0 || h->items[0].time > up_to_ms) {
        *time_ms = h && h->n ? h->items[0].time : AW_TIME_NONE;
        return 0;
    }
    *group_hash = h->items[0].group_hash;
    *time_ms = h->items[0].time;
    /* The window's queued time says whether this item is current: skip
     * items superseded by an earlier push, and items of expired windows. */
    struct aw_wkey wk = {rule->rule, *group_hash, rule->rule_hash};
    struct mem_window *w = window_get(s, &wk, false);
    bool current = w && w->queued_time == *time_ms;
    if (current) {
        w->queued_time = AW_TIME_NONE;
        w->finalizing = true; /* until pending_done */
    }
    struct pending_item last = h->items[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && item_less(&h->items[c + 1], &h->items[c]))
            c++;
        if (!item_less(&h->items[c], &last))
            break;
        h->items[i] = h->items[c];
        i = c;
    }
    if (h->n)
        h->items[i] = last;
    s->st.pending--;
    if (!current)
        goto again;
    *found = true;
    return 0;
}

static int mem_pending_done(struct aw_store *base, const struct aw_wkey *k)
{
    struct mem_store *s = (struct mem_store *)base;
    struct mem_window *w = window_get(s, k, false);
    if (w)
        w->finalizing = false;
    return 0;
}

/* ----------------------------------------------------------------- sets */

static int mem_set_add(struct aw_store *base, const struct aw_wkey *k, const char *member, size_t len,
                       int64_t time_ms, int64_t ttl_ms, bool *added)
{
    (void)ttl_ms;
    struct mem_store *s = (struct mem_store *)base;
    uint64_t key = window_key(k);
    struct mem_set *set = aw_hashmap_get(&s->sets, key);
    if (!set) {
        set = aw_xmalloc(sizeof *set);
        aw_hashmap_init(&set->members);
        aw_hashmap_put(&s->sets, key, set);
        s->st.sets++;
    }
    uint64_t mk = aw_hashmap_key(aw_hash64(member, len, 0x534554));
    *added = aw_hashmap_get(&set->members, mk) == NULL;
    if (*added) {
        size_t before = aw_hashmap_bytes(&set->members);
        aw_hashmap_put(&set->members, mk, (void *)(uintptr_t)(time_ms + 1));
        s->bytes += aw_hashmap_bytes(&set->members) - before;
        s->st.set_members++;
    }
    return 0;
}

static int mem_set_contains(struct aw_store *base, const struct aw_wkey *k, const char *member,
                            size_t len, bool *found)
{
    struct mem_store *s = (struct mem_store *)base;
    struct mem_set *set = aw_hashmap_get(&s->sets, window_key(k));
    *found = set && aw_hashmap_get(&set->members, aw_hashmap_key(aw_hash64(member, len, 0x534554)));
    return 0;
}

static void mem_set_clock(struct aw_store *base, int64_t t)
{
    struct mem_store *s = (struct mem_store *)base;
    if (t > s->max_time)
        s->max_time = t;
}

static void mem_stats(struct aw_store *base, struct aw_store_stats *out)
{
    struct mem_store *s = (struct mem_store *)base;
    *out = s->st;
    out->bytes = total_bytes(s);
}

static void mem_destroy(struct aw_store *base)
{
    struct mem_store *s = (struct mem_store *)base;
    while (s->lru_head)
        window_free(s, s->lru_head);
    while (s->slabs) {
        struct slab *next = s->slabs->next;
        free(s->slabs);
        s->slabs = next;
    }
    blob_arena_free(&s->blobs);
    blob_arena_free(&s->groups);
    for (size_t i = 0; i < s->sets.cap; i++)
        if (s->sets.keys[i]) {
            struct mem_set *set = s->sets.values[i];
            aw_hashmap_free(&set->members);
            free(set);
        }
    for (size_t i = 0; i < s->heaps.cap; i++)
        if (s->heaps.keys[i]) {
            struct pending_heap *h = s->heaps.values[i];
            free(h->items);
            free(h->rule);
            free(h);
        }
    free(s->windows.slots);
    aw_hashmap_free(&s->sets);
    aw_hashmap_free(&s->heaps);
    free(s);
}

static const struct aw_store_ops mem_ops = {
    .name = "memory",
    .window_add = mem_window_add,
    .window_scan = mem_window_scan,
    .window_count = mem_window_count,
    .meta_get = mem_meta_get,
    .meta_put = mem_meta_put,
    .pending_push = mem_pending_push,
    .pending_pop = mem_pending_pop,
    .set_add = mem_set_add,
    .set_contains = mem_set_contains,
    .set_clock = mem_set_clock,
    .pending_done = mem_pending_done,
    .stats = mem_stats,
    .destroy = mem_destroy,
};

struct aw_store *aw_store_memory_new(const struct aw_store_options *opts)
{
    struct mem_store *s = aw_xmalloc(sizeof *s);
    memset(s, 0, sizeof *s);
    s->base.ops = &mem_ops;
    blob_arena_init(&s->blobs, 64 << 10);
    blob_arena_init(&s->groups, 4 << 10); /* small: a long-lived window pins its group's chunk */
    aw_hashmap_init(&s->sets);
    aw_hashmap_init(&s->heaps);
    s->cap = opts && opts->memory_cap ? opts->memory_cap : (size_t)1 << 30;
    s->max_time = INT64_MIN;
    return &s->base;
}

void aw_store_memory_forget(struct aw_store *base, const struct aw_wkey *k)
{
    struct mem_store *s = (struct mem_store *)base;
    struct mem_window *w = window_get(s, k, false);
    if (w)
        window_free(s, w);
}
