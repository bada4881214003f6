/*
 * window.h - the sliding event-time window shared by the correlation
 * detectors (event_count, value_count, temporal).  Internal to detectors/.
 *
 * Semantics (DESIGN section 6):
 *  - the window of group g at an entry of time t covers (t - timespan, t];
 *  - an entry is placed by its own event time; an entry older than the
 *    watermark (newest event time seen) minus the lateness is late: it is
 *    counted and dropped;
 *  - a window is evaluated only once no more entries can arrive before it
 *    (watermark - lateness has passed it), entry by entry in (time, id)
 *    order, so the outcome does not depend on arrival order: a replay of a
 *    sorted archive gives the alerts a live run over out-of-order input
 *    gave, alert ids included;
 *  - after an alert for (rule, g), g is suppressed until the completing
 *    time + suppress (default: the timespan);
 *  - entries are keyed by event identity, so a redelivered event is not
 *    counted twice; if it completed an alert, that alert is emitted again
 *    with the same id (consumers deduplicate by auditwatch.alert_id).
 *
 * Each kind supplies how an entry is built from a hit and how a window is
 * judged; everything else (grouping, store calls, suppression, alert
 * assembly) lives in window.c.
 */
#ifndef AUDITWATCH_DETECTORS_WINDOW_H
#define AUDITWATCH_DETECTORS_WINDOW_H

#include "auditwatch/buf.h"
#include "auditwatch/detector.h"
#include "auditwatch/hashmap.h"

struct window_verdict {
    bool holds;
    uint64_t count;
    int64_t distinct; /* -1 when not applicable */
};

struct window_state;

struct window_kind {
    /* Fill e->value_hash / e->tag for a hit; false skips the hit. */
    bool (*prepare)(struct window_state *ws, const struct aw_hit *hit, struct aw_window_entry *e);
    /* Judge the window (from_excl, to_incl] of key. */
    int (*judge)(struct window_state *ws, const struct aw_detector_env *env, const struct aw_wkey *key,
                 int64_t from_excl, int64_t to_incl, struct window_verdict *v);
    /* Optional, for kinds whose condition needs ws->min_entries distinct
     * somethings rather than entries: 1 when all the entries key holds
     * have at least that many (so some window of them may hold), 0 when
     * not (none can), -1 when the store failed. */
    int (*may_hold)(struct window_state *ws, const struct aw_detector_env *env, const struct aw_wkey *key);
};

struct window_state {
    const struct window_kind *kind;
    const struct aw_detector_env *env; /* the pipeline's, for outcomes that arrive later */
    struct aw_rule *rule;
    const struct aw_correlation *corr;
    int64_t suppress_ms;
    uint64_t rule_hash; /* aw_store_rule_hash(rule name), computed once */
    int64_t finalized_to; /* the bound of the last advance: judged up to there */
    uint64_t min_entries; /* no window with fewer entries can hold the condition */
    int64_t next_due;   /* earliest time this process pushed and has not popped
                           (AW_TIME_NONE: nothing): lets advance skip the store */
    char scratch[64];
    /* the constant text before each group value: {"source.ip": then ,"user.name": */
    struct aw_buf group_keys;
    size_t *group_key_end; /* [ngroup]: where key i's text ends in group_keys */
    struct aw_buf group, evidence, fields, message, tmp;
    struct aw_buf rendered[AW_EVIDENCE_MAX], rendered_fields; /* an alert's evidence, reused */
    /* pending entries of one group being finalized */
    struct pending_entry {
        int64_t time;
        uint64_t id;
    } *pend;
    size_t npend, pend_cap;
    int64_t scan_limit, after_final; /* finalize_group's scan: judged up to, first after */
    /* Batched stores: group hash -> suppress_until + 1 of the groups this
     * process has seen suppressed, so entries inside a suppression are
     * not queued (as the memory store's meta check does). */
    struct aw_hashmap suppressed;
    size_t suppressed_swept;
    /* value_count: distinct set of one evaluation */
    uint64_t *seen;
    size_t seen_cap;
};

int window_init(struct aw_detector *d, const struct aw_detector_env *env, const struct window_kind *k,
                char *err, size_t errlen);
int window_on_hit(struct aw_detector *d, const struct aw_detector_env *env, const struct aw_hit *hit);
int window_advance(struct aw_detector *d, const struct aw_detector_env *env, int64_t watermark_ms,
                   bool flush);
int window_prefetch(struct aw_detector *d, const struct aw_detector_env *env, int64_t watermark_ms,
                    bool flush);
void window_fini(struct aw_detector *d);

/* "10m", "1h30m", "45s" */
void window_format_duration(int64_t ms, struct aw_buf *out);

#endif
