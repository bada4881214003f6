/*
 * test_windows.c - window semantics of the correlation detectors, through
 * the whole pipeline: rules from YAML, events from real decoded auth lines,
 * the memory store.  Each test states the edge it pins down (DESIGN
 * section 6): the threshold exactly, the (t - span, t] boundary, out of
 * order within lateness, late beyond it, redelivery, suppression and its
 * end, ordering for temporal_ordered, chains, and order independence;
 * and, on the memory store itself, that expiry by event time is not held
 * back by a window that never expires.
 */
#include <criterion/criterion.h>
#include <unistd.h>

#include "auditwatch/config.h"
#include "auditwatch/decode.h"
#include "auditwatch/pipeline.h"
#include "test_util.h"

#define MAX_ALERTS 64

struct harness {
    struct aw_ruleset rules;
    struct aw_config cfg;
    struct aw_store *store;
    struct aw_pipeline *p;
    struct aw_decoder *dec;
    json_t *alerts[MAX_ALERTS];
    int nalerts;
    char rule_path[64];
};

static int collect_alert(void *ctx, const struct aw_alert *a)
{
    struct harness *h = ctx;
    struct aw_buf b = {0};
    aw_alert_render_json(a, &b);
    json_error_t err;
    json_t *j = json_loadb(b.data, b.len, 0, &err);
    cr_assert_not_null(j, "alert is not JSON (%s): %.*s", err.text, (int)b.len, b.data);
    if (h->nalerts < MAX_ALERTS)
        h->alerts[h->nalerts++] = j;
    else
        json_decref(j);
    aw_buf_free(&b);
    return 0;
}

static void harness_open_batched(struct harness *h, const char *rules_yaml, int64_t lateness_ms, size_t batch);

static void harness_open(struct harness *h, const char *rules_yaml, int64_t lateness_ms)
{
    harness_open_batched(h, rules_yaml, lateness_ms, 0);
}

/* batch: 0 finalizes after every event, N once per N events (as replay). */
static void harness_open_batched(struct harness *h, const char *rules_yaml, int64_t lateness_ms, size_t batch)
{
    memset(h, 0, sizeof *h);
    snprintf(h->rule_path, sizeof h->rule_path, "/tmp/aw-test-rules-XXXXXX");
    int fd = mkstemp(h->rule_path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, rules_yaml, strlen(rules_yaml)), (ssize_t)strlen(rules_yaml));
    close(fd);
    struct aw_diags d = {0};
    aw_ruleset_load_path(&h->rules, h->rule_path, &d);
    aw_ruleset_link(&h->rules, &d);
    if (d.n)
        aw_diag_print(&d, stderr);
    cr_assert_eq(d.n, 0, "rules did not load");
    aw_diags_free(&d);
    aw_config_init_defaults(&h->cfg);
    h->cfg.lateness_ms = lateness_ms;
    h->store = aw_store_memory_new(NULL);
    char err[256];
    struct aw_pipeline_options po = {&h->rules, &h->cfg, h->store, collect_alert, h, false, batch, NULL};
    h->p = aw_pipeline_new(&po, err, sizeof err);
    cr_assert_not_null(h->p, "%s", err);
    struct aw_decode_options opts = {.source = AW_SOURCE_AUTH, .year = 2024};
    h->dec = aw_decoder_new(&opts, err, sizeof err);
    cr_assert_not_null(h->dec, "%s", err);
}

static int feed_event(void *ctx, struct aw_event *ev)
{
    return aw_pipeline_process(ctx, ev);
}

/* One auth line; `line_no` sets the origin (only used in evidence). */
static void feed(struct harness *h, const char *line)
{
    struct aw_record rec = {line, strlen(line), {AW_ORIGIN_FILE, "test", 1, NULL, 0, 0}};
    struct aw_reject why;
    cr_assert_geq(aw_decoder_decode(h->dec, &rec, feed_event, h->p, &why), 1, "not decoded: %s (%s)", line,
                  why.detail);
}

static void harness_close(struct harness *h)
{
    aw_pipeline_free(h->p);
    aw_decoder_free(h->dec);
    aw_store_destroy(h->store);
    aw_ruleset_free(&h->rules);
    aw_config_free(&h->cfg);
    for (int i = 0; i < h->nalerts; i++)
        json_decref(h->alerts[i]);
    unlink(h->rule_path);
}

static const char *alert_str(struct harness *h, int i, const char *path)
{
    cr_assert_lt(i, h->nalerts);
    json_t *v = test_json_path(h->alerts[i], path);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char failure_rules[] =
    "title: SSH failure\n"
    "name: t.fail\n"
    "logsource: {product: linux, service: auth}\n"
    "detection:\n"
    "  f: {event.action: ssh_login, event.outcome: failure}\n"
    "  condition: f\n"
    "---\n"
    "title: Brute force\n"
    "name: t.brute\n"
    "correlation: {type: event_count, rules: [t.fail], group-by: [source.ip], timespan: 60s,\n"
    "              condition: {gte: 3}}\n"
    "level: high\n"
    "tags: [attack.t1110.001]\n";

/* "Failed password" line at second `s` of 10:00 from ip, user, port. */
static void fail_at(struct harness *h, int minute, int s, const char *ip, const char *user, int port)
{
    char line[256];
    snprintf(line, sizeof line, "Mar  3 10:%02d:%02d h sshd[1]: Failed password for %s from %s port %d ssh2",
             minute, s, user, ip, port);
    feed(h, line);
}

Test(windows, event_count_fires_exactly_at_threshold)
{
    struct harness h;
    harness_open(&h, failure_rules, 0);
    fail_at(&h, 0, 0, "10.0.0.1", "root", 1);
    fail_at(&h, 0, 10, "10.0.0.1", "root", 2);
    cr_assert_eq(h.nalerts, 0, "two failures must not alert");
    fail_at(&h, 0, 20, "10.0.0.1", "root", 3);
    aw_pipeline_flush(h.p);
    cr_assert_eq(h.nalerts, 1);
    cr_expect_str_eq(alert_str(&h, 0, "rule.name"), "t.brute");
    cr_expect_str_eq(alert_str(&h, 0, "@timestamp"), "2024-03-03T10:00:20.000Z");
    cr_expect_eq(json_integer_value(test_json_path(h.alerts[0], "auditwatch.window.count")), 3);
    cr_expect_str_eq(json_string_value(json_object_get(test_json_path(h.alerts[0], "auditwatch.group"), "source.ip")), "10.0.0.1");
    cr_expect_str_eq(alert_str(&h, 0, "source.ip"), "10.0.0.1");
    cr_expect_eq(json_array_size(test_json_path(h.alerts[0], "auditwatch.evidence")), 3);
    cr_expect_str_eq(json_string_value(json_array_get(test_json_path(h.alerts[0], "threat.technique.id"), 0)), "T1110.001");
    harness_close(&h);
}

Test(windows, event_at_exactly_t_minus_span_is_outside)
{
    struct harness h;
    harness_open(&h, failure_rules, 0);
    fail_at(&h, 0, 0, "10.0.0.2", "root", 1);  /* t-60s: outside (t-60s, t] */
    fail_at(&h, 0, 30, "10.0.0.2", "root", 2);
    fail_at(&h, 1, 0, "10.0.0.2", "root", 3);  /* window (10:00:00, 10:01:00] holds 2 */
    aw_pipeline_flush(h.p);
    cr_expect_eq(h.nalerts, 0, "the event at exactly t - span must not count");
    harness_close(&h);
    harness_open(&h, failure_rules, 0);
    fail_at(&h, 0, 1, "10.0.0.2", "root", 1);  /* just inside */
    fail_at(&h, 0, 30, "10.0.0.2", "root", 2);
    fail_at(&h, 1, 0, "10.0.0.2", "root", 3);
    aw_pipeline_flush(h.p);
    cr_expect_eq(h.nalerts, 1, "an event 59s before counts");
    harness_close(&h);
}

Test(windows, groups_are_independent)
{
    struct harness h;
    harness_open(&h, failure_rules, 0);
    fail_at(&h, 0, 0, "10.0.0.1", "root", 1);
    fail_at(&h, 0, 1, "10.0.0.2", "root", 2);
    fail_at(&h, 0, 2, "10.0.0.1", "root", 3);
    fail_at(&h, 0, 3, "10.0.0.2", "root", 4);
    aw_pipeline_flush(h.p);
    cr_expect_eq(h.nalerts, 0);
    harness_close(&h);
}

Test(windows, out_of_order_within_lateness_is_placed_by_its_time)
{
    struct harness h;
    harness_open(&h, failure_rules, 120000);
    fail_at(&h, 0, 30, "10.0.0.3", "root", 2);
    fail_at(&h, 0, 40, "10.0.0.3", "root", 3);
    fail_at(&h, 0, 20, "10.0.0.3", "root", 1); /* 20s late, within 2m */
    aw_pipeline_flush(h.p);
    cr_assert_eq(h.nalerts, 1);
    /* In event time the third failure is the one at :40. */
    cr_expect_str_eq(alert_str(&h, 0, "@timestamp"), "2024-03-03T10:00:40.000Z");
    harness_close(&h);
}

Test(windows, late_beyond_lateness_is_dropped)
{
    struct harness h;
    harness_open(&h, failure_rules, 10000);
    fail_at(&h, 0, 30, "10.0.0.4", "root", 2);
    fail_at(&h, 0, 40, "10.0.0.4", "root", 3);
    fail_at(&h, 0, 5, "10.0.0.4", "root", 1); /* 35s behind the newest, lateness 10s */
    aw_pipeline_flush(h.p);
    cr_expect_eq(h.nalerts, 0, "a late event must not complete the window");
    struct aw_rule_stats st[8];
    size_t n = aw_pipeline_stats(h.p, st, 8);
    uint64_t late = 0;
    for (size_t i = 0; i < n; i++)
        late += st[i].late;
    cr_expect_eq(late, 1, "the late event is counted");
    harness_close(&h);
}

Test(windows, redelivered_event_is_not_counted_twice)
{
    struct harness h;
    harness_open(&h, failure_rules, 0);
    fail_at(&h, 0, 0, "10.0.0.5", "root", 1);
    fail_at(&h, 0, 10, "10.0.0.5", "root", 2);
    fail_at(&h, 0, 10, "10.0.0.5", "root", 2); /* an identical second log line */
    aw_pipeline_flush(h.p);
    /* Two identical lines in one log are two events (ordinals tell them
     * apart), so this is three failures. */
    cr_expect_eq(h.nalerts, 1, "identical lines in one log are distinct events");
    harness_close(&h);
    /* A redelivery is the same record with the same identity, modelled by
     * decoding it again with a fresh decoder (no history). */

    harness_open(&h, failure_rules, 0);
    fail_at(&h, 0, 0, "10.0.0.5", "root", 1);
    fail_at(&h, 0, 10, "10.0.0.5", "root", 2);
    aw_decoder_free(h.dec);
    struct aw_decode_options opts = {.source = AW_SOURCE_AUTH, .year = 2024};
    char err[128];
    h.dec = aw_decoder_new(&opts, err, sizeof err);
    fail_at(&h, 0, 10, "10.0.0.5", "root", 2); /* redelivered: same identity */
    aw_pipeline_flush(h.p);
    cr_expect_eq(h.nalerts, 0, "a redelivered event must not count twice");
    harness_close(&h);
}

Test(windows, suppression_holds_for_the_timespan_then_ends)
{
    struct harness h;
    harness_open(&h, failure_rules, 0);
    for (int i = 0; i < 6; i++)
        fail_at(&h, 0, i * 5, "10.0.0.6", "root", 100 + i); /* :00 .. :25 */
    cr_expect_eq(h.nalerts, 1, "one alert, then suppressed");
    /* Suppressed until :10 + 60s = 10:01:10; these three are inside it. */
    fail_at(&h, 1, 0, "10.0.0.6", "root", 200);
    fail_at(&h, 1, 5, "10.0.0.6", "root", 201);
    fail_at(&h, 1, 10, "10.0.0.6", "root", 202);
    cr_expect_eq(h.nalerts, 1);
    fail_at(&h, 1, 11, "10.0.0.6", "root", 203); /* after suppression, window holds 4 */
    aw_pipeline_flush(h.p);
    cr_assert_eq(h.nalerts, 2, "suppression must end after the timespan");
    cr_expect_str_eq(alert_str(&h, 1, "@timestamp"), "2024-03-03T10:01:11.000Z");
    cr_expect_str_neq(alert_str(&h, 0, "auditwatch.alert_id"), alert_str(&h, 1, "auditwatch.alert_id"));
    harness_close(&h);
}

static const char spray_rules[] =
    "title: SSH failure\nname: t.fail\nlogsource: {product: linux, service: auth}\n"
    "detection:\n  f: {event.action: ssh_login, event.outcome: failure}\n  condition: f\n"
    "---\n"
    "title: Spray\nname: t.spray\n"
    "correlation: {type: value_count, rules: [t.fail], group-by: [source.ip], timespan: 60s,\n"
    "              condition: {gte: 3, field: user.name}}\n";

Test(windows, value_count_counts_distinct_values)
{
    struct harness h;
    harness_open(&h, spray_rules, 0);
    fail_at(&h, 0, 0, "10.0.1.1", "alice", 1);
    fail_at(&h, 0, 1, "10.0.1.1", "alice", 2);
    fail_at(&h, 0, 2, "10.0.1.1", "bob", 3);
    fail_at(&h, 0, 3, "10.0.1.1", "bob", 4);
    aw_pipeline_flush(h.p);
    cr_expect_eq(h.nalerts, 0, "two distinct users are below 3");
    harness_close(&h);
    harness_open(&h, spray_rules, 0);
    fail_at(&h, 0, 0, "10.0.1.1", "alice", 1);
    fail_at(&h, 0, 1, "10.0.1.1", "bob", 2);
    fail_at(&h, 0, 2, "10.0.1.1", "carol", 3);
    aw_pipeline_flush(h.p);
    cr_assert_eq(h.nalerts, 1);
    cr_expect_eq(json_integer_value(test_json_path(h.alerts[0], "auditwatch.window.distinct")), 3);
    harness_close(&h);
}

static const char ordered_rules[] =
    "title: SSH failure\nname: t.fail\nlogsource: {product: linux, service: auth}\n"
    "detection:\n  f: {event.action: ssh_login, event.outcome: failure}\n  condition: f\n"
    "---\n"
    "title: SSH success\nname: t.ok\nlogsource: {product: linux, service: auth}\n"
    "detection:\n  s: {event.action: ssh_login, event.outcome: success}\n  condition: s\n"
    "---\n"
    "title: Failures for a user\nname: t.fails\n"
    "correlation: {type: event_count, rules: [t.fail], group-by: [source.ip, user.name], timespan: 60s,\n"
    "              condition: {gte: 2}}\n"
    "---\n"
    "title: Success after failures\nname: t.after\n"
    "correlation: {type: temporal_ordered, rules: [t.fails, t.ok], group-by: [source.ip, user.name],\n"
    "              timespan: 60s}\n"
    "level: critical\n";

static void ok_at(struct harness *h, int s, const char *ip, const char *user)
{
    char line[256];
    snprintf(line, sizeof line, "Mar  3 10:00:%02d h sshd[1]: Accepted password for %s from %s port 9 ssh2",
             s, user, ip);
    feed(h, line);
}

Test(windows, temporal_ordered_chain_needs_the_order)
{
    struct harness h;
    harness_open(&h, ordered_rules, 30000);
    fail_at(&h, 0, 1, "10.0.2.1", "root", 1);
    fail_at(&h, 0, 2, "10.0.2.1", "root", 2);
    ok_at(&h, 3, "10.0.2.1", "root");
    aw_pipeline_flush(h.p);
    cr_assert_eq(h.nalerts, 1, "failures then success must alert once");
    cr_expect_str_eq(alert_str(&h, 0, "rule.name"), "t.after");
    cr_expect_str_eq(alert_str(&h, 0, "@timestamp"), "2024-03-03T10:00:03.000Z");
    harness_close(&h);

    harness_open(&h, ordered_rules, 30000);
    ok_at(&h, 1, "10.0.2.1", "root");
    fail_at(&h, 0, 2, "10.0.2.1", "root", 1);
    fail_at(&h, 0, 3, "10.0.2.1", "root", 2);
    aw_pipeline_flush(h.p);
    cr_expect_eq(h.nalerts, 0, "success before the failures must not alert");
    harness_close(&h);

    harness_open(&h, ordered_rules, 30000);
    fail_at(&h, 0, 1, "10.0.2.1", "root", 1);
    fail_at(&h, 0, 2, "10.0.2.1", "root", 2);
    ok_at(&h, 3, "10.0.2.1", "alice"); /* another user: another group */
    aw_pipeline_flush(h.p);
    cr_expect_eq(h.nalerts, 0);
    harness_close(&h);
}

/* Event time that jumps far past a chained correlation's windows (a
 * partition catching up, a quiet stream, a restart) finalizes the upstream
 * and the downstream in one pass: the upstream's alert must still reach a
 * downstream window that is still there, and must not count as late
 * there.  Both were broken: the store expired the downstream window by the
 * new clock first, and the upstream alert was dropped as late. */
Test(windows, chained_rule_alerts_when_event_time_jumps_a_day)
{
    for (size_t batch = 0; batch <= 64; batch += 64) {
        struct harness h;
        harness_open_batched(&h, ordered_rules, 30000, batch);
        fail_at(&h, 0, 1, "10.0.2.1", "root", 1);
        fail_at(&h, 0, 2, "10.0.2.1", "root", 2);
        ok_at(&h, 3, "10.0.2.1", "root");
        feed(&h, "Mar  4 10:00:00 h CRON[2]: pam_unix(cron:session): session closed for user root");
        if (!batch) /* (batched, finalization waits for the batch's end) */
            cr_expect_eq(h.nalerts, 1, "the jump must finalize the chain's alert");
        aw_pipeline_flush(h.p);
        cr_expect_eq(h.nalerts, 1, "batch %zu: one alert in all", batch);
        if (h.nalerts == 1)
            cr_expect_str_eq(alert_str(&h, 0, "rule.name"), "t.after");
        harness_close(&h);
    }
}

static const char temporal_rules[] =
    "title: SSH failure\nname: t.fail\nlogsource: {product: linux, service: auth}\n"
    "detection:\n  f: {event.action: ssh_login, event.outcome: failure}\n  condition: f\n"
    "---\n"
    "title: SSH success\nname: t.ok\nlogsource: {product: linux, service: auth}\n"
    "detection:\n  s: {event.action: ssh_login, event.outcome: success}\n  condition: s\n"
    "---\n"
    "title: Both\nname: t.both\n"
    "correlation: {type: temporal, rules: [t.fail, t.ok], group-by: [source.ip], timespan: 60s}\n";

Test(windows, temporal_unordered_needs_all_rules)
{
    struct harness h;
    harness_open(&h, temporal_rules, 0);
    ok_at(&h, 1, "10.0.3.1", "root");
    fail_at(&h, 0, 2, "10.0.3.1", "root", 1);
    aw_pipeline_flush(h.p);
    cr_expect_eq(h.nalerts, 1, "both rules in any order");
    harness_close(&h);
    harness_open(&h, temporal_rules, 0);
    fail_at(&h, 0, 1, "10.0.3.1", "root", 1);
    fail_at(&h, 0, 2, "10.0.3.1", "root", 2);
    aw_pipeline_flush(h.p);
    cr_expect_eq(h.nalerts, 0, "one rule alone is not enough");
    harness_close(&h);
}

/* The same events in two arrival orders (within the lateness) give the
 * same alerts, ids included; and the same input twice gives identical
 * documents. */
Test(windows, order_within_lateness_does_not_change_alert_ids)
{
    static const int order_a[] = {0, 1, 2, 3, 4, 5, 6, 7};
    static const int order_b[] = {3, 0, 5, 1, 2, 7, 4, 6};
    char *docs[2] = {NULL, NULL};
    for (int run = 0; run < 2; run++) {
        struct harness h;
        harness_open(&h, failure_rules, 120000);
        const int *order = run ? order_b : order_a;
        for (int i = 0; i < 8; i++)
            fail_at(&h, 0, order[i] * 7, order[i] % 2 ? "10.0.4.1" : "10.0.4.2", "root", 50 + order[i]);
        aw_pipeline_flush(h.p);
        cr_assert_eq(h.nalerts, 2, "run %d: %d alerts", run, h.nalerts);
        struct aw_buf b = {0};
        /* Compare as a sorted set of ids. */
        const char *ids[2] = {alert_str(&h, 0, "auditwatch.alert_id"), alert_str(&h, 1, "auditwatch.alert_id")};
        if (strcmp(ids[0], ids[1]) > 0) {
            const char *t = ids[0];
            ids[0] = ids[1];
            ids[1] = t;
        }
        aw_buf_append_str(&b, ids[0]);
        aw_buf_append_str(&b, ids[1]);
        aw_buf_append_char(&b, '\0');
        docs[run] = b.data;
        harness_close(&h);
    }
    cr_expect_str_eq(docs[0], docs[1]);
    free(docs[0]);
    free(docs[1]);
}

/* Batched finalization: a sparse log jumps far ahead inside one batch.
 * The entries the pending judgement of the earlier window needs must not
 * be trimmed by the later events of the same batch. */
Test(windows, batch_does_not_trim_what_is_still_to_be_judged)
{
    struct harness h;
    harness_open_batched(&h, failure_rules, 10000, 1024);
    feed(&h, "Mar  3 10:00:00 h sshd[1]: Failed password for root from 1.2.3.4 port 1 ssh2");
    feed(&h, "Mar  3 10:00:10 h sshd[1]: Failed password for root from 1.2.3.4 port 2 ssh2");
    feed(&h, "Mar  3 10:00:20 h sshd[1]: Failed password for root from 1.2.3.4 port 3 ssh2");
    /* an hour later, still in the same batch, the same source again, twice */
    feed(&h, "Mar  3 11:00:00 h sshd[1]: Failed password for root from 1.2.3.4 port 4 ssh2");
    feed(&h, "Mar  3 11:00:05 h sshd[1]: Failed password for root from 1.2.3.4 port 5 ssh2");
    cr_assert_eq(aw_pipeline_flush(h.p), 0);
    cr_assert_eq(h.nalerts, 1, "%d alerts", h.nalerts);
    cr_expect_str_eq(alert_str(&h, 0, "@timestamp"), "2024-03-03T10:00:20.000Z");
    harness_close(&h);
}

/* The memory store expires windows by event time even when a window that
 * never expires (first_seen keeps its learning start with no TTL) has
 * become the least recently updated one: it must not hold back the expiry
 * of every window behind it. */
Test(windows, a_window_without_ttl_does_not_hold_back_expiry)
{
    struct aw_store *s = aw_store_memory_new(NULL);
    struct aw_window_meta m;
    memset(&m, 0, sizeof m);
    m.group_json = "{}";
    m.group_json_len = 2;
    m.cursor_time = AW_TIME_NONE;
    m.suppress_until = AW_TIME_NONE;
    struct aw_wkey forever = {"first_seen.learning", 1, 0};
    cr_assert_eq(s->ops->meta_put(s, &forever, &m, 0), 0);
    int64_t t0 = 1700000000000;
    for (int i = 0; i < 20000; i++) {
        int64_t t = t0 + (int64_t)i * 1000; /* one group per second, each seen once */
        s->ops->set_clock(s, t);
        struct aw_wkey k = {"auth.rule", (uint64_t)i + 2, 0};
        struct aw_window_entry e = {t, (uint64_t)i + 7, 0, 0, "{}", 2, "", 0};
        bool added, found;
        struct aw_window_meta got;
        cr_assert_eq(s->ops->window_add(s, &k, &e, AW_TIME_NONE, 60000, &added, &got, &found), 0);
        cr_assert(added);
    }
    struct aw_store_stats st;
    s->ops->stats(s, &st);
    /* a 60 s TTL at one new group per second: about 60 live windows (the
     * approximate LRU order may keep some more), never thousands */
    cr_expect_lt(st.windows, 500, "%llu windows live", (unsigned long long)st.windows);
    bool found;
    cr_assert_eq(s->ops->meta_get(s, &forever, &m, &found), 0);
    cr_expect(found, "the window without a TTL is kept");
    aw_store_destroy(s);
}

/* The alert message names the group's values as they are, whatever the
 * group text needed: plain ASCII, a quote and a backslash (escaped in the
 * group's JSON), a value outside ASCII, an absent field (none). */
Test(windows, message_names_group_values_as_they_are)
{
    static const char rules[] =
        "title: SSH failure\n"
        "name: t.fail\n"
        "logsource: {product: linux, service: auth}\n"
        "detection:\n"
        "  f: {event.action: ssh_login, event.outcome: failure}\n"
        "  condition: f\n"
        "---\n"
        "title: Per user\n"
        "name: t.user\n"
        "correlation: {type: event_count, rules: [t.fail], group-by: [user.name, source.domain], timespan: 60s,\n"
        "              condition: {gte: 2}}\n"
        "level: high\n";
    static const struct {
        const char *user, *message;
    } cases[] = {
        {"alice", "Per user: 2 matching events for user.name=alice source.domain=(none) within 1m"},
        {"a\"b\\c", "Per user: 2 matching events for user.name=a\"b\\c source.domain=(none) within 1m"},
        {"j\xc3\xb6rg", "Per user: 2 matching events for user.name=j\xc3\xb6rg source.domain=(none) within 1m"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct harness h;
        harness_open(&h, rules, 0);
        fail_at(&h, 0, 0, "10.0.0.1", cases[i].user, 1);
        fail_at(&h, 0, 10, "10.0.0.1", cases[i].user, 2);
        aw_pipeline_flush(h.p);
        cr_assert_eq(h.nalerts, 1, "%s: %d alerts", cases[i].user, h.nalerts);
        cr_expect_str_eq(alert_str(&h, 0, "message"), cases[i].message);
        harness_close(&h);
    }
}

/* Many entries of too few distinct values are not worth judging; once a
 * late entry (within lateness) brings the third value, the window that
 * entry completes alerts, at its own time. */
Test(windows, value_count_judges_once_enough_values_arrive_even_late)
{
    static const char rules[] =
        "title: SSH failure\n"
        "name: t.fail\n"
        "logsource: {product: linux, service: auth}\n"
        "detection:\n"
        "  f: {event.action: ssh_login, event.outcome: failure}\n"
        "  condition: f\n"
        "---\n"
        "title: Spray\n"
        "name: t.spray\n"
        "correlation: {type: value_count, rules: [t.fail], group-by: [source.ip], timespan: 60s,\n"
        "              condition: {gte: 3, field: user.name}}\n"
        "level: high\n";
    for (size_t batch = 0; batch <= 1024; batch += 1024) {
        struct harness h;
        harness_open_batched(&h, rules, 30000, batch);
        fail_at(&h, 0, 0, "10.0.0.9", "u1", 1);
        fail_at(&h, 0, 5, "10.0.0.9", "u1", 2);
        fail_at(&h, 0, 10, "10.0.0.9", "u1", 3);
        fail_at(&h, 0, 20, "10.0.0.9", "u2", 4);
        fail_at(&h, 0, 30, "10.0.0.9", "u1", 5);
        fail_at(&h, 0, 25, "10.0.0.9", "u3", 6); /* late, within the lateness */
        cr_assert_eq(aw_pipeline_flush(h.p), 0);
        cr_assert_eq(h.nalerts, 1, "batch %zu: %d alerts", batch, h.nalerts);
        cr_expect_str_eq(alert_str(&h, 0, "@timestamp"), "2024-03-03T10:00:25.000Z");
        cr_expect_eq(json_integer_value(test_json_path(h.alerts[0], "auditwatch.window.distinct")), 3);
        cr_expect_eq(json_integer_value(test_json_path(h.alerts[0], "auditwatch.window.count")), 5);
        harness_close(&h);
    }
}
