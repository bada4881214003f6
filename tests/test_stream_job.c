/*
 * test_stream_job.c - `auditwatch run` under the faults DESIGN section 8
 * promises to survive, on the real Kafka broker `make test` starts
 * (AW_KAFKA_BOOTSTRAP) and a real redis-server per test:
 *   - killed with SIGKILL at five random moments and restarted (also
 *     right after each start): the alerts topic holds every alert id a
 *     file replay gives, and no other;
 *   - a second instance joins the group mid-stream (a rebalance): the
 *     same ids as one instance;
 *   - Redis down for 20 s mid-stream: the job waits, /healthz says so,
 *     and it goes on with nothing lost;
 *   - SIGTERM then a restart: no record is consumed twice (the two runs'
 *     record counts add up to the topic's) and the ids are complete;
 *   - SIGHUP with a new rule takes effect; SIGHUP with a broken rule is
 *     refused and the rules in force stay;
 *   - /metrics counts what was consumed, in the Prometheus text format.
 * The input is a generated labeled scenario (65,000 records, 39 attacks)
 * spread over three partitions per topic, plus one record per partition a
 * day later that moves event time past every window.
 * Skips when no broker address is given (a test binary run by hand).
 */
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "redis_server.h"

#define KAFKA_API_PRODUCE 0 /* the Produce request's API key (the Kafka protocol) */
#include "test_util.h"

#define sh test_sh

static const char *bootstrap(void)
{
    const char *b = getenv("AW_KAFKA_BOOTSTRAP");
    if (!b || !*b)
        cr_skip_test("AW_KAFKA_BOOTSTRAP not set (make test starts a broker)");
    return b;
}

static const char *aw_bin(void)
{
    const char *b = getenv("AW_BIN");
    return b && *b ? b : "build/auditwatch";
}

static const char *gen_bin(void)
{
    const char *g = getenv("AW_GEN");
    return g && *g ? g : "build/gen";
}

struct job_env {
    char dir[64];
    char tag[64]; /* makes topic and group names unique per test */
    const char *brokers;
    struct test_redis redis;
    bool redis_up;
    size_t want_n;  /* alert ids the replay gives */
    long records;   /* records produced to the input topics */
};

/* Input, topics, configuration and the expected alert ids.  `minutes`:
 * that many minutes of the generated scenario (600: 65,000 records), 0
 * for the bundled demo.  `store`:
 * "redis" for a fresh redis-server (append-only, so a restart keeps
 * state), else the memory store. */
static void prepare(struct job_env *e, const char *tag, int minutes, bool redis, const char *batch_events)
{
    memset(e, 0, sizeof *e);
    e->brokers = bootstrap();
    snprintf(e->dir, sizeof e->dir, "/tmp/aw-job-XXXXXX");
    cr_assert(mkdtemp(e->dir));
    snprintf(e->tag, sizeof e->tag, "%s-%ld-%ld", tag, (long)getpid(), (long)time(NULL));
    if (redis) {
        cr_assert_eq(test_redis_start(&e->redis, "--appendonly yes --appendfsync always"), 0,
                     "redis-server did not start");
        e->redis_up = true;
    }
    if (minutes)
        cr_assert_eq(sh("%s scenario --auth-out %s/a.log --k8s-out %s/k.jsonl --labels-out %s/l.jsonl --seed 11 "
                        "--minutes %d",
                        gen_bin(), e->dir, e->dir, e->dir, minutes),
                     0);
    else
        cr_assert_eq(sh("cp tests/data/demo/auth.log %s/a.log && cp tests/data/demo/k8s-audit.jsonl %s/k.jsonl",
                        e->dir, e->dir),
                     0);
    cr_assert_eq(
        sh("cd %s && for p in 0 1 2; do "
           "echo \"Mar  4 09:00:00 bastion-01 CRON[999$p]: pam_unix(cron:session): session closed for user root\" > tick-a-$p; "
           "echo '{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":\"tick-'$p'\","
           "\"stage\":\"ResponseComplete\",\"requestURI\":\"/healthz\",\"verb\":\"get\",\"user\":{\"username\":\"system:kube-probe\"},"
           "\"sourceIPs\":[\"10.0.0.1\"],\"responseStatus\":{\"code\":200},\"requestReceivedTimestamp\":\"2026-03-04T09:00:00.000000Z\","
           "\"stageTimestamp\":\"2026-03-04T09:00:00.000000Z\"}' > tick-k-$p; done && "
           "awk '{print > (\"pa\" NR%%3)}' a.log && awk '{print > (\"pk\" NR%%3)}' k.jsonl && "
           "for p in 0 1 2; do cat tick-a-$p >> pa$p; cat tick-k-$p >> pk$p; done && "
           "for p in 0 1 2; do kcat -b %s -P -t auth-%s -p $p -l pa$p && kcat -b %s -P -t k8s-%s -p $p -l pk$p "
           "|| exit 1; done && cat pa? pk? | wc -l > records",
           e->dir, e->brokers, e->tag, e->brokers, e->tag),
        0, "producing the input failed");
    char path[128];
    snprintf(path, sizeof path, "%s/records", e->dir);
    char *n = test_read_file(path, NULL);
    e->records = n ? atol(n) : 0;
    free(n);
    cr_assert_gt(e->records, 0);
    /* the job's configuration: the shipped rules and service map */
    cr_assert_eq(
        sh("root=$PWD; cd %s && mkdir -p rules && cp -r $root/config/rules/* rules/ && "
           "sed -e \"s|brokers: .*|brokers: %s|\" -e \"s|group: .*|group: g-%s|\" "
           "-e \"s|topic: k8s-audit|topic: k8s-%s|\" -e \"s|topic: host-auth|topic: auth-%s|\" "
           "-e \"s|alerts_topic: .*|alerts_topic: alerts-%s|\" -e \"s|dead_letter_topic: .*|dead_letter_topic: dead-%s|\" "
           "-e \"s|path: service-map.yaml|path: $root/config/service-map.yaml|\" "
           "-e \"s|^  year: 0 |  year: 2026 |\" -e \"s|^  backend: memory |  backend: %s |\" "
           "-e \"s|^  prefix: auditwatch |  prefix: aw-%s |\" -e \"s|^  reconnect_wait: 1m |  reconnect_wait: 30s |\" -e \"s|^  batch_events: 1024 |  batch_events: %s |\" "
           "-e 's|^  properties: {} |  properties: {session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\"} |' "
           "$root/config/auditwatch.yaml > run.yaml",
           e->dir, e->brokers, e->tag, e->tag, e->tag, e->tag, e->tag, redis ? e->redis.url : "memory", e->tag,
           batch_events),
        0);
    /* what a replay of the same records raises (one file per partition,
     * as replay tracks event time per file) */
    cr_assert_eq(sh("cd %s && $OLDPWD/%s replay -c run.yaml -q pa0 pa1 pa2 pk0 pk1 pk2 2>/dev/null "
                    "| jq -r '.auditwatch.alert_id' | sort > want",
                    e->dir, aw_bin()),
                 0);
    snprintf(path, sizeof path, "%s/want", e->dir);
    char *want = test_read_file(path, NULL);
    for (char *c = want; c && *c; c++)
        e->want_n += *c == '\n';
    free(want);
    cr_assert_gt(e->want_n, 5, "the replay raised only %zu alerts", e->want_n);
}

static void cleanup(struct job_env *e)
{
    if (e->redis_up)
        test_redis_stop(&e->redis);
    sh("rm -rf %s", e->dir);
}

/* Start `auditwatch run` (stderr appended to DIR/NAME.err). */
static pid_t start_job_with(const struct job_env *e, const char *name, const char *extra)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "cd %s && exec $OLDPWD/%s run -c run.yaml --metrics 127.0.0.1:0 %s 2>> %s.err",
                 e->dir, aw_bin(), extra, name);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static pid_t start_job(const struct job_env *e, const char *name) { return start_job_with(e, name, ""); }

/* Exit status of a job after `sig` (-1 when it did not exit by itself). */
static int stop_job(pid_t pid, int sig)
{
    kill(pid, sig);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Distinct alert ids on the alerts topic, sorted, into DIR/got; their
 * number. */
static size_t got_ids(const struct job_env *e)
{
    sh("kcat -b %s -C -t alerts-%s -e -q 2>/dev/null | jq -r '.auditwatch.alert_id' | sort -u > %s/got",
       e->brokers, e->tag, e->dir);
    char path[128];
    snprintf(path, sizeof path, "%s/got", e->dir);
    char *got = test_read_file(path, NULL);
    size_t n = 0;
    for (char *c = got; c && *c; c++)
        n += *c == '\n';
    free(got);
    return n;
}

/* Wait (up to `seconds`) until the alerts topic holds the expected ids. */
static bool wait_for_ids(const struct job_env *e, int seconds)
{
    for (int i = 0; i < seconds * 2; i++) {
        if (got_ids(e) >= e->want_n && sh("cmp -s %s/got %s/want", e->dir, e->dir) == 0)
            return true;
        test_sleep_ms(500);
    }
    return false;
}

static void expect_same_ids(const struct job_env *e, const char *what)
{
    got_ids(e);
    cr_expect_eq(sh("cmp -s %s/got %s/want", e->dir, e->dir), 0, "%s: alert ids differ from the replay's:\n%s",
                 what, "(see diff below)");
    if (sh("cmp -s %s/got %s/want", e->dir, e->dir))
        sh("diff %s/want %s/got | head -20 >&2; tail -n 20 %s/*.err >&2", e->dir, e->dir, e->dir);
}

/* The port the job's status server bound, from its log. */
static int job_port(const struct job_env *e, const char *name)
{
    for (int i = 0; i < 100; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s.err", e->dir, name);
        char *log = test_read_file(path, NULL);
        const char *p = log ? strstr(log, "/healthz on port ") : NULL;
        int port = p ? atoi(p + strlen("/healthz on port ")) : 0;
        free(log);
        if (port > 0)
            return port;
        test_sleep_ms(100);
    }
    cr_assert_fail("the job did not report its metrics port");
    return -1;
}

/* GET a path from the job's status server: the HTTP status, body in out. */
static int http_get(int port, const char *path, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t len = 0;
    ssize_t got;
    while (len + 1 < cap && (got = read(fd, out + len, cap - 1 - len)) > 0)
        len += (size_t)got;
    out[len] = '\0';
    close(fd);
    int status = -1;
    sscanf(out, "HTTP/1.%*d %d", &status);
    return status;
}

/* A counter's value in the job's /metrics (sum over its series). */
static double metric(int port, const char *name)
{
    static char body[1 << 16];
    if (http_get(port, "/metrics", body, sizeof body) != 200)
        return -1;
    double sum = 0;
    size_t nl = strlen(name);
    for (char *line = body; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (!strncmp(line, name, nl) && (line[nl] == ' ' || line[nl] == '{'))
            sum += atof(strchr(line, ' ') + 1);
    return sum;
}

/* Wait until the job has consumed at least `n` records. */
static void wait_records(int port, double n, int seconds)
{
    for (int i = 0; i < seconds * 10; i++) {
        if (metric(port, "auditwatch_records_total") >= n)
            return;
        test_sleep_ms(100);
    }
    cr_assert_fail("the job did not consume %.0f records in %d s", n, seconds);
}

/* The "run: N records" count of a job's last summary line. */
static long summary_records(const struct job_env *e, const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s.err", e->dir, name);
    char *log = test_read_file(path, NULL);
    long n = -1;
    for (const char *p = log; p && (p = strstr(p, "run: ")); p += 5)
        if (p[5] >= '0' && p[5] <= '9')
            n = atol(p + 5);
    free(log);
    return n;
}

/* Kill the job with SIGKILL five times while it works through a long
 * stream, restarting it each time: the alerts topic must end up with
 * exactly the alert ids a file replay gives (duplicates of an id are
 * allowed; consumers deduplicate).  soon: each kill comes 0-0.8 s after
 * the run's first record (a first batch after a restart); otherwise at a
 * random moment 1.5-4 s after each start (a restarted run first waits
 * for the dead member's session to expire). */
static void crash_five_times(const char *tag, bool soon)
{
    struct job_env e;
    prepare(&e, tag, 3000, true, "200");
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(seed);
    cr_log_info("%s: seed %u", tag, seed);
    pid_t pid = start_job(&e, "job0");
    for (int kills = 0; kills < 5; kills++) {
        char name[16];
        if (soon) {
            snprintf(name, sizeof name, "job%d", kills);
            wait_records(job_port(&e, name), 1, 60);
            test_sleep_ms(rand() % 800);
        } else {
            test_sleep_ms(1500 + rand() % 2500);
        }
        cr_assert_eq(kill(pid, 0), 0, "the job exited by itself");
        stop_job(pid, SIGKILL);
        snprintf(name, sizeof name, "job%d", kills + 1);
        pid = start_job(&e, name);
    }
    bool done = wait_for_ids(&e, 240);
    cr_expect_eq(stop_job(pid, SIGTERM), 0, "the last run did not stop cleanly");
    cr_expect(done, "the alerts topic never held the replay's ids");
    expect_same_ids(&e, "after 5 SIGKILLs");
    /* it was killed while working: the run after the kills still had
     * records to read */
    cr_expect_gt(summary_records(&e, "job5"), 0, "the kills came after the end of the stream");
    cleanup(&e);
}

Test(stream_job, sigkill_five_times_gives_every_alert_once) { crash_five_times("crash", false); }

Test(stream_job, sigkill_soon_after_each_start) { crash_five_times("crashsoon", true); }

Test(stream_job, second_instance_mid_stream_gives_the_same_ids)
{
    struct job_env e;
    prepare(&e, "rebalance", 600, true, "200");
    pid_t a = start_job(&e, "a");
    wait_records(job_port(&e, "a"), 8000, 120);
    pid_t b = start_job(&e, "b");
    bool done = wait_for_ids(&e, 240);
    int port_b = job_port(&e, "b");
    double b_records = metric(port_b, "auditwatch_records_total");
    cr_expect_eq(stop_job(a, SIGTERM), 0);
    cr_expect_eq(stop_job(b, SIGTERM), 0);
    cr_expect(done, "the alerts topic never held the replay's ids");
    expect_same_ids(&e, "two instances");
    /* the second one took partitions over (a rebalance happened) */
    cr_expect(sh("grep -q 'partition(s) revoked' %s/a.err", e.dir) == 0, "the first instance gave nothing up");
    cr_expect_gt(b_records, 0, "the second instance consumed nothing");
    cleanup(&e);
}

Test(stream_job, redis_down_20s_loses_nothing)
{
    struct job_env e;
    prepare(&e, "redisdown", 600, true, "200");
    pid_t pid = start_job(&e, "job");
    int port = job_port(&e, "job");
    wait_records(port, 8000, 120);
    test_redis_kill(&e.redis, SIGKILL);
    /* the job waits for the store; /healthz turns unhealthy meanwhile */
    char body[4096];
    int unhealthy = 0;
    for (int i = 0; i < 20; i++) {
        test_sleep_ms(1000);
        unhealthy += http_get(port, "/healthz", body, sizeof body) == 503;
    }
    cr_expect_eq(kill(pid, 0), 0, "the job gave up while Redis was down");
    cr_assert_eq(test_redis_launch(&e.redis), 0, "redis-server did not start again");
    bool done = wait_for_ids(&e, 240);
    cr_expect_gt(unhealthy, 0, "/healthz never reported the store outage");
    cr_expect_eq(http_get(port, "/healthz", body, sizeof body), 200, "/healthz after recovery: %s", body);
    cr_expect_eq(stop_job(pid, SIGTERM), 0);
    cr_expect(done, "the alerts topic never held the replay's ids");
    expect_same_ids(&e, "Redis down for 20 s");
    cleanup(&e);
}

Test(stream_job, sigterm_then_restart_consumes_nothing_twice)
{
    struct job_env e;
    prepare(&e, "sigterm", 600, true, "200");
    pid_t pid = start_job(&e, "first");
    int port = job_port(&e, "first");
    wait_records(port, 10000, 120);
    cr_expect_eq(metric(port, "auditwatch_rejected_total"), 0);
    cr_assert_eq(stop_job(pid, SIGTERM), 0, "SIGTERM did not stop the job cleanly");
    long first = summary_records(&e, "first");
    cr_assert_gt(first, 0);
    cr_assert_lt(first, e.records, "the first run read everything: nothing left to test");
    pid = start_job(&e, "second");
    bool done = wait_for_ids(&e, 240);
    /* everything consumed: the lag is zero everywhere */
    int port2 = job_port(&e, "second");
    for (int i = 0; i < 100 && metric(port2, "auditwatch_records_total") + (double)first < (double)e.records; i++)
        test_sleep_ms(200);
    cr_assert_eq(stop_job(pid, SIGTERM), 0);
    long second = summary_records(&e, "second");
    cr_expect_eq(first + second, e.records, "records consumed: %ld + %ld, produced %ld", first, second, e.records);
    cr_expect(done, "the alerts topic never held the replay's ids");
    expect_same_ids(&e, "SIGTERM and restart");
    cleanup(&e);
}

Test(stream_job, sighup_reloads_rules_and_refuses_broken_ones)
{
    struct job_env e;
    prepare(&e, "sighup", 0, false, "1024");
    pid_t pid = start_job_with(&e, "job", "--log-format json");
    int port = job_port(&e, "job");
    wait_records(port, (double)e.records, 120);
    /* a marker record: no rule for it yet */
    cr_assert_eq(sh("echo 'Mar  4 09:00:01 bastion-01 sshd[4242]: Failed password for sighup-marker from 10.9.9.1 "
                    "port 40000 ssh2' | kcat -b %s -P -t auth-%s -p 0",
                    e.brokers, e.tag),
                 0);
    test_sleep_ms(3000);
    cr_expect_eq(metric(port, "auditwatch_alerts_total{rule=\"test.sighup_marker\"}"), 0);
    /* a new rule file, then SIGHUP */
    cr_assert_eq(sh("cat > %s/rules/marker.yml <<'EOF'\n"
                    "title: Reload marker\n"
                    "id: 5b0f6a52-63f3-4c55-9a34-7d2f0c2b9e11\n"
                    "name: test.sighup_marker\n"
                    "status: test\n"
                    "logsource: {product: linux, service: auth}\n"
                    "detection:\n"
                    "  marker:\n"
                    "    user.name: sighup-marker\n"
                    "  condition: marker\n"
                    "level: low\n"
                    "EOF",
                    e.dir),
                 0);
    kill(pid, SIGHUP);
    for (int i = 0; i < 50 && sh("grep -q 'reloaded' %s/job.err", e.dir); i++)
        test_sleep_ms(100);
    cr_assert_eq(sh("grep -q 'reloaded' %s/job.err", e.dir), 0, "no reload logged");
    cr_assert_eq(sh("echo 'Mar  4 09:00:02 bastion-01 sshd[4243]: Failed password for sighup-marker from 10.9.9.2 "
                    "port 40001 ssh2' | kcat -b %s -P -t auth-%s -p 0",
                    e.brokers, e.tag),
                 0);
    double marker = 0;
    for (int i = 0; i < 100 && marker < 1; i++) {
        test_sleep_ms(100);
        marker = metric(port, "auditwatch_alerts_total{rule=\"test.sighup_marker\"}");
    }
    cr_expect_eq(marker, 1, "the reloaded rule did not alert once (%g)", marker);
    /* a broken rule: refused, the rules in force stay */
    cr_assert_eq(sh("printf 'title: Broken\\nname: test.broken\\nlogsource: {product: linux, service: auth}\\n"
                    "detection:\\n  sel:\\n    user.name|nosuchmodifier: x\\n  condition: sel\\n' > %s/rules/broken.yml",
                    e.dir),
                 0);
    kill(pid, SIGHUP);
    for (int i = 0; i < 50 && sh("grep -q 'reload refused' %s/job.err", e.dir); i++)
        test_sleep_ms(100);
    cr_expect_eq(sh("grep -q 'reload refused: .*broken.yml' %s/job.err", e.dir), 0, "the broken rule was not named");
    /* --log-format json: every log line of the job is a JSON object */
    cr_expect_eq(sh("grep -v '^%%' %s/job.err | jq -e -s 'length > 3 and all(.[]; .level and .msg and .time)' "
                    "> /dev/null",
                    e.dir),
                 0, "log lines are not JSON objects");
    cr_expect_eq(sh("grep -v '^%%' %s/job.err | jq -e -s 'any(.[]; .level == \"error\" and (.msg | "
                    "startswith(\"reload refused\")))' > /dev/null",
                    e.dir),
                 0, "no JSON error line for the refused reload");
    cr_assert_eq(sh("echo 'Mar  4 09:00:03 bastion-01 sshd[4244]: Failed password for sighup-marker from 10.9.9.3 "
                    "port 40002 ssh2' | kcat -b %s -P -t auth-%s -p 0",
                    e.brokers, e.tag),
                 0);
    for (int i = 0; i < 100 && marker < 2; i++) {
        test_sleep_ms(100);
        marker = metric(port, "auditwatch_alerts_total{rule=\"test.sighup_marker\"}");
    }
    cr_expect_eq(marker, 2, "after a refused reload the marker rule must still alert (%g)", marker);
    cr_expect_eq(metric(port, "auditwatch_reloads_total{result=\"refused\"}"), 1);
    cr_expect_eq(kill(pid, 0), 0, "the job died on a broken rule");
    /* the rest of the stream went on: the demo's alerts are all there */
    cr_expect_eq(stop_job(pid, SIGTERM), 0);
    sh("kcat -b %s -C -t alerts-%s -e -q 2>/dev/null | jq -r 'select(.rule.name != \"test.sighup_marker\") | "
       ".auditwatch.alert_id' | sort -u > %s/got-rules",
       e.brokers, e.tag, e.dir);
    cr_expect_eq(sh("cmp -s %s/got-rules %s/want", e.dir, e.dir), 0, "the demo's alerts are not all there");
    cleanup(&e);
}

Test(stream_job, replay_kafka_gives_the_file_replay_ids)
{
    struct job_env e;
    prepare(&e, "kreplay", 0, false, "1024");
    /* every record of both topics: the ids of the file replay */
    cr_assert_eq(sh("cd %s && $OLDPWD/%s replay -c run.yaml --kafka --topic auth-%s --topic k8s-%s 2> kreplay.err "
                    "| jq -r .auditwatch.alert_id | sort > kids",
                    e.dir, aw_bin(), e.tag, e.tag),
                 0);
    cr_expect_eq(sh("cmp -s %s/kids %s/want", e.dir, e.dir), 0, "replay --kafka differs from the file replay");
    cr_expect_eq(sh("grep -q '%ld records' %s/kreplay.err", e.records, e.dir), 0, "not every record was read");
    /* the same to a topic */
    cr_assert_eq(sh("cd %s && $OLDPWD/%s replay -q -c run.yaml --kafka --topic auth-%s --topic k8s-%s "
                    "--alerts-topic inv-%s",
                    e.dir, aw_bin(), e.tag, e.tag, e.tag),
                 0);
    cr_expect_eq(sh("kcat -b %s -C -t inv-%s -e -q 2>/dev/null | jq -r .auditwatch.alert_id | sort | cmp -s - %s/want",
                    e.brokers, e.tag, e.dir),
                 0, "--alerts-topic did not get the alerts");
    /* a range after every record's timestamp: nothing read */
    cr_assert_eq(sh("cd %s && $OLDPWD/%s replay -c run.yaml --kafka --topic auth-%s --from 2099-01-01T00:00:00Z "
                    "2> empty.err | wc -l | grep -qx 0",
                    e.dir, aw_bin(), e.tag),
                 0);
    cr_expect_eq(sh("grep -q ' 0 records' %s/empty.err", e.dir), 0);
    /* bad input: a clear usage error, an unknown topic a clear failure */
    cr_expect_eq(sh("%s replay --kafka --from yesterday --topic x 2>/dev/null", aw_bin()), 2);
    cr_expect_eq(sh("%s replay --kafka 2>/dev/null", aw_bin()), 2);
    cr_expect_eq(sh("cd %s && $OLDPWD/%s replay -q -c run.yaml --kafka --topic no-such-topic-%s 2> unknown.err",
                    e.dir, aw_bin(), e.tag),
                 1);
    cr_expect_eq(sh("grep -q 'no-such-topic-%s' %s/unknown.err", e.tag, e.dir), 0);
    cleanup(&e);
}

/* The committed offset of the job's group on one partition (-1: none). */
static int64_t committed(rd_kafka_t *c, const char *topic, int32_t partition)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    int64_t off = -2;
    if (!rd_kafka_committed(c, l, 10000) && !l->elems[0].err)
        off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    return off < 0 ? -1 : off;
}

Test(stream_job, failed_alert_deliveries_are_retried_and_not_committed)
{
    bootstrap(); /* runs with the real-broker tests */
    /* librdkafka's mock cluster, in this process, as the job's cluster:
     * every Produce request fails until the errors are cleared */
    char err[512];
    rd_kafka_t *owner = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), err, sizeof err);
    cr_assert(owner, "%s", err);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(owner, 1);
    cr_assert(mc);
    const char *mb = rd_kafka_mock_cluster_bootstraps(mc);
    struct job_env e;
    memset(&e, 0, sizeof e);
    e.brokers = mb;
    snprintf(e.dir, sizeof e.dir, "/tmp/aw-job-XXXXXX");
    cr_assert(mkdtemp(e.dir));
    snprintf(e.tag, sizeof e.tag, "mock-%ld", (long)getpid());
    rd_kafka_mock_topic_create(mc, "in-auth", 1, 1);
    rd_kafka_mock_topic_create(mc, "alerts", 1, 1);
    rd_kafka_mock_topic_create(mc, "dead", 1, 1);
    cr_assert_eq(sh("cd %s && cp $OLDPWD/tests/data/demo/auth.log in.log && "
                    "echo 'Mar  4 09:00:00 bastion-01 CRON[9990]: pam_unix(cron:session): session closed for user "
                    "root' >> in.log && kcat -b %s -P -t in-auth -p 0 -l in.log && wc -l < in.log > records && "
                    "root=$OLDPWD && sed -e \"s|brokers: .*|brokers: %s|\" -e \"s|group: .*|group: g-mock|\" "
                    "-e \"s|topic: host-auth|topic: in-auth|\" -e '/topic: k8s-audit/d' "
                    "-e \"s|alerts_topic: .*|alerts_topic: alerts|\" -e \"s|dead_letter_topic: .*|dead_letter_topic: dead|\" "
                    "-e \"s|paths: \\[rules\\]|paths: [$root/config/rules]|\" "
                    "-e \"s|path: service-map.yaml|path: $root/config/service-map.yaml|\" "
                    "-e \"s|^  year: 0 |  year: 2026 |\" $root/config/auditwatch.yaml > run.yaml && "
                    "$root/%s replay -q -c run.yaml in.log 2>/dev/null | jq -r .auditwatch.alert_id | sort > want",
                    e.dir, mb, mb, aw_bin()),
                 0, "setting up the mock cluster's input failed");
    char path[128];
    snprintf(path, sizeof path, "%s/records", e.dir);
    char *n = test_read_file(path, NULL);
    int64_t end = n ? atol(n) : 0;
    free(n);
    rd_kafka_resp_err_t fail[200];
    for (int i = 0; i < 200; i++)
        fail[i] = RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
    rd_kafka_mock_push_request_errors_array(mc, KAFKA_API_PRODUCE, 200, fail);
    pid_t pid = start_job(&e, "job");
    /* the deliveries fail and are retried; meanwhile nothing is committed */
    for (int i = 0; i < 300 && sh("grep -q 'deliveries failed; retrying' %s/job.err", e.dir); i++)
        test_sleep_ms(100);
    cr_assert_eq(sh("grep -q 'deliveries failed; retrying' %s/job.err", e.dir), 0, "no delivery failed");
    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    cr_assert_eq(rd_kafka_conf_set(cc, "bootstrap.servers", mb, err, sizeof err), RD_KAFKA_CONF_OK);
    cr_assert_eq(rd_kafka_conf_set(cc, "group.id", "g-mock", err, sizeof err), RD_KAFKA_CONF_OK);
    rd_kafka_t *probe = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
    cr_assert(probe, "%s", err);
    for (int i = 0; i < 5; i++) {
        cr_expect_lt(committed(probe, "in-auth", 0), end, "committed while alert deliveries were failing");
        test_sleep_ms(1000);
    }
    cr_expect_eq(kill(pid, 0), 0, "the job gave up");
    /* the topic works again: the retried batch is delivered and committed */
    rd_kafka_mock_clear_request_errors(mc, KAFKA_API_PRODUCE);
    int64_t off = -1;
    for (int i = 0; i < 600 && off < end; i++) {
        test_sleep_ms(100);
        off = committed(probe, "in-auth", 0);
    }
    cr_expect_eq(off, end, "the batch was not committed after the deliveries succeeded");
    cr_expect_eq(stop_job(pid, SIGTERM), 0);
    cr_expect_eq(sh("kcat -b %s -C -t alerts -e -q 2>/dev/null | jq -r .auditwatch.alert_id | sort -u | "
                    "cmp -s - %s/want",
                    mb, e.dir),
                 0, "the alerts topic does not hold the replay's alert ids");
    rd_kafka_destroy(probe);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(owner);
    sh("rm -rf %s", e.dir);
}
