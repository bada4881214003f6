/*
 * redis_pending.c - the Redis store's pending queue in Redis (see
 * store_redis.c for the store's design, redis_store.h for its state):
 * pushes (merged per group, one ZADD LT per rule and batch), pops (all
 * rules of a batch in one POP script call, last in the pipeline), the
 * groups and claims this instance finished (one ZREM or DONE per rule),
 * and the "@TIME" claims.  While the instance is solo, pops and pushes
 * are answered by the local copy of the queue in redis_queue.c.
 */
#include <stdlib.h>
#include <string.h>

#include "auditwatch/hash.h"
#include "auditwatch/hashmap.h"
#include "redis_codec.h"
#include "redis_scripts.h"
#include "redis_store.h"

/* Finished claims go out as one DONE script per rule. */
static void flush_done(struct redis_store *s, struct rule_state *rs)
{
    if (rs->nfinished) { /* groups read alone leave the queue as they are finished */
        struct argl l;
        aw_redis_argl_init(&l, &s->arg2, 2 + rs->nfinished);
        aw_redis_argl_ptr(&l, "ZREM", 4);
        aw_redis_rule_key_text(s, &s->key2, rs->name, "pending");
        aw_redis_argl_copy(&l, s->key2.data, s->key2.len);
        for (size_t j = 0; j < rs->nfinished; j++) {
            char hex[16];
            aw_hex64(rs->finished[j], hex);
            aw_redis_argl_copy(&l, hex, 16);
        }
        aw_redis_argl_queue(s, &l, USE_CHECK);
        rs->nfinished = 0;
    }
    bool reclaim = rs->claim_to != AW_TIME_NONE;
    bool pass_over = rs->local ? !rs->claim_open : !rs->due_valid || rs->due_next >= rs->ndue;
    if (rs->at_claim && !reclaim && !rs->outstanding && pass_over) {
        /* the pass is over: the "@" claim goes */
        aw_redis_rule_key_text(s, &s->key2, rs->name, "claims");
        const char *argv[] = {"HDEL", s->key2.data, s->instance};
        size_t lens[] = {4, s->key2.len, strlen(s->instance)};
        aw_redis_queue_argv(s, USE_CHECK, 3, argv, lens);
        rs->at_claim = false;
    }
    if (reclaim) { /* a local queue's coming pass: its "@" claim (see redis_queue.c) */
        char at[32], ttl[24];
        at[0] = '@';
        aw_redis_fmt_time(at + 1, rs->claim_to);
        aw_redis_fmt_time(ttl, KEY_TTL_MS(rs->ttl));
        aw_redis_rule_key_text(s, &s->key2, rs->name, "claims");
        const char *argv[] = {"HSET", s->key2.data, s->instance, at};
        size_t lens[] = {4, s->key2.len, strlen(s->instance), strlen(at)};
        aw_redis_queue_argv(s, USE_CHECK, 4, argv, lens);
        const char *ex[] = {"PEXPIRE", s->key2.data, ttl};
        size_t exl[] = {7, s->key2.len, strlen(ttl)};
        aw_redis_queue_argv(s, USE_CHECK, 3, ex, exl);
        rs->at_claim = rs->claim_open = true;
        rs->claimed_to = rs->claim_to;
        rs->claim_to = AW_TIME_NONE;
    }
    if (!rs->ndone)
        return;
    size_t argc = 5 + rs->ndone;
    const char **argv = aw_xcalloc(argc, sizeof *argv);
    size_t *lens = aw_xcalloc(argc, sizeof *lens);
    char *text = aw_xcalloc(rs->ndone, 16);
    aw_redis_rule_key_text(s, &s->key2, rs->name, "claims");
    argv[0] = "EVALSHA", lens[0] = 7;
    argv[1] = s->sha[S_DONE], lens[1] = 40;
    argv[2] = "1", lens[2] = 1;
    argv[3] = s->key2.data, lens[3] = s->key2.len;
    argv[4] = s->instance, lens[4] = strlen(s->instance);
    for (size_t j = 0; j < rs->ndone; j++) {
        aw_hex64(rs->done[j], text + 16 * j);
        argv[5 + j] = text + 16 * j;
        lens[5 + j] = 16;
    }
    aw_redis_queue_argv(s, USE_CHECK, (int)argc, argv, lens);
    free(argv);
    free(lens);
    free(text);
    rs->ndone = 0;
}

/* Forget what this instance queued while alone (pushing it all again
 * when requeue). */
void aw_redis_forget_queued(struct redis_store *s, bool requeue)
{
    if (requeue) /* (pushed to Redis: a local queue would take them for queued) */
        aw_redis_queue_drop(s);
    for (size_t i = 0; i < s->rules.cap; i++) {
        struct rule_state *rs = s->rules.keys[i] ? s->rules.values[i] : NULL;
        if (!rs || !rs->queued.n)
            continue;
        for (size_t j = 0; requeue && j < rs->queued.cap; j++)
            if (rs->queued.keys[j]) {
                /* (the map's keys are the group hashes, 0 stored as 1: a
                 * group hashing to 0 or 1 is pushed as 1 - it only
                 * costs a look at a group that does not exist) */
                struct aw_wkey k = {rs->name, rs->queued.keys[j], rs->rule_hash};
                aw_redis_pending_push(&s->base, &k, QTIME_OF(rs->queued.values[j]));
            }
        aw_hashmap_free(&rs->queued);
        aw_hashmap_init(&rs->queued);
    }
}

/* A POP reply: the mode ('c' claimed, 'a' read alone, 'f' the whole
 * queue listed, solo), the rule's due groups in time order ("group time
 * version" or "group time" each; all groups for 'f'), then the earliest
 * time left, more, the bound, and whether other writers share the
 * prefix. */
void aw_redis_parse_pop(struct redis_store *s, struct rule_state *rs, const char *str, size_t slen)
{
    rs->pop_queued = false;
    rs->ndue = rs->due_next = 0;
    rs->outstanding = 0;
    rs->due_valid = true;
    rs->pushed_since_pop = false;
    rs->pushed_min = AW_TIME_NONE;
    rs->due_more = false;
    rs->earliest = AW_TIME_NONE;
    rs->bound = rs->peer_bound = INT64_MAX;
    if (!str)
        return;
    const char *p = str, *end = str + slen, *tok[3], *t;
    size_t len[3], tl, count = 0;
    for (const char *q = p; aw_redis_next_token(&q, end, &t, &tl);)
        count++;
    if (!aw_redis_next_token(&p, end, &t, &tl) || tl != 1 || (t[0] != 'a' && t[0] != 'c' && t[0] != 'f'))
        return;
    bool full = t[0] == 'f';
    rs->due_claimed = t[0] == 'c';
    size_t per = rs->due_claimed ? 3 : 2;
    if (count < 5 || (count - 5) % per)
        return;
    size_t groups = (count - 5) / per;
    if (groups > rs->due_cap) {
        rs->due_cap = groups;
        rs->due = aw_xrealloc(rs->due, groups * sizeof *rs->due);
    }
    for (size_t i = 0; i < groups; i++) {
        for (size_t j = 0; j < per; j++)
            aw_redis_next_token(&p, end, &tok[j], &len[j]);
        rs->due[i].group_hash = aw_redis_parse_hex64(tok[0], len[0]);
        rs->due[i].time = aw_redis_parse_time(tok[1], len[1]);
        rs->due[i].version = per == 3 ? strtoull(tok[2], NULL, 10) : 0;
    }
    rs->ndue = groups;
    rs->need_snapshots = groups > 0;
    if (!rs->due_claimed && !full && groups)
        rs->at_claim = true;
    for (size_t n = 0; n < 3; n++)
        aw_redis_next_token(&p, end, &tok[n], &len[n]);
    rs->earliest = len[0] == 1 && tok[0][0] == '-' ? AW_TIME_NONE : aw_redis_parse_time(tok[0], len[0]);
    rs->due_more = len[1] == 1 && tok[1][0] == '1';
    if (len[2] == 4 && !memcmp(tok[2], "-inf", 4))
        rs->bound = AW_TIME_NONE;
    else if (!(len[2] == 4 && !memcmp(tok[2], "+inf", 4)))
        rs->bound = aw_redis_parse_time(tok[2], len[2]);
    rs->peer_bound = rs->bound < rs->due_up_to ? rs->bound : INT64_MAX;
    const char *others;
    size_t olen;
    if (aw_redis_next_token(&p, end, &others, &olen))
        aw_redis_set_shared(s, olen == 1 && others[0] == '1');
    if (!full)
        return;
    /* The whole queue (the script claimed what is due): kept here from
     * now on - unless this exchange was a resend, after which nothing
     * is solo until a pop says so again: then the due ones are handed
     * out as from a read alone. */
    size_t due = 0;
    while (due < groups && rs->due[due].time <= rs->due_up_to)
        due++;
    rs->at_claim = rs->at_claim || due > 0; /* (an older claim of ours is released later) */
    rs->claimed_to = rs->due_up_to;
    rs->ndue = due;
    rs->need_snapshots = due > 0;
    if (s->resent) {
        rs->earliest = due < groups ? rs->due[due].time : AW_TIME_NONE;
        return;
    }
    /* Local from now on; the due ones stay listed in due[] only for
     * fetch_due_snapshots (their windows in one round trip). */
    rs->claim_open = due > 0;
    aw_redis_queue_load(s, rs, rs->due, groups);
}

int aw_redis_pending_push(struct aw_store *base, const struct aw_wkey *k, int64_t time_ms)
{
    struct redis_store *s = (struct redis_store *)base;
    struct rule_state *rs = aw_redis_rule_state(s, k->rule, aw_redis_rule_hash_of(k));
    bool local = aw_redis_queue_local(s, rs);
    if (local && !aw_redis_queue_push(rs, k->group_hash, time_ms))
        return 0;
    if (!local && rs->due_valid && time_ms <= rs->due_up_to)
        rs->pushed_since_pop = true;
    if (!local && (rs->pushed_min == AW_TIME_NONE || time_ms < rs->pushed_min))
        rs->pushed_min = time_ms;
    uint64_t slot = aw_hashmap_key(k->group_hash);
    uintptr_t at = (uintptr_t)aw_hashmap_get(&rs->push_index, slot);
    if (at) {
        struct push *ps = &rs->pushes[at - 1];
        if (local || ps->version == PUSH_DROPPED || time_ms < ps->time) { /* (else checked again at the flush) */
            ps->time = time_ms;
            ps->version = local ? PUSH_NOTED : 0;
        }
        return 0;
    }
    if (rs->npushes == rs->push_cap) {
        rs->push_cap = rs->push_cap ? rs->push_cap * 2 : 64;
        rs->pushes = aw_xrealloc(rs->pushes, rs->push_cap * sizeof *rs->pushes);
    }
    rs->pushes[rs->npushes++] = (struct push){k->group_hash, time_ms, local ? PUSH_NOTED : 0};
    aw_hashmap_put(&rs->push_index, slot, (void *)(uintptr_t)rs->npushes);
    return 0;
}

static void claims_key(struct redis_store *s, struct aw_buf *b, const char *rule)
{
    aw_redis_rule_key_text(s, b, rule, "claims");
}

/* A pop of the rule's due groups: it goes out with the next exchange,
 * after everything written until then, in one script call with the
 * other rules' pops (flush_pops). */
static void queue_pop(struct redis_store *s, struct rule_state *rs, int64_t up_to_ms)
{
    if (!rs->pop_queued) {
        if (s->npops == s->pops_cap) {
            s->pops_cap = s->pops_cap ? s->pops_cap * 2 : 16;
            s->pops = aw_xrealloc(s->pops, s->pops_cap * sizeof *s->pops);
        }
        s->pops[s->npops++] = rs;
    }
    rs->pop_queued = true;
    rs->due_up_to = up_to_ms;
}

void aw_redis_flush_pops(struct redis_store *s)
{
    if (!s->npops && !s->probe_due)
        return; /* (with local queues, the call without rules asks whether solo) */
    s->probe_due = false;
    struct argl l;
    aw_redis_argl_init(&l, &s->arg2, 9 + 7 * s->npops);
    aw_redis_argl_ptr(&l, "EVALSHA", 7);
    aw_redis_argl_ptr(&l, s->sha[S_POP], 40);
    aw_redis_argl_num(&l, (int64_t)(2 + 2 * s->npops));
    aw_redis_prefix_key_text(s, &s->key, "members");
    aw_redis_argl_copy(&l, s->key.data, s->key.len);
    aw_redis_prefix_key_text(s, &s->key, "writers");
    aw_redis_argl_copy(&l, s->key.data, s->key.len);
    for (size_t i = 0; i < s->npops; i++) {
        aw_redis_rule_key_text(s, &s->key, s->pops[i]->name, "pending");
        aw_redis_argl_copy(&l, s->key.data, s->key.len);
        claims_key(s, &s->key, s->pops[i]->name);
        aw_redis_argl_copy(&l, s->key.data, s->key.len);
    }
    aw_redis_argl_copy(&l, s->instance, strlen(s->instance));
    aw_redis_argl_num(&l, STALE_MS(s));
    aw_redis_argl_num(&l, POP_LIMIT);
    aw_redis_argl_ptr(&l, "}:h", 3);
    for (size_t i = 0; i < s->npops; i++) {
        struct rule_state *rs = s->pops[i];
        aw_redis_argl_num(&l, rs->due_up_to);
        aw_redis_argl_num(&l, KEY_TTL_MS(rs->ttl));
        aw_redis_argl_num(&l, rs->lateness);
        /* a group's window hash key: head .. group .. tail */
        aw_buf_reset(&s->key);
        aw_buf_append_str(&s->key, s->prefix);
        aw_buf_append_str(&s->key, ":{");
        aw_buf_append_str(&s->key, rs->name);
        aw_buf_append_char(&s->key, '|');
        aw_redis_argl_copy(&l, s->key.data, s->key.len);
        aw_redis_argl_ptr(&l, rs->local ? "0" : "1", 1); /* solo: list the whole queue */
    }
    struct command *c = aw_redis_argl_queue(s, &l, USE_POP);
    c->rules = s->pops;
    c->nrules = s->npops;
    s->pops = NULL;
    s->npops = s->pops_cap = 0;
}

int aw_redis_pending_prefetch(struct aw_store *base, const struct aw_wkey *rule, int64_t up_to_ms,
                              int64_t lateness_ms)
{
    struct redis_store *s = (struct redis_store *)base;
    struct rule_state *rs = aw_redis_rule_state(s, rule->rule, aw_redis_rule_hash_of(rule));
    rs->lateness = lateness_ms;
    if (aw_redis_queue_local(s, rs)) {
        aw_redis_queue_prefetch(rs, up_to_ms);
        return 0;
    }
    if (rs->pop_queued || (rs->due_valid && up_to_ms <= rs->due_up_to))
        return 0; /* asked already, or answered for this bound */
    aw_redis_flush_pushes(s); /* the batch's writes go before the pop */
    queue_pop(s, rs, up_to_ms);
    return 0;
}

/* A pop from the rule's local queue (the windows of the groups its load
 * found due fetched first, in one round trip). */
static int local_pop(struct redis_store *s, struct rule_state *rs, int64_t up_to_ms, uint64_t *group_hash,
                     int64_t *time_ms, bool *found)
{
    if (rs->need_snapshots && aw_redis_fetch_due_snapshots(s) < 0)
        return -1;
    *found = aw_redis_queue_pop(rs, up_to_ms, group_hash, time_ms);
    return 0;
}

int aw_redis_pending_pop(struct aw_store *base, const struct aw_wkey *rule, int64_t up_to_ms,
                         uint64_t *group_hash, int64_t *time_ms, bool *found)
{
    struct redis_store *s = (struct redis_store *)base;
    struct rule_state *rs = aw_redis_rule_state(s, rule->rule, aw_redis_rule_hash_of(rule));
    *found = false;
    if (aw_redis_queue_local(s, rs))
        return local_pop(s, rs, up_to_ms, group_hash, time_ms, found);
    bool stale = !rs->due_valid || up_to_ms > rs->due_up_to ||
                 (rs->due_next >= rs->ndue && (rs->due_more || rs->pushed_since_pop));
    if (rs->pop_queued || stale) {
        if (!rs->pop_queued) {
            aw_redis_flush_pushes(s);
            queue_pop(s, rs, up_to_ms);
        }
        if (aw_redis_run_now(s) < 0)
            return -1;
        aw_redis_clear_commands(s);
        if (aw_redis_queue_local(s, rs)) /* the pop listed the whole queue */
            return local_pop(s, rs, up_to_ms, group_hash, time_ms, found);
    }
    if (aw_redis_fetch_due_snapshots(s) < 0)
        return -1;
    if (rs->due_next < rs->ndue && rs->due[rs->due_next].time <= up_to_ms) {
        *group_hash = rs->due[rs->due_next].group_hash;
        *time_ms = rs->due[rs->due_next].time;
        rs->due_next++;
        rs->outstanding++;
        if (rs->queued.n) /* leaves the queue when finished: a push from now on is sent */
            aw_hashmap_remove(&rs->queued, aw_hashmap_key(*group_hash));
        *found = true;
        return 0;
    }
    /* The earliest still queued: the server's answer or a later push. */
    *time_ms = rs->earliest;
    if (rs->pushed_min != AW_TIME_NONE && (*time_ms == AW_TIME_NONE || rs->pushed_min < *time_ms))
        *time_ms = rs->pushed_min;
    return 0;
}

int64_t aw_redis_pending_limit(struct aw_store *base, const struct aw_wkey *rule)
{
    struct redis_store *s = (struct redis_store *)base;
    return aw_redis_rule_state(s, rule->rule, aw_redis_rule_hash_of(rule))->bound;
}

int64_t aw_redis_peer_bound(struct aw_store *base, const struct aw_wkey *rule)
{
    struct redis_store *s = (struct redis_store *)base;
    return aw_redis_rule_state(s, rule->rule, aw_redis_rule_hash_of(rule))->peer_bound;
}

int aw_redis_pending_done(struct aw_store *base, const struct aw_wkey *k)
{
    struct redis_store *s = (struct redis_store *)base;
    struct rule_state *rs = aw_redis_rule_state(s, k->rule, aw_redis_rule_hash_of(k));
    if (rs->outstanding)
        rs->outstanding--;
    if (!rs->due_claimed) {
        if (rs->nfinished == rs->finished_cap) {
            rs->finished_cap = rs->finished_cap ? rs->finished_cap * 2 : 64;
            rs->finished = aw_xrealloc(rs->finished, rs->finished_cap * sizeof *rs->finished);
        }
        rs->finished[rs->nfinished++] = k->group_hash;
        return 0;
    }
    if (rs->ndone == rs->done_cap) {
        rs->done_cap = rs->done_cap ? rs->done_cap * 2 : 64;
        rs->done = aw_xrealloc(rs->done, rs->done_cap * sizeof *rs->done);
    }
    rs->done[rs->ndone++] = k->group_hash;
    return 0;
}

/* Into the pipeline: each rule's finished groups and claims, then its
 * pending pushes merged into one ZADD LT. */
void aw_redis_flush_queue(struct redis_store *s)
{
    for (size_t i = 0; i < s->rules.cap; i++) {
        if (s->rules.keys[i])
            flush_done(s, s->rules.values[i]);
    }
    for (size_t i = 0; i < s->rules.cap; i++) {
        if (!s->rules.keys[i])
            continue;
        struct rule_state *rs = s->rules.values[i];
        if (!rs->npushes)
            continue;
        size_t argc = 3 + 2 * rs->npushes;
        const char **argv = aw_xcalloc(argc, sizeof *argv);
        size_t *lens = aw_xcalloc(argc, sizeof *lens);
        char *text = aw_xcalloc(rs->npushes, 24 + 16);
        aw_redis_rule_key_text(s, &s->key, rs->name, "pending");
        argv[0] = "ZADD";
        lens[0] = 4;
        argv[1] = s->key.data;
        lens[1] = s->key.len;
        argv[2] = "LT";
        lens[2] = 2;
        size_t sent = 0;
        for (size_t j = 0; j < rs->npushes; j++) {
            struct push *ps = &rs->pushes[j];
            if (ps->version == PUSH_DROPPED)
                continue;
            if (s->alone && ps->version != PUSH_NOTED) { /* already queued no later: nothing to send */
                uint64_t key = aw_hashmap_key(ps->group_hash);
                void *q = aw_hashmap_get(&rs->queued, key);
                if (q && QTIME_OF(q) <= ps->time)
                    continue;
                aw_hashmap_put(&rs->queued, key, QTIME(ps->time));
                aw_redis_queue_note(rs, ps->group_hash, ps->time);
            }
            char *score = text + sent * 40, *member = score + 24;
            aw_redis_fmt_time(score, ps->time);
            aw_hex64(ps->group_hash, member);
            argv[3 + 2 * sent] = score;
            lens[3 + 2 * sent] = strlen(score);
            argv[4 + 2 * sent] = member;
            lens[4 + 2 * sent] = 16;
            sent++;
        }
        if (sent) {
            aw_redis_queue_argv(s, USE_CHECK, (int)(3 + 2 * sent), argv, lens);
            char ttl[24];
            aw_redis_fmt_time(ttl, KEY_TTL_MS(rs->ttl));
            const char *ex[] = {"PEXPIRE", s->key.data, ttl};
            size_t exl[] = {7, s->key.len, strlen(ttl)};
            aw_redis_queue_argv(s, USE_CHECK, 3, ex, exl);
        }
        free(argv);
        free(lens);
        free(text);
        rs->npushes = 0;
        aw_hashmap_free(&rs->push_index);
        aw_hashmap_init(&rs->push_index);
    }
}
