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

/* Set one property; on failure prints "WHO: kafka property K: reason". */
int aw_kafka_set(rd_kafka_conf_t *c, const char *who, const char *key, const char *value);
/* A configuration with bootstrap.servers and the role's settings
 * ("key", "value", ... NULL), then kafka.properties; NULL after printing
 * the problem. */
rd_kafka_conf_t *aw_kafka_conf(const struct aw_config *cfg, const char *who, ...) __attribute__((sentinel));

#endif
