/*
 * kafka_conf.c - librdkafka configuration shared by the Kafka commands
 * (see kafka_conf.h).
 */
#include "kafka_conf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int aw_kafka_set(rd_kafka_conf_t *c, const char *who, const char *key, const char *value)
{
    char err[512];
    if (rd_kafka_conf_set(c, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s: kafka property %s: %s\n", who, key, err);
        return -1;
    }
    return 0;
}

rd_kafka_conf_t *aw_kafka_conf(const struct aw_config *cfg, const char *who, ...)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    int rc = aw_kafka_set(c, who, "bootstrap.servers", cfg->kafka_brokers);
    va_list ap;
    va_start(ap, who);
    const char *k;
    while (!rc && (k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        rc = aw_kafka_set(c, who, k, v);
    }
    va_end(ap);
    for (size_t i = 0; !rc && i < cfg->kafka_properties.n; i++) {
        const char *kv = cfg->kafka_properties.items[i];
        const char *eq = strchr(kv, '=');
        if (!eq)
            continue;
        char key[256];
        size_t kl = (size_t)(eq - kv) < sizeof key - 1 ? (size_t)(eq - kv) : sizeof key - 1;
        memcpy(key, kv, kl);
        key[kl] = '\0';
        rc = aw_kafka_set(c, who, key, eq + 1);
    }
    if (rc) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    return c;
}
