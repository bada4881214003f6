/*
 * pipeline.h - events in, alerts out: rules, detectors and event time.
 *
 * The pipeline owns one detector per alerting or correlating rule plus the
 * config-driven detectors (service map, first_seen).  For each event it
 * evaluates the detection rules whose logsource admits it (skipping rules
 * whose allowlist names the event's principal), hands every match to the
 * detectors that consume that rule, advances event time, and lets the
 * correlation detectors finalize what is now final.  Alerts of a
 * correlation that other correlations reference are fed to them (chains);
 * alerts of rules that alert go to the caller's callback.
 *
 * Event time (the watermark) is tracked per input stream (a file, a Kafka
 * partition): each stream's watermark is the newest @timestamp it gave,
 * and the pipeline's is the minimum over the open streams - a stream that
 * is behind holds finalization back instead of having its events dropped
 * as late.  A stream that has not started yet can be registered with the
 * time of its first record, so replaying several overlapping files one
 * after the other gives the alerts one merged stream would give.  Without
 * explicit streams everything is one stream.  Flushing (end of a replay)
 * finalizes everything still pending.
 */
#ifndef AUDITWATCH_PIPELINE_H
#define AUDITWATCH_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "auditwatch/alert.h"
#include "auditwatch/config.h"
#include "auditwatch/detector.h"
#include "auditwatch/rule.h"
#include "auditwatch/store.h"

typedef int (*aw_pipeline_alert_fn)(void *ctx, const struct aw_alert *a);
/* A batch ended (batched pipelines): the alerts given since the last call
 * are all there is for it, and the caller may write them out. */
typedef int (*aw_pipeline_batch_fn)(void *ctx);

struct aw_pipeline_options {
    struct aw_ruleset *rules;
    const struct aw_config *config;
    struct aw_store *store;
    aw_pipeline_alert_fn on_alert;
    void *ctx;
    bool rules_only; /* run the rules only: no service map, no first_seen */
    /* 0: finalize after every event.  N: finalize once per N events (and
     * whenever event time moved by half the smallest lateness), after the
     * store's sync - how a batched store (Redis) gets one round trip per
     * batch.  The alerts are the same; their order within a batch may
     * differ from per-event finalization. */
    size_t batch_events;
    aw_pipeline_batch_fn on_batch; /* optional */
};

struct aw_rule_stats {
    const char *name;
    uint64_t matches, alerts, late, duplicates;
    bool building_block; /* does not alert by itself (feeds correlations or first_seen) */
};

struct aw_pipeline;

struct aw_pipeline *aw_pipeline_new(const struct aw_pipeline_options *o, char *err, size_t errlen);
/* Process one event.  Returns 0, or -1 when the store or the alert sink
 * failed (the caller retries the batch). */
int aw_pipeline_process(struct aw_pipeline *p, const struct aw_event *ev);
/* A first-event hint for a stream whose first event is not known yet but
 * must hold event time back until it comes (a Kafka partition before its
 * first record): the watermark stays where it is until then. */
#define AW_STREAM_HOLD_UNTIL_FIRST (INT64_MIN + 1)
/* Register an input stream; `first_time_ms` is the time of its first
 * event if known (AW_TIME_NONE otherwise: it holds nothing back, or
 * AW_STREAM_HOLD_UNTIL_FIRST).  Returns its id (>= 0). */
int aw_pipeline_stream_open(struct aw_pipeline *p, int64_t first_time_ms);
/* The stream has ended: it no longer holds event time back. */
int aw_pipeline_stream_close(struct aw_pipeline *p, int stream);
/* Process an event of a registered stream. */
int aw_pipeline_process_stream(struct aw_pipeline *p, int stream, const struct aw_event *ev);
/* End the current batch: sync the store, finalize what is final. */
int aw_pipeline_end_batch(struct aw_pipeline *p);
/* Finalize everything pending (end of input). */
int aw_pipeline_flush(struct aw_pipeline *p);
/* A rule reload: `to` (a new pipeline over the same store) takes over
 * the streams and event time of `from`, so stream ids stay valid and
 * windows continue where they were (their state is in the store).  Call
 * between batches.  Returns 0, or -1 out of memory. */
int aw_pipeline_adopt_streams(struct aw_pipeline *to, const struct aw_pipeline *from);
/* The pipeline's event time (AW_TIME_NONE before the first event). */
int64_t aw_pipeline_watermark(const struct aw_pipeline *p);
/* Per-detector statistics; returns the number of entries written. */
size_t aw_pipeline_stats(const struct aw_pipeline *p, struct aw_rule_stats *out, size_t max);
uint64_t aw_pipeline_alert_count(const struct aw_pipeline *p);
void aw_pipeline_free(struct aw_pipeline *p);

#endif
