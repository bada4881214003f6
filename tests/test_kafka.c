/*
 * test_kafka.c - Debian's librdkafka against the real Kafka broker that
 * `make test` starts (tests/services.sh, address in AW_KAFKA_BOOTSTRAP),
 * with the settings the stream job relies on (DESIGN section 8):
 *   - an idempotent producer with acks=all gets a successful delivery
 *     report for every record, keys kept;
 *   - a consumer group with cooperative-sticky assignment and
 *     enable.auto.offset.store=false reads every record once; offsets
 *     stored after processing and committed are where the next member of
 *     the group resumes - nothing is read twice, nothing is skipped;
 *   - offsets that were not stored are not committed (a crash before
 *     processing finished redelivers).
 * Skips when no broker address is given (a test binary run by hand).
 */
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *bootstrap(void)
{
    const char *b = getenv("AW_KAFKA_BOOTSTRAP");
    if (!b || !*b)
        cr_skip_test("AW_KAFKA_BOOTSTRAP not set (make test starts a broker)");
    return b;
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    cr_assert_eq(rd_kafka_conf_set(c, k, v, err, sizeof err), RD_KAFKA_CONF_OK, "%s=%s: %s", k, v, err);
}

struct delivery {
    int ok, failed;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct delivery *d = opaque;
    if (m->err)
        d->failed++;
    else
        d->ok++;
}

static void produce(const char *topic, int first, int n)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    set(c, "bootstrap.servers", bootstrap());
    set(c, "enable.idempotence", "true");
    set(c, "acks", "all");
    struct delivery d = {0, 0};
    rd_kafka_conf_set_opaque(c, &d);
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    char err[256];
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    cr_assert(p, "%s", err);
    for (int i = first; i < first + n; i++) {
        char key[32], val[64];
        snprintf(key, sizeof key, "k%d", i % 7);
        snprintf(val, sizeof val, "record-%d", i);
        rd_kafka_resp_err_t e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                                  RD_KAFKA_V_VALUE(val, strlen(val)),
                                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        cr_assert_eq(e, RD_KAFKA_RESP_ERR_NO_ERROR, "%s", rd_kafka_err2str(e));
    }
    cr_assert_eq(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    cr_expect_eq(d.ok, n, "%d of %d delivered (%d failed)", d.ok, n, d.failed);
    rd_kafka_destroy(p);
}

static rd_kafka_t *consumer(const char *group, const char *topic)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    set(c, "bootstrap.servers", bootstrap());
    set(c, "group.id", group);
    set(c, "partition.assignment.strategy", "cooperative-sticky");
    set(c, "enable.auto.offset.store", "false");
    set(c, "enable.auto.commit", "false");
    set(c, "auto.offset.reset", "earliest");
    set(c, "session.timeout.ms", "6000");
    char err[256];
    rd_kafka_t *k = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    cr_assert(k, "%s", err);
    rd_kafka_poll_set_consumer(k);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, topic, RD_KAFKA_PARTITION_UA);
    cr_assert_eq(rd_kafka_subscribe(k, t), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(t);
    return k;
}

/* Read until `want` records came, or nothing came for 20 s before the
 * first record (joining the group) or for 3 s after one; mark each
 * seen[i]; store the offsets of the first `store` records read. */
static int consume(rd_kafka_t *k, int want, char *seen, int nseen, int store)
{
    int got = 0;
    time_t last = time(NULL);
    while (got < want && time(NULL) - last < (got ? 3 : 20)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k, 200);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        int i = -1;
        char val[64];
        size_t l = m->len < sizeof val - 1 ? m->len : sizeof val - 1;
        memcpy(val, m->payload, l);
        val[l] = '\0';
        cr_assert_eq(sscanf(val, "record-%d", &i), 1, "odd record %s", val);
        cr_assert(i >= 0 && i < nseen);
        cr_expect_eq(seen[i], 0, "record %d read twice", i);
        seen[i] = 1;
        if (got < store) {
            rd_kafka_topic_partition_list_t *o = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(o, rd_kafka_topic_name(m->rkt), m->partition)->offset =
                m->offset + 1;
            cr_assert_eq(rd_kafka_offsets_store(k, o), RD_KAFKA_RESP_ERR_NO_ERROR);
            rd_kafka_topic_partition_list_destroy(o);
        }
        got++;
        last = time(NULL);
        rd_kafka_message_destroy(m);
    }
    return got;
}

Test(kafka, idempotent_producer_and_group_offsets)
{
    char topic[64], group[64];
    snprintf(topic, sizeof topic, "aw-test-%ld-%ld", (long)getpid(), (long)time(NULL));
    snprintf(group, sizeof group, "aw-group-%ld", (long)getpid());
    enum { N = 300, MORE = 20 };
    static char seen[N + MORE];
    produce(topic, 0, N);

    rd_kafka_t *k = consumer(group, topic);
    cr_expect_eq(consume(k, N, seen, N + MORE, N), N, "not every record was read");
    cr_assert_eq(rd_kafka_commit(k, NULL, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_consumer_close(k);
    rd_kafka_destroy(k);
    for (int i = 0; i < N; i++)
        cr_expect(seen[i], "record %d never read", i);

    /* the next member resumes after the committed offsets */
    produce(topic, N, MORE);
    k = consumer(group, topic);
    cr_expect_eq(consume(k, MORE + 1, seen, N + MORE, 0), MORE, "resumed at the wrong offsets");
    /* nothing was stored this time: a commit must not move the group */
    rd_kafka_resp_err_t e = rd_kafka_commit(k, NULL, 0);
    cr_expect(e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR__NO_OFFSET, "%s", rd_kafka_err2str(e));
    rd_kafka_consumer_close(k);
    rd_kafka_destroy(k);
    memset(seen + N, 0, MORE);
    k = consumer(group, topic);
    cr_expect_eq(consume(k, MORE + 1, seen, N + MORE, 0), MORE, "unstored records were not redelivered");
    rd_kafka_consumer_close(k);
    rd_kafka_destroy(k);
}
