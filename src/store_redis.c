/*
 * store_redis.c - the Redis backend of the store vtable (see store.h and
 * DESIGN section 7).  The only file that includes hiredis.
 *
 * Keys (PREFIX defaults to "auditwatch"; replay uses a prefix of its own):
 *   PREFIX:{RULE|GROUPHASH}:w   sorted set: one member per entry, the
 *                               event identity (16 hex digits) scored by
 *                               its event time - a redelivered event is
 *                               the same member, so it is not counted twice
 *   PREFIX:{RULE|GROUPHASH}:h   hash: the entries' payloads by identity,
 *                               plus "g" (the group's values as JSON) and
 *                               "m" (finalization cursor and suppression)
 *   PREFIX:{RULE|GROUPHASH}:s   hash: a set's members -> first-seen time
 *   PREFIX:{RULE}:pending       sorted set: groups waiting for their
 *                               finalization, scored by the earliest time
 *   PREFIX:{RULE}:claims        hash: groups an instance popped and has
 *                               not finished -> "instance time"
 *   PREFIX:members              hash: instance -> "watermark heartbeat";
 *                               finalization waits for the slowest live one
 * The braces are Redis Cluster hash tags: a window's keys share one slot.
 * Every key gets a TTL (the window's timespan + lateness, or 30 days for
 * keys whose callers give none, such as the service map).
 *
 * Batching: writes are not sent when they are made.  window_hit, meta_put,
 * pending_push and pending_done append commands to a pipeline; the
 * pipeline goes out in one round trip when the pipeline's owner calls
 * sync (once per batch of events) or when a read needs an answer.  Window
 * updates run as Lua scripts by EVALSHA (redis_scripts.c), so each is
 * atomic; a batch's hits go in one script call, pending pushes are merged
 * per group into one ZADD LT per rule, and the pops of the coming
 * finalization (pending_prefetch) travel with the batch.
 *
 * Sharing: several instances may use one prefix.  Each publishes its
 * watermark; a group is finalized only up to the slowest live instance's
 * watermark minus the lateness, by the one instance that claimed it.
 *
 * Reads during finalization are served from a local snapshot: popping due
 * groups fetches every popped window (entries that can still matter,
 * payloads and meta) in one more round trip into an embedded memory
 * store, which then answers scans, counts and meta reads; writes to a
 * snapshotted window go to both.  sync forgets the snapshots.
 *
 * Faults: when the connection breaks, the store reconnects with
 * exponential backoff (up to reconnect_wait), reloads its scripts and
 * sends the whole unacknowledged pipeline again (a pop hands this
 * instance's unfinished claims out again, so a lost reply loses no
 * group).  Every command is idempotent - entries
 * are keyed by event identity, meta writes set values, pushes only lower
 * a score - so a resend never counts anything twice.  A NOSCRIPT reply
 * (Redis restarted and lost its script cache) reloads the scripts and
 * resends likewise.  Only when reconnecting fails for longer than
 * reconnect_wait does an operation return -1.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
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

#define DEFAULT_TTL_MS (30LL * 86400 * 1000)
/* Keys that callers want kept for good (first_seen without retention):
 * ten years, so that still every key has a TTL. */
#define FOREVER_MS (3650LL * 86400 * 1000)
/* Key TTLs run on the wall clock, windows on event time: a replay can
 * hold a window for finalization longer than its event-time TTL (while
 * it reads other files up to the same time), so Redis keeps window keys
 * this much longer. */
#define TTL_SLACK_MS (3600LL * 1000)
#define POP_LIMIT 512

/* An instance silent this long no longer holds finalization back, and
 * its claims go back to the queue: longer than any reconnect wait, so a
 * peer that is only reconnecting is never taken for dead. */
#define STALE_MS(s) ((s)->reconnect_wait_ms + 60000)

/* ------------------------------------------------------------------ state */

enum reply_use {
    USE_CHECK, /* only an error matters */
    USE_HIT,   /* a window_hit outcome */
    USE_KEEP,  /* the caller reads the reply after the exchange */
    USE_POP,   /* due groups of a rule: parsed right after the exchange */
    USE_VER,   /* a window's new version (HINCRBY): checked against ours */
};

struct command {
    char *text; /* RESP, formatted by hiredis */
    int len;
    enum reply_use use;
    size_t *hits; /* USE_HIT: the hits (indexes into hits[]) in reply order */
    size_t nhits;
    struct rule_state *rule; /* USE_POP */
    /* USE_HIT (per window) and USE_VER: the window, the version the
     * command should leave it at if no one else wrote, entries */
    uint64_t *names, *expect;
    size_t *counts, nw;
    redisReply *reply;
};

/* The hits of one window in the current batch: sent as one EVALSHA. */
struct win_entry {
    char id[17], time[24];
    size_t off, len; /* payload in win_batch.payloads */
    size_t hit;
};

struct win_batch {
    struct aw_wkey key;
    int64_t trim, ttl;
    struct aw_buf group, payloads;
    struct win_entry *e;
    size_t n, cap;
};

struct hit_wait {
    aw_hit_done_fn fn;
    aw_first_seen_done_fn fs_fn; /* a first_seen decision instead */
    size_t token;
    void *ctx;
    struct aw_wkey key;
    int64_t time;
    uint64_t id;
    int code;
};

struct push {
    uint64_t group_hash;
    int64_t time;
    uint64_t version; /* popped groups: the window's version in Redis */
};

/* Per rule: its keys, merged pending pushes and the groups popped last. */
struct rule_state {
    char *name;
    uint64_t rule_hash;
    int64_t ttl;  /* largest window TTL seen for the rule (0: unknown) */
    struct push *pushes;
    size_t npushes, push_cap;
    struct aw_hashmap push_index; /* group hash -> index + 1 */
    uint64_t *done;               /* finished groups: one HDEL of the claims per batch */
    size_t ndone, done_cap;
    bool pushed_since_pop;
    /* popped, not yet handed out */
    struct push *due;
    size_t ndue, due_next, due_cap;
    int64_t due_up_to, earliest;
    int64_t lateness; /* the rule's, from the last prefetch */
    int64_t bound;    /* the last pop's limit: groups finalize up to it */
    int64_t pushed_min; /* earliest push since the last pop (AW_TIME_NONE: none) */
    bool due_valid, due_more;
    bool pop_queued;     /* a POP is in the pipeline, not answered yet */
    bool need_snapshots; /* popped groups whose windows are not fetched yet */
};

struct redis_store {
    struct aw_store base;
    redisContext *c;
    /* where and how to connect */
    struct aw_redis_spec spec;
    char *shown;
    int64_t connect_timeout_ms, command_timeout_ms, reconnect_wait_ms;
    char *prefix;
    char instance[96];
    char sha[S_COUNT][41];
    /* the pipeline */
    struct command *cmds;
    size_t ncmds, cmd_cap;
    struct hit_wait *hits;
    size_t nhits, hit_cap;
    struct win_batch **wb; /* [0, nwb) in use; the rest kept for reuse */
    size_t nwb, wb_alloc;
    struct aw_hashmap wb_index; /* window name -> index + 1 */
    bool resent;      /* this batch was sent again after a reconnect */
    bool last_resent; /* the last exchange was */
    struct aw_hashmap rules; /* rule hash -> rule_state */
    /* snapshots of windows read during a finalization pass */
    struct aw_store *cache;
    struct aw_hashmap fetched; /* the mirror: window name -> expected version */
    size_t mirror_cap;
    bool full_fetch;
    struct aw_buf key, key2, arg, arg2;
    struct aw_store_stats st;
    bool broken; /* gave up reconnecting */
    /* this instance's event time, as published under PREFIX:members */
    int64_t clock, published_clock, published_at;
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fputs("auditwatch: out of memory\n", stderr);
        abort();
    }
    return p;
}

static void *xrealloc(void *p, size_t size)
{
    p = realloc(p, size);
    if (!p) {
        fputs("auditwatch: out of memory\n", stderr);
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d) {
        fputs("auditwatch: out of memory\n", stderr);
        abort();
    }
    return d;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------- keys */

static void window_key_text(struct redis_store *s, struct aw_buf *b, const struct aw_wkey *k, const char *suffix)
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

static void rule_key_text(struct redis_store *s, struct aw_buf *b, const char *rule, const char *suffix)
{
    aw_buf_reset(b);
    aw_buf_append_str(b, s->prefix);
    aw_buf_append_str(b, ":{");
    aw_buf_append_str(b, rule);
    aw_buf_append_str(b, "}:");
    aw_buf_append_str(b, suffix);
}

static uint64_t rule_hash_of(const struct aw_wkey *k)
{
    return k->rule_hash ? k->rule_hash : aw_store_rule_hash(k->rule);
}

static uint64_t window_name(const struct aw_wkey *k)
{
    uint64_t v[2] = {rule_hash_of(k), k->group_hash};
    return aw_hashmap_key(aw_hash64(v, sizeof v, 0x57494e44));
}

static struct rule_state *rule_state_for(struct redis_store *s, const char *rule, uint64_t rh)
{
    uint64_t key = aw_hashmap_key(rh);
    struct rule_state *r = aw_hashmap_get(&s->rules, key);
    if (!r) {
        r = xcalloc(1, sizeof *r);
        r->name = xstrdup(rule);
        r->rule_hash = rh;
        r->earliest = AW_TIME_NONE;
        r->pushed_min = AW_TIME_NONE;
        r->bound = INT64_MAX;
        aw_hashmap_init(&r->push_index);
        aw_hashmap_put(&s->rules, key, r);
    }
    return r;
}

/* ---------------------------------------------------------------- pipeline */

static void queue_argv(struct redis_store *s, enum reply_use use, int argc, const char **argv, const size_t *lens)
{
    if (s->ncmds == s->cmd_cap) {
        s->cmd_cap = s->cmd_cap ? s->cmd_cap * 2 : 256;
        s->cmds = xrealloc(s->cmds, s->cmd_cap * sizeof *s->cmds);
    }
    struct command *c = &s->cmds[s->ncmds];
    memset(c, 0, sizeof *c);
    c->len = redisFormatCommandArgv(&c->text, argc, argv, lens);
    if (c->len < 0) {
        fputs("auditwatch: out of memory\n", stderr);
        abort();
    }
    c->use = use;
    s->ncmds++;
}

static void free_replies(struct redis_store *s)
{
    for (size_t i = 0; i < s->ncmds; i++)
        if (s->cmds[i].reply) {
            freeReplyObject(s->cmds[i].reply);
            s->cmds[i].reply = NULL;
        }
}

static void clear_commands(struct redis_store *s)
{
    free_replies(s);
    for (size_t i = 0; i < s->ncmds; i++) {
        free(s->cmds[i].text);
        free(s->cmds[i].hits);
        free(s->cmds[i].names);
        free(s->cmds[i].expect);
        free(s->cmds[i].counts);
    }
    s->ncmds = 0;
}

static bool reply_is_error(const redisReply *r) { return r && r->type == REDIS_REPLY_ERROR; }

static redisReply *command(struct redis_store *s, const char *fmt, const char *a, const char *b)
{
    if (b)
        return redisCommand(s->c, fmt, a, b);
    if (a)
        return redisCommand(s->c, fmt, a);
    return redisCommand(s->c, fmt);
}

/* One connection attempt: connect, authenticate, select, load scripts.
 * On failure err says why (never with the password). */
static int connect_once(struct redis_store *s, char *err, size_t errlen)
{
    if (s->c) {
        redisFree(s->c);
        s->c = NULL;
    }
    struct timeval ct = {(time_t)(s->connect_timeout_ms / 1000), (suseconds_t)(s->connect_timeout_ms % 1000) * 1000};
    s->c = s->spec.unix_path ? redisConnectUnixWithTimeout(s->spec.unix_path, ct)
                        : redisConnectWithTimeout(s->spec.host, s->spec.port, ct);
    if (!s->c || s->c->err) {
        snprintf(err, errlen, "cannot connect to %s: %s", s->shown, s->c ? s->c->errstr : "out of memory");
        return -1;
    }
    struct timeval cmd = {(time_t)(s->command_timeout_ms / 1000), (suseconds_t)(s->command_timeout_ms % 1000) * 1000};
    redisSetTimeout(s->c, cmd);
    redisReply *r;
    if (s->spec.password) {
        r = s->spec.user ? command(s, "AUTH %s %s", s->spec.user, s->spec.password) : command(s, "AUTH %s", s->spec.password, NULL);
        if (!r || reply_is_error(r)) {
            snprintf(err, errlen, "%s rejected the credentials%s%s%s", s->shown, s->spec.user ? " of user '" : "",
                     s->spec.user ? s->spec.user : "", s->spec.user ? "'" : "");
            if (r)
                freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
    }
    if (s->spec.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", s->spec.db);
        r = command(s, "SELECT %s", db, NULL);
        if (!r || reply_is_error(r)) {
            snprintf(err, errlen, "%s: cannot select database %d: %s", s->shown, s->spec.db,
                     r ? r->str : s->c->errstr);
            if (r)
                freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
    }
    for (int i = 0; i < S_COUNT; i++) {
        r = command(s, "SCRIPT LOAD %s", aw_redis_script_text[i], NULL);
        if (!r || r->type != REDIS_REPLY_STRING || r->len != 40) {
            snprintf(err, errlen, "%s: cannot load scripts: %s", s->shown,
                     r && r->str ? r->str : s->c->errstr);
            if (r)
                freeReplyObject(r);
            return -1;
        }
        memcpy(s->sha[i], r->str, 40);
        s->sha[i][40] = '\0';
        freeReplyObject(r);
    }
    return 0;
}

/* Reconnect with exponential backoff until reconnect_wait has passed. */
static int reconnect(struct redis_store *s)
{
    int64_t deadline = now_ms() + s->reconnect_wait_ms;
    int64_t backoff = 50;
    char err[512];
    aw_log(AW_LOG_WARN, "redis %s: connection lost (%s); reconnecting", s->shown,
           s->c && s->c->errstr[0] ? s->c->errstr : "no reply");
    for (;;) {
        if (connect_once(s, err, sizeof err) == 0) {
            aw_log(AW_LOG_INFO, "redis %s: reconnected; resending the batch", s->shown);
            return 0;
        }
        if (now_ms() + backoff > deadline) {
            aw_log(AW_LOG_ERROR, "redis %s: gave up reconnecting after %llds: %s", s->shown,
                   (long long)(s->reconnect_wait_ms / 1000), err);
            s->broken = true;
            return -1;
        }
        sleep_ms(backoff);
        backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
    }
}

/* Send the pipeline once and read every reply.  Returns 0, 1 when it
 * must be sent again (connection lost and re-established, or NOSCRIPT),
 * -1 on failure. */
static int exchange_once(struct redis_store *s)
{
    free_replies(s);
    if (!s->c && reconnect(s) < 0)
        return -1;
    for (size_t i = 0; i < s->ncmds; i++)
        if (redisAppendFormattedCommand(s->c, s->cmds[i].text, (size_t)s->cmds[i].len) != REDIS_OK)
            goto lost;
    s->st.round_trips++;
    bool noscript = false;
    for (size_t i = 0; i < s->ncmds; i++) {
        void *r = NULL;
        if (redisGetReply(s->c, &r) != REDIS_OK || !r)
            goto lost;
        s->cmds[i].reply = r;
        if (reply_is_error(s->cmds[i].reply) && !strncmp(s->cmds[i].reply->str, "NOSCRIPT", 8))
            noscript = true;
    }
    if (noscript) {
        char err[512];
        if (connect_once(s, err, sizeof err) < 0 && reconnect(s) < 0)
            return -1;
        return 1;
    }
    for (size_t i = 0; i < s->ncmds; i++)
        if (reply_is_error(s->cmds[i].reply)) {
            aw_log(AW_LOG_ERROR, "redis %s: command failed: %s", s->shown, s->cmds[i].reply->str);
            return -1;
        }
    return 0;
lost:
    if (reconnect(s) < 0)
        return -1;
    return 1;
}

static int exchange(struct redis_store *s)
{
    if (s->broken)
        return -1;
    s->last_resent = false;
    if (!s->ncmds)
        return 0;
    for (int attempt = 0;; attempt++) {
        int rc = exchange_once(s);
        if (rc <= 0)
            return rc;
        s->resent = true;
        s->last_resent = true;
        if (attempt > 1000)
            return -1;
    }
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

static uint64_t mirror_version(struct redis_store *s, uint64_t name)
{
    return (uint64_t)(uintptr_t)aw_hashmap_get(&s->fetched, name); /* 0: unknown */
}

/* One more change is on its way: the version it should produce. */
static uint64_t mirror_bump(struct redis_store *s, uint64_t name)
{
    uint64_t v = mirror_version(s, name) + 1; /* unknown: assume a new window */
    aw_hashmap_put(&s->fetched, name, (void *)(uintptr_t)v);
    return v;
}

static void mirror_check(struct redis_store *s, uint64_t name, uint64_t expected, long long got)
{
    if ((uint64_t)got != expected && mirror_version(s, name) != 0) {
        aw_hashmap_remove(&s->fetched, name);
        s->st.evicted++; /* counted: mirror misses */
    }
}

/* Whether the mirror holds the current window. */
static bool mirror_current(struct redis_store *s, const struct aw_wkey *k, uint64_t version)
{
    uint64_t have = mirror_version(s, window_name(k));
    if (!have || (version && have != version) || !s->cache)
        return false;
    struct aw_window_meta m;
    bool found;
    s->cache->ops->meta_get(s->cache, k, &m, &found);
    return found; /* else evicted from the mirror */
}

/* The batch's hits: one EVALSHA for up to HIT_WINDOWS windows.  (On a
 * Redis Cluster every window would need a call of its own - its keys
 * share a slot, different windows do not; see README.) */
#define HIT_WINDOWS 256
static void flush_hits(struct redis_store *s)
{
    for (size_t first = 0; first < s->nwb; first += HIT_WINDOWS) {
        size_t last = first + HIT_WINDOWS < s->nwb ? first + HIT_WINDOWS : s->nwb;
        size_t nkeys = 2 * (last - first), nentries = 0;
        for (size_t w = first; w < last; w++)
            nentries += s->wb[w]->n;
        size_t argc = 3 + nkeys + 4 * (last - first) + 3 * nentries;
        const char **argv = xcalloc(argc, sizeof *argv);
        size_t *lens = xcalloc(argc, sizeof *lens);
        size_t *hits = xcalloc(nentries, sizeof *hits);
        /* key texts and small numbers live in one buffer; pointers are
         * taken once it stops growing */
        struct aw_buf *text = &s->arg2;
        aw_buf_reset(text);
        size_t *off = xcalloc(nkeys + 3 * (last - first), sizeof *off);
        size_t no = 0;
        for (size_t w = first; w < last; w++) {
            struct win_batch *b = s->wb[w];
            window_key_text(s, &s->key, &b->key, "w");
            off[no++] = text->len;
            aw_buf_append(text, s->key.data, s->key.len);
            aw_buf_append_char(text, '\0');
            window_key_text(s, &s->key, &b->key, "h");
            off[no++] = text->len;
            aw_buf_append(text, s->key.data, s->key.len);
            aw_buf_append_char(text, '\0');
        }
        for (size_t w = first; w < last; w++) {
            struct win_batch *b = s->wb[w];
            char num[24];
            num[0] = '\0';
            if (b->trim != AW_TIME_NONE)
                aw_redis_fmt_time(num, b->trim);
            off[no++] = text->len;
            aw_buf_append(text, num, strlen(num) + 1);
            aw_redis_fmt_time(num, b->ttl > 0 ? b->ttl + TTL_SLACK_MS : DEFAULT_TTL_MS);
            off[no++] = text->len;
            aw_buf_append(text, num, strlen(num) + 1);
            snprintf(num, sizeof num, "%zu", b->n);
            off[no++] = text->len;
            aw_buf_append(text, num, strlen(num) + 1);
        }
        char nk[24];
        snprintf(nk, sizeof nk, "%zu", nkeys);
        size_t a = 0, h = 0, o = 0;
        argv[a] = "EVALSHA", lens[a++] = 7;
        argv[a] = s->sha[S_HIT], lens[a++] = 40;
        argv[a] = nk, lens[a++] = strlen(nk);
        for (size_t k = 0; k < nkeys; k++, o++)
            argv[a] = text->data + off[o], lens[a++] = strlen(text->data + off[o]);
        for (size_t w = first; w < last; w++) {
            struct win_batch *b = s->wb[w];
            for (int j = 0; j < 3; j++, o++) {
                if (j == 2) { /* the group goes between ttl and n */
                    argv[a] = b->group.data ? b->group.data : "{}";
                    lens[a++] = b->group.data ? b->group.len : 2;
                }
                argv[a] = text->data + off[o], lens[a++] = strlen(text->data + off[o]);
            }
            for (size_t i = 0; i < b->n; i++) {
                struct win_entry *e = &b->e[i];
                argv[a] = e->id, lens[a++] = 16;
                argv[a] = e->time, lens[a++] = strlen(e->time);
                argv[a] = b->payloads.data + e->off, lens[a++] = e->len;
                hits[h++] = e->hit;
            }
        }
        queue_argv(s, USE_HIT, (int)a, argv, lens);
        struct command *cmd = &s->cmds[s->ncmds - 1];
        cmd->hits = hits;
        cmd->nhits = h;
        cmd->nw = last - first;
        cmd->names = xcalloc(cmd->nw, sizeof *cmd->names);
        cmd->expect = xcalloc(cmd->nw, sizeof *cmd->expect);
        cmd->counts = xcalloc(cmd->nw, sizeof *cmd->counts);
        for (size_t w = first; w < last; w++) {
            cmd->names[w - first] = window_name(&s->wb[w]->key);
            cmd->expect[w - first] = mirror_bump(s, cmd->names[w - first]);
            cmd->counts[w - first] = s->wb[w]->n;
        }
        free(argv);
        free(lens);
        free(off);
    }
    for (size_t w = 0; w < s->nwb; w++) {
        s->wb[w]->n = 0;
        aw_buf_reset(&s->wb[w]->payloads);
    }
    s->nwb = 0;
    if (s->wb_index.n) {
        aw_hashmap_free(&s->wb_index);
        aw_hashmap_init(&s->wb_index);
    }
}

/* Finished claims go out as one DONE script per rule. */
static void flush_done(struct redis_store *s, struct rule_state *rs)
{
    if (!rs->ndone)
        return;
    size_t argc = 5 + rs->ndone;
    const char **argv = xcalloc(argc, sizeof *argv);
    size_t *lens = xcalloc(argc, sizeof *lens);
    char *text = xcalloc(rs->ndone, 16);
    rule_key_text(s, &s->key2, rs->name, "claims");
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
    queue_argv(s, USE_CHECK, (int)argc, argv, lens);
    free(argv);
    free(lens);
    free(text);
    rs->ndone = 0;
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
static void publish_clock(struct redis_store *s)
{
    int64_t now = now_ms();
    if (s->published_at && s->clock == s->published_clock && now - s->published_at < 1000)
        return;
    char wm[24], ttl[24], stale[24];
    fmt_clock(wm, s->clock);
    aw_redis_fmt_time(ttl, DEFAULT_TTL_MS);
    aw_redis_fmt_time(stale, STALE_MS(s));
    aw_buf_reset(&s->key);
    aw_buf_append_str(&s->key, s->prefix);
    aw_buf_append_str(&s->key, ":members");
    const char *argv[] = {"EVALSHA", s->sha[S_MEMBER], "1", s->key.data, s->instance, wm, ttl, stale};
    size_t lens[] = {7, 40, 1, s->key.len, strlen(s->instance), strlen(wm), strlen(ttl), strlen(stale)};
    queue_argv(s, USE_CHECK, 8, argv, lens);
    s->published_clock = s->clock;
    s->published_at = now;
}

/* Everything merged so far goes into the pipeline: the hits, then one
 * ZADD LT of pending pushes and one HDEL of finished claims per rule. */
static void flush_pushes(struct redis_store *s)
{
    flush_hits(s);
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
        const char **argv = xcalloc(argc, sizeof *argv);
        size_t *lens = xcalloc(argc, sizeof *lens);
        char *text = xcalloc(rs->npushes, 24 + 16);
        rule_key_text(s, &s->key, rs->name, "pending");
        argv[0] = "ZADD";
        lens[0] = 4;
        argv[1] = s->key.data;
        lens[1] = s->key.len;
        argv[2] = "LT";
        lens[2] = 2;
        for (size_t j = 0; j < rs->npushes; j++) {
            char *score = text + j * 40, *member = score + 24;
            aw_redis_fmt_time(score, rs->pushes[j].time);
            aw_hex64(rs->pushes[j].group_hash, member);
            argv[3 + 2 * j] = score;
            lens[3 + 2 * j] = strlen(score);
            argv[4 + 2 * j] = member;
            lens[4 + 2 * j] = 16;
        }
        queue_argv(s, USE_CHECK, (int)argc, argv, lens);
        char ttl[24];
        aw_redis_fmt_time(ttl, rs->ttl ? rs->ttl + TTL_SLACK_MS : DEFAULT_TTL_MS);
        const char *ex[] = {"PEXPIRE", s->key.data, ttl};
        size_t exl[] = {7, s->key.len, strlen(ttl)};
        queue_argv(s, USE_CHECK, 3, ex, exl);
        free(argv);
        free(lens);
        free(text);
        rs->npushes = 0;
        aw_hashmap_free(&rs->push_index);
        aw_hashmap_init(&rs->push_index);
    }
    publish_clock(s);
}

/* Run the pipeline now (a read needs its answer); keeps replies until
 * clear_commands.  Hit outcomes are delivered at sync. */
static int run_now(struct redis_store *s);

/* -------------------------------------------------------------- snapshots */

/* One call fetching the windows keys[0..n). */
static void queue_snapshots(struct redis_store *s, const struct aw_wkey *keys, size_t n)
{
    size_t argc = 3 + 3 * n;
    const char **argv = xcalloc(argc, sizeof *argv);
    size_t *lens = xcalloc(argc, sizeof *lens);
    struct aw_buf *text = &s->arg2;
    aw_buf_reset(text);
    size_t *off = xcalloc(3 * n, sizeof *off);
    for (size_t i = 0; i < n; i++) {
        window_key_text(s, &s->key, &keys[i], "w");
        off[2 * i] = text->len;
        aw_buf_append(text, s->key.data, s->key.len);
        aw_buf_append_char(text, '\0');
        window_key_text(s, &s->key, &keys[i], "h");
        off[2 * i + 1] = text->len;
        aw_buf_append(text, s->key.data, s->key.len);
        aw_buf_append_char(text, '\0');
    }
    for (size_t i = 0; i < n; i++) {
        char keep[24] = "";
        struct rule_state *rs = rule_state_for(s, keys[i].rule, rule_hash_of(&keys[i]));
        if (!s->full_fetch && rs->ttl)
            aw_redis_fmt_time(keep, rs->ttl);
        off[2 * n + i] = text->len;
        aw_buf_append(text, keep, strlen(keep));
        aw_buf_append_char(text, '\0');
    }
    char nk[24];
    snprintf(nk, sizeof nk, "%zu", 2 * n);
    argv[0] = "EVALSHA", lens[0] = 7;
    argv[1] = s->sha[S_SNAPSHOT], lens[1] = 40;
    argv[2] = nk, lens[2] = strlen(nk);
    for (size_t i = 0; i < 3 * n; i++) {
        argv[3 + i] = text->data + off[i];
        lens[3 + i] = strlen(argv[3 + i]);
    }
    queue_argv(s, USE_KEEP, (int)argc, argv, lens);
    free(argv);
    free(lens);
    free(off);
}

/* Load a SNAPSHOT reply into the mirror, replacing what it held. */
static void load_snapshot(struct redis_store *s, const struct aw_wkey *k, const redisReply *r)
{
    struct aw_store *c = cache_of(s);
    int64_t ttl = rule_state_for(s, k->rule, rule_hash_of(k))->ttl; /* expires in the mirror as written windows do */
    aw_store_memory_forget(c, k);
    aw_hashmap_remove(&s->fetched, window_name(k));
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
        return; /* no such window (any more) */
    for (size_t i = 3; i + 2 < r->elements; i += 3) {
        const redisReply *id = r->element[i], *t = r->element[i + 1], *pl = r->element[i + 2];
        struct aw_window_entry e;
        memset(&e, 0, sizeof e);
        if (!aw_redis_decode_payload(pl->str, pl->len, &e))
            continue;
        e.id_hash = aw_redis_parse_hex64(id->str, id->len);
        e.time_ms = aw_redis_parse_time(t->str, t->len);
        bool added, found;
        c->ops->window_add(c, k, &e, AW_TIME_NONE, ttl, &added, NULL, &found);
    }
    struct aw_window_meta m;
    memset(&m, 0, sizeof m);
    aw_redis_decode_meta(r->element[1]->str, r->element[1]->len, &m);
    m.group_json = r->element[0]->str;
    m.group_json_len = r->element[0]->len;
    c->ops->meta_put(c, k, &m, ttl);
    uint64_t v = strtoull(r->element[2]->str ? r->element[2]->str : "0", NULL, 10);
    if (v)
        aw_hashmap_put(&s->fetched, window_name(k), (void *)(uintptr_t)v);
}

static const redisReply *snapshot_part(const redisReply *r, size_t i)
{
    return r && r->type == REDIS_REPLY_ARRAY && i < r->elements ? r->element[i] : NULL;
}

static int ensure_fetched(struct redis_store *s, const struct aw_wkey *k)
{
    if (mirror_current(s, k, 0))
        return 0;
    flush_pushes(s);
    size_t at = s->ncmds;
    queue_snapshots(s, k, 1);
    if (run_now(s) < 0)
        return -1;
    load_snapshot(s, k, snapshot_part(s->cmds[at].reply, 0));
    clear_commands(s);
    return 0;
}

/* ------------------------------------------------------------------- ops */

static int deliver_hits(struct redis_store *s);

/* A POP reply: the rule's due groups, in time order. */
static void parse_pop(struct rule_state *rs, const redisReply *r)
{
    rs->pop_queued = false;
    rs->ndue = rs->due_next = 0;
    rs->due_valid = true;
    rs->pushed_since_pop = false;
    rs->pushed_min = AW_TIME_NONE;
    rs->due_more = false;
    rs->earliest = AW_TIME_NONE;
    rs->bound = INT64_MAX;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
        return;
    size_t pairs = (r->elements - 3) / 3;
    if (pairs > rs->due_cap) {
        rs->due_cap = pairs;
        rs->due = xrealloc(rs->due, pairs * sizeof *rs->due);
    }
    for (size_t i = 0; i < pairs; i++) {
        const redisReply *m = r->element[3 * i], *t = r->element[3 * i + 1], *v = r->element[3 * i + 2];
        rs->due[i].group_hash = aw_redis_parse_hex64(m->str, m->len);
        rs->due[i].time = aw_redis_parse_time(t->str, t->len);
        rs->due[i].version = v->str ? strtoull(v->str, NULL, 10) : 0;
    }
    rs->ndue = pairs;
    rs->need_snapshots = pairs > 0;
    const redisReply *e = r->element[r->elements - 3], *more = r->element[r->elements - 2],
                     *bound = r->element[r->elements - 1];
    rs->earliest = e->len ? aw_redis_parse_time(e->str, e->len) : AW_TIME_NONE;
    rs->due_more = more->len == 1 && more->str[0] == '1';
    if (bound->len == 4 && !memcmp(bound->str, "-inf", 4))
        rs->bound = AW_TIME_NONE;
    else if (!(bound->len == 4 && !memcmp(bound->str, "+inf", 4)))
        rs->bound = aw_redis_parse_time(bound->str, bound->len);
}

static int run_now(struct redis_store *s)
{
    int rc = exchange(s);
    if (rc < 0) {
        for (size_t i = 0; i < s->ncmds; i++)
            if (s->cmds[i].use == USE_POP)
                s->cmds[i].rule->pop_queued = false;
        clear_commands(s);
        s->nhits = 0;
        return -1;
    }
    /* Hit outcomes: note them now, deliver at sync.  Popped groups:
     * into their rule's due list. */
    for (size_t i = 0; i < s->ncmds; i++) {
        struct command *c = &s->cmds[i];
        if (c->use == USE_POP) {
            parse_pop(c->rule, c->reply);
            continue;
        }
        if (c->use == USE_VER && c->reply && c->reply->type == REDIS_REPLY_INTEGER) {
            mirror_check(s, c->names[0], c->expect[0], c->reply->integer);
            continue;
        }
        if (c->use != USE_HIT || !c->reply)
            continue;
        if (c->reply->type == REDIS_REPLY_INTEGER && c->nhits == 1) { /* first_seen */
            s->hits[c->hits[0]].code = (int)c->reply->integer;
            continue;
        }
        if (c->reply->type != REDIS_REPLY_ARRAY)
            continue;
        /* per window: its version, then one code per entry */
        size_t at = 0, hit = 0;
        for (size_t w = 0; w < c->nw; w++) {
            const redisReply *v = at < c->reply->elements ? c->reply->element[at++] : NULL;
            mirror_check(s, c->names[w], c->expect[w], v && v->type == REDIS_REPLY_INTEGER ? v->integer : -1);
            for (size_t j = 0; j < c->counts[w] && at < c->reply->elements; j++, at++, hit++) {
                const redisReply *code = c->reply->element[at];
                s->hits[c->hits[hit]].code = code->type == REDIS_REPLY_INTEGER ? (int)code->integer : 0;
            }
        }
    }
    return 0;
}

static int r_window_hit(struct aw_store *base, const struct aw_wkey *k, const struct aw_window_entry *e,
                        int64_t trim_before_ms, int64_t ttl_ms, const char *group_json, size_t group_len,
                        aw_hit_done_fn done, void *done_ctx)
{
    struct redis_store *s = (struct redis_store *)base;
    if (s->broken)
        return -1;
    struct rule_state *rs = rule_state_for(s, k->rule, rule_hash_of(k));
    if (ttl_ms > rs->ttl)
        rs->ttl = ttl_ms;
    uint64_t name = window_name(k);
    uintptr_t at = (uintptr_t)aw_hashmap_get(&s->wb_index, name);
    struct win_batch *b;
    if (at) {
        b = s->wb[at - 1];
    } else {
        if (s->nwb == s->wb_alloc) {
            s->wb = xrealloc(s->wb, (s->wb_alloc + 1) * sizeof *s->wb);
            s->wb[s->wb_alloc++] = xcalloc(1, sizeof **s->wb);
        }
        b = s->wb[s->nwb++];
        aw_hashmap_put(&s->wb_index, name, (void *)(uintptr_t)s->nwb);
        b->key = (struct aw_wkey){rs->name, k->group_hash, rs->rule_hash};
        b->trim = AW_TIME_NONE;
        b->ttl = 0;
        aw_buf_reset(&b->group);
        aw_buf_append(&b->group, group_json ? group_json : "{}", group_json ? group_len : 2);
    }
    /* Trimming costs a range read in Redis: skip it when the mirror shows
     * nothing older than the bound. */
    bool need_trim = trim_before_ms != AW_TIME_NONE;
    if (need_trim && mirror_current(s, k, 0)) {
        uint64_t older = 0;
        s->cache->ops->window_count(s->cache, k, AW_TIME_NONE, trim_before_ms - 1, &older);
        need_trim = older > 0;
    }
    if (need_trim && (b->trim == AW_TIME_NONE || trim_before_ms > b->trim))
        b->trim = trim_before_ms;
    if (ttl_ms > b->ttl)
        b->ttl = ttl_ms;
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->e = xrealloc(b->e, b->cap * sizeof *b->e);
    }
    struct win_entry *we = &b->e[b->n++];
    aw_hex64(e->id_hash, we->id);
    we->id[16] = '\0';
    aw_redis_fmt_time(we->time, e->time_ms);
    aw_redis_encode_payload(&s->arg, e);
    we->off = b->payloads.len;
    we->len = s->arg.len;
    aw_buf_append(&b->payloads, s->arg.data, s->arg.len);
    if (s->nhits == s->hit_cap) {
        s->hit_cap = s->hit_cap ? s->hit_cap * 2 : 256;
        s->hits = xrealloc(s->hits, s->hit_cap * sizeof *s->hits);
    }
    we->hit = s->nhits;
    s->hits[s->nhits++] = (struct hit_wait){done, NULL, 0, done_ctx, *k, e->time_ms, e->id_hash, 0};
    /* The mirror follows every write.  A window it has no current copy
     * of starts clean (assumed new; the version Redis reports says
     * whether it was), and one it evicted is forgotten first. */
    struct aw_store *c = cache_of(s);
    if (mirror_version(s, name) && !mirror_current(s, k, 0))
        aw_hashmap_remove(&s->fetched, name);
    if (!mirror_version(s, name) && !at)
        aw_store_memory_forget(c, k);
    bool added, found;
    struct aw_window_meta m;
    c->ops->window_add(c, k, e, trim_before_ms, ttl_ms, &added, &m, &found);
    if (!found) {
        memset(&m, 0, sizeof m);
        m.group_json = group_json;
        m.group_json_len = group_len;
        m.cursor_time = AW_TIME_NONE;
        m.suppress_until = AW_TIME_NONE;
        c->ops->meta_put(c, k, &m, ttl_ms);
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
    flush_pushes(s);
    if (run_now(s) < 0)
        return -1;
    *added = s->hits[hit].code == 0;
    s->nhits = hit; /* answered here, not at sync */
    clear_commands(s);
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

static int r_meta_put(struct aw_store *base, const struct aw_wkey *k, const struct aw_window_meta *m,
                      int64_t ttl_ms)
{
    struct redis_store *s = (struct redis_store *)base;
    if (s->broken)
        return -1;
    if (aw_hashmap_get(&s->wb_index, window_name(k)))
        flush_hits(s); /* the window's own hits go first */
    aw_redis_encode_meta(&s->arg, m);
    char ttl[24];
    aw_redis_fmt_time(ttl, ttl_ms > 0 ? ttl_ms + TTL_SLACK_MS : DEFAULT_TTL_MS);
    window_key_text(s, &s->key2, k, "h");
    const char *argv[] = {"HSET", s->key2.data, "g", m->group_json ? m->group_json : "", "m", s->arg.data};
    size_t lens[] = {4, s->key2.len, 1, m->group_json ? m->group_json_len : 0, 1, s->arg.len};
    queue_argv(s, USE_CHECK, 6, argv, lens);
    const char *inc[] = {"HINCRBY", s->key2.data, "v", "1"};
    size_t incl[] = {7, s->key2.len, 1, 1};
    queue_argv(s, USE_VER, 4, inc, incl);
    struct command *cmd = &s->cmds[s->ncmds - 1];
    cmd->nw = 1;
    cmd->names = xcalloc(1, sizeof *cmd->names);
    cmd->expect = xcalloc(1, sizeof *cmd->expect);
    cmd->names[0] = window_name(k);
    cmd->expect[0] = mirror_bump(s, cmd->names[0]);
    const char *ex[] = {"PEXPIRE", s->key2.data, ttl};
    size_t exl[] = {7, s->key2.len, strlen(ttl)};
    queue_argv(s, USE_CHECK, 3, ex, exl);
    struct aw_store *mirror = cache_of(s);
    mirror->ops->meta_put(mirror, k, m, ttl_ms);
    return 0;
}

static int r_pending_push(struct aw_store *base, const struct aw_wkey *k, int64_t time_ms)
{
    struct redis_store *s = (struct redis_store *)base;
    struct rule_state *rs = rule_state_for(s, k->rule, rule_hash_of(k));
    if (rs->due_valid && time_ms <= rs->due_up_to)
        rs->pushed_since_pop = true;
    if (rs->pushed_min == AW_TIME_NONE || time_ms < rs->pushed_min)
        rs->pushed_min = time_ms;
    uint64_t slot = aw_hashmap_key(k->group_hash);
    uintptr_t at = (uintptr_t)aw_hashmap_get(&rs->push_index, slot);
    if (at) {
        if (time_ms < rs->pushes[at - 1].time)
            rs->pushes[at - 1].time = time_ms;
        return 0;
    }
    if (rs->npushes == rs->push_cap) {
        rs->push_cap = rs->push_cap ? rs->push_cap * 2 : 64;
        rs->pushes = xrealloc(rs->pushes, rs->push_cap * sizeof *rs->pushes);
    }
    rs->pushes[rs->npushes++] = (struct push){k->group_hash, time_ms, 0};
    aw_hashmap_put(&rs->push_index, slot, (void *)(uintptr_t)rs->npushes);
    return 0;
}

static void claims_key(struct redis_store *s, struct aw_buf *b, const char *rule)
{
    rule_key_text(s, b, rule, "claims");
}

static void queue_pop(struct redis_store *s, struct rule_state *rs, int64_t up_to_ms)
{
    char up[24], lim[16], ttl[24];
    aw_redis_fmt_time(up, up_to_ms);
    snprintf(lim, sizeof lim, "%d", POP_LIMIT);
    aw_redis_fmt_time(ttl, rs->ttl ? rs->ttl + TTL_SLACK_MS : DEFAULT_TTL_MS);
    char late[24], stale[24];
    aw_redis_fmt_time(late, rs->lateness);
    aw_redis_fmt_time(stale, STALE_MS(s));
    rule_key_text(s, &s->key, rs->name, "pending");
    claims_key(s, &s->key2, rs->name);
    aw_buf_reset(&s->arg2);
    aw_buf_append_str(&s->arg2, s->prefix);
    aw_buf_append_str(&s->arg2, ":members");
    /* a group's window hash key: head .. group .. tail */
    aw_buf_reset(&s->arg);
    aw_buf_append_str(&s->arg, s->prefix);
    aw_buf_append_str(&s->arg, ":{");
    aw_buf_append_str(&s->arg, rs->name);
    aw_buf_append_char(&s->arg, '|');
    const char *argv[] = {"EVALSHA", s->sha[S_POP], "3", s->key.data, s->key2.data, s->arg2.data, up, lim,
                          ttl,       late,           s->instance, stale, s->arg.data, "}:h"};
    size_t lens[] = {7,           40,          1,          s->key.len,   s->key2.len,          s->arg2.len, strlen(up),
                     strlen(lim), strlen(ttl), strlen(late), strlen(s->instance), strlen(stale), s->arg.len, 3};
    queue_argv(s, USE_POP, 14, argv, lens);
    s->cmds[s->ncmds - 1].rule = rs;
    rs->pop_queued = true;
    rs->due_up_to = up_to_ms;
}

/* Fetch the windows of every rule's newly popped groups in one round trip. */
#define SNAPSHOT_WINDOWS 256
static int fetch_due_snapshots(struct redis_store *s)
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
                keys = xrealloc(keys, cap * sizeof *keys);
            }
            keys[n++] = wk;
        }
    }
    if (!n)
        return 0;
    flush_pushes(s);
    size_t at = s->ncmds;
    for (size_t i = 0; i < n; i += SNAPSHOT_WINDOWS)
        queue_snapshots(s, keys + i, n - i < SNAPSHOT_WINDOWS ? n - i : SNAPSHOT_WINDOWS);
    if (run_now(s) < 0) {
        free(keys);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        load_snapshot(s, &keys[i], snapshot_part(s->cmds[at + i / SNAPSHOT_WINDOWS].reply, i % SNAPSHOT_WINDOWS));
    clear_commands(s);
    free(keys);
    return 0;
}

static int r_pending_prefetch(struct aw_store *base, const struct aw_wkey *rule, int64_t up_to_ms,
                              int64_t lateness_ms)
{
    struct redis_store *s = (struct redis_store *)base;
    struct rule_state *rs = rule_state_for(s, rule->rule, rule_hash_of(rule));
    rs->lateness = lateness_ms;
    if (rs->pop_queued || (rs->due_valid && up_to_ms <= rs->due_up_to))
        return 0; /* asked already, or answered for this bound */
    flush_pushes(s); /* the batch's writes go before the pop */
    queue_pop(s, rs, up_to_ms);
    return 0;
}

static int r_pending_pop(struct aw_store *base, const struct aw_wkey *rule, int64_t up_to_ms,
                         uint64_t *group_hash, int64_t *time_ms, bool *found)
{
    struct redis_store *s = (struct redis_store *)base;
    struct rule_state *rs = rule_state_for(s, rule->rule, rule_hash_of(rule));
    *found = false;
    bool stale = !rs->due_valid || up_to_ms > rs->due_up_to ||
                 (rs->due_next >= rs->ndue && (rs->due_more || rs->pushed_since_pop));
    if (rs->pop_queued || stale) {
        if (!rs->pop_queued) {
            flush_pushes(s);
            queue_pop(s, rs, up_to_ms);
        }
        if (run_now(s) < 0)
            return -1;
        clear_commands(s);
    }
    if (fetch_due_snapshots(s) < 0)
        return -1;
    if (rs->due_next < rs->ndue && rs->due[rs->due_next].time <= up_to_ms) {
        *group_hash = rs->due[rs->due_next].group_hash;
        *time_ms = rs->due[rs->due_next].time;
        rs->due_next++;
        *found = true;
        return 0;
    }
    /* The earliest still queued: the server's answer or a later push. */
    *time_ms = rs->earliest;
    if (rs->pushed_min != AW_TIME_NONE && (*time_ms == AW_TIME_NONE || rs->pushed_min < *time_ms))
        *time_ms = rs->pushed_min;
    return 0;
}

static int64_t r_pending_limit(struct aw_store *base, const struct aw_wkey *rule)
{
    struct redis_store *s = (struct redis_store *)base;
    return rule_state_for(s, rule->rule, rule_hash_of(rule))->bound;
}

static int r_pending_done(struct aw_store *base, const struct aw_wkey *k)
{
    struct redis_store *s = (struct redis_store *)base;
    struct rule_state *rs = rule_state_for(s, k->rule, rule_hash_of(k));
    if (rs->ndone == rs->done_cap) {
        rs->done_cap = rs->done_cap ? rs->done_cap * 2 : 64;
        rs->done = xrealloc(rs->done, rs->done_cap * sizeof *rs->done);
    }
    rs->done[rs->ndone++] = k->group_hash;
    return 0;
}

static int r_first_seen(struct aw_store *base, const struct aw_first_seen_op *op, aw_first_seen_done_fn done,
                        void *done_ctx, size_t token)
{
    struct redis_store *s = (struct redis_store *)base;
    if (s->broken)
        return -1;
    struct aw_wkey lk = {op->name, op->learning_key, 0}, ck = {op->name, op->values_key, 0},
                   pk = {op->name, op->prev_values_key ? op->prev_values_key : op->values_key, 0},
                   ik = {op->name, op->intro_key, 0};
    struct aw_buf *keys[4] = {&s->key, &s->key2, &s->arg, &s->arg2};
    window_key_text(s, keys[0], &lk, "h");
    window_key_text(s, keys[1], &ck, "s");
    window_key_text(s, keys[2], &pk, "s");
    window_key_text(s, keys[3], &ik, "s");
    char t[24], learn[24], ttl[24], forever[24];
    aw_redis_fmt_time(t, op->time_ms);
    aw_redis_fmt_time(learn, op->learning_ms);
    aw_redis_fmt_time(ttl, op->ttl_ms > 0 ? op->ttl_ms : FOREVER_MS); /* no retention: kept for good */
    aw_redis_fmt_time(forever, FOREVER_MS); /* the learning start never expires */
    const char *argv[] = {"EVALSHA", s->sha[S_FIRST_SEEN], "4", keys[0]->data, keys[1]->data, keys[2]->data,
                          keys[3]->data, t, learn, ttl, op->value, op->event_id,
                          op->prev_values_key ? "1" : "0", forever};
    size_t lens[] = {7, 40, 1, keys[0]->len, keys[1]->len, keys[2]->len, keys[3]->len, strlen(t),
                     strlen(learn), strlen(ttl), op->value_len, op->event_id_len, 1, strlen(forever)};
    if (s->nhits == s->hit_cap) {
        s->hit_cap = s->hit_cap ? s->hit_cap * 2 : 256;
        s->hits = xrealloc(s->hits, s->hit_cap * sizeof *s->hits);
    }
    s->hits[s->nhits] = (struct hit_wait){NULL, done, token, done_ctx, lk, op->time_ms, 0, 0};
    queue_argv(s, USE_HIT, 14, argv, lens);
    size_t *one = xcalloc(1, sizeof *one);
    *one = s->nhits++;
    s->cmds[s->ncmds - 1].hits = one;
    s->cmds[s->ncmds - 1].nhits = 1;
    return 0;
}

/* Send one command that answers with an integer, after everything
 * buffered; -1 when the store failed. */
static int ask_integer(struct redis_store *s, int argc, const char **argv, const size_t *lens, long long *out)
{
    flush_pushes(s);
    size_t at = s->ncmds;
    queue_argv(s, USE_KEEP, argc, argv, lens);
    if (run_now(s) < 0)
        return -1;
    const redisReply *r = s->cmds[at].reply;
    *out = r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    clear_commands(s);
    return 0;
}

static int r_set_add(struct aw_store *base, const struct aw_wkey *k, const char *member, size_t len,
                     int64_t time_ms, int64_t ttl_ms, bool *added)
{
    struct redis_store *s = (struct redis_store *)base;
    char t[24], ttl[24];
    aw_redis_fmt_time(t, time_ms);
    aw_redis_fmt_time(ttl, ttl_ms > 0 ? ttl_ms : DEFAULT_TTL_MS);
    window_key_text(s, &s->key, k, "s");
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
    window_key_text(s, &s->key, k, "s");
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
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        s->published_at = 0; /* force a heartbeat */
        flush_pushes(s);
        size_t at = s->ncmds - 1;
        if (run_now(s) < 0)
            return -1;
        long long live = s->cmds[at].reply && s->cmds[at].reply->type == REDIS_REPLY_INTEGER
                             ? s->cmds[at].reply->integer
                             : 0;
        clear_commands(s);
        if (live >= peers)
            return 0;
        if (now_ms() > deadline) {
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
    /* The pops queued for the coming pass are answered by this exchange. */
    for (size_t i = 0; i < s->rules.cap; i++)
        if (s->rules.keys[i]) {
            struct rule_state *rs = s->rules.values[i];
            if (rs->pop_queued)
                continue;
            /* Popped and not handed out (the pass stopped early): back
             * to the queue, and the claim released. */
            for (; rs->due_valid && rs->due_next < rs->ndue; rs->due_next++) {
                struct aw_wkey k = {rs->name, rs->due[rs->due_next].group_hash, rs->rule_hash};
                r_pending_push(base, &k, rs->due[rs->due_next].time);
                r_pending_done(base, &k);
            }
            rs->due_valid = false;
        }
    flush_pushes(s);
    if (run_now(s) < 0)
        return -1;
    clear_commands(s);
    int rc = deliver_hits(s);
    s->resent = false;
    if (rc < 0)
        return -1;
    /* Writes made while delivering (a re-emitted alert) go out now. */
    flush_pushes(s);
    if (s->ncmds && run_now(s) < 0)
        return -1;
    clear_commands(s);
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
    if (!s->broken && s->c && (s->ncmds || s->nhits || s->nwb))
        r_sync(base);
    /* The membership stays, finished ("+inf"): a peer still joining
     * counts it, and it goes stale after STALE_MS. */
    clear_commands(s);
    free(s->cmds);
    free(s->hits);
    for (size_t i = 0; i < s->wb_alloc; i++) {
        aw_buf_free(&s->wb[i]->group);
        aw_buf_free(&s->wb[i]->payloads);
        free(s->wb[i]->e);
        free(s->wb[i]);
    }
    free(s->wb);
    aw_hashmap_free(&s->wb_index);
    for (size_t i = 0; i < s->rules.cap; i++)
        if (s->rules.keys[i]) {
            struct rule_state *rs = s->rules.values[i];
            aw_hashmap_free(&rs->push_index);
            free(rs->pushes);
            free(rs->done);
            free(rs->due);
            free(rs->name);
            free(rs);
        }
    aw_hashmap_free(&s->rules);
    aw_store_destroy(s->cache);
    aw_hashmap_free(&s->fetched);
    aw_buf_free(&s->key);
    aw_buf_free(&s->key2);
    aw_buf_free(&s->arg);
    aw_buf_free(&s->arg2);
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
    .pending_push = r_pending_push,
    .pending_pop = r_pending_pop,
    .set_add = r_set_add,
    .set_contains = r_set_contains,
    .set_clock = r_set_clock,
    .stats = r_stats,
    .destroy = r_destroy,
    .window_hit = r_window_hit,
    .pending_done = r_pending_done,
    .pending_prefetch = r_pending_prefetch,
    .pending_limit = r_pending_limit,
    .join = r_join,
    .first_seen = r_first_seen,
    .sync = r_sync,
};

struct aw_store *aw_store_redis_new(const char *spec, const struct aw_store_options *opts, char *err,
                                    size_t errlen)
{
    struct redis_store *s = xcalloc(1, sizeof *s);
    s->base.ops = &redis_ops;
    char shown[512];
    aw_store_spec_redact(spec, shown, sizeof shown);
    s->shown = xstrdup(shown);
    s->connect_timeout_ms = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 2000;
    s->command_timeout_ms = opts && opts->command_timeout_ms > 0 ? opts->command_timeout_ms : 5000;
    s->reconnect_wait_ms = opts && opts->reconnect_wait_ms > 0 ? opts->reconnect_wait_ms : 60000;
    s->prefix = xstrdup(opts && opts->prefix && opts->prefix[0] ? opts->prefix : "auditwatch");
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
    aw_hashmap_init(&s->wb_index);
    s->clock = s->published_clock = AW_TIME_NONE;
    if (aw_redis_spec_parse(&s->spec, spec, err, errlen) < 0 || connect_once(s, err, errlen) < 0) {
        r_destroy(&s->base);
        return NULL;
    }
    return &s->base;
}
