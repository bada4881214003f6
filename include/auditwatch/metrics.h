/*
 * metrics.h - the stream job's counters, gauges and histograms, rendered
 * in the Prometheus text exposition format (version 0.0.4).
 *
 * A family is declared once with its name, type and help text; a series
 * is a family plus a label set written as Prometheus label text
 * (`topic="a",partition="0"`, built with aw_metrics_label so values are
 * escaped).  Series are created on first use.  One mutex guards the whole
 * registry: the job updates it a few times per batch (it counts locally
 * per record and adds per batch), and the HTTP thread renders it under
 * the same lock, so a scrape always sees whole batches.
 */
#ifndef AUDITWATCH_METRICS_H
#define AUDITWATCH_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "auditwatch/buf.h"

enum aw_metric_type { AW_METRIC_COUNTER, AW_METRIC_GAUGE, AW_METRIC_HISTOGRAM };

struct aw_metrics;

struct aw_metrics *aw_metrics_new(void);
void aw_metrics_free(struct aw_metrics *m);

/* Declare a family; histograms take their bucket upper bounds (seconds,
 * ascending; +Inf is implicit).  Re-declaring a family is a no-op. */
void aw_metrics_family(struct aw_metrics *m, const char *name, enum aw_metric_type type, const char *help,
                       const double *buckets, size_t nbuckets);

void aw_metrics_add(struct aw_metrics *m, const char *name, const char *labels, double delta);
void aw_metrics_set(struct aw_metrics *m, const char *name, const char *labels, double value);
void aw_metrics_observe(struct aw_metrics *m, const char *name, const char *labels, double value);
/* Drop every series of a gauge family (e.g. lag of partitions given up). */
void aw_metrics_clear(struct aw_metrics *m, const char *name);

/* Append `key="value"` (a comma first when `out` is not empty), the value
 * escaped as the format requires (backslash, quote, newline). */
void aw_metrics_label(struct aw_buf *out, const char *key, const char *value);

/* The whole registry in the text format. */
void aw_metrics_render(struct aw_metrics *m, struct aw_buf *out);

/* A series' current value (counters and gauges; histograms: their count),
 * 0 when absent - for tests and the job's own summary. */
double aw_metrics_value(struct aw_metrics *m, const char *name, const char *labels);

#endif
