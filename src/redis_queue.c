/*
 * redis_queue.c - the Redis store's pending queue answered locally while
 * this instance is solo under its prefix (see store_redis.c for the
 * store's design, redis_store.h for its state).
 *
 * Solo means the last pop saw no other writer and no other live member:
 * nobody else pushes to the queue, pops from it or holds a claim on it.
 * A rule's queue then holds what a pop loaded once (ZRANGE of the whole
 * queue, which also takes back the claims of instances gone stale) plus
 * what this process pushed since - both known here.  So a pop is a look
 * at a local min-heap instead of a script that lists the due groups
 * again every batch (a quarter of Redis's work before).  Redis still gets
 * every push (ZADD LT) and every finished group (ZREM): a restart, or an
 * instance joining, finds the queue there as before.
 *
 * The heap holds (time, group) in the order Redis's ZRANGEBYSCORE would
 * give them (score, then the member's 16 hex digits, i.e. the hash).
 * rule_state.queued stays the truth - group -> its queued time, gone
 * once handed out - and a heap entry that no longer matches it (the
 * group's time was lowered, or it was handed out) is dropped when it
 * comes to the top.  Any sign that the instance is not solo any more (a
 * pop's reply, another writer's version, a resend after a reconnect)
 * drops the heaps; pops then ask Redis again, whose queue has everything.
 */
#include <string.h>

#include "auditwatch/hashmap.h"
#include "redis_store.h"

static bool before(const struct qent *a, const struct qent *b)
{
    return a->time < b->time || (a->time == b->time && a->group < b->group);
}

static void heap_push(struct rule_state *rs, int64_t time, uint64_t group)
{
    if (rs->nheap == rs->heap_cap) {
        rs->heap_cap = rs->heap_cap ? rs->heap_cap * 2 : 64;
        rs->heap = aw_xrealloc(rs->heap, rs->heap_cap * sizeof *rs->heap);
    }
    size_t i = rs->nheap++;
    struct qent e = {time, group};
    while (i > 0 && before(&e, &rs->heap[(i - 1) / 2])) {
        rs->heap[i] = rs->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    rs->heap[i] = e;
}

static void heap_pop(struct rule_state *rs)
{
    struct qent last = rs->heap[--rs->nheap];
    size_t i = 0, n = rs->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(&rs->heap[c + 1], &rs->heap[c]))
            c++;
        if (!before(&rs->heap[c], &last))
            break;
        rs->heap[i] = rs->heap[c];
        i = c;
    }
    if (n)
        rs->heap[i] = last;
}

/* The earliest group still queued (stale heap entries dropped on the
 * way), or false when the queue is empty. */
static bool top(struct rule_state *rs, struct qent *out)
{
    while (rs->nheap) {
        const struct qent *e = &rs->heap[0];
        void *q = aw_hashmap_get(&rs->queued, aw_hashmap_key(e->group));
        if (q && QTIME_OF(q) == e->time) {
            *out = *e;
            return true;
        }
        heap_pop(rs);
    }
    return false;
}

void aw_redis_queue_note(struct rule_state *rs, uint64_t group, int64_t time)
{
    if (rs->local)
        heap_push(rs, time, group);
}

void aw_redis_queue_load(struct redis_store *s, struct rule_state *rs, const struct push *groups, size_t n)
{
    rs->nheap = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t key = aw_hashmap_key(groups[i].group_hash);
        void *q = aw_hashmap_get(&rs->queued, key);
        if (!q || groups[i].time < QTIME_OF(q))
            aw_hashmap_put(&rs->queued, key, QTIME(groups[i].time));
    }
    /* Everything queued: what Redis listed (every push was sent before
     * the pop that lists), with its real group hashes, at the time now
     * queued for it. */
    for (size_t i = 0; i < n; i++)
        heap_push(rs, QTIME_OF(aw_hashmap_get(&rs->queued, aw_hashmap_key(groups[i].group_hash))),
                  groups[i].group_hash);
    if (!rs->local)
        s->nlocal++;
    rs->local = true;
    rs->bound = rs->peer_bound = INT64_MAX;
}

void aw_redis_queue_drop(struct redis_store *s)
{
    if (!s->nlocal)
        return;
    for (size_t i = 0; i < s->rules.cap; i++) {
        struct rule_state *rs = s->rules.keys[i] ? s->rules.values[i] : NULL;
        if (!rs || !rs->local)
            continue;
        rs->local = false;
        rs->nheap = 0;
        rs->claim_to = AW_TIME_NONE;
        rs->claim_open = false;
        /* (what the pops of the heap knew, Redis's next pop tells) */
        rs->due_valid = false;
    }
    s->nlocal = 0;
}

bool aw_redis_queue_local(const struct redis_store *s, const struct rule_state *rs)
{
    return rs->local && s->solo && s->alone && !rs->pop_queued;
}

void aw_redis_queue_prefetch(struct rule_state *rs, int64_t up_to_ms)
{
    struct qent e;
    rs->bound = rs->peer_bound = INT64_MAX;
    /* A group is due: claim the lot ("@TIME", as a pop read alone does;
     * written with the sync that precedes the pass), so that an instance
     * joining now leaves them to this one. */
    if (top(rs, &e) && e.time <= up_to_ms && (!rs->at_claim || up_to_ms > rs->claimed_to) &&
        (rs->claim_to == AW_TIME_NONE || up_to_ms > rs->claim_to))
        rs->claim_to = up_to_ms;
}

bool aw_redis_queue_pop(struct rule_state *rs, int64_t up_to_ms, uint64_t *group_hash, int64_t *time_ms)
{
    struct qent e;
    rs->bound = rs->peer_bound = INT64_MAX;
    if (!top(rs, &e) || e.time > up_to_ms) {
        *time_ms = rs->nheap ? e.time : AW_TIME_NONE;
        if (up_to_ms >= rs->claimed_to)
            rs->claim_open = false; /* the claimed pass is over */
        if (rs->claim_to != AW_TIME_NONE && up_to_ms >= rs->claim_to)
            rs->claim_to = AW_TIME_NONE; /* (over before its claim was written) */
        return false;
    }
    heap_pop(rs);
    /* handed out: it leaves the queue in Redis when finished (ZREM), and
     * a push from now on is sent; one noted and not sent yet need not be */
    uint64_t key = aw_hashmap_key(e.group);
    aw_hashmap_remove(&rs->queued, key);
    uintptr_t at = (uintptr_t)aw_hashmap_get(&rs->push_index, key);
    if (at && rs->pushes[at - 1].version == PUSH_NOTED)
        rs->pushes[at - 1].version = PUSH_DROPPED;
    rs->due_claimed = false;
    rs->outstanding++;
    *group_hash = e.group;
    *time_ms = e.time;
    return true;
}

bool aw_redis_queue_push(struct rule_state *rs, uint64_t group, int64_t time_ms)
{
    uint64_t key = aw_hashmap_key(group);
    void *q = aw_hashmap_get(&rs->queued, key);
    if (q && QTIME_OF(q) <= time_ms)
        return false; /* queued no later already (in Redis, or on its way) */
    aw_hashmap_put(&rs->queued, key, QTIME(time_ms));
    heap_push(rs, time_ms, group);
    return true;
}
