/*
 * kafka_range.h - read a fixed range of Kafka topics for `replay --kafka`
 * (internal).
 *
 * The range of every partition of the named topics is fixed when it is
 * opened: from the first offset at or after --from (offsets by timestamp;
 * the low watermark without --from) to the first offset after --to (the
 * high watermark at open time without --to), so an investigation ends
 * even while producers keep writing.  The consumer is assigned partitions
 * directly: it joins no group and never commits, so the live job's
 * offsets are never touched.
 */
#ifndef AUDITWATCH_KAFKA_RANGE_H
#define AUDITWATCH_KAFKA_RANGE_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "auditwatch/config.h"

struct aw_kafka_range;

/* from_ms / to_ms: INT64_MIN for "not given".  NULL with err set. */
struct aw_kafka_range *aw_kafka_range_open(const struct aw_config *cfg, const char *const *topics, size_t ntopics,
                                           int64_t from_ms, int64_t to_ms, char *err, size_t errlen);
/* Partitions in the range (index i: aw_kafka_range_partition). */
size_t aw_kafka_range_count(const struct aw_kafka_range *r);
/* The index of a record's partition in the range, -1 when not in it. */
int aw_kafka_range_index(const struct aw_kafka_range *r, const char *topic, int32_t partition);
/* Next record of the range: 1 with *m set (the caller destroys it; when
 * it is its partition's last, *finished is that partition's index too),
 * 2 when a partition ended without a record (*finished), 0 at the end of
 * every partition, -1 with err set.  *finished is -1 otherwise. */
int aw_kafka_range_next(struct aw_kafka_range *r, rd_kafka_message_t **m, int *finished, char *err, size_t errlen);
uint64_t aw_kafka_range_total(const struct aw_kafka_range *r); /* records in the range */
void aw_kafka_range_close(struct aw_kafka_range *r);

#endif
