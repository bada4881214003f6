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
 *     processing finished redelivers);
 * and `auditwatch run` end to end: the demo data produced to its input
 * topics (spread over three partitions each) raises on the alerts topic
 * exactly the alert ids a file replay of the same records raises, and a
 * malformed record reaches the dead-letter topic with its reason.
 * Skips when no broker address is given (a test binary run by hand).
 */
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/wait.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

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

#define sh test_sh

static const char *aw_bin(void)
{
    const char *b = getenv("AW_BIN");
    return b && *b ? b : "build/auditwatch";
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

Test(kafka, run_gives_the_alerts_of_replay)
{
    const char *b = bootstrap();
    char d[] = "/tmp/aw-run-test-XXXXXX";
    cr_assert(mkdtemp(d));
    long id = (long)getpid();
    /* the demo plus, in every partition, a record a day later that moves
     * event time past every window (a live job finalizes by event time) */
    cr_assert_eq(sh("cd %s && cp $OLDPWD/tests/data/demo/auth.log a.log && "
                    "cp $OLDPWD/tests/data/demo/k8s-audit.jsonl k.jsonl && "
                    "for p in 0 1 2; do "
                    "echo \"Mar  4 09:00:00 bastion-01 CRON[999$p]: pam_unix(cron:session): session closed for user root\" >> tick-a-$p; "
                    "echo '{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":\"tick-'$p'\","
                    "\"stage\":\"ResponseComplete\",\"requestURI\":\"/healthz\",\"verb\":\"get\",\"user\":{\"username\":\"system:kube-probe\"},"
                    "\"sourceIPs\":[\"10.0.0.1\"],\"responseStatus\":{\"code\":200},\"requestReceivedTimestamp\":\"2026-03-04T09:00:00.000000Z\","
                    "\"stageTimestamp\":\"2026-03-04T09:00:00.000000Z\"}' >> tick-k-$p; done && "
                    "awk '{print > (\"pa\" NR%%3)}' a.log && awk '{print > (\"pk\" NR%%3)}' k.jsonl && "
                    "for p in 0 1 2; do cat tick-a-$p >> pa$p; cat tick-k-$p >> pk$p; done && "
                    "echo 'this is not an audit event' >> pk0 && "
                    "for p in 0 1 2; do kcat -b %s -P -t auth-%ld -p $p -l pa$p && kcat -b %s -P -t k8s-%ld -p $p -l pk$p "
                    "|| exit 1; done",
                    d, b, id, b, id),
                 0, "producing the input failed");
    /* the job's configuration: the shipped rules and service map; the
     * audit topic's decoder found per record (auto) */
    cr_assert_eq(sh("root=$PWD; cd %s && sed -e \"s|brokers: .*|brokers: %s|\" -e \"s|group: .*|group: aw-%ld|\" "
                    "-e \"s|topic: k8s-audit, decoder: k8s|topic: k8s-%ld, decoder: auto|\" -e \"s|topic: host-auth|topic: auth-%ld|\" "
                    "-e \"s|alerts_topic: .*|alerts_topic: alerts-%ld|\" -e \"s|dead_letter_topic: .*|dead_letter_topic: dead-%ld|\" "
                    "-e \"s|paths: \\[rules\\]|paths: [$root/config/rules]|\" -e \"s|path: service-map.yaml|path: $root/config/service-map.yaml|\" "
                    "-e \"s|^  year: 0 |  year: 2026 |\" $root/config/auditwatch.yaml > run.yaml",
                    d, b, id, id, id, id, id),
                 0);
    /* what a replay of the same records raises */
    /* (one file per partition, as replay tracks event time per file) */
    cr_assert_eq(sh("cd %s && $OLDPWD/%s replay -c run.yaml -q pa0 pa1 pa2 pk0 pk1 pk2 2>/dev/null "
                    "| jq -r .auditwatch.alert_id | sort > want",
                    d, aw_bin()),
                 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "cd %s && exec $OLDPWD/%s run -c run.yaml 2> run.err", d, aw_bin());
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    char want_path[256];
    snprintf(want_path, sizeof want_path, "%s/want", d);
    char *want = slurp(want_path);
    size_t want_n = 0;
    for (char *c = want; *c; c++)
        want_n += *c == '\n';
    cr_expect_gt(want_n, 30, "the replay raised only %zu alerts", want_n);
    /* wait until the alerts topic holds as many alerts (at most a minute) */
    for (int i = 0; i < 120; i++) {
        if (sh("kcat -b %s -C -t alerts-%ld -e -q 2>/dev/null | wc -l | grep -qx '%zu'", b, id, want_n) == 0)
            break;
        usleep(500000);
    }
    kill(pid, SIGTERM);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    char errp[256];
    snprintf(errp, sizeof errp, "%s/run.err", d);
    char *err = slurp(errp);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "run exited badly: %s", err);
    cr_assert_eq(sh("kcat -b %s -C -t alerts-%ld -e -q 2>/dev/null | jq -r .auditwatch.alert_id | sort > %s/got",
                    b, id, d),
                 0);
    char got_path[256];
    snprintf(got_path, sizeof got_path, "%s/got", d);
    char *got = slurp(got_path);
    cr_expect_str_eq(got, want, "alert ids differ from the replay's (run stderr: %s)", err);
    /* the malformed record: dead-lettered with its reason and origin */
    cr_expect_eq(sh("kcat -b %s -C -t dead-%ld -e -q -f '%%h %%s\\n' 2>/dev/null | grep -q "
                    "'auditwatch.reason=.*auditwatch.origin=.*k8s-%ld.*this is not an audit event'",
                    b, id, id),
                 0, "no dead letter with reason and origin");
    free(want);
    free(got);
    free(err);
    sh("rm -rf %s", d);
}
