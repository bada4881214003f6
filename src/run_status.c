/*
 * run_status.c - what the stream job shows on /metrics and /healthz (see
 * run_status.h).
 */
#include "run_status.h"

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#define UNANSWERED_MS 10000 /* store silent or deliveries failing this long: unhealthy */
#define STALL_MS 10000      /* no batch has ended for this long: unhealthy */


static const double latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,    1,     2.5,  5,     10,   30};

void aw_run_status_declare(struct aw_metrics *m)
{
    size_t nb = sizeof latency_buckets / sizeof *latency_buckets;
    aw_metrics_family(m, "auditwatch_records_total", AW_METRIC_COUNTER, "Records consumed, by input topic.", NULL,
                      0);
    aw_metrics_family(m, "auditwatch_events_total", AW_METRIC_COUNTER, "Normalized events processed.", NULL, 0);
    aw_metrics_family(m, "auditwatch_rejected_total", AW_METRIC_COUNTER,
                      "Records rejected (dead-lettered), by reason.", NULL, 0);
    aw_metrics_family(m, "auditwatch_alerts_total", AW_METRIC_COUNTER, "Alerts produced, by rule.", NULL, 0);
    aw_metrics_family(m, "auditwatch_consumer_lag", AW_METRIC_GAUGE,
                      "Records behind the partition's high watermark, by assigned partition.", NULL, 0);
    aw_metrics_family(m, "auditwatch_batch_duration_seconds", AW_METRIC_HISTOGRAM,
                      "Wall time of a batch from its first record to its commit.", latency_buckets, nb);
    aw_metrics_family(m, "auditwatch_store_duration_seconds", AW_METRIC_HISTOGRAM,
                      "Wall time of a batch's window updates and finalization in the state store.",
                      latency_buckets, nb);
    aw_metrics_family(m, "auditwatch_store_errors_total", AW_METRIC_COUNTER,
                      "Batches the state store failed (after its own retries).", NULL, 0);
    aw_metrics_family(m, "auditwatch_delivery_errors_total", AW_METRIC_COUNTER,
                      "Alert and dead-letter deliveries that failed (and were retried).", NULL, 0);
    aw_metrics_family(m, "auditwatch_batches_total", AW_METRIC_COUNTER, "Batches committed.", NULL, 0);
    aw_metrics_family(m, "auditwatch_reloads_total", AW_METRIC_COUNTER, "SIGHUP reloads, by result.", NULL, 0);
    aw_metrics_family(m, "auditwatch_event_time_seconds", AW_METRIC_GAUGE,
                      "Newest event time (Unix seconds) given by the assigned partitions.", NULL, 0);
    aw_metrics_family(m, "auditwatch_up", AW_METRIC_GAUGE, "1 while the job runs.", NULL, 0);
    aw_metrics_set(m, "auditwatch_up", NULL, 1);
}

void aw_run_status_lag(struct aw_metrics *m, rd_kafka_t *consumer, const struct aw_run_parts *parts)
{
    aw_metrics_clear(m, "auditwatch_consumer_lag");
    rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < parts->n; i++)
        if (parts->v[i].assigned)
            rd_kafka_topic_partition_list_add(pos, parts->v[i].topic, parts->v[i].partition);
    struct aw_buf lbl = {0};
    if (pos->cnt && !rd_kafka_position(consumer, pos))
        for (int i = 0; i < pos->cnt; i++) {
            const rd_kafka_topic_partition_t *tp = &pos->elems[i];
            int64_t lo, hi;
            if (tp->offset < 0 || rd_kafka_get_watermark_offsets(consumer, tp->topic, tp->partition, &lo, &hi) ||
                hi < 0)
                continue; /* nothing fetched yet: unknown */
            char part_no[16];
            snprintf(part_no, sizeof part_no, "%d", (int)tp->partition);
            aw_buf_reset(&lbl);
            aw_metrics_label(&lbl, "topic", tp->topic);
            aw_metrics_label(&lbl, "partition", part_no);
            aw_buf_append_char(&lbl, '\0');
            aw_metrics_set(m, "auditwatch_consumer_lag", lbl.data, (double)(hi > tp->offset ? hi - tp->offset : 0));
        }
    rd_kafka_topic_partition_list_destroy(pos);
    aw_buf_free(&lbl);
}

int aw_run_status_health(void *ctx, struct aw_buf *why)
{
    struct aw_run_health *h = ctx;
    int64_t now = aw_mono_ms();
    int64_t store_since = atomic_load(&h->store_since_ms);
    int64_t deliv_since = atomic_load(&h->delivery_failing_since_ms);
    int64_t loop_at = atomic_load(&h->loop_at_ms);
    char line[200];
    int status = 200;
    if (store_since && now - store_since > UNANSWERED_MS) {
        snprintf(line, sizeof line, "unhealthy: the state store has not answered for %llds",
                 (long long)((now - store_since) / 1000));
        status = 503;
    } else if (deliv_since && now - deliv_since > UNANSWERED_MS) {
        snprintf(line, sizeof line, "unhealthy: alert or dead-letter deliveries failing for %llds",
                 (long long)((now - deliv_since) / 1000));
        status = 503;
    } else if (now - loop_at > STALL_MS) {
        snprintf(line, sizeof line, "unhealthy: no batch has ended for %llds (the state store or the cluster "
                                    "does not answer)",
                 (long long)((now - loop_at) / 1000));
        status = 503;
    } else {
        snprintf(line, sizeof line, "ok: %d partition(s) assigned", atomic_load(&h->assigned_count));
    }
    aw_buf_append_str(why, line);
    return status;
}
