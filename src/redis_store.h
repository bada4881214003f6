/*
 * redis_store.h - the Redis store's private state, shared by the files
 * that make it up (nothing else includes this):
 *   store_redis.c   the store's operations: the mirror, window reads,
 *                   pending groups, first_seen, waiting cursors
 *   redis_conn.c    the connection: connect, reconnect, RESP, the
 *                   pipeline of commands and its one round trip
 *   redis_batch.c   a batch's buffered window writes and first_seen
 *                   decisions into that pipeline (scripts, or plain
 *                   commands in one MULTI block while alone)
 *   redis_pending.c the pending queue in Redis: pushes, pops, claims
 *   redis_queue.c   the pending queue kept locally while solo
 * The key layout, cost model and sharing rules are described at the top
 * of store_redis.c.  hiredis is included only by store_redis.c and
 * redis_conn.c; here its types are opaque.
 */
#ifndef AUDITWATCH_REDIS_STORE_H
#define AUDITWATCH_REDIS_STORE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auditwatch/buf.h"
#include "auditwatch/hashmap.h"
#include "auditwatch/store.h"
#include "auditwatch/timeparse.h"
#include "redis_scripts.h"
#include "redis_spec.h"
#include "xalloc.h"

struct redisContext;
struct redisReply;

#define DEFAULT_TTL_MS (30LL * 86400 * 1000)
/* Keys that callers want kept for good (first_seen without retention):
 * ten years, so that still every key has a TTL. */
#define FOREVER_MS (3650LL * 86400 * 1000)
/* Key TTLs run on the wall clock, windows on event time: a replay can
 * hold a window for finalization longer than its event-time TTL (while
 * it reads other files up to the same time), so Redis keeps window keys
 * this much longer. */
#define TTL_SLACK_MS (3600LL * 1000)
/* The TTL a key gets for a window TTL of ttl (0 or less: unknown). */
#define KEY_TTL_MS(ttl) ((ttl) > 0 ? (ttl) + TTL_SLACK_MS : DEFAULT_TTL_MS)
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
    size_t resent_at; /* USE_DIRECT: where FIXUP's "sent again" flag is in the text (resend_direct) */
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
    struct redisReply *reply;
};

/* The hits of one window in the current batch: sent with one EVALSHA. */
struct win_entry {
    char id[17];
    size_t off, len; /* the encoded entry in win_batch.payloads */
    size_t hit;
    bool dup; /* the mirror had it already: written only if missing (HSETNX) */
};

struct win_batch {
    struct aw_wkey key;
    int64_t ttl;
    bool check;       /* write the group if missing and (re)set the TTL */
    bool assumed_new; /* the mirror had no current copy: it starts empty */
    bool unconfirmed; /* the mirror's copy started empty in an earlier flush
                         whose reply (was it new?) has not come yet */
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
    /* popped groups: the window's version in Redis (0: not read); pushes:
     * 0, or a local queue's PUSH_NOTED (queued here already, to be sent)
     * or PUSH_DROPPED (handed out before it was sent: nothing to send) */
    uint64_t version;
};
#define PUSH_NOTED 1
#define PUSH_DROPPED 2

/* A group in a rule's local queue (redis_queue.c). */
struct qent {
    int64_t time;
    uint64_t group;
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
    int64_t peer_bound; /* the bound when a peer lowered it, else INT64_MAX */
    int64_t pushed_min; /* earliest push since the last pop (AW_TIME_NONE: none) */
    bool due_valid, due_more;
    bool pop_queued;     /* a POP is in the pipeline, not answered yet */
    bool need_snapshots; /* popped groups whose windows are not fetched yet */
    /* solo: the queue is known here and pops are answered locally
     * (redis_queue.c); a heap of (time, group), checked against queued */
    bool local;
    struct qent *heap;
    size_t nheap, heap_cap;
    /* the "@TIME" claim to write with the next flush (AW_TIME_NONE: none),
     * and the one written last */
    int64_t claim_to, claimed_to;
    bool claim_open; /* a local queue's claim whose pass has not ended */
};

struct redis_store {
    struct aw_store base;
    struct redisContext *c;
    /* where and how to connect */
    struct aw_redis_spec spec;
    char *shown;
    int64_t connect_timeout_ms, command_timeout_ms, reconnect_wait_ms;
    int (*before_send)(void *ctx); /* see aw_store_options */
    void *before_send_ctx;
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
    /* windows sent as assumed new, their reply not read yet (name -> 1):
     * until it says the key was new, the mirror may lack entries Redis
     * has, so their outcomes must come from Redis (no direct writes) */
    struct aw_hashmap unconfirmed;
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
    bool solo;     /* the last pop saw no other writer or live member */
    size_t nlocal; /* rules whose queue is answered locally */
    bool probe_due; /* pops are local: the sync still asks whether solo */
    bool shared; /* other writers under the prefix (versions are counted) */
    bool alone;  /* a reply showed no other writer (cursor writes may wait) */
    /* windows whose cursor moved while alone and is not in Redis yet
     * (window name -> index + 1 into dirty) */
    struct aw_hashmap dirty_index;
    struct aw_wkey *dirty;
    size_t ndirty, dirty_cap;
    bool dirty_flush_due; /* no longer alone: write them */
    bool requeue_due;     /* no longer alone: push every queued group again */
    /* this instance's event time (set_clock); what it was at the last two
     * syncs; what was last published under PREFIX:members (shown_clock) */
    int64_t clock, clock_at_sync[2], published_clock, published_at;
};

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

/* A time as a nonzero map value and back. */
#define QTIME(t) ((void *)(uintptr_t)((uint64_t)(t) ^ ((uint64_t)1 << 63)))
#define QTIME_OF(v) ((int64_t)((uint64_t)(uintptr_t)(v) ^ ((uint64_t)1 << 63)))



static inline void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---------------------------------------------------- redis_conn.c */

/* Queue a command (argv/lens) or a ready RESP text of nreplies replies
 * (several commands) at the end of the pipeline; the text is owned by
 * the pipeline until aw_redis_clear_commands. */
void aw_redis_queue_argv(struct redis_store *s, enum reply_use use, int argc, const char **argv, const size_t *lens);
struct command *aw_redis_queue_text(struct redis_store *s, enum reply_use use, const struct aw_buf *b, size_t nreplies);
/* RESP into a buffer: a command's "*argc" head, then each argument. */
void aw_redis_resp_head(struct aw_buf *b, size_t argc);
void aw_redis_resp_arg(struct aw_buf *b, const char *p, size_t len);
/* Forget the pipeline's commands and replies. */
void aw_redis_clear_commands(struct redis_store *s);
bool aw_redis_reply_is_error(const struct redisReply *r);
/* Connect, authenticate, select, load the scripts, register as a writer
 * (0, or -1 with the reason in err, never showing the password). */
int aw_redis_connect_once(struct redis_store *s, char *err, size_t errlen);
/* Send the pipeline and read every reply, reconnecting and resending as
 * needed: 0, or -1 when the store gave up. */
int aw_redis_exchange(struct redis_store *s);
/* Write what the pipeline holds to the connection without waiting. */
void aw_redis_send_early(struct redis_store *s);
/* Argument lists (struct argl): start, add (pointer kept, copy, number),
 * and queue as one command (which frees the list). */
void aw_redis_argl_init(struct argl *l, struct aw_buf *text, size_t cap);
void aw_redis_argl_ptr(struct argl *l, const char *p, size_t len);
void aw_redis_argl_copy(struct argl *l, const char *p, size_t len);
void aw_redis_argl_num(struct argl *l, int64_t v);
struct command *aw_redis_argl_queue(struct redis_store *s, struct argl *l, enum reply_use use);

/* --------------------------------------------------- store_redis.c */

/* Key texts into b: a window's (PREFIX:{RULE|GROUP}:suffix), a rule's
 * (PREFIX:{RULE}:suffix) and the prefix's own (PREFIX:suffix). */
void aw_redis_window_key_text(struct redis_store *s, struct aw_buf *b, const struct aw_wkey *k, const char *suffix);
void aw_redis_rule_key_text(struct redis_store *s, struct aw_buf *b, const char *rule, const char *suffix);
void aw_redis_prefix_key_text(struct redis_store *s, struct aw_buf *b, const char *suffix);
uint64_t aw_redis_rule_hash_of(const struct aw_wkey *k);
/* A window's name in the store's maps. */
uint64_t aw_redis_window_name(const struct aw_wkey *k);
/* The version the mirror expects a window at (0: unknown), and one more
 * change on its way (returns the version it should produce). */
uint64_t aw_redis_mirror_version(struct redis_store *s, uint64_t name);
uint64_t aw_redis_mirror_bump(struct redis_store *s, uint64_t name);
/* A (re)connection: what this process believed about Redis's keys (TTLs
 * set, first_seen state) may be gone. */
void aw_redis_forget_caches(struct redis_store *s);

/* Per-rule state (created on first use); the writers' last word (see
 * "Sharing" in store_redis.c); the pipeline run now (a read needs its
 * answer: 0, or -1 when the store gave up); the batch's buffered writes,
 * queue updates and heartbeat into the pipeline; the windows of groups
 * pops listed, fetched in one round trip. */
struct rule_state *aw_redis_rule_state(struct redis_store *s, const char *rule, uint64_t rh);
void aw_redis_set_shared(struct redis_store *s, bool shared);
int aw_redis_run_now(struct redis_store *s);
void aw_redis_flush_pushes(struct redis_store *s);
int aw_redis_fetch_due_snapshots(struct redis_store *s);

/* --------------------------------------------------- redis_pending.c */

/* The store ops of the pending queue (store.h). */
int aw_redis_pending_push(struct aw_store *base, const struct aw_wkey *k, int64_t time_ms);
int aw_redis_pending_prefetch(struct aw_store *base, const struct aw_wkey *rule, int64_t up_to_ms,
                              int64_t lateness_ms);
int aw_redis_pending_pop(struct aw_store *base, const struct aw_wkey *rule, int64_t up_to_ms, uint64_t *group_hash,
                         int64_t *time_ms, bool *found);
int64_t aw_redis_pending_limit(struct aw_store *base, const struct aw_wkey *rule);
int64_t aw_redis_peer_bound(struct aw_store *base, const struct aw_wkey *rule);
int aw_redis_pending_done(struct aw_store *base, const struct aw_wkey *k);
/* Forget what this instance queued while alone (pushing it again when
 * requeue). */
void aw_redis_forget_queued(struct redis_store *s, bool requeue);
/* Finished groups and claims, then merged pushes, into the pipeline. */
void aw_redis_flush_queue(struct redis_store *s);
/* The pops queued for the next exchange (or, with local queues, the call
 * that asks whether solo) into the pipeline, last. */
void aw_redis_flush_pops(struct redis_store *s);
/* One rule's part of a POP reply (str NULL: none). */
void aw_redis_parse_pop(struct redis_store *s, struct rule_state *rs, const char *str, size_t slen);

/* --------------------------------------------------- redis_queue.c */

/* A group queued (or queued earlier) by this process: into the rule's
 * heap when its queue is local. */
void aw_redis_queue_note(struct rule_state *rs, uint64_t group, int64_t time);
/* A pop's listing of the rule's whole queue: the queue is local from now. */
void aw_redis_queue_load(struct redis_store *s, struct rule_state *rs, const struct push *groups, size_t n);
/* Not solo any more (or not sure): every queue goes back to Redis. */
void aw_redis_queue_drop(struct redis_store *s);
/* Whether the rule's pops are answered locally now. */
bool aw_redis_queue_local(const struct redis_store *s, const struct rule_state *rs);
/* The prefetch and the pop of a local queue (see pending_prefetch and
 * pending_pop in store.h; a pop that finds nothing due gives the earliest
 * time queued, or AW_TIME_NONE). */
void aw_redis_queue_prefetch(struct rule_state *rs, int64_t up_to_ms);
bool aw_redis_queue_pop(struct rule_state *rs, int64_t up_to_ms, uint64_t *group_hash, int64_t *time_ms);
/* A push into a local queue: queued here at once; true when it is to be
 * sent with the next flush (PUSH_NOTED), false when the group is queued
 * no later already. */
bool aw_redis_queue_push(struct rule_state *rs, uint64_t group, int64_t time_ms);

/* --------------------------------------------------- redis_batch.c */

/* The batch's buffered meta writes and hits, and its first_seen
 * decisions, into the pipeline. */
void aw_redis_flush_writes(struct redis_store *s);
void aw_redis_flush_first_seen(struct redis_store *s);

#endif
