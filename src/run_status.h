/*
 * run_status.h - what the stream job shows on /metrics and /healthz
 * (internal).
 *
 * The job declares its metric families once, publishes its counts batch by
 * batch (cli_run.c) and the consumer lag of its assigned partitions after
 * every batch (here: from the high watermarks librdkafka last saw, no
 * request).  /healthz is answered on the HTTP server's thread from a few
 * timestamps the job's loop leaves in a struct of atomics - the only state
 * the two threads share: 503 when the state store has not answered or
 * deliveries have failed for 10 s, or when no batch has ended for 10 s;
 * 200 with the number of assigned partitions otherwise.
 */
#ifndef AUDITWATCH_RUN_STATUS_H
#define AUDITWATCH_RUN_STATUS_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "auditwatch/buf.h"
#include "auditwatch/metrics.h"
#include "auditwatch/timeparse.h"
#include "run_parts.h"

/* Monotonic ms (aw_mono_ms); 0 in the *_since fields means "not now". */
struct aw_run_health {
    _Atomic int64_t loop_at_ms;                /* the current batch began */
    _Atomic int64_t store_since_ms;            /* inside a store call since */
    _Atomic int64_t delivery_failing_since_ms; /* deliveries failing since */
    _Atomic int assigned_count;                /* partitions assigned */
};

/* Every family the job publishes, and auditwatch_up = 1. */
void aw_run_status_declare(struct aw_metrics *m);
/* auditwatch_consumer_lag of the assigned partitions, replacing the last. */
void aw_run_status_lag(struct aw_metrics *m, rd_kafka_t *consumer, const struct aw_run_parts *parts);
/* The status server's health callback; ctx is a struct aw_run_health. */
int aw_run_status_health(void *ctx, struct aw_buf *why);

#endif
