/*
 * store_redis.c - the Redis backend of the store vtable (see store.h and
 * DESIGN section 7).  The only file that includes hiredis.
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
 * a handful of script calls.  Entries older than what can still matter
 * are dropped by id, which this process knows from its mirror, once they
 * are TRIM_MIN and half of the window; snapshots trim what other
 * instances left.
 *
 * Batching: writes are not sent when they are made.  window_hit, meta_put,
 * first_seen, pending_push and pending_done append to per-batch buffers
 * that go into the pipeline as a few script calls (hits, meta writes and
 * first_seen decisions are also written to the connection every
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
 *           windows, so no versions are counted or read; a pop reads the
 *           due groups and leaves them queued until each is finalized (one
 *           "@TIME" claim); pushes already queued no later are not sent
 *           again; and a moved cursor waits in the mirror (dirty_mark)
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
/* A window's TTL is refreshed by this process at most this often (wall
 * clock); TTL_SLACK_MS covers it many times over. */
#define TTL_REFRESH_MS (5LL * 60 * 1000)
/* Entries dropped by id per window and call (a script's argument list
 * stays small; the rest go with a later batch). */
#define TRIM_MAX 1000
/* Old entries are dropped once there are this many (and they are half of
 * the window): small windows expire with their key instead. */
#define TRIM_MIN 8
/* Buffered windows (or decisions) that go to the connection at once,
 * before the batch's end (send_early). */
#define EARLY_WINDOWS 128

/* An instance silent this long no longer holds finalization back, and
 * its claims go back to the queue: longer than any reconnect wait, so a
 * peer that is only reconnecting is never taken for dead. */
#define STALE_MS(s) ((s)->reconnect_wait_ms + 60000)

/* ------------------------------------------------------------------ state */

enum reply_use {
    USE_CHECK, /* only an error matters */
    USE_HIT,   /* window_hit outcomes: "version codes,..." */
    USE_FS,    /* first_seen outcomes: one digit per decision */
    USE_KEEP,  /* the caller reads the reply after the exchange */
    USE_POP,   /* due groups of rules: parsed right after the exchange */
    USE_VER,   /* windows' new versions ("v v ..."): checked against ours */
    USE_DIRECT, /* a MULTI block of direct writes: EXEC's reply, FIXUP's last */
};

struct command {
    char *text; /* RESP, formatted here (several commands for USE_DIRECT) */
    int len;
    size_t nreplies; /* replies the text asks for (0: one); the last is kept */
    enum reply_use use;
    size_t *hits; /* USE_HIT, USE_FS: the hits (indexes into hits[]) in reply order */
    size_t nhits;
    struct rule_state **rules; /* USE_POP: the rules, in reply order */
    size_t nrules;
    /* USE_HIT (per window) and USE_VER: the window, the version the
     * command should leave it at if no one else wrote, entries */
    uint64_t *names, *expect;
    size_t *counts, nw;
    bool *assumed_new; /* USE_HIT: the mirror took the window for new */
    bool *plain;       /* USE_HIT: sent as a plain window (no version unless shared) */
    redisReply *reply;
};

/* The hits of one window in the current batch: sent with one EVALSHA. */
struct win_entry {
    char id[17];
    size_t off, len; /* the encoded entry in win_batch.payloads */
    size_t hit;
    bool dup; /* the mirror, current, had it already (nothing to write directly) */
};

struct win_batch {
    struct aw_wkey key;
    int64_t ttl;
    bool check;       /* write the group if missing and (re)set the TTL */
    bool assumed_new; /* the mirror had no current copy: it starts empty */
    struct aw_buf group, payloads;
    struct win_entry *e;
    size_t n, cap;
    uint64_t *old; /* entries to drop (older than the trim bound) */
    size_t nold, old_cap;
};

/* A meta write waiting for the batch (the last one per window wins). */
struct meta_write {
    struct aw_wkey key;
    size_t off, mlen, glen; /* meta then group text in redis_store.meta_text */
    int64_t ttl;
};

/* A first_seen decision waiting for the batch: name, "time learning ttl
 * has_prev L C P I", value, event id (redis_scripts.c). */
#define FS_ARGS 4
struct fs_wait {
    size_t off[FS_ARGS], len[FS_ARGS]; /* in redis_store.fs_text */
    size_t hit;
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
    uint64_t fs_learn; /* first_seen: the learning start's cache key (fs_start) */
};

struct push {
    uint64_t group_hash;
    int64_t time;
    uint64_t version; /* popped groups: the window's version in Redis (0: not read) */
};

/* Per rule: its keys, merged pending pushes and the groups popped last. */
struct rule_state {
    char *name;
    uint64_t rule_hash;
    int64_t ttl;  /* largest window TTL seen for the rule (0: unknown) */
    struct push *pushes;
    size_t npushes, push_cap;
    struct aw_hashmap push_index; /* group hash -> index + 1 */
    /* alone: groups this instance queued in Redis and has not been handed
     * out since (group hash -> QTIME(time)); a push that would not lower
     * its time is not sent */
    struct aw_hashmap queued;
    uint64_t *done;               /* finished claimed groups: one DONE per rule and batch */
    size_t ndone, done_cap;
    uint64_t *finished;           /* finished groups read alone: one ZREM per rule and batch */
    size_t nfinished, finished_cap;
    size_t outstanding;           /* handed out, not finished */
    bool due_claimed;             /* the last pop claimed its groups (else: read alone) */
    bool at_claim;                /* this instance holds an "@TIME" claim of the rule */
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
    /* the pipeline; [0, nsent) already written to the connection */
    struct command *cmds;
    size_t ncmds, cmd_cap, nsent;
    struct hit_wait *hits;
    size_t nhits, hit_cap;
    struct win_batch **wb; /* [0, nwb) in use; the rest kept for reuse */
    size_t nwb, wb_alloc;
    struct aw_hashmap wb_index; /* window name -> index + 1 */
    struct meta_write *metas;
    size_t nmeta, meta_cap;
    struct aw_hashmap meta_index; /* window name -> index + 1 */
    struct aw_buf meta_text;
    struct fs_wait *fs;
    size_t nfs, fs_cap;
    struct aw_buf fs_text;
    bool resent;      /* this batch was sent again after a reconnect */
    bool last_resent; /* the last exchange was */
    struct aw_hashmap rules; /* rule hash -> rule_state */
    struct rule_state **pops; /* rules whose pop waits for the next exchange */
    size_t npops, pops_cap;
    struct rule_state *last_rule; /* the last one looked up */
    /* snapshots of windows read during a finalization pass */
    struct aw_store *cache;
    struct aw_hashmap fetched; /* the mirror: window name -> expected version */
    struct aw_hashmap refreshed; /* window name -> wall-clock second of our last TTL refresh */
    size_t mirror_cap;
    bool full_fetch;
    /* the window the last read found current in the mirror (reads of
     * one group's finalization come in runs); anything that changes the
     * mirror or its versions clears ok_valid */
    const char *ok_rule;
    uint64_t ok_group;
    bool ok_valid;
    struct aw_buf key, key2, arg, arg2;
    struct aw_store_stats st;
    bool broken; /* gave up reconnecting */
    bool no_multi; /* the server refuses MULTI/EXEC (ACL): no direct writes */
    /* first_seen while alone (see r_first_seen): pairs known to be in
     * their value set (cache key -> 1), learning starts (cache key ->
     * QTIME(start)), and when the caches were started (wall ms) */
    struct aw_hashmap fs_known, fs_start;
    int64_t fs_cache_at;
    struct aw_buf direct; /* a direct-write block being built (RESP) */
    struct aw_buf dkeys;  /* its keys, each ended by a NUL, for FIXUP */
    bool shared; /* other writers under the prefix (versions are counted) */
    bool alone;  /* a reply showed no other writer (cursor writes may wait) */
    /* windows whose cursor moved while alone and is not in Redis yet
     * (window name -> index + 1 into dirty) */
    struct aw_hashmap dirty_index;
    struct aw_wkey *dirty;
    size_t ndirty, dirty_cap;
    bool dirty_flush_due; /* no longer alone: write them */
    bool requeue_due;     /* no longer alone: push every queued group again */
    /* this instance's event time, as published under PREFIX:members */
    int64_t clock, published_clock, published_at;
};

static void fs_forget(struct redis_store *s);
static void set_shared(struct redis_store *s, bool shared);
static bool dirty_clear(struct redis_store *s, uint64_t name);
static void write_mirror_meta(struct redis_store *s, const struct aw_wkey *k);
static void write_dirty_all(struct redis_store *s);

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

static void prefix_key_text(struct redis_store *s, struct aw_buf *b, const char *suffix)
{
    aw_buf_reset(b);
    aw_buf_append_str(b, s->prefix);
    aw_buf_append_char(b, ':');
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
    if (s->last_rule && s->last_rule->rule_hash == rh)
        return s->last_rule;
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
        aw_hashmap_init(&r->queued);
        aw_hashmap_put(&s->rules, key, r);
    }
    s->last_rule = r;
    return r;
}

/* ---------------------------------------------------------------- pipeline */

/* Decimal digits of n, into p (no terminator); returns the count. */
static size_t put_size(char *p, size_t n)
{
    char tmp[24];
    size_t k = 0, len = 0;
    do {
        tmp[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    while (k)
        p[len++] = tmp[--k];
    return len;
}

/* A command in the Redis protocol (RESP): "*argc" then "$len" and the
 * bytes of each argument.  Written here rather than by hiredis, whose
 * formatter prints every length with sprintf (a batch has thousands). */
static void queue_argv(struct redis_store *s, enum reply_use use, int argc, const char **argv, const size_t *lens)
{
    if (s->ncmds == s->cmd_cap) {
        s->cmd_cap = s->cmd_cap ? s->cmd_cap * 2 : 256;
        s->cmds = xrealloc(s->cmds, s->cmd_cap * sizeof *s->cmds);
    }
    struct command *c = &s->cmds[s->ncmds];
    memset(c, 0, sizeof *c);
    size_t total = 1 + 20 + 2;
    for (int i = 0; i < argc; i++)
        total += 1 + 20 + 2 + lens[i] + 2;
    char *p = malloc(total), *q = p;
    if (!p) {
        fputs("auditwatch: out of memory\n", stderr);
        abort();
    }
    *q++ = '*';
    q += put_size(q, (size_t)argc);
    *q++ = '\r', *q++ = '\n';
    for (int i = 0; i < argc; i++) {
        *q++ = '$';
        q += put_size(q, lens[i]);
        *q++ = '\r', *q++ = '\n';
        if (lens[i])
            memcpy(q, argv[i], lens[i]);
        q += lens[i];
        *q++ = '\r', *q++ = '\n';
    }
    c->text = p;
    c->len = (int)(q - p);
    c->use = use;
    s->ncmds++;
}

/* RESP into a buffer, piece by piece: a command's "*argc" head, then
 * each argument (for the direct-write blocks, several commands in one
 * text). */
static void resp_head(struct aw_buf *b, size_t argc)
{
    char num[24];
    aw_buf_append_char(b, '*');
    aw_buf_append(b, num, put_size(num, argc));
    aw_buf_append(b, "\r\n", 2);
}

static void resp_arg(struct aw_buf *b, const char *p, size_t len)
{
    char num[24];
    aw_buf_reserve(b, len + 32);
    aw_buf_append_char(b, '$');
    aw_buf_append(b, num, put_size(num, len));
    aw_buf_append(b, "\r\n", 2);
    aw_buf_append(b, p, len);
    aw_buf_append(b, "\r\n", 2);
}

/* Queue the text of b (one or more commands, nreplies replies in all) as
 * one command. */
static struct command *queue_text(struct redis_store *s, enum reply_use use, const struct aw_buf *b, size_t nreplies)
{
    if (s->ncmds == s->cmd_cap) {
        s->cmd_cap = s->cmd_cap ? s->cmd_cap * 2 : 256;
        s->cmds = xrealloc(s->cmds, s->cmd_cap * sizeof *s->cmds);
    }
    struct command *c = &s->cmds[s->ncmds++];
    memset(c, 0, sizeof *c);
    c->text = xcalloc(b->len, 1);
    memcpy(c->text, b->data, b->len);
    c->len = (int)b->len;
    c->use = use;
    c->nreplies = nreplies;
    return c;
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
        free(s->cmds[i].assumed_new);
        free(s->cmds[i].plain);
        free(s->cmds[i].rules);
    }
    s->ncmds = 0;
    s->nsent = 0;
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
    s->nsent = 0; /* a new connection gets the whole pipeline */
    s->requeue_due = true; /* (Redis may have restarted without what we queued) */
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
    /* Direct writes need MULTI and EXEC: an ACL that refuses either
     * leaves the scripts doing all writes.  (An EXEC refused inside MULTI
     * leaves the connection in it: connect again, without asking.) */
    if (!s->no_multi) {
        r = command(s, "MULTI", NULL, NULL);
        bool ok = r && !reply_is_error(r);
        if (r)
            freeReplyObject(r);
        if (ok) {
            r = command(s, "EXEC", NULL, NULL);
            ok = r && !reply_is_error(r);
            if (r)
                freeReplyObject(r);
            if (!ok) {
                s->no_multi = true;
                return connect_once(s, err, errlen);
            }
        }
        if (!ok)
            aw_log(AW_LOG_INFO, "redis %s: MULTI/EXEC not permitted; every write goes through scripts", s->shown);
        s->no_multi = !ok;
    }
    /* This instance writes under the prefix from now on: say so before
     * the first write, so that the others count versions. */
    struct aw_buf writers = {0};
    aw_buf_append_str(&writers, s->prefix);
    aw_buf_append_str(&writers, ":writers");
    aw_buf_append_char(&writers, '\0');
    char ttl[24];
    aw_redis_fmt_time(ttl, DEFAULT_TTL_MS);
    const char *wv[] = {"EVALSHA", s->sha[S_WRITER], "1", writers.data, s->instance, ttl};
    r = redisCommandArgv(s->c, 6, wv, NULL);
    int rc = 0;
    if (!r || reply_is_error(r)) {
        snprintf(err, errlen, "%s: cannot register under prefix %s: %s", s->shown, s->prefix,
                 r && r->str ? r->str : s->c->errstr);
        rc = -1;
    }
    if (r)
        freeReplyObject(r);
    aw_buf_free(&writers);
    /* A reconnect may follow a restart that lost keys: every window's TTL
     * is set again with its next write. */
    if (s->refreshed.n) {
        aw_hashmap_free(&s->refreshed);
        aw_hashmap_init(&s->refreshed);
    }
    fs_forget(s); /* (and lost first_seen state) */
    return rc;
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
    for (; s->nsent < s->ncmds; s->nsent++)
        if (redisAppendFormattedCommand(s->c, s->cmds[s->nsent].text, (size_t)s->cmds[s->nsent].len) != REDIS_OK)
            goto lost;
    s->st.round_trips++;
    bool noscript = false;
    for (size_t i = 0; i < s->ncmds; i++) {
        /* a direct-write block answers MULTI, each write (QUEUED) and
         * EXEC: the first error, or else EXEC's array, is kept */
        size_t want = s->cmds[i].nreplies ? s->cmds[i].nreplies : 1;
        for (size_t k = 0; k < want; k++) {
            void *r = NULL;
            if (redisGetReply(s->c, &r) != REDIS_OK || !r)
                goto lost;
            redisReply *cur = s->cmds[i].reply;
            if (!cur) {
                s->cmds[i].reply = r;
            } else if (!reply_is_error(cur) && (reply_is_error(r) || k + 1 == want)) {
                freeReplyObject(cur);
                s->cmds[i].reply = r;
            } else {
                freeReplyObject(r);
            }
        }
        redisReply *r = s->cmds[i].reply;
        if (reply_is_error(r) && !strncmp(r->str, "NOSCRIPT", 8))
            noscript = true;
        for (size_t k = 0; r && r->type == REDIS_REPLY_ARRAY && s->cmds[i].use == USE_DIRECT && k < r->elements; k++)
            if (reply_is_error(r->element[k]))
                noscript |= !strncmp(r->element[k]->str, "NOSCRIPT", 8);
    }
    if (noscript) {
        char err[512];
        if (connect_once(s, err, sizeof err) < 0 && reconnect(s) < 0)
            return -1;
        return 1;
    }
    for (size_t i = 0; i < s->ncmds; i++) {
        const redisReply *r = s->cmds[i].reply;
        if (s->cmds[i].use == USE_DIRECT && r && r->type == REDIS_REPLY_ARRAY)
            for (size_t k = 0; k < r->elements; k++)
                if (reply_is_error(r->element[k])) {
                    r = r->element[k];
                    break;
                }
        if (reply_is_error(r)) {
            aw_log(AW_LOG_ERROR, "redis %s: command failed: %s", s->shown, r->str);
            return -1;
        }
    }
    return 0;
lost:
    if (reconnect(s) < 0)
        return -1;
    return 1;
}

/* Writing to a connection Redis has dropped raises SIGPIPE, whose default
 * action ends the process without a word (hiredis writes with write(2)).
 * Around the store's writes SIGPIPE is blocked, and one it raised is
 * taken back before unblocking: the write fails with EPIPE instead, and
 * the store reconnects.  (Blocking rather than ignoring it leaves the
 * rest of the process - alerts written to a closed pipe - as it was.) */
static void pipe_guard_begin(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, old);
}

static void pipe_guard_end(const sigset_t *old)
{
    sigset_t pending;
    if (!sigismember(old, SIGPIPE) && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        struct timespec zero = {0, 0};
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* Write what the pipeline holds so far to the connection without waiting
 * for replies, so that Redis works on a batch's first windows while this
 * process prepares the rest (on two cores the two overlap; the replies
 * are read at the batch's one round trip).  A failure here is found and
 * handled (reconnect, resend all) by the exchange that reads. */
static void send_early(struct redis_store *s)
{
    if (!s->c || s->broken || s->c->err)
        return;
    for (; s->nsent < s->ncmds; s->nsent++)
        if (redisAppendFormattedCommand(s->c, s->cmds[s->nsent].text, (size_t)s->cmds[s->nsent].len) != REDIS_OK)
            return;
    sigset_t old;
    pipe_guard_begin(&old);
    int done = 0;
    while (!done)
        if (redisBufferWrite(s->c, &done) != REDIS_OK)
            break;
    pipe_guard_end(&old);
}

static int exchange(struct redis_store *s)
{
    if (s->broken)
        return -1;
    s->last_resent = false;
    if (!s->ncmds)
        return 0;
    for (int attempt = 0;; attempt++) {
        sigset_t old;
        pipe_guard_begin(&old);
        int rc = exchange_once(s);
        pipe_guard_end(&old);
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
    s->ok_valid = false;
    aw_hashmap_put(&s->fetched, name, (void *)(uintptr_t)v);
    return v;
}

static void mirror_check(struct redis_store *s, uint64_t name, uint64_t expected, long long got)
{
    if ((uint64_t)got != expected && mirror_version(s, name) != 0) {
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

/* A time as a nonzero map value and back. */
#define QTIME(t) ((void *)(uintptr_t)((uint64_t)(t) ^ ((uint64_t)1 << 63)))
#define QTIME_OF(v) ((int64_t)((uint64_t)(uintptr_t)(v) ^ ((uint64_t)1 << 63)))

/* A write's reply for one window: its new version, or - while versions
 * are not counted - 'N' (the write created the key), 'E' (the key was
 * there) or '0' (not checked).  A mirror that took the window for new
 * while Redis had it is incomplete: dropped, to be fetched when needed. */
static void mirror_reply(struct redis_store *s, uint64_t name, uint64_t expected, const char *tok, size_t len,
                         bool assumed_new)
{
    if (len == 1 && (tok[0] == 'N' || tok[0] == 'E' || tok[0] == '0')) {
        if (!mirror_version(s, name))
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
    set_shared(s, true);
    char num[24];
    size_t n = len < sizeof num - 1 ? len : sizeof num - 1;
    memcpy(num, tok, n);
    num[n] = '\0';
    mirror_check(s, name, expected, len ? strtoll(num, NULL, 10) : -1);
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

static void set_shared(struct redis_store *s, bool shared)
{
    if (shared && !s->shared)
        fs_forget(s); /* another instance may move a learning start */
    if (shared) {
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

/* Argument lists of the batched scripts: pointers and lengths, and a
 * text buffer for the small strings (numbers, key names) they point to.
 * Offsets are kept while the text grows; pointers are made at the end. */
struct argl {
    const char **argv;
    size_t *lens;
    size_t *off; /* offset into text, or SIZE_MAX: argv holds the pointer */
    size_t n, cap;
    struct aw_buf *text;
};

static void argl_init(struct argl *l, struct aw_buf *text, size_t cap)
{
    l->n = 0;
    l->cap = cap ? cap : 8;
    l->argv = xcalloc(l->cap, sizeof *l->argv);
    l->lens = xcalloc(l->cap, sizeof *l->lens);
    l->off = xcalloc(l->cap, sizeof *l->off);
    l->text = text;
    aw_buf_reset(text);
}

static void argl_grow(struct argl *l)
{
    if (l->n < l->cap)
        return;
    l->cap *= 2;
    l->argv = xrealloc(l->argv, l->cap * sizeof *l->argv);
    l->lens = xrealloc(l->lens, l->cap * sizeof *l->lens);
    l->off = xrealloc(l->off, l->cap * sizeof *l->off);
}

/* An argument that stays valid until the command is queued. */
static void argl_ptr(struct argl *l, const char *p, size_t len)
{
    argl_grow(l);
    l->argv[l->n] = p;
    l->lens[l->n] = len;
    l->off[l->n++] = SIZE_MAX;
}

/* An argument copied into the list's text. */
static void argl_copy(struct argl *l, const char *p, size_t len)
{
    argl_grow(l);
    l->off[l->n] = l->text->len;
    l->lens[l->n++] = len;
    aw_buf_append(l->text, p, len);
}

static void argl_num(struct argl *l, int64_t v)
{
    char num[24];
    argl_copy(l, num, aw_redis_fmt_time(num, v));
}

/* Queue the list as one command and free it. */
static struct command *argl_queue(struct redis_store *s, struct argl *l, enum reply_use use)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->off[i] != SIZE_MAX)
            l->argv[i] = l->text->data + l->off[i];
    queue_argv(s, use, (int)l->n, l->argv, l->lens);
    free(l->argv);
    free(l->lens);
    free(l->off);
    return &s->cmds[s->ncmds - 1];
}

/* The batch's hits: one EVALSHA for up to HIT_WINDOWS windows.  (On a
 * Redis Cluster every window would need a call of its own - a window's
 * key has its slot, different windows do not share one; see README.) */
#define HIT_WINDOWS 256
static void flush_hits(struct redis_store *s, size_t nwb)
{
    for (size_t first = 0; first < nwb; first += HIT_WINDOWS) {
        size_t last = first + HIT_WINDOWS < nwb ? first + HIT_WINDOWS : nwb;
        size_t nentries = 0, nargs = 5;
        for (size_t w = first; w < last; w++) {
            nentries += s->wb[w]->n;
            nargs += 4 + 2 * s->wb[w]->n + s->wb[w]->nold;
        }
        struct argl l;
        argl_init(&l, &s->arg2, nargs);
        size_t *hits = xcalloc(nentries, sizeof *hits);
        size_t h = 0;
        argl_ptr(&l, "EVALSHA", 7);
        argl_ptr(&l, s->sha[S_HIT], 40);
        argl_num(&l, (int64_t)(last - first + 1));
        prefix_key_text(s, &s->key, "writers");
        argl_copy(&l, s->key.data, s->key.len);
        int64_t lost_ttl = 0;
        char spec[HIT_WINDOWS];
        for (size_t w = first; w < last; w++) {
            struct win_batch *b = s->wb[w];
            window_key_text(s, &s->key, &b->key, "h");
            argl_copy(&l, s->key.data, s->key.len);
            spec[w - first] = b->n == 1 && !b->nold && !b->check && !s->shared ? '.' : 'x';
            if (b->ttl > lost_ttl)
                lost_ttl = b->ttl;
        }
        argl_num(&l, lost_ttl > 0 ? lost_ttl + TTL_SLACK_MS : DEFAULT_TTL_MS);
        argl_copy(&l, spec, last - first);
        for (size_t w = first; w < last; w++) {
            struct win_batch *b = s->wb[w];
            if (spec[w - first] == 'x') {
                char head[64];
                int hl = snprintf(head, sizeof head, "%zu %zu %d", b->n, b->nold, b->check ? 1 : 0);
                argl_copy(&l, head, (size_t)hl);
                argl_num(&l, b->ttl > 0 ? b->ttl + TTL_SLACK_MS : DEFAULT_TTL_MS);
                argl_ptr(&l, b->group.data ? b->group.data : "{}", b->group.data ? b->group.len : 2);
            }
            for (size_t i = 0; i < b->n; i++) {
                struct win_entry *e = &b->e[i];
                argl_ptr(&l, e->id, 16);
                argl_ptr(&l, b->payloads.data + e->off, e->len);
                hits[h++] = e->hit;
            }
            for (size_t i = 0; i < b->nold; i++) {
                char hex[16];
                aw_hex64(b->old[i], hex);
                argl_copy(&l, hex, 16);
            }
        }
        struct command *cmd = argl_queue(s, &l, USE_HIT);
        cmd->hits = hits;
        cmd->nhits = h;
        cmd->nw = last - first;
        cmd->names = xcalloc(cmd->nw, sizeof *cmd->names);
        cmd->expect = xcalloc(cmd->nw, sizeof *cmd->expect);
        cmd->counts = xcalloc(cmd->nw, sizeof *cmd->counts);
        cmd->assumed_new = xcalloc(cmd->nw, sizeof *cmd->assumed_new);
        cmd->plain = xcalloc(cmd->nw, sizeof *cmd->plain);
        for (size_t w = first; w < last; w++) {
            cmd->names[w - first] = window_name(&s->wb[w]->key);
            cmd->expect[w - first] = mirror_bump(s, cmd->names[w - first]);
            cmd->counts[w - first] = s->wb[w]->n;
            cmd->assumed_new[w - first] = s->wb[w]->assumed_new;
            cmd->plain[w - first] = spec[w - first] == '.';
        }
    }
}

/* The batch's meta writes: one EVALSHA per HIT_WINDOWS windows. */
static void flush_meta(struct redis_store *s, size_t nmeta)
{
    for (size_t first = 0; first < nmeta; first += HIT_WINDOWS) {
        size_t last = first + HIT_WINDOWS < nmeta ? first + HIT_WINDOWS : nmeta;
        struct argl l;
        argl_init(&l, &s->arg2, 3 + 4 * (last - first));
        argl_ptr(&l, "EVALSHA", 7);
        argl_ptr(&l, s->sha[S_META], 40);
        argl_num(&l, (int64_t)(last - first + 1));
        prefix_key_text(s, &s->key, "writers");
        argl_copy(&l, s->key.data, s->key.len);
        for (size_t i = first; i < last; i++) {
            window_key_text(s, &s->key, &s->metas[i].key, "h");
            argl_copy(&l, s->key.data, s->key.len);
        }
        for (size_t i = first; i < last; i++) {
            struct meta_write *m = &s->metas[i];
            argl_ptr(&l, s->meta_text.data + m->off, m->mlen);
            argl_ptr(&l, s->meta_text.data + m->off + m->mlen, m->glen);
            argl_num(&l, m->ttl > 0 ? m->ttl + TTL_SLACK_MS : DEFAULT_TTL_MS);
        }
        struct command *cmd = argl_queue(s, &l, USE_VER);
        cmd->nw = last - first;
        cmd->names = xcalloc(cmd->nw, sizeof *cmd->names);
        cmd->expect = xcalloc(cmd->nw, sizeof *cmd->expect);
        for (size_t i = first; i < last; i++) {
            cmd->names[i - first] = window_name(&s->metas[i].key);
            cmd->expect[i - first] = mirror_bump(s, cmd->names[i - first]);
        }
    }
}

/* The batch's first_seen decisions: one EVALSHA per 256, in order. */
static void flush_first_seen(struct redis_store *s)
{
    for (size_t first = 0; first < s->nfs; first += HIT_WINDOWS) {
        size_t last = first + HIT_WINDOWS < s->nfs ? first + HIT_WINDOWS : s->nfs;
        struct argl l;
        argl_init(&l, &s->arg2, 5 + FS_ARGS * (last - first));
        argl_ptr(&l, "EVALSHA", 7);
        argl_ptr(&l, s->sha[S_FIRST_SEEN], 40);
        argl_ptr(&l, "0", 1);
        aw_buf_reset(&s->key);
        aw_buf_append_str(&s->key, s->prefix);
        aw_buf_append_str(&s->key, ":{");
        argl_copy(&l, s->key.data, s->key.len);
        argl_num(&l, FOREVER_MS); /* the learning start never expires */
        for (size_t i = first; i < last; i++)
            for (int j = 0; j < FS_ARGS; j++)
                argl_ptr(&l, s->fs_text.data + s->fs[i].off[j], s->fs[i].len[j]);
        struct command *cmd = argl_queue(s, &l, USE_FS);
        cmd->nhits = last - first;
        cmd->hits = xcalloc(cmd->nhits, sizeof *cmd->hits);
        for (size_t i = first; i < last; i++)
            cmd->hits[i - first] = s->fs[i].hit;
    }
    s->nfs = 0;
    aw_buf_reset(&s->fs_text);
}

/* ---------------------------------------------------------- direct writes
 *
 * While this instance is the only writer under its prefix, a window its
 * mirror holds current needs nothing from Redis: the mirror says which
 * entries are new (and which duplicate completed an alert), and no
 * version is counted.  Such writes skip Lua - a script call costs Redis
 * an allocation and a Lua string per argument and about two microseconds
 * per redis.call, a plain command about half of that - and go as plain
 * commands in one MULTI block per flush: HSET m/g for meta writes, HDEL
 * of trimmed ids and one multi-field HSET of the new entries per window
 * (an HSET of an id already there would only write the same value
 * again), then FIXUP_LUA, which counts the versions the writes owed if
 * another writer appeared since this instance last looked; EXEC runs the
 * block atomically, so no other instance sees the writes without their
 * versions.  Windows the mirror does not know, or whose TTL is due (a
 * write that may create the key must set its TTL and group), go through
 * the scripts as before, and so does everything when the server refuses
 * MULTI (an ACL without +multi +exec). */

static bool direct_ok(const struct redis_store *s) { return s->alone && !s->shared && !s->no_multi; }

/* Whether this process set the window's TTL within TTL_REFRESH_MS (so
 * its key exists, with a TTL, unless Redis lost it - which a reconnect
 * tells, clearing the map). */
static bool refreshed_recently(struct redis_store *s, uint64_t name)
{
    uint64_t sec = (uint64_t)(now_ms() / 1000) + 1;
    uint64_t last = (uint64_t)(uintptr_t)aw_hashmap_get(&s->refreshed, name);
    return last && (sec - last) * 1000 < (uint64_t)TTL_REFRESH_MS;
}

static bool direct_meta(struct redis_store *s, const struct meta_write *m)
{
    uint64_t name = window_name(&m->key);
    return mirror_version(s, name) != 0 && refreshed_recently(s, name);
}

static bool direct_window(const struct win_batch *b) { return !b->assumed_new && !b->check; }

/* The window's key into the block's key list (for FIXUP) and the block. */
static void direct_key(struct redis_store *s, const struct aw_wkey *k)
{
    window_key_text(s, &s->key, k, "h");
    aw_buf_append(&s->dkeys, s->key.data, s->key.len);
    aw_buf_append_char(&s->dkeys, '\0');
    resp_arg(&s->direct, s->key.data, s->key.len);
}

/* One MULTI block for the meta writes metas[mfrom, nmeta) and the windows
 * wb[wfrom, nwb), all of them direct (see above). */
static void queue_direct(struct redis_store *s, size_t mfrom, size_t wfrom)
{
    struct aw_buf *t = &s->direct;
    size_t cap = (s->nmeta - mfrom) + (s->nwb - wfrom);
    uint64_t *names = xcalloc(cap, sizeof *names);
    uint64_t *expect = xcalloc(cap, sizeof *expect);
    size_t nkeys = 0, nrep = 1;
    int64_t ttl = 0;
    aw_buf_reset(t);
    aw_buf_reset(&s->dkeys);
    resp_head(t, 1);
    resp_arg(t, "MULTI", 5);
    for (size_t i = mfrom; i < s->nmeta; i++) {
        struct meta_write *m = &s->metas[i];
        resp_head(t, 6);
        resp_arg(t, "HSET", 4);
        direct_key(s, &m->key);
        resp_arg(t, "m", 1);
        resp_arg(t, s->meta_text.data + m->off, m->mlen);
        resp_arg(t, "g", 1);
        resp_arg(t, s->meta_text.data + m->off + m->mlen, m->glen);
        nrep++;
        names[nkeys] = window_name(&m->key);
        expect[nkeys] = mirror_bump(s, names[nkeys]);
        nkeys++;
        if (m->ttl > ttl)
            ttl = m->ttl;
    }
    for (size_t w = wfrom; w < s->nwb; w++) {
        struct win_batch *b = s->wb[w];
        size_t add = 0;
        for (size_t i = 0; i < b->n; i++)
            add += !b->e[i].dup;
        if (!add && !b->nold)
            continue; /* only entries Redis has: nothing to write */
        if (b->nold) {
            resp_head(t, 2 + b->nold);
            resp_arg(t, "HDEL", 4);
            direct_key(s, &b->key);
            for (size_t i = 0; i < b->nold; i++) {
                char hex[16];
                aw_hex64(b->old[i], hex);
                resp_arg(t, hex, 16);
            }
            nrep++;
        }
        if (add) {
            resp_head(t, 2 + 2 * add);
            resp_arg(t, "HSET", 4);
            if (b->nold)
                resp_arg(t, s->key.data, s->key.len);
            else
                direct_key(s, &b->key);
            for (size_t i = 0; i < b->n; i++)
                if (!b->e[i].dup) {
                    resp_arg(t, b->e[i].id, 16);
                    resp_arg(t, b->payloads.data + b->e[i].off, b->e[i].len);
                }
            nrep++;
        }
        names[nkeys] = window_name(&b->key);
        expect[nkeys] = mirror_bump(s, names[nkeys]);
        nkeys++;
        if (b->ttl > ttl)
            ttl = b->ttl;
    }
    if (!nkeys) {
        free(names);
        free(expect);
        return;
    }
    char num[24];
    resp_head(t, 6);
    resp_arg(t, "EVALSHA", 7);
    resp_arg(t, s->sha[S_FIXUP], 40);
    resp_arg(t, "1", 1);
    prefix_key_text(s, &s->key, "writers");
    resp_arg(t, s->key.data, s->key.len);
    resp_arg(t, num, aw_redis_fmt_time(num, ttl > 0 ? ttl + TTL_SLACK_MS : DEFAULT_TTL_MS));
    resp_arg(t, s->dkeys.data, s->dkeys.len); /* the keys, each ended by a NUL */
    resp_head(t, 1);
    resp_arg(t, "EXEC", 4);
    nrep += 2;
    struct command *c = queue_text(s, USE_DIRECT, t, nrep);
    c->names = names;
    c->expect = expect;
    c->nw = nkeys;
    c->plain = xcalloc(nkeys, sizeof *c->plain);
    for (size_t i = 0; i < nkeys; i++)
        c->plain[i] = true;
    c->assumed_new = xcalloc(nkeys, sizeof *c->assumed_new);
}

/* Buffered window writes into the pipeline: meta before hits.  Per
 * window that keeps the order of the calls - a meta write queued while
 * the window has hits waiting sends those hits first (queue_meta_write),
 * so a meta write waiting beside hits of its window is the older one.
 * Scripted meta writes go first, then the direct block (its meta writes
 * before its hits), then the scripted hits. */
static void flush_writes(struct redis_store *s)
{
    size_t mlua = s->nmeta, wlua = s->nwb;
    if (direct_ok(s)) { /* scripted ones first, direct ones after */
        mlua = 0;
        for (size_t i = 0; i < s->nmeta; i++)
            if (!direct_meta(s, &s->metas[i])) {
                struct meta_write tmp = s->metas[i];
                s->metas[i] = s->metas[mlua];
                s->metas[mlua++] = tmp;
            }
        wlua = 0;
        for (size_t w = 0; w < s->nwb; w++)
            if (!direct_window(s->wb[w])) {
                struct win_batch *tmp = s->wb[w];
                s->wb[w] = s->wb[wlua];
                s->wb[wlua++] = tmp;
            }
    }
    flush_meta(s, mlua);
    if (mlua < s->nmeta || wlua < s->nwb)
        queue_direct(s, mlua, wlua);
    flush_hits(s, wlua);
    s->nmeta = 0;
    aw_buf_reset(&s->meta_text);
    if (s->meta_index.n) {
        aw_hashmap_free(&s->meta_index);
        aw_hashmap_init(&s->meta_index);
    }
    for (size_t w = 0; w < s->nwb; w++) {
        s->wb[w]->n = 0;
        s->wb[w]->nold = 0;
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
    if (rs->nfinished) { /* groups read alone leave the queue as they are finished */
        struct argl l;
        argl_init(&l, &s->arg2, 2 + rs->nfinished);
        argl_ptr(&l, "ZREM", 4);
        rule_key_text(s, &s->key2, rs->name, "pending");
        argl_copy(&l, s->key2.data, s->key2.len);
        for (size_t j = 0; j < rs->nfinished; j++) {
            char hex[16];
            aw_hex64(rs->finished[j], hex);
            argl_copy(&l, hex, 16);
        }
        argl_queue(s, &l, USE_CHECK);
        rs->nfinished = 0;
    }
    if (rs->at_claim && !rs->outstanding && (!rs->due_valid || rs->due_next >= rs->ndue)) {
        /* the pass is over: the "@" claim goes */
        rule_key_text(s, &s->key2, rs->name, "claims");
        const char *argv[] = {"HDEL", s->key2.data, s->instance};
        size_t lens[] = {4, s->key2.len, strlen(s->instance)};
        queue_argv(s, USE_CHECK, 3, argv, lens);
        rs->at_claim = false;
    }
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
    prefix_key_text(s, &s->key, "members");
    prefix_key_text(s, &s->key2, "writers");
    const char *argv[] = {"EVALSHA", s->sha[S_MEMBER], "2", s->key.data, s->key2.data, s->instance, wm, ttl, stale};
    size_t lens[] = {7, 40, 1, s->key.len, s->key2.len, strlen(s->instance), strlen(wm), strlen(ttl), strlen(stale)};
    queue_argv(s, USE_CHECK, 9, argv, lens);
    s->published_clock = s->clock;
    s->published_at = now;
}

/* Everything merged so far goes into the pipeline: the hits, then one
 * ZADD LT of pending pushes and one HDEL of finished claims per rule. */
static int r_pending_push(struct aw_store *base, const struct aw_wkey *k, int64_t time_ms);

/* Forget what this instance queued while alone (pushing it all again
 * when requeue). */
static void forget_queued(struct redis_store *s, bool requeue)
{
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
                r_pending_push(&s->base, &k, QTIME_OF(rs->queued.values[j]));
            }
        aw_hashmap_free(&rs->queued);
        aw_hashmap_init(&rs->queued);
    }
}

static void flush_pushes(struct redis_store *s)
{
    if (s->requeue_due) {
        s->requeue_due = false;
        forget_queued(s, true);
    }
    if (s->dirty_flush_due)
        write_dirty_all(s);
    flush_writes(s);
    flush_first_seen(s);
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
        size_t sent = 0;
        for (size_t j = 0; j < rs->npushes; j++) {
            struct push *ps = &rs->pushes[j];
            if (s->alone) { /* already queued no later: nothing to send */
                uint64_t key = aw_hashmap_key(ps->group_hash);
                void *q = aw_hashmap_get(&rs->queued, key);
                if (q && QTIME_OF(q) <= ps->time)
                    continue;
                aw_hashmap_put(&rs->queued, key, QTIME(ps->time));
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
            queue_argv(s, USE_CHECK, (int)(3 + 2 * sent), argv, lens);
            char ttl[24];
            aw_redis_fmt_time(ttl, rs->ttl ? rs->ttl + TTL_SLACK_MS : DEFAULT_TTL_MS);
            const char *ex[] = {"PEXPIRE", s->key.data, ttl};
            size_t exl[] = {7, s->key.len, strlen(ttl)};
            queue_argv(s, USE_CHECK, 3, ex, exl);
        }
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
static void flush_pops(struct redis_store *s);

/* -------------------------------------------------------------- snapshots */

/* One call fetching the windows keys[0..n). */
static void queue_snapshots(struct redis_store *s, const struct aw_wkey *keys, size_t n)
{
    struct argl l;
    argl_init(&l, &s->arg2, 3 + 2 * n);
    argl_ptr(&l, "EVALSHA", 7);
    argl_ptr(&l, s->sha[S_SNAPSHOT], 40);
    argl_num(&l, (int64_t)n);
    for (size_t i = 0; i < n; i++) {
        window_key_text(s, &s->key, &keys[i], "h");
        argl_copy(&l, s->key.data, s->key.len);
    }
    for (size_t i = 0; i < n; i++) {
        struct rule_state *rs = rule_state_for(s, keys[i].rule, rule_hash_of(&keys[i]));
        if (!s->full_fetch && rs->ttl)
            argl_num(&l, rs->ttl);
        else
            argl_ptr(&l, "", 0);
    }
    argl_queue(s, &l, USE_KEEP);
}

/* Load a SNAPSHOT reply ({g, m, v, id, entry, ...}) into the mirror,
 * replacing what it held. */
static void load_snapshot(struct redis_store *s, const struct aw_wkey *k, const redisReply *r)
{
    struct aw_store *c = cache_of(s);
    s->ok_valid = false;
    int64_t ttl = rule_state_for(s, k->rule, rule_hash_of(k))->ttl; /* expires in the mirror as written windows do */
    aw_store_memory_forget(c, k);
    s->ok_valid = false;
    aw_hashmap_remove(&s->fetched, window_name(k));
    dirty_clear(s, window_name(k)); /* (a waiting cursor is lost with the copy: see dirty_mark) */
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
        aw_hashmap_put(&s->fetched, window_name(k), (void *)(uintptr_t)v);
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

/* The next space-separated token of [*p, end); false at the end. */
static bool next_token(const char **p, const char *end, const char **tok, size_t *len)
{
    while (*p < end && **p == ' ')
        (*p)++;
    if (*p >= end)
        return false;
    *tok = *p;
    while (*p < end && **p != ' ')
        (*p)++;
    *len = (size_t)(*p - *tok);
    return true;
}

/* A POP reply: the mode ('c' claimed, 'a' read alone), the rule's due
 * groups in time order ("group time version" or "group time" each), then
 * the earliest time left, more, the bound, and whether other writers
 * share the prefix. */
static void parse_pop(struct redis_store *s, struct rule_state *rs, const redisReply *r)
{
    rs->pop_queued = false;
    rs->ndue = rs->due_next = 0;
    rs->outstanding = 0;
    rs->due_valid = true;
    rs->pushed_since_pop = false;
    rs->pushed_min = AW_TIME_NONE;
    rs->due_more = false;
    rs->earliest = AW_TIME_NONE;
    rs->bound = INT64_MAX;
    if (!r || r->type != REDIS_REPLY_STRING)
        return;
    const char *p = r->str, *end = r->str + r->len, *tok[3], *t;
    size_t len[3], tl, count = 0;
    for (const char *q = p; next_token(&q, end, &t, &tl);)
        count++;
    if (!next_token(&p, end, &t, &tl) || tl != 1 || (t[0] != 'a' && t[0] != 'c'))
        return;
    rs->due_claimed = t[0] == 'c';
    size_t per = rs->due_claimed ? 3 : 2;
    if (count < 5 || (count - 5) % per)
        return;
    size_t groups = (count - 5) / per;
    if (groups > rs->due_cap) {
        rs->due_cap = groups;
        rs->due = xrealloc(rs->due, groups * sizeof *rs->due);
    }
    for (size_t i = 0; i < groups; i++) {
        for (size_t j = 0; j < per; j++)
            next_token(&p, end, &tok[j], &len[j]);
        rs->due[i].group_hash = aw_redis_parse_hex64(tok[0], len[0]);
        rs->due[i].time = aw_redis_parse_time(tok[1], len[1]);
        rs->due[i].version = per == 3 ? strtoull(tok[2], NULL, 10) : 0;
    }
    rs->ndue = groups;
    rs->need_snapshots = groups > 0;
    if (!rs->due_claimed && groups)
        rs->at_claim = true;
    for (size_t n = 0; n < 3; n++)
        next_token(&p, end, &tok[n], &len[n]);
    rs->earliest = len[0] == 1 && tok[0][0] == '-' ? AW_TIME_NONE : aw_redis_parse_time(tok[0], len[0]);
    rs->due_more = len[1] == 1 && tok[1][0] == '1';
    if (len[2] == 4 && !memcmp(tok[2], "-inf", 4))
        rs->bound = AW_TIME_NONE;
    else if (!(len[2] == 4 && !memcmp(tok[2], "+inf", 4)))
        rs->bound = aw_redis_parse_time(tok[2], len[2]);
    const char *others;
    size_t olen;
    if (next_token(&p, end, &others, &olen))
        set_shared(s, olen == 1 && others[0] == '1');
}

static void hit_versions(struct redis_store *s, const struct command *c, const char *q, const char *end);

static int run_now(struct redis_store *s)
{
    flush_pops(s); /* the pops go last: they see every write before them */
    int rc = exchange(s);
    if (rc < 0) {
        for (size_t i = 0; i < s->ncmds; i++)
            for (size_t j = 0; s->cmds[i].use == USE_POP && j < s->cmds[i].nrules; j++)
                s->cmds[i].rules[j]->pop_queued = false;
        clear_commands(s);
        s->nhits = 0;
        return -1;
    }
    /* Hit outcomes: note them now, deliver at sync.  Popped groups:
     * into their rule's due list. */
    for (size_t i = 0; i < s->ncmds; i++) {
        struct command *c = &s->cmds[i];
        if (c->use == USE_POP) {
            for (size_t j = 0; j < c->nrules; j++)
                parse_pop(s, c->rules[j],
                          c->reply && c->reply->type == REDIS_REPLY_ARRAY && j < c->reply->elements
                              ? c->reply->element[j]
                              : NULL);
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
            while (s->alone && !s->shared && next_token(&q, end, &t1, &l1) && next_token(&q, end, &t2, &l2)) {
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
                if (!next_token(&p, end, &t, &tl))
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
    for (const char *r = q; next_token(&r, end, &t, &tl);)
        ntok++;
    bool all = ntok == c->nw;
    for (size_t w = 0; w < c->nw; w++) {
        if (!all && c->plain[w]) { /* not counted: current as far as we know */
            mirror_reply(s, c->names[w], c->expect[w], "0", 1, false);
            continue;
        }
        if (!next_token(&q, end, &t, &tl))
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
        b->old = xrealloc(b->old, b->old_cap * sizeof *b->old);
    }
    b->old[b->nold++] = e->id_hash;
    return 0;
}

/* Whether this process should (re)set a window's TTL with this batch. */
static bool refresh_due(struct redis_store *s, uint64_t name)
{
    uint64_t sec = (uint64_t)(now_ms() / 1000) + 1;
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
    struct rule_state *rs = rule_state_for(s, k->rule, rule_hash_of(k));
    if (ttl_ms > rs->ttl)
        rs->ttl = ttl_ms;
    uint64_t name = window_name(k);
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
            s->wb = xrealloc(s->wb, (s->wb_alloc + 1) * sizeof *s->wb);
            s->wb[s->wb_alloc++] = xcalloc(1, sizeof **s->wb);
        }
        b = s->wb[s->nwb++];
        aw_hashmap_put(&s->wb_index, name, (void *)(uintptr_t)s->nwb);
        b->key = (struct aw_wkey){rs->name, k->group_hash, rs->rule_hash};
        b->ttl = 0;
        b->n = b->nold = 0;
        b->assumed_new = !current;
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
        b->e = xrealloc(b->e, b->cap * sizeof *b->e);
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
        s->hits = xrealloc(s->hits, s->hit_cap * sizeof *s->hits);
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
        flush_writes(s);
        send_early(s);
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

/* A meta write into the batch's buffer (replacing one for the same
 * window); the window's hits waiting in the batch go first. */
static void queue_meta_write(struct redis_store *s, const struct aw_wkey *k, const struct aw_window_meta *m,
                             int64_t ttl_ms)
{
    uint64_t name = window_name(k);
    if (s->nwb && aw_hashmap_get(&s->wb_index, name))
        flush_writes(s); /* the window's hits go first */
    struct rule_state *rs = rule_state_for(s, k->rule, rule_hash_of(k));
    uintptr_t at = (uintptr_t)aw_hashmap_get(&s->meta_index, name);
    struct meta_write *w;
    if (at) {
        w = &s->metas[at - 1];
    } else {
        if (s->nmeta == s->meta_cap) {
            s->meta_cap = s->meta_cap ? s->meta_cap * 2 : 256;
            s->metas = xrealloc(s->metas, s->meta_cap * sizeof *s->metas);
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
        flush_writes(s);
        send_early(s);
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
        s->dirty = xrealloc(s->dirty, s->dirty_cap * sizeof *s->dirty);
    }
    struct rule_state *rs = rule_state_for(s, k->rule, rule_hash_of(k));
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
        aw_hashmap_put(&s->dirty_index, window_name(&s->dirty[at - 1]), (void *)at);
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
        queue_meta_write(s, k, &m, rule_state_for(s, k->rule, rule_hash_of(k))->ttl);
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
    uint64_t name = window_name(k);
    bool wait = false;
    if (s->alone && s->cache && mirror_version(s, name)) {
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

/* A pop of the rule's due groups: it goes out with the next exchange,
 * after everything written until then, in one script call with the
 * other rules' pops (flush_pops). */
static void queue_pop(struct redis_store *s, struct rule_state *rs, int64_t up_to_ms)
{
    if (!rs->pop_queued) {
        if (s->npops == s->pops_cap) {
            s->pops_cap = s->pops_cap ? s->pops_cap * 2 : 16;
            s->pops = xrealloc(s->pops, s->pops_cap * sizeof *s->pops);
        }
        s->pops[s->npops++] = rs;
    }
    rs->pop_queued = true;
    rs->due_up_to = up_to_ms;
}

static void flush_pops(struct redis_store *s)
{
    if (!s->npops)
        return;
    struct argl l;
    argl_init(&l, &s->arg2, 9 + 6 * s->npops);
    argl_ptr(&l, "EVALSHA", 7);
    argl_ptr(&l, s->sha[S_POP], 40);
    argl_num(&l, (int64_t)(2 + 2 * s->npops));
    prefix_key_text(s, &s->key, "members");
    argl_copy(&l, s->key.data, s->key.len);
    prefix_key_text(s, &s->key, "writers");
    argl_copy(&l, s->key.data, s->key.len);
    for (size_t i = 0; i < s->npops; i++) {
        rule_key_text(s, &s->key, s->pops[i]->name, "pending");
        argl_copy(&l, s->key.data, s->key.len);
        claims_key(s, &s->key, s->pops[i]->name);
        argl_copy(&l, s->key.data, s->key.len);
    }
    argl_copy(&l, s->instance, strlen(s->instance));
    argl_num(&l, STALE_MS(s));
    argl_num(&l, POP_LIMIT);
    argl_ptr(&l, "}:h", 3);
    for (size_t i = 0; i < s->npops; i++) {
        struct rule_state *rs = s->pops[i];
        argl_num(&l, rs->due_up_to);
        argl_num(&l, rs->ttl ? rs->ttl + TTL_SLACK_MS : DEFAULT_TTL_MS);
        argl_num(&l, rs->lateness);
        /* a group's window hash key: head .. group .. tail */
        aw_buf_reset(&s->key);
        aw_buf_append_str(&s->key, s->prefix);
        aw_buf_append_str(&s->key, ":{");
        aw_buf_append_str(&s->key, rs->name);
        aw_buf_append_char(&s->key, '|');
        argl_copy(&l, s->key.data, s->key.len);
    }
    struct command *c = argl_queue(s, &l, USE_POP);
    c->rules = s->pops;
    c->nrules = s->npops;
    s->pops = NULL;
    s->npops = s->pops_cap = 0;
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

static int64_t r_pending_limit(struct aw_store *base, const struct aw_wkey *rule)
{
    struct redis_store *s = (struct redis_store *)base;
    return rule_state_for(s, rule->rule, rule_hash_of(rule))->bound;
}

static int r_pending_done(struct aw_store *base, const struct aw_wkey *k)
{
    struct redis_store *s = (struct redis_store *)base;
    struct rule_state *rs = rule_state_for(s, k->rule, rule_hash_of(k));
    if (rs->outstanding)
        rs->outstanding--;
    if (!rs->due_claimed) {
        if (rs->nfinished == rs->finished_cap) {
            rs->finished_cap = rs->finished_cap ? rs->finished_cap * 2 : 64;
            rs->finished = xrealloc(rs->finished, rs->finished_cap * sizeof *rs->finished);
        }
        rs->finished[rs->nfinished++] = k->group_hash;
        return 0;
    }
    if (rs->ndone == rs->done_cap) {
        rs->done_cap = rs->done_cap ? rs->done_cap * 2 : 64;
        rs->done = xrealloc(rs->done, rs->done_cap * sizeof *rs->done);
    }
    rs->done[rs->ndone++] = k->group_hash;
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
    int64_t now = now_ms();
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
            s->hits = xrealloc(s->hits, s->hit_cap * sizeof *s->hits);
        }
        s->hits[s->nhits++] = (struct hit_wait){NULL, done, token, done_ctx, lk, op->time_ms, 0, 0, learn};
        return 0;
    }
    if (s->nfs == s->fs_cap) {
        s->fs_cap = s->fs_cap ? s->fs_cap * 2 : 256;
        s->fs = xrealloc(s->fs, s->fs_cap * sizeof *s->fs);
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
        s->hits = xrealloc(s->hits, s->hit_cap * sizeof *s->hits);
    }
    s->hits[s->nhits] = (struct hit_wait){NULL, done, token, done_ctx, lk, op->time_ms, 0, 0, learn};
    w->hit = s->nhits++;
    if (s->nfs >= EARLY_WINDOWS) {
        flush_first_seen(s);
        send_early(s);
    }
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
            for (; rs->due_valid && rs->due_claimed && rs->due_next < rs->ndue; rs->due_next++) {
                struct aw_wkey k = {rs->name, rs->due[rs->due_next].group_hash, rs->rule_hash};
                rs->outstanding++;
                r_pending_push(base, &k, rs->due[rs->due_next].time);
                r_pending_done(base, &k);
            }
            rs->due_valid = false;
            rs->outstanding = 0; /* (groups read alone and not handed out are still queued) */
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
    if (!s->broken && s->c && (s->ncmds || s->nhits || s->nwb || s->nmeta || s->nfs))
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
            free(rs->name);
            free(rs);
        }
    aw_hashmap_free(&s->rules);
    free(s->pops);
    aw_store_destroy(s->cache);
    s->ok_valid = false;
    aw_hashmap_free(&s->fetched);
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
    aw_hashmap_init(&s->meta_index);
    aw_hashmap_init(&s->refreshed);
    aw_hashmap_init(&s->fs_known);
    aw_hashmap_init(&s->fs_start);
    aw_hashmap_init(&s->dirty_index);
    s->clock = s->published_clock = AW_TIME_NONE;
    if (aw_redis_spec_parse(&s->spec, spec, err, errlen) < 0 || connect_once(s, err, errlen) < 0) {
        r_destroy(&s->base);
        return NULL;
    }
    return &s->base;
}
