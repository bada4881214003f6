/*
 * store.h - the window state store: one vtable, two backends.
 *
 * Detectors keep all their state behind this interface, so the embedded
 * memory store (replay, single instance) and Redis (shared by a consumer
 * group) give identical results (DESIGN section 7).  The operations are
 * the few a sliding event-time window needs:
 *
 *   windows  per (rule, group): entries ordered by (time, id); adding an
 *            entry whose id is already there changes nothing (idempotent
 *            redelivery); entries older than a bound are trimmed.
 *   meta     per (rule, group): the group's values, the finalization cursor
 *            and the suppression (until when, and which alert set it).
 *   pending  one queue per rule of (time, group) that still need a final
 *            evaluation; popped in time order as event time advances.
 *   sets     per key: members with the time they were first seen
 *            (first_seen detector, service map mirror).
 *
 * Keys: a window is named by its rule name and a 64-bit hash of the group
 * values; backends build their own key text from them (Redis:
 * PREFIX:{RULE|GROUPHASH}:suffix).  Every operation returns 0 on success
 * and -1 when the backend failed (connection lost...): the caller then
 * reports the batch as not done and retries it; no operation may leave a
 * half-applied change that a retry would count twice.
 */
#ifndef AUDITWATCH_STORE_H
#define AUDITWATCH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AW_TIME_NONE INT64_MIN

struct aw_wkey {
    const char *rule;    /* rule name (NUL-terminated) */
    uint64_t group_hash; /* aw_hash64 of the canonical group text */
    uint64_t rule_hash;  /* aw_store_rule_hash(rule), or 0 to let the store compute it */
};

/* The hash of a rule name that stores key by; callers on a hot path keep it. */
uint64_t aw_store_rule_hash(const char *rule);

/* One event's contribution to a window. */
struct aw_window_entry {
    int64_t time_ms;
    uint64_t id_hash;     /* hash of auditwatch.id: the dedupe key */
    uint64_t value_hash;  /* value_count: hash of the counted value */
    uint32_t tag;         /* temporal: index of the referenced rule that matched */
    const char *evidence; /* compact JSON {"id":..,"origin":{..}} for the alert (copied) */
    size_t evidence_len;
    const char *fields;   /* JSON members of the event's main ECS fields, for the alert
                             ("source":{"ip":..},"user":{"name":..}; copied; may be empty) */
    size_t fields_len;
};

/* What a scan hands out: the strings stay valid until the next call on
 * the store (the entry struct itself during the callback only). */
typedef int (*aw_entry_fn)(void *ctx, const struct aw_window_entry *e);

struct aw_window_meta {
    const char *group_json; /* {"source.ip":"1.2.3.4",...}: the group, for alerts */
    size_t group_json_len;
    int64_t cursor_time;    /* finalized up to (time, id), inclusive; AW_TIME_NONE: nothing yet */
    uint64_t cursor_id;
    int64_t suppress_until; /* event time; AW_TIME_NONE: not suppressed */
    uint64_t suppress_entry; /* id_hash of the entry that completed the suppressing alert */
    char alert_id[33];       /* the alert that set the suppression ("" when none) */
    uint64_t entries;        /* window_add only: the window's entries after the add (not stored) */
};

struct aw_store_stats {
    uint64_t windows, entries, sets, set_members, pending;
    uint64_t bytes;         /* memory store: bytes held; Redis: 0 */
    uint64_t evicted;       /* entries dropped by the memory cap */
    uint64_t round_trips;   /* Redis: round trips so far */
};

struct aw_store;

/* Outcome of a batched window_hit whose entry was already in the window. */
typedef int (*aw_hit_done_fn)(void *ctx, const struct aw_wkey *k, int64_t time_ms, uint64_t id_hash,
                              bool completed);

/* One first_seen decision (see first_seen in the ops). */
struct aw_first_seen_op {
    const char *name;      /* the first_seen entry */
    uint64_t learning_key; /* group hashes of the entry's keys */
    uint64_t values_key, prev_values_key; /* prev: 0 without retention */
    uint64_t intro_key;
    int64_t time_ms, learning_ms, ttl_ms;
    const char *value, *event_id;
    size_t value_len, event_id_len;
};
typedef int (*aw_first_seen_done_fn)(void *ctx, size_t token, int outcome);

struct aw_store_ops {
    const char *name;
    /* Add e to the window; *added is set to false when an entry with the same
     * id_hash is already there.  Entries older than trim_before_ms are
     * dropped first.  The window and its meta expire ttl_ms after the newest
     * entry (Redis TTL; the memory store trims by event time instead).
     * When meta is not NULL it receives the window's meta in the same call
     * (*meta_found false when there is none yet), as meta_get would, and
     * meta->entries the number of entries the window holds now. */
    int (*window_add)(struct aw_store *s, const struct aw_wkey *k, const struct aw_window_entry *e,
                      int64_t trim_before_ms, int64_t ttl_ms, bool *added,
                      struct aw_window_meta *meta, bool *meta_found);
    /* Visit entries with from_excl < time <= to_incl in (time, id) order;
     * the callback's nonzero return stops the scan (not an error). */
    int (*window_scan)(struct aw_store *s, const struct aw_wkey *k, int64_t from_excl,
                       int64_t to_incl, aw_entry_fn fn, void *ctx);
    /* Number of entries with from_excl < time <= to_incl. */
    int (*window_count)(struct aw_store *s, const struct aw_wkey *k, int64_t from_excl,
                        int64_t to_incl, uint64_t *count);
    /* Meta of a window; *found false when there is none yet.  The strings
     * stay valid until the next call on this store. */
    int (*meta_get)(struct aw_store *s, const struct aw_wkey *k, struct aw_window_meta *m, bool *found);
    int (*meta_put)(struct aw_store *s, const struct aw_wkey *k, const struct aw_window_meta *m,
                    int64_t ttl_ms);
    /* Pending finalizations of a rule: push (time, group); pop the earliest
     * with time <= up_to_ms (*found false when none; *time_ms then holds the
     * earliest queued time, or AW_TIME_NONE when nothing is queued).  A group is queued at
     * most once: pushing a group that is already queued at an earlier or
     * equal time does nothing, so the caller re-pushes what is left after
     * finalizing a group. */
    int (*pending_push)(struct aw_store *s, const struct aw_wkey *k, int64_t time_ms);
    int (*pending_pop)(struct aw_store *s, const struct aw_wkey *rule, int64_t up_to_ms,
                       uint64_t *group_hash, int64_t *time_ms, bool *found); /* rule->group_hash unused */
    /* Set membership: *added true when member was not in set `key` yet. */
    int (*set_add)(struct aw_store *s, const struct aw_wkey *k, const char *member, size_t len,
                   int64_t time_ms, int64_t ttl_ms, bool *added);
    int (*set_contains)(struct aw_store *s, const struct aw_wkey *k, const char *member, size_t len,
                        bool *found);
    /* Event time has reached t (the pipeline watermark): windows whose
     * newest entry is older than t minus their TTL may be dropped.  The
     * memory store expires by this clock, never by wall time; Redis uses
     * key TTLs and may ignore it. */
    void (*set_clock)(struct aw_store *s, int64_t t);
    void (*stats)(struct aw_store *s, struct aw_store_stats *out);
    void (*destroy)(struct aw_store *s);

    /* Optional: stores that batch their writes (Redis) set these; the
     * memory store leaves them NULL and callers use the calls above.
     *
     * window_hit: window_add plus the creation of the window's meta with
     * group_json, sent with the batch; the outcome arrives at the next
     * sync: `done` is called then for an entry that was already there
     * (`completed` true when it completed the alert that suppresses its
     * group, which must then be emitted again).  trim/ttl as window_add. */
    int (*window_hit)(struct aw_store *s, const struct aw_wkey *k, const struct aw_window_entry *e,
                      int64_t trim_before_ms, int64_t ttl_ms, const char *group_json, size_t group_len,
                      aw_hit_done_fn done, void *done_ctx);
    /* first_seen's decision for one (entity, value) as one atomic call,
     * answered at the next sync by done(done_ctx, token, outcome):
     * 0 nothing to report (learning, or a known pair), 1 a new pair,
     * 2 a known pair that this same event introduced (a redelivery:
     * alert again).  Same semantics as first_seen.c's sequence of
     * meta/set calls on the memory store. */
    int (*first_seen)(struct aw_store *s, const struct aw_first_seen_op *op, aw_first_seen_done_fn done,
                      void *done_ctx, size_t token);
    /* Ask now for the groups of a rule due up to up_to_ms, so that the
     * question travels with the batch's writes (the next sync) and the
     * pending_pop calls that follow are answered from it. */
    int (*pending_prefetch)(struct aw_store *s, const struct aw_wkey *rule, int64_t up_to_ms,
                            int64_t lateness_ms);
    /* Shared stores: how far the groups the last pop of a rule handed out
     * may be finalized (up_to, lowered while a peer's event time is
     * behind); INT64_MAX when not limited. */
    int64_t (*pending_limit)(struct aw_store *s, const struct aw_wkey *rule);
    /* Shared stores: register this instance and wait until `peers`
     * instances share the prefix (parallel replays of one stream).  Event
     * time then only finalizes up to the slowest live instance's
     * watermark (set_clock) minus the rule's lateness. */
    int (*join)(struct aw_store *s, int peers, int64_t timeout_ms);
    /* The caller has finished finalizing a group it popped. */
    int (*pending_done)(struct aw_store *s, const struct aw_wkey *k);
    /* Send everything buffered, deliver window_hit outcomes and forget
     * cached reads: called at the end of every batch of events, before
     * the batch's finalization.  Returns -1 when the backend failed. */
    int (*sync)(struct aw_store *s);
};

struct aw_store {
    const struct aw_store_ops *ops;
};

struct aw_store_options {
    size_t memory_cap; /* memory store: bytes; 0 = 1 GiB */
    const char *prefix; /* Redis key prefix (default "auditwatch") */
    /* Redis: connect and per-command timeouts, and how long to keep
     * reconnecting after the connection is lost before failing (ms; 0 =
     * defaults 2000, 5000, 60000). */
    int64_t connect_timeout_ms, command_timeout_ms, reconnect_wait_ms;
    /* Redis: called before anything is sent to the server (NULL: nothing
     * to wait for); a nonzero return fails the operation.  The stream job
     * waits there until every alert emitted so far is delivered, so the
     * shared state never records a finalization whose alert a crash could
     * still lose (a restart finalizes it again and emits the same id). */
    int (*before_send)(void *ctx);
    void *before_send_ctx;
};

/* The embedded store.  Never fails except for out-of-memory (abort). */
struct aw_store *aw_store_memory_new(const struct aw_store_options *opts);
/* Drop one window (entries and meta) of a memory store. */
void aw_store_memory_forget(struct aw_store *s, const struct aw_wkey *k);

/* The Redis store: spec is redis://[user:password@]host[:port][/db] or
 * unix:///path/to/redis.sock[?db=N].  NULL with a message (never the
 * password) in err when it cannot connect or authenticate. */
struct aw_store *aw_store_redis_new(const char *spec, const struct aw_store_options *opts, char *err,
                                    size_t errlen);

/* The spec with any password replaced by "***", for messages. */
void aw_store_spec_redact(const char *spec, char *out, size_t outlen);

/* Open a store from a spec: "memory" or "redis://..." / "unix://...".
 * Returns NULL with a message in err. */
struct aw_store *aw_store_open(const char *spec, const struct aw_store_options *opts, char *err,
                               size_t errlen);

static inline void aw_store_destroy(struct aw_store *s)
{
    if (s)
        s->ops->destroy(s);
}

#endif
