/*
 * kafka_conf.h - librdkafka configuration shared by `run` and
 * `replay --kafka` (internal).
 *
 * Every client starts from the brokers of the configuration, then the
 * settings its role needs, then the user's kafka.properties (TLS, SASL,
 * tuning) - so a user property can refine but a typo is reported with
 * the property name and librdkafka's reason.
 */
#ifndef AUDITWATCH_KAFKA_CONF_H
#define AUDITWATCH_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>

#include "auditwatch/config.h"

/* Prefetch depth of every consumer, "queued.min.messages" (librdkafka's
 * default: 100000).  With the high-level consumer the threshold counts
 * the one consumer queue that all partitions share.  Once it is reached,
 * Debian's librdkafka 2.0.2 stops fetching and looks at the queue again
 * only when its broker thread next wakes - up to a second later - so a
 * job that drains the queue in less than a second then sits idle
 * (librdkafka issue 2879; later releases added fetch.queue.backoff.ms).
 * The queue must hold more than a second of the job's top rate (~300,000
 * to 400,000 auth lines/s on 2 cores): 500,000 records, or 64 MiB of
 * payload (queued.max.messages.kbytes, librdkafka's default) when that
 * comes first - ~55,000 audit events, also more than a second.  The cost
 * is memory during a backlog (~450 bytes per queued record with 2.0.2):
 * catching up on 1,000,000 auth lines peaks at ~270 MB of RSS, ~95 MB
 * with librdkafka's default.  kafka.properties may set both. */
#define AW_KAFKA_QUEUED_MIN_MESSAGES "500000"

/* Set one property; on failure prints "WHO: kafka property K: reason". */
int aw_kafka_set(rd_kafka_conf_t *c, const char *who, const char *key, const char *value);
/* A configuration with bootstrap.servers and the role's settings
 * ("key", "value", ... NULL), then kafka.properties; NULL after printing
 * the problem. */
rd_kafka_conf_t *aw_kafka_conf(const struct aw_config *cfg, const char *who, ...) __attribute__((sentinel));

#endif
