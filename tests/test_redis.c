/*
 * test_redis.c - the Redis store against a real redis-server.
 *
 * Every test starts its own server (tests/redis_server.h) and runs the
 * auditwatch binary ($AW_BIN) as a user would:
 *   - the memory and Redis stores give byte-identical alert output (the
 *     bundled demo, a generated labeled scenario, a dense generated auth
 *     log, and every sample of the shared corpus when it is there);
 *   - two replays sharing one prefix, each reading half of one stream at
 *     the same time, raise every alert of a single replay exactly once;
 *   - Redis killed (SIGKILL) and started again twice in the middle of a
 *     replay: the replay completes with the alerts of an undisturbed run;
 *   - after a replay every key under the prefix has a TTL;
 *   - ACL users authenticate (password from the environment or the URL),
 *     a wrong password is a clear error that never shows the password,
 *     and an unreachable server is a clear error.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "auditwatch/store.h"
#include "redis_server.h"
#include "test_util.h"

static const char *bin(void)
{
    const char *b = getenv("AW_BIN");
    return b && *b ? b : "build/auditwatch";
}

static const char *gen(void)
{
    const char *g = getenv("AW_GEN");
    return g && *g ? g : "build/gen";
}

#define sh test_sh

static char *tmpdir(void)
{
    char *d = strdup("/tmp/aw-redis-test-XXXXXX");
    cr_assert(d && mkdtemp(d));
    return d;
}

static void rmdir_all(char *d)
{
    sh("rm -rf %s", d);
    free(d);
}

/* Replay `inputs` with the shipped configuration into out; returns the exit status. */
static int replay(const char *store, const char *extra, const char *inputs, const char *out, const char *err)
{
    return sh("%s replay -c config/auditwatch.yaml --year 2026 -q --store %s %s %s > %s 2> %s", bin(), store,
              extra, inputs, out, err);
}

/* Memory and Redis replays of the same input give the same bytes. */
static void expect_identical(struct test_redis *r, const char *inputs, const char *what, size_t min_alerts)
{
    char *d = tmpdir();
    char mem[256], red[256], err[256];
    snprintf(mem, sizeof mem, "%s/memory.json", d);
    snprintf(red, sizeof red, "%s/redis.json", d);
    snprintf(err, sizeof err, "%s/err", d);
    cr_assert_eq(replay("memory", "", inputs, mem, err), 0, "%s: memory replay failed", what);
    cr_assert_eq(replay(r->url, "", inputs, red, err), 0, "%s: redis replay failed: %s", what,
                 test_read_file(err, NULL));
    size_t ml, rl;
    char *m = test_read_file(mem, &ml), *x = test_read_file(red, &rl);
    size_t lines = 0;
    for (size_t i = 0; i < ml; i++)
        lines += m[i] == '\n';
    cr_expect_geq(lines, min_alerts, "%s: only %zu alerts", what, lines);
    cr_expect(ml == rl && memcmp(m, x, ml) == 0, "%s: memory (%zu bytes) and redis (%zu bytes) differ", what, ml,
              rl);
    free(m);
    free(x);
    rmdir_all(d);
}

Test(redis, identical_to_memory_on_demo_and_scenarios)
{
    struct test_redis r;
    cr_assert_eq(test_redis_start(&r, ""), 0, "redis-server did not start");
    expect_identical(&r, "tests/data/demo/auth.log tests/data/demo/k8s-audit.jsonl", "demo", 30);

    char *d = tmpdir();
    cr_assert_eq(sh("%s scenario --auth-out %s/a.log --k8s-out %s/k.jsonl --labels-out %s/l.jsonl --seed 11 "
                    "--minutes 180",
                    gen(), d, d, d),
                 0);
    char inputs[512];
    snprintf(inputs, sizeof inputs, "%s/a.log %s/k.jsonl", d, d);
    expect_identical(&r, inputs, "scenario", 30);
    /* dense traffic: many groups finalized per batch, suppressions */
    cr_assert_eq(sh("%s auth --lines 40000 --seed 3 --start 2026-03-01T00:00:00Z > %s/dense.log", gen(), d), 0);
    snprintf(inputs, sizeof inputs, "%s/dense.log", d);
    expect_identical(&r, inputs, "dense auth", 100);
    rmdir_all(d);
    test_redis_stop(&r);
}

Test(redis, identical_to_memory_on_the_corpus)
{
    const char *dir = test_corpus_dir();
    if (!dir)
        cr_skip_test("shared corpus not found");
    static const char *const files[] = {
        "auth/loghub/OpenSSH_2k.log",         "auth/loghub/Linux_2k.log",
        "auth/elastic/test-auth.log",         "auth/elastic/test-secure-rhel7.log",
        "auth/elastic/test-pam-faillock.log", "auth/elastic/test-auth-ubuntu1204.log",
        "k8s-audit/audit2rbac-demo.log",      "k8s-audit/immudb-log-audit-k8s.log",
        "k8s-audit/elastic/test-audit.log",   "k8s-audit/elastic/test-kube-audit.log",
    };
    struct test_redis r;
    cr_assert_eq(test_redis_start(&r, ""), 0, "redis-server did not start");
    char all[4096] = "";
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        expect_identical(&r, path, files[i], 0);
        strncat(all, path, sizeof all - strlen(all) - 2);
        strcat(all, " ");
    }
    expect_identical(&r, all, "whole corpus in one replay", 1);
    test_redis_stop(&r);
}

/* Sorted alert ids of the JSON lines in files. */
static void sorted_ids(const char *files, const char *out)
{
    cr_assert_eq(sh("cat %s | jq -r '.auditwatch.alert_id' | sort > %s", files, out), 0);
}

Test(redis, two_replays_share_one_prefix)
{
    struct test_redis r;
    cr_assert_eq(test_redis_start(&r, ""), 0, "redis-server did not start");
    char *d = tmpdir();
    cr_assert_eq(sh("%s scenario --auth-out %s/a.log --k8s-out %s/k.jsonl --labels-out %s/l.jsonl --seed 5 "
                    "--minutes 120",
                    gen(), d, d, d),
                 0);
    /* one process over the whole stream */
    char inputs[512], out[256], err[256], ids1[256], ids2[256];
    snprintf(inputs, sizeof inputs, "%s/a.log %s/k.jsonl", d, d);
    snprintf(out, sizeof out, "%s/one.json", d);
    snprintf(err, sizeof err, "%s/err", d);
    cr_assert_eq(replay(r.url, "--prefix one", inputs, out, err), 0);
    snprintf(ids1, sizeof ids1, "%s/one.ids", d);
    sorted_ids(out, ids1);
    /* two processes, odd and even records of both files, at the same time */
    cr_assert_eq(sh("cd %s && awk 'NR%%2==1' a.log > a1.log && awk 'NR%%2==0' a.log > a2.log && "
                    "awk 'NR%%2==1' k.jsonl > k1.jsonl && awk 'NR%%2==0' k.jsonl > k2.jsonl",
                    d),
                 0);
    cr_assert_eq(sh("root=$PWD; cd %s || exit 9; "
                    "$root/%s replay -c $root/config/auditwatch.yaml --year 2026 -q --store %s --prefix two "
                    "--peers 2 a1.log k1.jsonl > p1.json 2> p1.err & "
                    "$root/%s replay -c $root/config/auditwatch.yaml --year 2026 -q --store %s --prefix two "
                    "--peers 2 a2.log k2.jsonl > p2.json 2> p2.err; s2=$?; wait $!; s1=$?; "
                    "[ $s1 -eq 0 ] && [ $s2 -eq 0 ]",
                    d, bin(), r.url, bin(), r.url),
                 0, "a parallel replay failed");
    char parts[512];
    snprintf(parts, sizeof parts, "%s/p1.json %s/p2.json", d, d);
    snprintf(ids2, sizeof ids2, "%s/two.ids", d);
    sorted_ids(parts, ids2);
    size_t l1, l2;
    char *a = test_read_file(ids1, &l1), *b = test_read_file(ids2, &l2);
    cr_expect_gt(l1, 30 * 33, "too few alerts: %zu bytes of ids", l1);
    cr_expect(l1 == l2 && memcmp(a, b, l1) == 0, "the two replays together differ from one:\n%s\n---\n%s", a, b);
    /* both did part of the work */
    char one[256];
    snprintf(one, sizeof one, "%s/p1.json", d);
    char *p1 = test_read_file(one, NULL);
    snprintf(one, sizeof one, "%s/p2.json", d);
    char *p2 = test_read_file(one, NULL);
    cr_expect(p1[0] && p2[0], "one replay raised nothing");
    free(a);
    free(b);
    free(p1);
    free(p2);
    rmdir_all(d);
    test_redis_stop(&r);
}

/* A peer that is behind in event time holds finalization back: one
 * replay's group must not be judged past what the slower peer may still
 * add.  A reads X@00 and X@25 and finishes first; B is at 10:00:30 and
 * then adds X@22 (not late for B).  Together they must raise the alert of
 * X@00, X@22, X@25 that one replay of all the lines raises. */
Test(redis, lagging_peer_holds_finalization_back)
{
    struct test_redis r;
    cr_assert_eq(test_redis_start(&r, ""), 0, "redis-server did not start");
    char *d = tmpdir();
    cr_assert_eq(sh("cd %s && mkdir rules && cat > rules/r.yml <<'EOF'\n"
                    "title: SSH authentication failure\nname: auth.ssh_failure\n"
                    "logsource: {product: linux, service: auth}\n"
                    "detection:\n  f:\n    event.action: ssh_login\n    event.outcome: failure\n  condition: f\n"
                    "level: low\n---\ntitle: SSH brute force from one source\nname: auth.ssh_bruteforce\n"
                    "correlation:\n  type: event_count\n  rules: [auth.ssh_failure]\n  group-by: [source.ip]\n"
                    "  timespan: 10m\n  condition: {gte: 3}\nlevel: high\n"
                    "EOF\n"
                    "printf 'rules:\\n  paths: [rules]\\nwindows:\\n  lateness: 10s\\ndecode:\\n  year: 2026\\n' > c.yaml",
                    d),
                 0);
    cr_assert_eq(sh("root=$PWD; cd %s && mkfifo fa fb && "
                    "{ $root/%s replay -c c.yaml -q --store %s --prefix lag --peers 2 - < fa > a.json 2> a.err & "
                    "  $root/%s replay -c c.yaml -q --store %s --prefix lag --peers 2 - < fb > b.json 2> b.err & "
                    "  exec 3> fa 4> fb; "
                    "  echo 'Mar  3 10:00:30 bastion-01 sshd[201]: Failed password for root from 9.9.9.9 port 1 ssh2' >&4; "
                    "  echo 'Mar  3 10:00:00 bastion-01 sshd[101]: Failed password for root from 1.2.3.4 port 2 ssh2' >&3; "
                    "  sleep 1; "
                    "  echo 'Mar  3 10:00:25 bastion-01 sshd[102]: Failed password for root from 1.2.3.4 port 3 ssh2' >&3; "
                    "  echo 'Mar  3 10:00:40 bastion-01 sshd[103]: Failed password for root from 7.7.7.7 port 4 ssh2' >&3; "
                    "  exec 3>&-; sleep 2; "
                    "  echo 'Mar  3 10:00:22 bastion-01 sshd[202]: Failed password for root from 1.2.3.4 port 5 ssh2' >&4; "
                    "  exec 4>&-; wait; }",
                    d, bin(), r.url, bin(), r.url),
                 0);
    char both[512];
    snprintf(both, sizeof both, "cat %s/a.json %s/b.json | jq -r '.\"@timestamp\" + \" \" + .rule.name' | sort",
             d, d);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s > %s/got.txt", both, d);
    cr_assert_eq(sh("%s", cmd), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/got.txt", d);
    char *got = test_read_file(path, NULL);
    cr_expect_str_eq(got, "2026-03-03T10:00:25.000Z auth.ssh_bruteforce\n", "the peers together raised:\n%s", got);
    free(got);
    rmdir_all(d);
    test_redis_stop(&r);
}

/* A replay of input under prefix into out (err: its stderr), started in
 * the background: its pid. */
static pid_t replay_in_background(const char *store, const char *prefix, const char *input, const char *out,
                                  const char *err)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "%s replay -c config/auditwatch.yaml --year 2026 --store %s --prefix %s %s > %s 2> %s",
                 bin(), store, prefix, input, out, err);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

Test(redis, restart_in_the_middle_of_a_replay)
{
    struct test_redis r;
    /* every acknowledged write on disk, as a production server would keep them */
    cr_assert_eq(test_redis_start(&r, "--appendonly yes --appendfsync always"), 0, "redis-server did not start");
    char *d = tmpdir();
    /* long enough to outlast both crashes: up to 2.4 s of processing at
     * the Redis store's best rate (~250,000 auth lines/s) */
    cr_assert_eq(sh("%s auth --lines 1000000 --seed 9 --start 2026-03-01T00:00:00Z > %s/in.log", gen(), d), 0);
    char inputs[256], want[256], got[256], err[256];
    snprintf(inputs, sizeof inputs, "%s/in.log", d);
    snprintf(want, sizeof want, "%s/want.json", d);
    snprintf(got, sizeof got, "%s/got.json", d);
    snprintf(err, sizeof err, "%s/err", d);
    cr_assert_eq(replay("memory", "", inputs, want, err), 0);
    pid_t pid = replay_in_background(r.url, "restart", inputs, got, err);
    /* two crashes at moments that vary from run to run */
    int status;
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int crash = 0; crash < 2; crash++) {
        test_sleep_ms(300 + rand() % 900);
        cr_assert_eq(waitpid(pid, &status, WNOHANG), 0,
                     "the replay ended before Redis was killed; make the input longer");
        test_redis_kill(&r, SIGKILL);
        test_sleep_ms(1000 + rand() % 1000);
        cr_assert_eq(test_redis_launch(&r), 0, "redis-server did not come back");
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    char *e = test_read_file(err, NULL);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "replay failed: %s", e);
    cr_expect(strstr(e, "connection lost") && strstr(e, "reconnected"), "no sign of the outage: %s", e);
    size_t wl, gl;
    char *w = test_read_file(want, &wl), *g = test_read_file(got, &gl);
    cr_expect_gt(wl, 0);
    cr_expect(wl == gl && memcmp(w, g, wl) == 0, "alerts after the restart differ (%zu vs %zu bytes)", wl, gl);
    free(e);
    free(w);
    free(g);
    rmdir_all(d);
    test_redis_stop(&r);
}

/* Every key on the server is under the prefix and has a TTL; returns
 * how many there are. */
static size_t expect_every_key_has_a_ttl(struct test_redis *r, const char *prefix)
{
    redisContext *c = test_redis_connect(r);
    cr_assert(c);
    size_t keys = 0, without = 0;
    char cursor[32] = "0";
    do {
        redisReply *rep = redisCommand(c, "SCAN %s COUNT 1000", cursor);
        cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2);
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        for (size_t i = 0; i < rep->element[1]->elements; i++) {
            const char *k = rep->element[1]->element[i]->str;
            cr_expect(strncmp(k, prefix, strlen(prefix)) == 0 && k[strlen(prefix)] == ':',
                      "key outside the prefix: %s", k);
            redisReply *t = redisCommand(c, "PTTL %s", k);
            keys++;
            if (!t || t->type != REDIS_REPLY_INTEGER || t->integer <= 0) {
                without++;
                cr_expect(0, "no TTL on %s", k);
            }
            if (t)
                freeReplyObject(t);
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0"));
    cr_expect_eq(without, 0, "%zu of %zu keys without a TTL", without, keys);
    redisFree(c);
    return keys;
}

Test(redis, every_key_has_a_ttl)
{
    struct test_redis r;
    cr_assert_eq(test_redis_start(&r, ""), 0, "redis-server did not start");
    char *d = tmpdir();
    char out[256], err[256];
    snprintf(out, sizeof out, "%s/out.json", d);
    snprintf(err, sizeof err, "%s/err", d);
    cr_assert_eq(replay(r.url, "--prefix ttl", "tests/data/demo/auth.log tests/data/demo/k8s-audit.jsonl", out, err),
                 0);
    size_t keys = expect_every_key_has_a_ttl(&r, "ttl");
    cr_expect_gt(keys, 50, "only %zu keys", keys);
    rmdir_all(d);
    test_redis_stop(&r);
}

/* Redis restarted without persistence (it lost every key) while a replay
 * wrote: what the store sends again still creates no key without a TTL
 * (writes made without one, because this process had just set the key's
 * TTL, go out again with a check of it). */
Test(redis, every_key_has_a_ttl_after_redis_lost_its_data)
{
    struct test_redis r;
    cr_assert_eq(test_redis_start(&r, ""), 0, "redis-server did not start");
    char *d = tmpdir();
    cr_assert_eq(sh("%s auth --lines 1000000 --seed 5 --start 2026-03-01T00:00:00Z > %s/in.log", gen(), d), 0);
    char input[256], err[256];
    snprintf(input, sizeof input, "%s/in.log", d);
    snprintf(err, sizeof err, "%s/err", d);
    pid_t pid = replay_in_background(r.url, "lost", input, "/dev/null", err);
    test_sleep_ms(800);
    int status;
    cr_assert_eq(waitpid(pid, &status, WNOHANG), 0, "the replay ended before Redis was killed");
    test_redis_kill(&r, SIGKILL);
    test_sleep_ms(500);
    cr_assert_eq(test_redis_launch(&r), 0, "redis-server did not come back");
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    char *e = test_read_file(err, NULL);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "replay failed: %s", e);
    cr_expect(strstr(e, "reconnected"), "no sign of the outage: %s", e);
    size_t keys = expect_every_key_has_a_ttl(&r, "lost");
    cr_expect_gt(keys, 50, "only %zu keys", keys);
    free(e);
    rmdir_all(d);
    test_redis_stop(&r);
}

Test(redis, acl_user_and_wrong_password)
{
    struct test_redis r;
    /* exactly the permissions README lists for the auditwatch user; and a
     * user without MULTI/EXEC, whose writes all go through scripts */
    cr_assert_eq(test_redis_start(&r, "--user default off --user watcher on >s3cret-pw ~auditwatch* "
                                      "+select +evalsha +script|load +zadd +zrangebyscore +zrange +zrem "
                                      "+hset +hget +hdel +hsetnx +hincrby +hexists +hgetall +hlen +pexpire +time "
                                      "+multi +exec "
                                      "--user scripted on >s3cret-pw ~auditwatch* "
                                      "+select +evalsha +script|load +zadd +zrangebyscore +zrange +zrem "
                                      "+hset +hget +hdel +hsetnx +hincrby +hexists +hgetall +hlen +pexpire +time"),
                 0, "redis-server did not start");
    char *d = tmpdir();
    char url[256], out[256], err[256];
    snprintf(out, sizeof out, "%s/out.json", d);
    snprintf(err, sizeof err, "%s/err", d);
    const char *demo = "tests/data/demo/auth.log";
    /* password from the environment, user in the URL */
    snprintf(url, sizeof url, "redis://watcher@127.0.0.1:%d", r.port);
    cr_expect_eq(sh("AUDITWATCH_REDIS_PASSWORD=s3cret-pw %s replay -c config/auditwatch.yaml --year 2026 -q "
                    "--store %s %s > %s 2> %s",
                    bin(), url, demo, out, err),
                 0, "ACL user rejected: %s", test_read_file(err, NULL));
    char *o = test_read_file(out, NULL);
    cr_expect(o && strstr(o, "auth.ssh_bruteforce"), "no alerts through the ACL user");
    /* without MULTI/EXEC: the same alerts */
    snprintf(url, sizeof url, "redis://scripted:s3cret-pw@127.0.0.1:%d", r.port);
    cr_expect_eq(replay(url, "", demo, out, err), 0, "user without MULTI rejected: %s", test_read_file(err, NULL));
    char *o2 = test_read_file(out, NULL);
    cr_expect(o && o2 && !strcmp(o, o2), "alerts differ without MULTI/EXEC");
    free(o2);
    free(o);
    /* password in the URL works too */
    snprintf(url, sizeof url, "redis://watcher:s3cret-pw@127.0.0.1:%d/0", r.port);
    cr_expect_eq(replay(url, "", demo, out, err), 0);
    /* a wrong password: a clear error, exit 1, and the password is not shown */
    snprintf(url, sizeof url, "redis://watcher:wrong-pw-123@127.0.0.1:%d", r.port);
    cr_expect_eq(replay(url, "", demo, out, err), 1);
    char *e = test_read_file(err, NULL);
    cr_expect(strstr(e, "rejected the credentials") && strstr(e, "watcher"), "unclear error: %s", e);
    cr_expect(!strstr(e, "wrong-pw-123"), "password shown: %s", e);
    free(e);
    /* no password at all */
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", r.port);
    cr_expect_eq(replay(url, "", demo, out, err), 1);
    e = test_read_file(err, NULL);
    cr_expect(strstr(e, "NOAUTH") || strstr(e, "auth") || strstr(e, "scripts"), "unclear error: %s", e);
    free(e);
    rmdir_all(d);
    test_redis_stop(&r);
}

Test(redis, unreachable_server_is_a_clear_error)
{
    char *d = tmpdir();
    char out[256], err[256], url[64];
    snprintf(out, sizeof out, "%s/out.json", d);
    snprintf(err, sizeof err, "%s/err", d);
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", test_free_port());
    cr_expect_eq(replay(url, "", "tests/data/demo/auth.log", out, err), 1);
    char *e = test_read_file(err, NULL);
    cr_expect(strstr(e, "cannot connect to redis://127.0.0.1:"), "unclear error: %s", e);
    free(e);
    cr_expect_eq(replay("redis://127.0.0.1:99999", "", "tests/data/demo/auth.log", out, err), 1);
    e = test_read_file(err, NULL);
    cr_expect(strstr(e, "bad port"), "%s", e);
    free(e);
    rmdir_all(d);
}

Test(redis, specs_are_redacted)
{
    char out[256];
    aw_store_spec_redact("redis://watcher:pw@host:6379/2", out, sizeof out);
    cr_expect_str_eq(out, "redis://watcher:***@host:6379/2");
    aw_store_spec_redact("redis://:pw@host", out, sizeof out);
    cr_expect_str_eq(out, "redis://:***@host");
    aw_store_spec_redact("redis://watcher@host", out, sizeof out); /* a user, no password */
    cr_expect_str_eq(out, "redis://watcher@host");
    aw_store_spec_redact("redis://host:6379", out, sizeof out);
    cr_expect_str_eq(out, "redis://host:6379");
    aw_store_spec_redact("redis://watcher:p/w@d@host:1", out, sizeof out); /* unescaped '/' and '@' */
    cr_expect_str_eq(out, "redis://watcher:***@host:1");
    aw_store_spec_redact("unix:///run/redis.sock?db=1", out, sizeof out);
    cr_expect_str_eq(out, "unix:///run/redis.sock?db=1");
}
