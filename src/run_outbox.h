/*
 * run_outbox.h - the stream job's deliveries and commits (internal).
 *
 * Each batch of `auditwatch run` leaves messages (alerts, dead letters)
 * and the offsets it consumed up to.  The outbox produces a sealed
 * batch's messages at once and lets the job consume the next batch while
 * they are in flight; a batch's offsets are committed only once every
 * message of it and of all the batches before it has a successful
 * delivery report, so commits stay in order and never run ahead of a
 * delivery (at least once).  Failed deliveries are produced again with
 * exponential backoff (100 ms to 10 s) while consumption is paused; with
 * MAX_FLYING batches in flight, sealing waits (back-pressure).
 */
#ifndef AUDITWATCH_RUN_OUTBOX_H
#define AUDITWATCH_RUN_OUTBOX_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "auditwatch/metrics.h"

struct aw_outbox;

/* The consumer is paused and polled (to stay in its group) while
 * deliveries fail. */
struct aw_outbox *aw_outbox_new(struct aw_metrics *metrics);
void aw_outbox_attach(struct aw_outbox *o, rd_kafka_t *producer, rd_kafka_t *consumer);
/* The producer's delivery report callback; its opaque must be the outbox. */
void aw_outbox_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/* Add to the open batch: a message (copied; headers owned from here) or
 * the offset to commit for a partition once the batch is delivered. */
void aw_outbox_message(struct aw_outbox *o, const char *topic, const char *key, size_t klen, const char *value,
                       size_t vlen, rd_kafka_headers_t *headers);
void aw_outbox_offset(struct aw_outbox *o, const char *topic, int32_t partition, int64_t next_offset);

/* Seal the open batch and produce it, then commit what is delivered.
 * wait_all: return only when every batch is delivered and committed
 * (synchronously) - on revoke and stop.  stopping: give up failing
 * deliveries after `stop_wait_ms` (returns -1: those batches are not
 * committed, a restart reads them again).  0 otherwise. */
int aw_outbox_seal(struct aw_outbox *o, bool wait_all, bool stopping, int64_t stop_wait_ms);
/* Anything produced, or still to produce, without a successful delivery
 * report yet. */
bool aw_outbox_undelivered(const struct aw_outbox *o);
/* Produce the open batch's messages now and wait until every message so
 * far is delivered (commits stay asynchronous; the batch's offsets, added
 * later, are committed after these deliveries).  The stream job calls it
 * before any write to a shared state store, so that the store never
 * records a finalization whose alerts could still be lost.  -1 when
 * stopping gave up after stop_wait_ms. */
int aw_outbox_deliver_all(struct aw_outbox *o, bool stopping, int64_t stop_wait_ms);
/* Serve delivery reports and commit completed batches without waiting. */
void aw_outbox_poll(struct aw_outbox *o);
/* A revoked partition: its offsets are no longer this instance's to commit. */
void aw_outbox_forget(struct aw_outbox *o, const char *topic, int32_t partition);
/* Inside aw_outbox_seal (a rebalance callback served there must not seal). */
bool aw_outbox_busy(const struct aw_outbox *o);
/* Monotonic ms since deliveries have been failing, 0 when they are not. */
int64_t aw_outbox_failing_since(const struct aw_outbox *o);
void aw_outbox_free(struct aw_outbox *o);

#endif
