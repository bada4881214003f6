/*
 * test_kafka_conf.c - the librdkafka settings the Kafka commands start
 * from: the role's defaults (here the consumers' prefetch depth) are in
 * the configuration, and a kafka.properties entry overrides them.
 */
#include <criterion/criterion.h>

#include "auditwatch/config.h"
#include "kafka_conf.h"

static char *conf_value(rd_kafka_conf_t *c, const char *key)
{
    static char v[64];
    size_t len = sizeof v;
    cr_assert_eq(rd_kafka_conf_get(c, key, v, &len), RD_KAFKA_CONF_OK);
    return v;
}

Test(kafka_conf, prefetch_default_and_a_property_overriding_it)
{
    struct aw_config cfg;
    aw_config_init_defaults(&cfg);
    rd_kafka_conf_t *c = aw_kafka_conf(&cfg, "test", "queued.min.messages", AW_KAFKA_QUEUED_MIN_MESSAGES, (char *)NULL);
    cr_assert_not_null(c);
    cr_expect_str_eq(conf_value(c, "queued.min.messages"), AW_KAFKA_QUEUED_MIN_MESSAGES);
    rd_kafka_conf_destroy(c);

    char *items[] = {"queued.min.messages=20000", "queued.max.messages.kbytes=4096"};
    cfg.kafka_properties.items = items;
    cfg.kafka_properties.n = 2;
    c = aw_kafka_conf(&cfg, "test", "queued.min.messages", AW_KAFKA_QUEUED_MIN_MESSAGES, (char *)NULL);
    cr_assert_not_null(c);
    cr_expect_str_eq(conf_value(c, "queued.min.messages"), "20000");
    cr_expect_str_eq(conf_value(c, "queued.max.messages.kbytes"), "4096");
    rd_kafka_conf_destroy(c);
    cfg.kafka_properties.items = NULL;
    cfg.kafka_properties.n = 0;
    aw_config_free(&cfg);
}
