/*
 * detector.h - the detector vtable and its registry.
 *
 * A detector kind is a small table of callbacks (detectors/NAME.c ends with
 * `const struct aw_detector_kind aw_detector_NAME`), registered in one
 * static list (detectors/registry.c).  A detector instance is one kind run
 * for one rule (or one config entry, for kinds Sigma cannot express).
 *
 * The pipeline drives detectors with three calls:
 *   on_hit    a rule this detector consumes matched an event (or an
 *             upstream correlation alerted, for chained correlations);
 *   on_event  every event (kinds that watch all traffic: service_map,
 *             first_seen), when the kind sets it;
 *   advance   event time moved: finalize everything at or before
 *             watermark - lateness (all of it when flushing).
 * Detectors never touch Kafka or Redis: state goes through the store
 * vtable, alerts through env->emit.
 */
#ifndef AUDITWATCH_DETECTOR_H
#define AUDITWATCH_DETECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auditwatch/alert.h"
#include "auditwatch/event.h"
#include "auditwatch/rule.h"
#include "auditwatch/store.h"

struct aw_config;
struct aw_detector;

/* Called for every alert; returns 0, or -1 to stop processing (sink failed). */
typedef int (*aw_alert_fn)(void *ctx, struct aw_detector *from, const struct aw_alert *a);

struct aw_detector_env {
    struct aw_store *store;
    const struct aw_config *config;
    struct aw_match_ctx *match;
    aw_alert_fn emit;
    void *emit_ctx;
    int64_t default_lateness_ms;
};

/* One input to a detector. */
struct aw_hit {
    int64_t time_ms;
    size_t input;                 /* index into the correlation's rules[] */
    const struct aw_event *event; /* the matching event, or NULL for an upstream alert */
    const struct aw_alert *upstream;
    /* Optional, filled by the pipeline once per event for every detector:
     * hash of auditwatch.id and the event's packed summary in `evidence`
     * (aw_event_pack_summary; `fields` empty); NULL evidence means "make
     * it yourself". */
    uint64_t id_hash;
    const char *evidence, *fields;
    size_t evidence_len, fields_len;
};

struct aw_detector_stats {
    uint64_t hits, alerts, late, duplicates;
};

struct aw_detector {
    const struct aw_detector_kind *kind;
    struct aw_rule *rule; /* NULL for config-driven detectors */
    void *state;
    int64_t lateness_ms; /* effective, including upstream lateness for chains */
    int64_t watermark_ms;
    struct aw_detector_stats stats;
    const char *name; /* rule name, or the config entry's name */
};

struct aw_detector_kind {
    const char *name;
    int (*init)(struct aw_detector *d, const struct aw_detector_env *env, char *err, size_t errlen);
    int (*on_hit)(struct aw_detector *d, const struct aw_detector_env *env, const struct aw_hit *hit);
    int (*on_event)(struct aw_detector *d, const struct aw_detector_env *env, const struct aw_event *ev);
    int (*advance)(struct aw_detector *d, const struct aw_detector_env *env, int64_t watermark_ms,
                   bool flush);
    /* Optional: a batch ends and advance(watermark_ms, flush) follows
     * after the store's sync: ask the store now for what advance will
     * read, so it travels with the batch's writes. */
    int (*prefetch)(struct aw_detector *d, const struct aw_detector_env *env, int64_t watermark_ms,
                    bool flush);
    void (*fini)(struct aw_detector *d);
};

extern const struct aw_detector_kind aw_detector_single_event;
extern const struct aw_detector_kind aw_detector_event_count;
extern const struct aw_detector_kind aw_detector_value_count;
extern const struct aw_detector_kind aw_detector_temporal;
extern const struct aw_detector_kind aw_detector_service_map;
extern const struct aw_detector_kind aw_detector_first_seen;

/* The registry: NULL-terminated. */
extern const struct aw_detector_kind *const aw_detector_kinds[];
const struct aw_detector_kind *aw_detector_kind_find(const char *name);
/* The kind that runs a rule: single_event for detections, else by
 * correlation type. */
const struct aw_detector_kind *aw_detector_kind_for_rule(const struct aw_rule *r);

#endif
