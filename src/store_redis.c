/*
 * store_redis.c - the Redis backend of the store vtable (see store.h and
 * DESIGN section 7): its operations, the mirror, finalization reads,
 * first_seen and waiting cursors.  The connection and pipeline are in
 * redis_conn.c, a batch's buffered writes in redis_batch.c, the pending
 * queue in redis_pending.c (and, while solo, redis_queue.c), their shared
 * state in redis_store.h; hiredis is included by this file and
 * redis_conn.c only.
 *
 * Keys (PREFIX defaults to "auditwatch"; replay uses a prefix of its own):
 *   PREFIX:{RULE|GROUPHASH}:h   hash: one window.  Its entries are fields
 *                               named by the event identity (16 hex
 *                               digits) - a redelivered event is the same
 *                               field, so it is not counted twice - whose
 *                               value is "TIME I" + payload (redis_codec.c);
 *                               plus "g" (the group's values as JSON),
 *                               "m" (finalization cursor and suppression)
 *                               and "v" (a version, see Sharing)
 *   PREFIX:{RULE|GROUPHASH}:s   hash: a set's members -> first-seen time
 *   PREFIX:{RULE}:pending       sorted set: groups waiting for their
 *                               finalization, scored by the earliest time
 *   PREFIX:{RULE}:claims        hash: instance -> "group time ..." of the
 *                               groups it popped and has not finished, or
 *                               "@TIME" (alone: everything due up to TIME)
 *   PREFIX:members              hash: instance -> "watermark heartbeat";
 *                               finalization waits for the slowest live one
 *   PREFIX:writers              hash: instance -> server time of its last
 *                               sign of life; every instance registers here
 *                               before its first write
 * The braces are Redis Cluster hash tags: a window's key lives in one slot.
 * Every key gets a TTL (the window's timespan + lateness + an hour of
 * wall-clock slack, or 30 days for keys whose callers give none, such as
 * the service map).  A window's TTL is set when its key is created and
 * refreshed by this process at most every TTL_REFRESH_MS of wall time,
 * which keeps it alive at least slack - TTL_REFRESH_MS after its last
 * update (one PEXPIRE per window and batch was a tenth of Redis's work).
 *
 * Cost model (redis_scripts.c): Redis pays per command inside a script
 * and per script argument, far more than per byte.  So a window is one
 * hash (an entry costs one HSETNX; order by time is not needed on the
 * server, as this process reads its windows from its mirror and the rare
 * snapshot filters in Lua), a window with one new entry and nothing else
 * to do takes two script arguments, and everything a batch does goes in
 * a handful of script calls.  A plain command costs Redis about half of
 * a redis.call inside a script: while this instance writes alone, the
 * windows its mirror holds current are written with plain HSET/HDEL in
 * one MULTI block per flush (redis_batch.c, "direct writes"), which
 * skips Lua for most of a batch.  Entries older than what can still matter
 * are dropped by id, which this process knows from its mirror, once they
 * are TRIM_MIN and half of the window; snapshots trim what other
 * instances left.
 *
 * Batching: writes are not sent when they are made.  window_hit, meta_put,
 * first_seen, pending_push and pending_done append to per-batch buffers
 * that go into the pipeline as a few script calls or one MULTI block
 * (hits, meta writes and first_seen decisions are also written to the
 * connection every
 * EARLY_WINDOWS, so Redis works while the batch is still being read); the
 * pipeline's replies are read in one round trip when its owner calls sync
 * (once per batch of events) or when a read needs an answer.  Pending
 * pushes are merged per group into one ZADD LT per rule, and the pops of
 * the coming finalization (pending_prefetch), all rules in one script
 * call, end the pipeline.  Per window, writes reach Redis in the order
 * they were made (meta writes go before hits; a meta write queued while
 * its window has hits waiting sends those first).
 *
 * Sharing: several instances may use one prefix.  Each publishes its
 * watermark; a group is finalized only up to the slowest live instance's
 * watermark minus the lateness, by the one instance that popped it.
 * Reads during finalization are served from a mirror: an embedded memory
 * store holding what this process wrote and windows it fetched.  Whether
 * the mirror can be trusted depends on the writers:
 *   alone   (no other registered writer): nothing else changes the
 *           windows, so no versions are counted or read; the mirror
 *           answers whether an entry was there already, so the windows it
 *           holds current are written without scripts; a pop reads the
 *           due groups and leaves them queued until each is finalized (one
 *           "@TIME" claim); pushes already queued no later are not sent
 *           again; a moved cursor waits in the mirror (dirty_mark); and
 *           first_seen decisions that cannot change anything are answered
 *           here (fs_skip); and once also solo (no other live member),
 *           a rule's pops are answered from a copy of its queue
 *           (redis_queue.c), loaded by one pop that lists it whole
 *   shared  every write bumps the window's version, which Redis returns
 *           with every write and pop; on a mismatch the window is fetched
 *           again (every popped window in one more round trip); a pop
 *           moves its groups into this instance's claim, released with
 *           one script per rule and batch.
 * Going from shared to alone forgets every mirrored version; from alone
 * to shared writes the waiting cursors and pushes the queued groups again.
 *
 * Faults: when the connection breaks, the store reconnects with
 * exponential backoff (up to reconnect_wait), reloads its scripts and
 * sends the whole unacknowledged pipeline again (a pop hands this
 * instance's unfinished claims out again, or leaves its groups queued, so
 * a lost reply loses no group).  Every command is idempotent - entries
 * are keyed by event identity, meta writes set values, pushes only lower
 * a score - so a resend never counts anything twice.  A NOSCRIPT reply
 * (Redis restarted and lost its script cache) reloads the scripts and
 * resends likewise.  Only when reconnecting fails for longer than
 * reconnect_wait does an operation return -1.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auditwatch/buf.h"
#include "auditwatch/hash.h"
#include "auditwatch/hashmap.h"
#include "auditwatch/log.h"
#include "auditwatch/store.h"
#include "redis_codec.h"
#include "redis_scripts.h"
#include "redis_spec.h"
#include "redis_store.h"

static void fs_forget(struct redis_store *s);
static bool dirty_clear(struct redis_store *s, uint64_t name);
static void write_mirror_meta(struct redis_store *s, const struct aw_wkey *k);
static void write_dirty_all(struct redis_store *s);

/* ------------------------------------------------------------------- keys */

void aw_redis_window_key_text(struct redis_store *s, struct aw_buf *b, const struct aw_wkey *k, const char *suffix)
{
    char hex[16];
    aw_buf_reset(b);
    aw_buf_append_str(b, s->prefix);
    aw_buf_append_str(b, ":{");
    aw_buf_append_str(b, k->rule);
    aw_buf_append_char(b, '|');
    aw_hex64(k->group_hash, hex);
    aw_buf_append(b, hex, 16);
    aw_buf_append_str(b, "}:");
    aw_buf_append_str(b, suffix);
}

void aw_redis_rule_key_text(struct redis_store *s, struct aw_buf *b, const char *rule, const char *suffix)
{
    aw_buf_reset(b);
    aw_buf_append_str(b, s->prefix);
    aw_buf_append_str(b, ":{");
    aw_buf_append_str(b, rule);
    aw_buf_append_str(b, "}:");
    aw_buf_append_str(b, suffix);
}

void aw_redis_prefix_key_text(struct redis_store *s, struct aw_buf *b, const char *suffix)
{
    aw_buf_reset(b);
    aw_buf_append_str(b, s->prefix);
    aw_buf_append_char(b, ':');
    aw_buf_append_str(b, suffix);
}

uint64_t aw_redis_rule_hash_of(const struct aw_wkey *k)
{
    return k->rule_hash ? k->rule_hash : aw_store_rule_hash(k->rule);
}

uint64_t aw_redis_window_name(const struct aw_wkey *k)
{
    uint64_t v[2] = {aw_redis_rule_hash_of(k), k->group_hash};
    return aw_hashmap_key(aw_hash64(v, sizeof v, 0x57494e44));
}

struct rule_state *aw_redis_rule_state(struct redis_store *s, const char *rule, uint64_t rh)
{
    if (s->last_rule && s->last_rule->rule_hash == rh)
        return s->last_rule;
    uint64_t key = aw_hashmap_key(rh);
    struct rule_state *r = aw_hashmap_get(&s->rules, key);
    if (!r) {
        r = aw_xcalloc(1, sizeof *r);
        r->name = aw_xstrdup(rule);
        r->rule_hash = rh;
        r->earliest = AW_TIME_NONE;
        r->pushed_min = AW_TIME_NONE;
        r->bound = r->peer_bound = INT64_MAX;
        r->claim_to = r->claimed_to = AW_TIME_NONE;
        aw_hashmap_init(&r->push_index);
        aw_hashmap_init(&r->queued);
        aw_hashmap_put(&s->rules, key, r);
    }
    s->last_rule = r;
    return r;
}

/* The mirror: windows this instance has written or read, in an embedded
 * memory store, with the version ("v") each should have in Redis.  A
 * window is read from the mirror while the versions Redis reports (with
 * every write, and with every pop) match; on a mismatch - another
 * instance wrote, the key expired, Redis lost it - the window is fetched
 * again.  A single instance thus never fetches what it wrote itself. */
static struct aw_store *cache_of(struct redis_store *s)
{
    if (!s->cache) {
        struct aw_store_options o = {0};
        o.memory_cap = s->mirror_cap;
        s->cache = aw_store_memory_new(&o);
    }
    return s->cache;
}

uint64_t aw_redis_mirror_version(struct redis_store *s, uint64_t name)
{
    return (uint64_t)(uintptr_t)aw_hashmap_get(&s->fetched, name); /* 0: unknown */
}

/* One more change is on its way: the version it should produce. */
uint64_t aw_redis_mirror_bump(struct redis_store *s, uint64_t name)
{
    uint64_t v = aw_redis_mirror_version(s, name) + 1; /* unknown: assume a new window */
    s->ok_valid = false;
    aw_hashmap_put(&s->fetched, name, (void *)(uintptr_t)v);
    return v;
}

static void mirror_check(struct redis_store *s, uint64_t name, uint64_t expected, long long got)
{
    if ((uint64_t)got != expected && aw_redis_mirror_version(s, name) != 0) {
        s->ok_valid = false;
        aw_hashmap_remove(&s->fetched, name);
        s->st.evicted++; /* counted: mirror misses */
    }
}

/* The version of a mirrored window written while versions were not
 * counted (no other writer): current, its number in Redis unknown.  A
 * count reported later never matches it, so the window is fetched again
 * once others write. */
#define VERSION_TRUSTED ((uint64_t)1 << 62)

/* A write's reply for one window: its new version, or - while versions
 * are not counted - 'N' (the write created the key), 'E' (the key was
 * there) or '0' (not checked).  A mirror that took the window for new
 * while Redis had it is incomplete: dropped, to be fetched when needed. */
static void mirror_reply(struct redis_store *s, uint64_t name, uint64_t expected, const char *tok, size_t len,
                         bool assumed_new)
{
    if (len == 1 && (tok[0] == 'N' || tok[0] == 'E' || tok[0] == '0')) {
        if (!aw_redis_mirror_version(s, name))
            return;
        if (tok[0] == 'E' && assumed_new) {
            s->ok_valid = false;
            aw_hashmap_remove(&s->fetched, name);
            s->st.evicted++;
        } else {
            s->ok_valid = false;
            aw_hashmap_put(&s->fetched, name, (void *)(uintptr_t)VERSION_TRUSTED);
        }
        return;
    }
    aw_redis_set_shared(s, true);
    char num[24];
    size_t n = len < sizeof num - 1 ? len : sizeof num - 1;
    memcpy(num, tok, n);
    num[n] = '\0';
    mirror_check(s, name, expected, len ? strtoll(num, NULL, 10) : -1);
}

/* Whether the mirror holds the current window. */
static bool mirror_current(struct redis_store *s, const struct aw_wkey *k, uint64_t version)
{
    uint64_t have = aw_redis_mirror_version(s, aw_redis_window_name(k));
    if (!have || (version && have != version) || !s->cache)
        return false;
    struct aw_window_meta m;
    bool found;
    s->cache->ops->meta_get(s->cache, k, &m, &found);
    return found; /* else evicted from the mirror */
}

/* What the last reply said about other writers.  Going from shared to
 * alone forgets every mirror version (nothing checks them from now on,
 * so what others changed since our last check is fetched again); going
 * from alone to shared writes the cursors that waited (at the next
 * flush: this runs while replies are read). */
static void fs_forget(struct redis_store *s)
{
    if (s->fs_known.n) {
        aw_hashmap_free(&s->fs_known);
        aw_hashmap_init(&s->fs_known);
    }
    if (s->fs_start.n) {
        aw_hashmap_free(&s->fs_start);
        aw_hashmap_init(&s->fs_start);
    }
}

void aw_redis_forget_caches(struct redis_store *s)
{
    if (s->refreshed.n) {
        aw_hashmap_free(&s->refreshed);
        aw_hashmap_init(&s->refreshed);
    }
    fs_forget(s);
}

void aw_redis_set_shared(struct redis_store *s, bool shared)
{
    if (shared && !s->shared)
        fs_forget(s); /* another instance may move a learning start */
    if (shared) {
        s->solo = false;
        aw_redis_queue_drop(s); /* the others pop too */
        if (s->alone && s->ndirty)
            s->dirty_flush_due = true;
        if (s->alone)
            s->requeue_due = true; /* another instance may have taken some */
        s->alone = false;
    } else {
        if (s->shared) {
            s->ok_valid = false;
            aw_hashmap_free(&s->fetched);
            aw_hashmap_init(&s->fetched);
        }
        s->alone = true;
    }
    s->shared = shared;
}

static void fmt_clock(char out[24], int64_t t)
{
    if (t == INT64_MAX)
        snprintf(out, 24, "+inf");
    else
        aw_redis_fmt_time(out, t);
}

/* Publish this instance's watermark (after its writes, so no other
 * instance sees a watermark whose events are not in Redis yet); at least
 * once a second as a heartbeat. */
static int64_t shown_clock(const struct redis_store *s);

static void publish_clock(struct redis_store *s)
{
    int64_t now = aw_mono_ms();
    if (s->published_at && shown_clock(s) == s->published_clock && now - s->published_at < 1000)
        return;
    char wm[24], ttl[24], stale[24];
    fmt_clock(wm, shown_clock(s));
    aw_redis_fmt_time(ttl, DEFAULT_TTL_MS);
    aw_redis_fmt_time(stale, STALE_MS(s));
    aw_redis_prefix_key_text(s, &s->key, "members");
    aw_redis_prefix_key_text(s, &s->key2, "writers");
    const char *argv[] = {"EVALSHA", s->sha[S_MEMBER], "2", s->key.data, s->key2.data, s->instance, wm, ttl, stale};
    size_t lens[] = {7, 40, 1, s->key.len, s->key2.len, strlen(s->instance), strlen(wm), strlen(ttl), strlen(stale)};
    aw_redis_queue_argv(s, USE_CHECK, 9, argv, lens);
    s->published_clock = shown_clock(s);
    s->published_at = now;
}

/* The watermark the peers see: the clock as of two syncs ago.  The peers
 * finalize up to the slowest watermark they see, and after a crash the
 * records this instance read but had not committed are read again by
 * whoever gets their partitions - they must not be final (or late) by
 * then.  Each sync follows the delivery of the batch before (the stream
 * job's before_send), whose offsets are then committed: two syncs behind,
 * every record after the committed offsets came after that clock (or
 * was late already).  "Finished" (INT64_MAX) shows at once. */
static int64_t shown_clock(const struct redis_store *s)
{
    return s->clock == INT64_MAX ? INT64_MAX : s->clock_at_sync[1];
}

/* Everything merged so far goes into the pipeline: the hits, then each
 * rule's finished groups and claims and one ZADD LT of its pending
 * pushes (redis_pending.c), then the heartbeat. */
void aw_redis_flush_pushes(struct redis_store *s)
{
    if (s->requeue_due) {
        s->requeue_due = false;
        aw_redis_forget_queued(s, true);
    }
    if (s->dirty_flush_due)
        write_dirty_all(s);
    aw_redis_flush_writes(s);
    aw_redis_flush_first_seen(s);
    aw_redis_flush_queue(s);
    publish_clock(s);
}

/* -------------------------------------------------------------- snapshots */

/* One call fetching the windows keys[0..n). */
static void queue_snapshots(struct redis_store *s, const struct aw_wkey *keys, size_t n)
{
    struct argl l;
    aw_redis_argl_init(&l, &s->arg2, 3 + 2 * n);
    aw_redis_argl_ptr(&l, "EVALSHA", 7);
    aw_redis_argl_ptr(&l, s->sha[S_SNAPSHOT], 40);
    aw_redis_argl_num(&l, (int64_t)n);
    for (size_t i = 0; i < n; i++) {
        aw_redis_window_key_text(s, &s->key, &keys[i], "h");
        aw_redis_argl_copy(&l, s->key.data, s->key.len);
    }
    for (size_t i = 0; i < n; i++) {
        struct rule_state *rs = aw_redis_rule_state(s, keys[i].rule, aw_redis_rule_hash_of(&keys[i]));
        if (!s->full_fetch && rs->ttl)
            aw_redis_argl_num(&l, rs->ttl);
        else
            aw_redis_argl_ptr(&l, "", 0);
    }
    aw_redis_argl_queue(s, &l, USE_KEEP);
}

/* Load a SNAPSHOT reply ({g, m, v, id, entry, ...}) into the mirror,
 * replacing what it held. */
static void load_snapshot(struct redis_store *s, const struct aw_wkey *k, const redisReply *r)
{
    struct aw_store *c = cache_of(s);
    s->ok_valid = false;
    int64_t ttl = aw_redis_rule_state(s, k->rule, aw_redis_rule_hash_of(k))->ttl; /* expires in the mirror as written windows do */
    aw_store_memory_forget(c, k);
    s->ok_valid = false;
    aw_hashmap_remove(&s->fetched, aw_redis_window_name(k));
    dirty_clear(s, aw_redis_window_name(k)); /* (a waiting cursor is lost with the copy: see dirty_mark) */
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
        return; /* no such window (any more) */
    for (size_t i = 0; i < 3; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING)
            return;
    for (size_t i = 3; i + 1 < r->elements; i += 2) {
        const redisReply *id = r->element[i], *val = r->element[i + 1];
        if (id->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
            continue;
        struct aw_window_entry e;
        memset(&e, 0, sizeof e);
        if (!aw_redis_decode_entry(val->str, val->len, &e))
            continue;
        e.id_hash = aw_redis_parse_hex64(id->str, id->len);
        bool added, found;
        c->ops->window_add(c, k, &e, AW_TIME_NONE, ttl, &added, NULL, &found);
    }
    struct aw_window_meta m;
    memset(&m, 0, sizeof m);
    aw_redis_decode_meta(r->element[1]->str, r->element[1]->len, &m);
    m.group_json = r->element[0]->str;
    m.group_json_len = r->element[0]->len;
    c->ops->meta_put(c, k, &m, ttl);
    uint64_t v = strtoull(r->element[2]->str, NULL, 10);
    if (v)
        aw_hashmap_put(&s->fetched, aw_redis_window_name(k), (void *)(uintptr_t)v);
}

static const redisReply *snapshot_part(const redisReply *r, size_t i)
{
    return r && r->type == REDIS_REPLY_ARRAY && i < r->elements ? r->element[i] : NULL;
}

static int ensure_fetched(struct redis_store *s, const struct aw_wkey *k)
{
    if (s->ok_valid && s->ok_rule == k->rule && s->ok_group == k->group_hash)
        return 0;
    if (mirror_current(s, k, 0)) {
        s->ok_rule = k->rule;
        s->ok_group = k->group_hash;
        s->ok_valid = true;
        return 0;
    }
    aw_redis_flush_pushes(s);
    size_t at = s->ncmds;
    queue_snapshots(s, k, 1);
    if (aw_redis_run_now(s) < 0)
        return -1;
    load_snapshot(s, k, snapshot_part(s->cmds[at].reply, 0));
    aw_redis_clear_commands(s);
    return 0;
}

/* ------------------------------------------------------------------- ops */

static int deliver_hits(struct redis_store *s);

static void hit_versions(struct redis_store *s, const struct command *c, const char *q, const char *end);

/* Run the pipeline now (a read needs its answer); keeps replies until
 * clear_commands.  Hit outcomes are delivered at sync. */
int aw_redis_run_now(struct redis_store *s)
{
    aw_redis_flush_pops(s); /* the pops go last: they see every write before them */
    int rc = aw_redis_exchange(s);
    if (rc < 0) {
        /* The pipeline is dropped: the caller retries the batch.  Pairs
         * taken for written may not be (the retry asks Redis again), and
         * windows whose mirror copy started empty are not known to be
         * complete (fetched again when needed). */
        fs_forget(s);
        s->solo = false;
        aw_redis_queue_drop(s);
        for (size_t i = 0; s->unconfirmed.n && i < s->unconfirmed.cap; i++)
            if (s->unconfirmed.keys[i])
                aw_hashmap_remove(&s->fetched, s->unconfirmed.keys[i]);
        aw_hashmap_free(&s->unconfirmed);
        aw_hashmap_init(&s->unconfirmed);
        s->ok_valid = false;
        for (size_t i = 0; i < s->ncmds; i++)
            for (size_t j = 0; s->cmds[i].use == USE_POP && j < s->cmds[i].nrules; j++)
                s->cmds[i].rules[j]->pop_queued = false;
        aw_redis_clear_commands(s);
        s->nhits = 0;
        return -1;
    }
    /* Hit outcomes: note them now, deliver at sync.  Popped groups:
     * into their rule's due list. */
    for (size_t i = 0; i < s->ncmds; i++) {
        struct command *c = &s->cmds[i];
        if (c->use == USE_POP) {
            for (size_t j = 0; j < c->nrules; j++) {
                const redisReply *e = c->reply && c->reply->type == REDIS_REPLY_ARRAY && j < c->reply->elements
                                          ? c->reply->element[j]
                                          : NULL;
                bool text = e && e->type == REDIS_REPLY_STRING;
                aw_redis_parse_pop(s, c->rules[j], text ? e->str : NULL, text ? e->len : 0);
            }
            /* then whether this instance is solo (see redis_queue.c) */
            const redisReply *f = c->reply && c->reply->type == REDIS_REPLY_ARRAY && c->nrules < c->reply->elements
                                      ? c->reply->element[c->nrules]
                                      : NULL;
            s->solo = f && f->type == REDIS_REPLY_STRING && f->len == 1 && f->str[0] == '1' && !s->resent;
            if (!s->solo)
                aw_redis_queue_drop(s);
            continue;
        }
        if (c->use == USE_DIRECT) { /* EXEC's replies; FIXUP's is the last */
            const redisReply *x = c->reply;
            const redisReply *f = x && x->type == REDIS_REPLY_ARRAY && x->elements ? x->element[x->elements - 1] : NULL;
            if (f && f->type == REDIS_REPLY_STRING && f->len && f->str[0] == '|')
                hit_versions(s, c, f->str + 1, f->str + f->len);
            continue;
        }
        if (!c->reply || c->reply->type != REDIS_REPLY_STRING)
            continue;
        const char *p = c->reply->str, *end = p + c->reply->len;
        if (c->use == USE_FS) { /* one digit per decision, '|', then "d start" per learning start */
            for (size_t j = 0; j < c->nhits && j < c->reply->len; j++)
                s->hits[c->hits[j]].code = p[j] - '0';
            /* (cached only while alone: then no one else moves a start) */
            const char *bar = memchr(p, '|', c->reply->len), *t1, *t2;
            const char *q = bar ? bar + 1 : end;
            size_t l1, l2;
            while (s->alone && !s->shared && aw_redis_next_token(&q, end, &t1, &l1) && aw_redis_next_token(&q, end, &t2, &l2)) {
                size_t d = 0;
                for (size_t k = 0; k < l1 && k < 12 && t1[k] >= '0' && t1[k] <= '9'; k++)
                    d = d * 10 + (size_t)(t1[k] - '0');
                int64_t start = aw_redis_parse_time(t2, l2);
                if (d >= 1 && d <= c->nhits && start != AW_TIME_NONE)
                    aw_hashmap_put(&s->fs_start, s->hits[c->hits[d - 1]].fs_learn, QTIME(start));
            }
            continue;
        }
        if (c->use == USE_VER) { /* "v v ..." */
            const char *t;
            size_t tl;
            for (size_t w = 0; w < c->nw; w++) {
                if (!aw_redis_next_token(&p, end, &t, &tl))
                    t = "", tl = 0;
                mirror_reply(s, c->names[w], c->expect[w], t, tl, false);
            }
            continue;
        }
        if (c->use != USE_HIT)
            continue;
        /* a code digit per entry, '|', then versions: one per 'x' window,
         * or one per window when another writer counted the plain ones */
        const char *bar = memchr(p, '|', (size_t)(end - p));
        if (!bar)
            continue;
        for (size_t j = 0; j < c->nhits; j++) {
            const char *d = p + j;
            s->hits[c->hits[j]].code = d < bar && *d >= '0' && *d <= '2' ? *d - '0' : 0;
        }
        hit_versions(s, c, bar + 1, end);
    }
    return 0;
}

/* The versions part of a HIT or FIXUP reply, [q, end): one per 'x'
 * window, or one per window when another writer counted the plain ones
 * (all of a direct block's windows are plain). */
static void hit_versions(struct redis_store *s, const struct command *c, const char *q, const char *end)
{
    const char *t;
    size_t tl, ntok = 0;
    for (const char *r = q; aw_redis_next_token(&r, end, &t, &tl);)
        ntok++;
    bool all = ntok == c->nw;
    for (size_t w = 0; w < c->nw; w++) {
        if (c->assumed_new[w] && s->unconfirmed.n)
            aw_hashmap_remove(&s->unconfirmed, c->names[w]); /* answered */
        if (!all && c->plain[w]) { /* not counted: current as far as we know */
            mirror_reply(s, c->names[w], c->expect[w], "0", 1, false);
            continue;
        }
        if (!aw_redis_next_token(&q, end, &t, &tl))
            t = "", tl = 0;
        if (tl == 1 && t[0] == 'L') { /* Redis had lost the key: as if it had expired */
            s->ok_valid = false;
            aw_hashmap_remove(&s->fetched, c->names[w]);
            continue;
        }
        mirror_reply(s, c->names[w], c->expect[w], t, tl, c->assumed_new[w]);
    }
}

/* Collects the ids of a mirror scan (entries to drop). */
struct id_list {
    struct win_batch *b;
    int64_t last; /* time of the last id listed */
};

static int collect_old(void *ctx, const struct aw_window_entry *e)
{
    struct id_list *l = ctx;
    struct win_batch *b = l->b;
    if (b->nold == TRIM_MAX)
        return 1;
    l->last = e->time_ms;
    if (b->nold == b->old_cap) {
        b->old_cap = b->old_cap ? b->old_cap * 2 : 16;
        b->old = aw_xrealloc(b->old, b->old_cap * sizeof *b->old);
    }
    b->old[b->nold++] = e->id_hash;
    return 0;
}

/* Whether this process should (re)set a window's TTL with this batch. */
static bool refresh_due(struct redis_store *s, uint64_t name)
{
    uint64_t sec = (uint64_t)(aw_mono_ms() / 1000) + 1;
    uint64_t last = (uint64_t)(uintptr_t)aw_hashmap_get(&s->refreshed, name);
    if (last && (sec - last) * 1000 < (uint64_t)TTL_REFRESH_MS)
        return false;
    if (s->refreshed.n > ((size_t)1 << 20)) { /* bounded: forgetting costs one more PEXPIRE */
        aw_hashmap_free(&s->refreshed);
        aw_hashmap_init(&s->refreshed);
    }
    aw_hashmap_put(&s->refreshed, name, (void *)(uintptr_t)sec);
    return true;
}

static void queue_meta_write(struct redis_store *s, const struct aw_wkey *k, const struct aw_window_meta *m,
                             int64_t ttl_ms);

static int r_window_hit(struct aw_store *base, const struct aw_wkey *k, const struct aw_window_entry *e,
                        int64_t trim_before_ms, int64_t ttl_ms, const char *group_json, size_t group_len,
                        aw_hit_done_fn done, void *done_ctx)
{
    struct redis_store *s = (struct redis_store *)base;
    if (s->broken)
        return -1;
    struct rule_state *rs = aw_redis_rule_state(s, k->rule, aw_redis_rule_hash_of(k));
    if (ttl_ms > rs->ttl)
        rs->ttl = ttl_ms;
    uint64_t name = aw_redis_window_name(k);
    uintptr_t at = (uintptr_t)aw_hashmap_get(&s->wb_index, name);
    struct aw_store *c = cache_of(s);
    /* The mirror follows every write.  A window it has no current copy
     * of starts clean (assumed new; the version Redis reports says
     * whether it was), and one it evicted is forgotten first. */
    bool current = mirror_current(s, k, 0);
    if (!at && !current) {
        s->ok_valid = false;
        aw_hashmap_remove(&s->fetched, name);
        aw_store_memory_forget(c, k);
    }
    struct win_batch *b;
    int64_t mirror_trim = AW_TIME_NONE;
    /* Entries older than the bound are dropped by id, from the mirror and
     * Redis alike, once they are at least TRIM_MIN and half of the window
     * (so a busy window costs a drop now and then, not one per batch).
     * Until then both keep them: they are outside every range that is
     * still read. */
    uint64_t old = 0, total = 0;
    bool trim = !at && trim_before_ms != AW_TIME_NONE && current &&
                c->ops->window_count(c, k, AW_TIME_NONE, trim_before_ms - 1, &old) == 0 && old >= TRIM_MIN &&
                c->ops->window_count(c, k, AW_TIME_NONE, INT64_MAX, &total) == 0 && 2 * old >= total;
    if (trim && dirty_clear(s, name))
        write_mirror_meta(s, k); /* the waiting cursor goes first (meta before hits) */
    if (at) {
        b = s->wb[at - 1];
        if (!current)
            b->assumed_new = true; /* (the mirror lost it mid-batch: Redis decides) */
    } else {
        if (s->nwb == s->wb_alloc) {
            s->wb = aw_xrealloc(s->wb, (s->wb_alloc + 1) * sizeof *s->wb);
            s->wb[s->wb_alloc++] = aw_xcalloc(1, sizeof **s->wb);
        }
        b = s->wb[s->nwb++];
        aw_hashmap_put(&s->wb_index, name, (void *)(uintptr_t)s->nwb);
        b->key = (struct aw_wkey){rs->name, k->group_hash, rs->rule_hash};
        b->ttl = 0;
        b->n = b->nold = 0;
        b->assumed_new = !current;
        b->unconfirmed = s->unconfirmed.n && aw_hashmap_get(&s->unconfirmed, name);
        b->check = refresh_due(s, name) || !current;
        aw_buf_reset(&b->group);
        aw_buf_append(&b->group, group_json ? group_json : "{}", group_json ? group_len : 2);
        if (trim) {
            struct id_list l = {b, AW_TIME_NONE};
            c->ops->window_scan(c, k, AW_TIME_NONE, trim_before_ms - 1, collect_old, &l);
            /* More than TRIM_MAX: the mirror drops what is listed (and any
             * tie of the last one, which Redis keeps a while longer). */
            mirror_trim = b->nold == old ? trim_before_ms : l.last + 1;
        }
    }
    if (ttl_ms > b->ttl)
        b->ttl = ttl_ms;
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->e = aw_xrealloc(b->e, b->cap * sizeof *b->e);
    }
    struct win_entry *we = &b->e[b->n++];
    aw_hex64(e->id_hash, we->id);
    we->id[16] = '\0';
    aw_redis_encode_entry(&s->arg, e);
    we->off = b->payloads.len;
    we->len = s->arg.len;
    aw_buf_append(&b->payloads, s->arg.data, s->arg.len);
    if (s->nhits == s->hit_cap) {
        s->hit_cap = s->hit_cap ? s->hit_cap * 2 : 256;
        s->hits = aw_xrealloc(s->hits, s->hit_cap * sizeof *s->hits);
    }
    we->hit = s->nhits;
    s->hits[s->nhits++] = (struct hit_wait){done, NULL, 0, done_ctx, *k, e->time_ms, e->id_hash, 0, 0};
    bool added, found;
    struct aw_window_meta m;
    s->ok_valid = false; /* (a write may evict another window from the mirror) */
    c->ops->window_add(c, k, e, mirror_trim, ttl_ms, &added, &m, &found);
    /* A current mirror knows the outcome HIT_LUA would give (a script's
     * answer replaces it when the window goes that way). */
    we->dup = !added;
    if (!added)
        s->hits[we->hit].code = found && m.alert_id[0] && m.suppress_entry == e->id_hash ? 2 : 1;
    if (!found) {
        memset(&m, 0, sizeof m);
        m.group_json = group_json;
        m.group_json_len = group_len;
        m.cursor_time = AW_TIME_NONE;
        m.suppress_until = AW_TIME_NONE;
        c->ops->meta_put(c, k, &m, ttl_ms);
    }
    if (s->nwb >= EARLY_WINDOWS) {
        aw_redis_flush_writes(s);
        aw_redis_send_early(s);
    }
    return 0;
}

static int r_window_add(struct aw_store *base, const struct aw_wkey *k, const struct aw_window_entry *e,
                        int64_t trim_before_ms, int64_t ttl_ms, bool *added, struct aw_window_meta *meta,
                        bool *meta_found)
{
    struct redis_store *s = (struct redis_store *)base;
    size_t hit = s->nhits;
    if (r_window_hit(base, k, e, trim_before_ms, ttl_ms, NULL, 0, NULL, NULL) < 0)
        return -1;
    aw_redis_flush_pushes(s);
    if (aw_redis_run_now(s) < 0)
        return -1;
    *added = s->hits[hit].code == 0;
    s->nhits = hit; /* answered here, not at sync */
    aw_redis_clear_commands(s);
    if (!meta)
        return 0;
    uint64_t n = 0;
    if (base->ops->meta_get(base, k, meta, meta_found) < 0 ||
        base->ops->window_count(base, k, AW_TIME_NONE, INT64_MAX, &n) < 0)
        return -1;
    meta->entries = n;
    return 0;
}

static int r_window_scan(struct aw_store *base, const struct aw_wkey *k, int64_t from_excl, int64_t to_incl,
                         aw_entry_fn fn, void *ctx)
{
    struct redis_store *s = (struct redis_store *)base;
    if (ensure_fetched(s, k) < 0)
        return -1;
    return s->cache->ops->window_scan(s->cache, k, from_excl, to_incl, fn, ctx);
}

static int r_window_count(struct aw_store *base, const struct aw_wkey *k, int64_t from_excl, int64_t to_incl,
                          uint64_t *count)
{
    struct redis_store *s = (struct redis_store *)base;
    if (ensure_fetched(s, k) < 0)
        return -1;
    return s->cache->ops->window_count(s->cache, k, from_excl, to_incl, count);
}

static int r_meta_get(struct aw_store *base, const struct aw_wkey *k, struct aw_window_meta *m, bool *found)
{
    struct redis_store *s = (struct redis_store *)base;
    if (ensure_fetched(s, k) < 0)
        return -1;
    return s->cache->ops->meta_get(s->cache, k, m, found);
}

/* A meta write into the batch's buffer (replacing one for the same
 * window); the window's hits waiting in the batch go first. */
static void queue_meta_write(struct redis_store *s, const struct aw_wkey *k, const struct aw_window_meta *m,
                             int64_t ttl_ms)
{
    uint64_t name = aw_redis_window_name(k);
    if (s->nwb && aw_hashmap_get(&s->wb_index, name))
        aw_redis_flush_writes(s); /* the window's hits go first */
    struct rule_state *rs = aw_redis_rule_state(s, k->rule, aw_redis_rule_hash_of(k));
    uintptr_t at = (uintptr_t)aw_hashmap_get(&s->meta_index, name);
    struct meta_write *w;
    if (at) {
        w = &s->metas[at - 1];
    } else {
        if (s->nmeta == s->meta_cap) {
            s->meta_cap = s->meta_cap ? s->meta_cap * 2 : 256;
            s->metas = aw_xrealloc(s->metas, s->meta_cap * sizeof *s->metas);
        }
        w = &s->metas[s->nmeta++];
        aw_hashmap_put(&s->meta_index, name, (void *)(uintptr_t)s->nmeta);
    }
    w->key = (struct aw_wkey){rs->name, k->group_hash, rs->rule_hash};
    w->ttl = ttl_ms;
    aw_redis_encode_meta(&s->arg, m);
    w->off = s->meta_text.len;
    w->mlen = s->arg.len;
    w->glen = m->group_json ? m->group_json_len : 0;
    aw_buf_append(&s->meta_text, s->arg.data, s->arg.len);
    if (w->glen)
        aw_buf_append(&s->meta_text, m->group_json, w->glen);
    if (s->nmeta >= EARLY_WINDOWS) {
        aw_redis_flush_writes(s);
        aw_redis_send_early(s);
    }
}

/* ------------------------------------------------------- waiting cursors */

/* While alone under its prefix, this instance moves a window's cursor in
 * its mirror only: the cursor is read from Redis by nobody else, and a
 * restarted instance that finds an older one judges those entries again
 * with the same window contents, so with the same verdicts (alerts and
 * suppressions are written at once).  A waiting cursor goes to Redis
 * before the window's entries are trimmed there (which would change
 * those contents), and all of them as soon as another writer shows up
 * or DIRTY_MAX are waiting (which bounds the list in a long run). */
#define DIRTY_MAX 100000 /* waiting cursors kept at most: then all are written */
static void dirty_mark(struct redis_store *s, const struct aw_wkey *k, uint64_t name)
{
    if (aw_hashmap_get(&s->dirty_index, name))
        return;
    if (s->ndirty >= DIRTY_MAX)
        s->dirty_flush_due = true; /* (at the next flush; the list may grow until then) */
    if (s->ndirty == s->dirty_cap) {
        s->dirty_cap = s->dirty_cap ? s->dirty_cap * 2 : 256;
        s->dirty = aw_xrealloc(s->dirty, s->dirty_cap * sizeof *s->dirty);
    }
    struct rule_state *rs = aw_redis_rule_state(s, k->rule, aw_redis_rule_hash_of(k));
    s->dirty[s->ndirty++] = (struct aw_wkey){rs->name, k->group_hash, rs->rule_hash};
    aw_hashmap_put(&s->dirty_index, name, (void *)(uintptr_t)s->ndirty);
}

/* Forget a waiting cursor; true when there was one. */
static bool dirty_clear(struct redis_store *s, uint64_t name)
{
    uintptr_t at = (uintptr_t)aw_hashmap_get(&s->dirty_index, name);
    if (!at)
        return false;
    aw_hashmap_remove(&s->dirty_index, name);
    if (at != s->ndirty) { /* the last one takes its place */
        s->dirty[at - 1] = s->dirty[s->ndirty - 1];
        aw_hashmap_put(&s->dirty_index, aw_redis_window_name(&s->dirty[at - 1]), (void *)at);
    }
    s->ndirty--;
    return true;
}

/* Queue the mirror's meta of a window as its meta write. */
static void write_mirror_meta(struct redis_store *s, const struct aw_wkey *k)
{
    struct aw_window_meta m;
    bool found = false;
    if (s->cache)
        s->cache->ops->meta_get(s->cache, k, &m, &found);
    if (found)
        queue_meta_write(s, k, &m, aw_redis_rule_state(s, k->rule, aw_redis_rule_hash_of(k))->ttl);
}

static void write_dirty_all(struct redis_store *s)
{
    s->dirty_flush_due = false;
    for (size_t i = 0; i < s->ndirty; i++)
        write_mirror_meta(s, &s->dirty[i]);
    s->ndirty = 0;
    aw_hashmap_free(&s->dirty_index);
    aw_hashmap_init(&s->dirty_index);
}

static int r_meta_put(struct aw_store *base, const struct aw_wkey *k, const struct aw_window_meta *m,
                      int64_t ttl_ms)
{
    struct redis_store *s = (struct redis_store *)base;
    if (s->broken)
        return -1;
    if (s->dirty_flush_due)
        write_dirty_all(s);
    uint64_t name = aw_redis_window_name(k);
    bool wait = false;
    if (s->alone && s->cache && aw_redis_mirror_version(s, name)) {
        /* only the cursor moved: it may wait */
        struct aw_window_meta old;
        bool found;
        s->cache->ops->meta_get(s->cache, k, &old, &found);
        wait = found && old.suppress_until == m->suppress_until && old.suppress_entry == m->suppress_entry &&
               !strcmp(old.alert_id, m->alert_id);
    }
    if (wait) {
        dirty_mark(s, k, name);
    } else {
        dirty_clear(s, name);
        queue_meta_write(s, k, m, ttl_ms);
    }
    struct aw_store *mirror = cache_of(s);
    s->ok_valid = false;
    mirror->ops->meta_put(mirror, k, m, ttl_ms);
    return 0;
}

/* Fetch the windows of every rule's newly popped groups in one round trip. */
#define SNAPSHOT_WINDOWS 256
int aw_redis_fetch_due_snapshots(struct redis_store *s)
{
    size_t n = 0, cap = 0;
    struct aw_wkey *keys = NULL;
    for (size_t i = 0; i < s->rules.cap; i++) {
        struct rule_state *rs = s->rules.keys[i] ? s->rules.values[i] : NULL;
        if (!rs || !rs->need_snapshots)
            continue;
        rs->need_snapshots = false;
        for (size_t j = 0; j < rs->ndue; j++) {
            struct aw_wkey wk = {rs->name, rs->due[j].group_hash, rs->rule_hash};
            if (mirror_current(s, &wk, rs->due[j].version))
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                keys = aw_xrealloc(keys, cap * sizeof *keys);
            }
            keys[n++] = wk;
        }
    }
    if (!n)
        return 0;
    aw_redis_flush_pushes(s);
    size_t at = s->ncmds;
    for (size_t i = 0; i < n; i += SNAPSHOT_WINDOWS)
        queue_snapshots(s, keys + i, n - i < SNAPSHOT_WINDOWS ? n - i : SNAPSHOT_WINDOWS);
    if (aw_redis_run_now(s) < 0) {
        free(keys);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        load_snapshot(s, &keys[i], snapshot_part(s->cmds[at + i / SNAPSHOT_WINDOWS].reply, i % SNAPSHOT_WINDOWS));
    aw_redis_clear_commands(s);
    free(keys);
    return 0;
}

/* first_seen decisions answered without Redis.  While this instance is
 * the only writer, a learning start it has read (or moved) is current,
 * and so is the knowledge that a pair is in its value set (pairs only
 * leave with the set's TTL, which the caches' hourly reset outlives by
 * far).  A decision then changes nothing and answers 0 - FIRST_SEEN_LUA
 * would add a value that is there and keep the start - when it does not
 * move the start and falls within learning (on a long learning period,
 * that is most of them; after it, a known pair still asks whether this
 * event introduced it).  Every decision that is sent moves the cached
 * start as the script will, and leaves its pair in the set. */
#define FS_CACHE_MS (3600LL * 1000)
#define FS_CACHE_MAX ((size_t)1 << 20)
static bool fs_skip(struct redis_store *s, const struct aw_first_seen_op *op, uint64_t learn, uint64_t pair)
{
    int64_t now = aw_mono_ms();
    if (!s->fs_cache_at || now - s->fs_cache_at > FS_CACHE_MS || s->fs_known.n > FS_CACHE_MAX ||
        s->fs_start.n > FS_CACHE_MAX) {
        fs_forget(s);
        s->fs_cache_at = now;
    }
    bool skip = false;
    void *v = aw_hashmap_get(&s->fs_start, learn);
    if (v) {
        int64_t start = QTIME_OF(v);
        skip = s->alone && !s->shared && op->time_ms >= start && op->time_ms - start < op->learning_ms &&
               aw_hashmap_get(&s->fs_known, pair);
        if (op->time_ms < start)
            aw_hashmap_put(&s->fs_start, learn, QTIME(op->time_ms));
    }
    if (!skip)
        aw_hashmap_put(&s->fs_known, pair, (void *)(uintptr_t)1);
    return skip;
}

static int r_first_seen(struct aw_store *base, const struct aw_first_seen_op *op, aw_first_seen_done_fn done,
                        void *done_ctx, size_t token)
{
    struct redis_store *s = (struct redis_store *)base;
    if (s->broken)
        return -1;
    struct aw_wkey lk = {op->name, op->learning_key, 0};
    size_t nlen = strlen(op->name);
    uint64_t learn = aw_hashmap_key(aw_hash64(op->name, nlen, op->learning_key));
    uint64_t pair = aw_hashmap_key(aw_hash64(op->value, op->value_len, aw_hash64(op->name, nlen, op->values_key)));
    if (fs_skip(s, op, learn, pair)) { /* answered here: silent, nothing to write */
        if (s->nhits == s->hit_cap) {
            s->hit_cap = s->hit_cap ? s->hit_cap * 2 : 256;
            s->hits = aw_xrealloc(s->hits, s->hit_cap * sizeof *s->hits);
        }
        s->hits[s->nhits++] = (struct hit_wait){NULL, done, token, done_ctx, lk, op->time_ms, 0, 0, learn};
        return 0;
    }
    if (s->nfs == s->fs_cap) {
        s->fs_cap = s->fs_cap ? s->fs_cap * 2 : 256;
        s->fs = aw_xrealloc(s->fs, s->fs_cap * sizeof *s->fs);
    }
    struct fs_wait *w = &s->fs[s->nfs++];
    struct aw_buf *t = &s->fs_text;
    w->off[0] = t->len;
    w->len[0] = strlen(op->name);
    aw_buf_append(t, op->name, w->len[0]);
    w->off[1] = t->len;
    int64_t nums[3] = {op->time_ms, op->learning_ms, op->ttl_ms > 0 ? op->ttl_ms : FOREVER_MS /* no retention: kept for good */};
    for (int i = 0; i < 3; i++) {
        char num[24];
        aw_buf_append(t, num, aw_redis_fmt_time(num, nums[i]));
        aw_buf_append_char(t, ' ');
    }
    aw_buf_append_char(t, op->prev_values_key ? '1' : '0');
    uint64_t hashes[4] = {op->learning_key, op->values_key, op->prev_values_key ? op->prev_values_key : op->values_key,
                          op->intro_key};
    for (int i = 0; i < 4; i++) {
        char hex[16];
        aw_hex64(hashes[i], hex);
        aw_buf_append_char(t, ' ');
        aw_buf_append(t, hex, 16);
    }
    w->len[1] = t->len - w->off[1];
    const char *strs[2] = {op->value, op->event_id};
    size_t lens[2] = {op->value_len, op->event_id_len};
    for (int i = 0; i < 2; i++) {
        w->off[2 + i] = t->len;
        w->len[2 + i] = lens[i];
        if (lens[i])
            aw_buf_append(t, strs[i], lens[i]);
    }
    if (s->nhits == s->hit_cap) {
        s->hit_cap = s->hit_cap ? s->hit_cap * 2 : 256;
        s->hits = aw_xrealloc(s->hits, s->hit_cap * sizeof *s->hits);
    }
    s->hits[s->nhits] = (struct hit_wait){NULL, done, token, done_ctx, lk, op->time_ms, 0, 0, learn};
    w->hit = s->nhits++;
    if (s->nfs >= EARLY_WINDOWS) {
        aw_redis_flush_first_seen(s);
        aw_redis_send_early(s);
    }
    return 0;
}

/* Send one command that answers with an integer, after everything
 * buffered; -1 when the store failed. */
static int ask_integer(struct redis_store *s, int argc, const char **argv, const size_t *lens, long long *out)
{
    aw_redis_flush_pushes(s);
    size_t at = s->ncmds;
    aw_redis_queue_argv(s, USE_KEEP, argc, argv, lens);
    if (aw_redis_run_now(s) < 0)
        return -1;
    const redisReply *r = s->cmds[at].reply;
    *out = r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    aw_redis_clear_commands(s);
    return 0;
}

static int r_set_add(struct aw_store *base, const struct aw_wkey *k, const char *member, size_t len,
                     int64_t time_ms, int64_t ttl_ms, bool *added)
{
    struct redis_store *s = (struct redis_store *)base;
    char t[24], ttl[24];
    aw_redis_fmt_time(t, time_ms);
    aw_redis_fmt_time(ttl, ttl_ms > 0 ? ttl_ms : DEFAULT_TTL_MS);
    aw_redis_window_key_text(s, &s->key, k, "s");
    const char *argv[] = {"EVALSHA", s->sha[S_SET_ADD], "1", s->key.data, member, t, ttl};
    size_t lens[] = {7, 40, 1, s->key.len, len, strlen(t), strlen(ttl)};
    long long n;
    if (ask_integer(s, 7, argv, lens, &n) < 0)
        return -1;
    *added = n == 1 && !s->last_resent; /* after a resend, "new" may have been our own first try */
    return 0;
}

static int r_set_contains(struct aw_store *base, const struct aw_wkey *k, const char *member, size_t len,
                          bool *found)
{
    struct redis_store *s = (struct redis_store *)base;
    aw_redis_window_key_text(s, &s->key, k, "s");
    const char *argv[] = {"HEXISTS", s->key.data, member};
    size_t lens[] = {7, s->key.len, len};
    long long n;
    if (ask_integer(s, 3, argv, lens, &n) < 0)
        return -1;
    *found = n == 1;
    return 0;
}

/* Redis expires by key TTLs; the clock is this instance's watermark,
 * published for the others (INT64_MAX: this instance has finished). */
static void r_set_clock(struct aw_store *base, int64_t t)
{
    struct redis_store *s = (struct redis_store *)base;
    if (t != AW_TIME_NONE && (s->clock == AW_TIME_NONE || t > s->clock))
        s->clock = t;
    /* The mirror is not expired by event time: a window it dropped while
     * Redis still holds it (TTLs run on the wall clock) would have to be
     * fetched again.  Its memory cap (store.memory_cap) bounds it. */
}

static int r_join(struct aw_store *base, int peers, int64_t timeout_ms)
{
    struct redis_store *s = (struct redis_store *)base;
    int64_t deadline = aw_mono_ms() + timeout_ms;
    for (;;) {
        s->published_at = 0; /* force a heartbeat */
        aw_redis_flush_pushes(s);
        size_t at = s->ncmds - 1;
        if (aw_redis_run_now(s) < 0)
            return -1;
        long long live = s->cmds[at].reply && s->cmds[at].reply->type == REDIS_REPLY_INTEGER
                             ? s->cmds[at].reply->integer
                             : 0;
        aw_redis_clear_commands(s);
        if (live >= peers)
            return 0;
        if (aw_mono_ms() > deadline) {
            aw_log(AW_LOG_ERROR, "redis %s: %lld of %d instances joined prefix %s within %llds", s->shown,
                   live, peers, s->prefix, (long long)(timeout_ms / 1000));
            return -1;
        }
        sleep_ms(100);
    }
}

/* Hand the outcomes of this batch's hits to their detectors. */
static int deliver_hits(struct redis_store *s)
{
    size_t n = s->nhits;
    if (!n)
        return 0;
    struct hit_wait *h = s->hits;
    bool resent = s->resent;
    s->hits = NULL;
    s->nhits = s->hit_cap = 0;
    int rc = 0;
    s->full_fetch = true;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (h[i].fs_fn) {
            rc = h[i].fs_fn(h[i].ctx, h[i].token, h[i].code);
            continue;
        }
        /* After a resend an entry we added ourselves reads as "already
         * there": only a completed alert is worth acting on then. */
        if (!h[i].fn || h[i].code == 0 || (resent && h[i].code == 1))
            continue;
        rc = h[i].fn(h[i].ctx, &h[i].key, h[i].time, h[i].id, h[i].code == 2);
    }
    s->full_fetch = false;
    free(h);
    return rc;
}

static int r_sync(struct aw_store *base)
{
    struct redis_store *s = (struct redis_store *)base;
    s->clock_at_sync[1] = s->clock_at_sync[0];
    s->clock_at_sync[0] = s->clock;
    /* The pops queued for the coming pass are answered by this exchange. */
    for (size_t i = 0; i < s->rules.cap; i++)
        if (s->rules.keys[i]) {
            struct rule_state *rs = s->rules.values[i];
            if (rs->pop_queued)
                continue;
            /* Popped and not handed out (the pass stopped early): back
             * to the queue, and the claim released. */
            for (; rs->due_valid && rs->due_claimed && rs->due_next < rs->ndue; rs->due_next++) {
                struct aw_wkey k = {rs->name, rs->due[rs->due_next].group_hash, rs->rule_hash};
                rs->outstanding++;
                aw_redis_pending_push(base, &k, rs->due[rs->due_next].time);
                aw_redis_pending_done(base, &k);
            }
            rs->due_valid = false;
            rs->outstanding = 0; /* (groups read alone and not handed out are still queued) */
        }
    s->probe_due = s->nlocal > 0;
    aw_redis_flush_pushes(s);
    if (aw_redis_run_now(s) < 0)
        return -1;
    aw_redis_clear_commands(s);
    int rc = deliver_hits(s);
    s->resent = false;
    if (rc < 0)
        return -1;
    /* Writes made while delivering (a re-emitted alert) go out now. */
    aw_redis_flush_pushes(s);
    if (s->ncmds && aw_redis_run_now(s) < 0)
        return -1;
    aw_redis_clear_commands(s);
    return 0;
}

static void r_stats(struct aw_store *base, struct aw_store_stats *out)
{
    struct redis_store *s = (struct redis_store *)base;
    *out = s->st;
}

static void r_destroy(struct aw_store *base)
{
    struct redis_store *s = (struct redis_store *)base;
    /* Send what is buffered, but call nobody back: the detectors that
     * asked may be gone already. */
    for (size_t i = 0; i < s->nhits; i++) {
        s->hits[i].fn = NULL;
        s->hits[i].fs_fn = NULL;
    }
    if (!s->broken && s->c && (s->ncmds || s->nhits || s->nwb || s->nmeta || s->nfs))
        r_sync(base);
    /* The membership stays, finished ("+inf"): a peer still joining
     * counts it, and it goes stale after STALE_MS. */
    aw_redis_clear_commands(s);
    free(s->cmds);
    free(s->hits);
    for (size_t i = 0; i < s->wb_alloc; i++) {
        aw_buf_free(&s->wb[i]->group);
        aw_buf_free(&s->wb[i]->payloads);
        free(s->wb[i]->e);
        free(s->wb[i]->old);
        free(s->wb[i]);
    }
    free(s->wb);
    aw_hashmap_free(&s->wb_index);
    free(s->metas);
    aw_hashmap_free(&s->meta_index);
    aw_buf_free(&s->meta_text);
    free(s->fs);
    aw_buf_free(&s->fs_text);
    aw_hashmap_free(&s->refreshed);
    aw_hashmap_free(&s->fs_known);
    aw_hashmap_free(&s->fs_start);
    free(s->dirty);
    aw_hashmap_free(&s->dirty_index);
    for (size_t i = 0; i < s->rules.cap; i++)
        if (s->rules.keys[i]) {
            struct rule_state *rs = s->rules.values[i];
            aw_hashmap_free(&rs->push_index);
            aw_hashmap_free(&rs->queued);
            free(rs->pushes);
            free(rs->done);
            free(rs->finished);
            free(rs->due);
            free(rs->heap);
            free(rs->name);
            free(rs);
        }
    aw_hashmap_free(&s->rules);
    free(s->pops);
    aw_store_destroy(s->cache);
    s->ok_valid = false;
    aw_hashmap_free(&s->fetched);
    aw_hashmap_free(&s->unconfirmed);
    aw_buf_free(&s->key);
    aw_buf_free(&s->key2);
    aw_buf_free(&s->arg);
    aw_buf_free(&s->arg2);
    aw_buf_free(&s->direct);
    aw_buf_free(&s->dkeys);
    if (s->c)
        redisFree(s->c);
    aw_redis_spec_free(&s->spec);
    free(s->shown);
    free(s->prefix);
    free(s);
}

static const struct aw_store_ops redis_ops = {
    .name = "redis",
    .window_add = r_window_add,
    .window_scan = r_window_scan,
    .window_count = r_window_count,
    .meta_get = r_meta_get,
    .meta_put = r_meta_put,
    .pending_push = aw_redis_pending_push,
    .pending_pop = aw_redis_pending_pop,
    .set_add = r_set_add,
    .set_contains = r_set_contains,
    .set_clock = r_set_clock,
    .stats = r_stats,
    .destroy = r_destroy,
    .window_hit = r_window_hit,
    .pending_done = aw_redis_pending_done,
    .pending_prefetch = aw_redis_pending_prefetch,
    .pending_limit = aw_redis_pending_limit,
    .peer_bound = aw_redis_peer_bound,
    .join = r_join,
    .first_seen = r_first_seen,
    .sync = r_sync,
};

struct aw_store *aw_store_redis_new(const char *spec, const struct aw_store_options *opts, char *err,
                                    size_t errlen)
{
    struct redis_store *s = aw_xcalloc(1, sizeof *s);
    s->base.ops = &redis_ops;
    char shown[512];
    aw_store_spec_redact(spec, shown, sizeof shown);
    s->shown = aw_xstrdup(shown);
    s->connect_timeout_ms = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 2000;
    s->command_timeout_ms = opts && opts->command_timeout_ms > 0 ? opts->command_timeout_ms : 5000;
    s->reconnect_wait_ms = opts && opts->reconnect_wait_ms > 0 ? opts->reconnect_wait_ms : 60000;
    s->before_send = opts ? opts->before_send : NULL;
    s->before_send_ctx = opts ? opts->before_send_ctx : NULL;
    s->prefix = aw_xstrdup(opts && opts->prefix && opts->prefix[0] ? opts->prefix : "auditwatch");
    s->mirror_cap = opts && opts->memory_cap ? opts->memory_cap : (size_t)1 << 30;
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(s->instance, sizeof s->instance, "%s-%ld-%llx", host, (long)getpid(),
             (unsigned long long)(ts.tv_nsec ^ ts.tv_sec));
    aw_hashmap_init(&s->rules);
    aw_hashmap_init(&s->fetched);
    aw_hashmap_init(&s->unconfirmed);
    aw_hashmap_init(&s->wb_index);
    aw_hashmap_init(&s->meta_index);
    aw_hashmap_init(&s->refreshed);
    aw_hashmap_init(&s->fs_known);
    aw_hashmap_init(&s->fs_start);
    aw_hashmap_init(&s->dirty_index);
    s->clock = s->published_clock = AW_TIME_NONE;
    s->clock_at_sync[0] = s->clock_at_sync[1] = AW_TIME_NONE;
    if (aw_redis_spec_parse(&s->spec, spec, err, errlen) < 0 || aw_redis_connect_once(s, err, errlen) < 0) {
        r_destroy(&s->base);
        return NULL;
    }
    return &s->base;
}

