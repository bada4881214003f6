/*
 * test_cli.c - `auditwatch normalize` as a user runs it: exit codes,
 * stdout events, stderr rejection objects and summary, --help.
 *
 * The binary comes from $AW_BIN (set by tests/run_tests.sh).
 */
#include <criterion/criterion.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

static const char *bin(void)
{
    const char *b = getenv("AW_BIN");
    return b && *b ? b : "build/auditwatch";
}

struct result {
    int status;
    char *out, *err;
};

/* Run `auditwatch ARGS` with `input` on stdin. */
static struct result run(const char *args, const char *input)
{
    char in[] = "/tmp/aw-cli-in-XXXXXX", out[] = "/tmp/aw-cli-out-XXXXXX", err[] = "/tmp/aw-cli-err-XXXXXX";
    int fds[3] = {mkstemp(in), mkstemp(out), mkstemp(err)};
    for (int i = 0; i < 3; i++)
        cr_assert(fds[i] >= 0);
    size_t len = strlen(input);
    cr_assert_eq(write(fds[0], input, len), (ssize_t)len);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s < %s > %s 2> %s", bin(), args, in, out, err);
    int st = system(cmd);
    struct result r = {WIFEXITED(st) ? WEXITSTATUS(st) : -1, test_read_file(out, NULL),
                       test_read_file(err, NULL)};
    unlink(in);
    unlink(out);
    unlink(err);
    return r;
}

static void free_result(struct result *r)
{
    free(r->out);
    free(r->err);
}

Test(cli, help_and_version)
{
    struct result r = run("normalize --help", "");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "usage: auditwatch normalize") && strstr(r.out, "--timezone"), "%s", r.out);
    free_result(&r);
    r = run("--version", "");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "auditwatch ") == r.out, "%s", r.out);
    free_result(&r);
    r = run("--help", "");
    cr_expect(strstr(r.out, "normalize"), "%s", r.out);
    free_result(&r);
}

Test(cli, usage_errors_exit_2)
{
    static const char *const bad[] = {"normalize --source syslog", "normalize --year 19",
                                      "normalize --timezone Nowhere/Land", "normalize --bogus",
                                      "frobnicate", "normalize --now yesterday"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct result r = run(bad[i], "");
        cr_expect_eq(r.status, 2, "'%s' exited %d", bad[i], r.status);
        cr_expect(strlen(r.err) > 0, "'%s' printed no error", bad[i]);
        free_result(&r);
    }
}

Test(cli, unreadable_file_exits_1_but_reads_the_others)
{
    struct result r = run("normalize --year 2024 /nonexistent.log -", "Feb 20 08:35:22 h sshd[1]: Invalid user x from 1.2.3.4\n");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "/nonexistent.log"), "%s", r.err);
    cr_expect(strstr(r.out, "ssh_invalid_user"), "stdin was not read: %s", r.out);
    free_result(&r);
}

Test(cli, events_on_stdout_rejections_on_stderr_exit_0)
{
    const char *input =
        "Feb 20 08:35:22 h sshd[1]: Failed password for root from 10.0.0.1 port 22 ssh2\n"
        "garbage line \"}\n"
        "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"auditID\":\"x1\",\"verb\":\"get\","
        "\"user\":{\"username\":\"bob\"},\"sourceIPs\":[\"10.0.0.2\"],\"responseStatus\":{\"code\":403},"
        "\"requestReceivedTimestamp\":\"2024-05-01T10:00:00Z\"}\n"
        "{\"kind\":\"Event\",\"sourceIPs\":\"1.2.3.4\",\"auditID\":\"x2\",\"requestReceivedTimestamp\":\"2024-05-01T10:00:00Z\"}\n";
    struct result r = run("normalize --year 2024", input);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    /* stdout: exactly two JSON events, in input order. */
    int lines = 0;
    char *save = NULL;
    for (char *l = strtok_r(r.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save), lines++) {
        json_t *j = json_loads(l, 0, NULL);
        cr_assert_not_null(j, "not JSON: %s", l);
        const char *dataset = json_string_value(test_json_path(j, "event.dataset"));
        cr_expect_str_eq(dataset, lines == 0 ? "system.auth" : "kubernetes.audit");
        json_t *origin = test_json_path(j, "auditwatch.origin");
        cr_expect_eq(json_integer_value(json_object_get(origin, "line")), lines == 0 ? 1 : 3);
        json_decref(j);
    }
    cr_expect_eq(lines, 2);
    /* stderr: one JSON object per rejection, then the summary. */
    int rejections = 0;
    save = NULL;
    for (char *l = strtok_r(r.err, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (l[0] != '{')
            continue;
        json_t *j = json_loads(l, 0, NULL);
        cr_assert_not_null(j, "rejection is not JSON: %s", l);
        const char *reason = json_string_value(json_object_get(j, "error"));
        json_int_t line = json_integer_value(json_object_get(json_object_get(j, "origin"), "line"));
        if (line == 2)
            cr_expect_str_eq(reason, "unrecognized_line");
        else if (line == 4)
            cr_expect_str_eq(reason, "wrong_type");
        else
            cr_expect_fail("unexpected rejection at line %d", (int)line);
        cr_expect(json_is_string(json_object_get(j, "excerpt")));
        json_decref(j);
        rejections++;
    }
    cr_expect_eq(rejections, 2);
    free_result(&r);
}

Test(cli, summary_counts_by_reason)
{
    struct result r = run("normalize --source auth --year 2024",
                          "nope\nnope again\nFeb 20 08:35:22 h sshd[1]: Server listening on 0.0.0.0 port 22.\n\n");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.err, "3 records, 1 events (1 without a known pattern), 2 rejected, 1 blank lines"), "%s", r.err);
    cr_expect(strstr(r.err, "rejected unrecognized_line") != NULL, "%s", r.err);
    free_result(&r);
    r = run("normalize --quiet --strict --source auth --year 2024",
            "Feb 20 08:35:22 h sshd[1]: Server listening on 0.0.0.0 port 22.\n");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.err, "unknown_message") && !strstr(r.err, "records,"), "%s", r.err);
    cr_expect_eq(strlen(r.out), 0);
    free_result(&r);
}
