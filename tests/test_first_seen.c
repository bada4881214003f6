/*
 * test_first_seen.c - the first_seen detector: a new value for an entity
 * after a learning period.
 *
 * Real sshd lines go through the auth decoder; each decoded event is handed
 * to the detector's on_hit as the pipeline does for matches of the entry's
 * rule (here: every successful login we feed).  The store is the memory
 * store; a shared store stands for two instances sharing Redis.  Times are
 * event times written into the lines, so every case states its own clock.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditwatch/config.h"
#include "auditwatch/decode.h"
#include "auditwatch/detector.h"
#include "auditwatch/store.h"
#include "test_util.h"

#define HOUR_MS (3600 * 1000LL)
#define DAY_MS (24 * HOUR_MS)
#define MAX_ALERTS 32

struct got_alert {
    char id[AW_ALERT_ID_LEN + 1];
    char *message, *json;
};

/* One detector instance; several may share a store. */
struct inst {
    struct aw_detector det;
    struct aw_detector_env env;
    int init_rc;
    char err[256];
};

struct fs_run {
    struct aw_store *store;
    struct aw_first_seen_cfg cfg;
    char *tags[2];
    struct aw_decoder *dec;
    struct got_alert got[MAX_ALERTS];
    size_t ngot;
};

static int collect(void *ctx, struct aw_detector *from, const struct aw_alert *a)
{
    struct fs_run *r = ctx;
    (void)from;
    cr_assert_lt(r->ngot, MAX_ALERTS);
    struct got_alert *g = &r->got[r->ngot++];
    memcpy(g->id, a->alert_id, sizeof g->id);
    g->message = strdup(a->message);
    struct aw_buf b = {0};
    aw_alert_render_json(a, &b);
    aw_buf_append_char(&b, '\0');
    g->json = b.data;
    return 0;
}

/* A config entry like `first_seen: [{name: ..., rule: auth.ssh_success,
 * entity: user.name, value: source.ip, learning: 1h}]`. */
static void run_open(struct fs_run *r, int64_t learning_ms, int64_t retention_ms)
{
    memset(r, 0, sizeof *r);
    r->store = aw_store_memory_new(NULL);
    r->tags[0] = "attack.initial_access";
    r->tags[1] = "attack.t1078.004";
    r->cfg = (struct aw_first_seen_cfg){
        .name = "auth.new_login_source",
        .title = "New login source",
        .description = "A user logged in from an address not seen for them before",
        .level = AW_LEVEL_MEDIUM,
        .techniques = {r->tags, 2},
        .rule = "auth.ssh_success",
        .entity_field = "user.name",
        .value_field = "source.ip",
        .learning_ms = learning_ms,
        .retention_ms = retention_ms,
    };
    struct aw_decode_options opts = {.source = AW_SOURCE_AUTH, .year = 2026};
    char err[256];
    r->dec = aw_decoder_new(&opts, err, sizeof err);
    cr_assert(r->dec, "%s", err);
}

static void inst_open(struct fs_run *r, struct inst *in)
{
    memset(in, 0, sizeof *in);
    in->det.kind = &aw_detector_first_seen;
    in->det.name = r->cfg.name;
    in->det.state = &r->cfg; /* as the pipeline hands it over */
    in->env = (struct aw_detector_env){r->store, NULL, NULL, collect, r, AW_DEFAULT_LATENESS_MS};
    in->init_rc = in->det.kind->init(&in->det, &in->env, in->err, sizeof in->err);
}

static void inst_close(struct inst *in)
{
    in->det.kind->fini(&in->det);
}

static void run_close(struct fs_run *r)
{
    for (size_t i = 0; i < r->ngot; i++) {
        free(r->got[i].message);
        free(r->got[i].json);
    }
    aw_decoder_free(r->dec);
    aw_store_destroy(r->store);
}

static int on_decoded(void *ctx, struct aw_event *ev)
{
    struct inst *in = ctx;
    struct aw_hit hit = {ev->timestamp_ms, 0, ev, NULL, 0, NULL, NULL, 0, 0};
    return in->det.kind->on_hit(&in->det, &in->env, &hit) < 0;
}

/* A successful ssh login of `user` from `ip` at March 3rd 2026 00:00 UTC +
 * at_ms, as line `line` of auth.log (the line number is the event's
 * identity together with the text, so the same (line, text) again is a
 * redelivery). */
static void login(struct fs_run *r, struct inst *in, int64_t at_ms, const char *user, const char *ip,
                  unsigned line)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t s = at_ms / 1000;
    int day = 3 + (int)(s / 86400), month = 2;
    while (day > month_days[month]) {
        day -= month_days[month];
        month++;
    }
    char text[256];
    snprintf(text, sizeof text,
             "%s %2d %02d:%02d:%02d web-01 sshd[%u]: Accepted publickey for %s from %s port 52144 ssh2: "
             "ED25519 SHA256:x",
             months[month], day, (int)(s / 3600 % 24), (int)(s / 60 % 60), (int)(s % 60), 4000 + line,
             user, ip);
    struct aw_record rec = {.data = text, .len = strlen(text)};
    rec.origin.kind = AW_ORIGIN_FILE;
    rec.origin.file = "auth.log";
    rec.origin.line = line;
    struct aw_reject why;
    int rc = aw_decoder_decode(r->dec, &rec, on_decoded, in, &why);
    cr_assert_eq(rc, 1, "not decoded (%d): %s: %s", rc, why.detail, text);
}

/* ======================================================================= */

Test(first_seen, nothing_alerts_while_learning)
{
    struct fs_run r;
    struct inst a;
    run_open(&r, HOUR_MS, 0);
    inst_open(&r, &a);
    cr_assert_eq(a.init_rc, 0, "%s", a.err);
    login(&r, &a, 12 * HOUR_MS, "alice", "192.0.2.10", 1);
    login(&r, &a, 12 * HOUR_MS + 60000, "alice", "192.0.2.11", 2);
    login(&r, &a, 12 * HOUR_MS + 120000, "bob", "198.51.100.20", 3);
    login(&r, &a, 13 * HOUR_MS - 1, "alice", "203.0.113.30", 4); /* 1 ms before the end */
    cr_expect_eq(r.ngot, 0);
    cr_expect_eq(a.det.stats.hits, 4);
    inst_close(&a);
    run_close(&r);
}

Test(first_seen, a_new_value_after_learning_alerts_once)
{
    struct fs_run r;
    struct inst a;
    run_open(&r, HOUR_MS, 0);
    inst_open(&r, &a);
    login(&r, &a, 12 * HOUR_MS, "alice", "192.0.2.10", 1);
    login(&r, &a, 13 * HOUR_MS, "alice", "192.0.2.10", 2);   /* known: silent */
    cr_expect_eq(r.ngot, 0);
    login(&r, &a, 13 * HOUR_MS + 5, "alice", "203.0.113.7", 3); /* new */
    cr_assert_eq(r.ngot, 1);
    login(&r, &a, 14 * HOUR_MS, "alice", "203.0.113.7", 4); /* the same pair, another event */
    login(&r, &a, 15 * HOUR_MS, "alice", "192.0.2.10", 5);
    cr_expect_eq(r.ngot, 1);

    cr_expect_str_eq(r.got[0].message, "New login source: new source.ip 203.0.113.7 for user.name alice");
    json_t *doc = json_loads(r.got[0].json, 0, NULL);
    cr_assert(doc);
    static const struct {
        const char *path, *want;
    } fields[] = {
        {"rule.name", "auth.new_login_source"},
        {"log.level", "medium"},
        {"threat.technique.id", "T1078.004"},
        {"auditwatch.group.user.name", "alice"},
        {"auditwatch.group.source.ip", "203.0.113.7"},
        {"source.ip", "203.0.113.7"},
        {"@timestamp", "2026-03-03T13:00:00.000Z"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        json_t *v = test_json_path(doc, fields[i].path);
        cr_expect(v, "no %s in %s", fields[i].path, r.got[0].json);
        if (!v)
            continue;
        char *t = test_json_text(v);
        cr_expect_str_eq(t, fields[i].want, "%s", fields[i].path);
        free(t);
    }
    json_decref(doc);
    inst_close(&a);
    run_close(&r);
}

/* A crash and restart: a new process (decoder, detector instance) over
 * the state the store kept. */
static void restart(struct fs_run *r, struct inst *in)
{
    inst_close(in);
    aw_decoder_free(r->dec);
    struct aw_decode_options opts = {.source = AW_SOURCE_AUTH, .year = 2026};
    char err[256];
    r->dec = aw_decoder_new(&opts, err, sizeof err);
    cr_assert(r->dec, "%s", err);
    inst_open(r, in);
    cr_assert_eq(in->init_rc, 0, "%s", in->err);
}

/* DESIGN section 6: a redelivered event must not lose its alert, and must
 * not make a new one.  After a crash that may have lost the alert, the
 * event that introduced the pair gives the same alert (same id) again,
 * which consumers deduplicate; no other event of that pair alerts. */
Test(first_seen, a_redelivered_event_repeats_its_alert_id_never_a_new_alert)
{
    struct fs_run r;
    struct inst a;
    run_open(&r, HOUR_MS, 0);
    inst_open(&r, &a);
    login(&r, &a, 12 * HOUR_MS, "alice", "192.0.2.10", 1);
    login(&r, &a, 14 * HOUR_MS, "alice", "203.0.113.7", 2);
    cr_assert_eq(r.ngot, 1);
    restart(&r, &a);
    login(&r, &a, 12 * HOUR_MS, "alice", "192.0.2.10", 1);  /* learning event: silent */
    login(&r, &a, 14 * HOUR_MS, "alice", "203.0.113.7", 2); /* the introducer: same alert */
    cr_assert_eq(r.ngot, 2);
    cr_expect_str_eq(r.got[1].id, r.got[0].id);
    cr_expect_eq(a.det.stats.duplicates, 1);
    /* The same line again in one process is a second, identical log line
     * (the decoder gives it its own identity): a known pair, silent. */
    login(&r, &a, 14 * HOUR_MS, "alice", "203.0.113.7", 2);
    login(&r, &a, 14 * HOUR_MS + 1000, "alice", "203.0.113.7", 3);
    cr_expect_eq(r.ngot, 2);
    inst_close(&a);
    run_close(&r);
}

Test(first_seen, entities_are_independent)
{
    struct fs_run r;
    struct inst a;
    run_open(&r, HOUR_MS, 0);
    inst_open(&r, &a);
    login(&r, &a, 12 * HOUR_MS, "alice", "192.0.2.10", 1);
    login(&r, &a, 12 * HOUR_MS + 1, "bob", "198.51.100.20", 2);
    /* alice's address is new for bob, bob's for alice */
    login(&r, &a, 14 * HOUR_MS, "bob", "192.0.2.10", 3);
    login(&r, &a, 14 * HOUR_MS + 1, "alice", "198.51.100.20", 4);
    /* and each one's own address is not */
    login(&r, &a, 14 * HOUR_MS + 2, "alice", "192.0.2.10", 5);
    login(&r, &a, 14 * HOUR_MS + 3, "bob", "198.51.100.20", 6);
    cr_assert_eq(r.ngot, 2);
    cr_expect_str_eq(r.got[0].message, "New login source: new source.ip 192.0.2.10 for user.name bob");
    cr_expect_str_eq(r.got[1].message, "New login source: new source.ip 198.51.100.20 for user.name alice");
    cr_expect_str_neq(r.got[0].id, r.got[1].id);
    /* A user never seen while learning: everything is new for them. */
    login(&r, &a, 15 * HOUR_MS, "carol", "192.0.2.10", 7);
    cr_expect_eq(r.ngot, 3);
    inst_close(&a);
    run_close(&r);
}

/* Two instances sharing a store (two consumers sharing Redis): the
 * learning start and the pairs are shared, so a pair alerts once. */
Test(first_seen, instances_sharing_a_store_alert_once)
{
    struct fs_run r;
    struct inst a, b;
    run_open(&r, HOUR_MS, 0);
    inst_open(&r, &a);
    inst_open(&r, &b);
    login(&r, &a, 12 * HOUR_MS, "alice", "192.0.2.10", 1);
    login(&r, &b, 13 * HOUR_MS + 1, "bob", "198.51.100.20", 2); /* b learns the start from the store */
    cr_expect_eq(r.ngot, 1, "learning ended for b too");
    login(&r, &a, 13 * HOUR_MS + 2, "alice", "203.0.113.7", 3);
    login(&r, &b, 13 * HOUR_MS + 3, "alice", "203.0.113.7", 4);
    cr_expect_eq(r.ngot, 2);
    inst_close(&a);
    inst_close(&b);
    run_close(&r);
}

/* Learning starts at the earliest event time seen, not at the first
 * event processed: out-of-order input ends it when sorted input would. */
Test(first_seen, learning_starts_at_the_earliest_event_time)
{
    struct fs_run r;
    struct inst a;
    run_open(&r, HOUR_MS, 0);
    inst_open(&r, &a);
    login(&r, &a, 12 * HOUR_MS + 30 * 60000, "alice", "192.0.2.10", 1); /* 12:30 first */
    login(&r, &a, 12 * HOUR_MS, "bob", "198.51.100.20", 2);             /* 12:00 arrives late */
    login(&r, &a, 13 * HOUR_MS + 10 * 60000, "alice", "203.0.113.7", 3); /* 13:10: after 12:00 + 1h */
    cr_expect_eq(r.ngot, 1);
    inst_close(&a);
    run_close(&r);
}

/* With retention, a value unseen for two retention periods is forgotten
 * and alerts again; one seen within a period stays known. */
Test(first_seen, retention_forgets_in_event_time)
{
    struct fs_run r;
    struct inst a;
    run_open(&r, HOUR_MS, DAY_MS);
    inst_open(&r, &a);
    login(&r, &a, 0, "alice", "192.0.2.10", 1);
    login(&r, &a, 0 + 1, "alice", "192.0.2.11", 2);
    login(&r, &a, DAY_MS + DAY_MS / 2, "alice", "192.0.2.10", 3); /* day 1.5: known, refreshed */
    cr_expect_eq(r.ngot, 0);
    login(&r, &a, 2 * DAY_MS + DAY_MS / 2, "alice", "192.0.2.10", 4); /* day 2.5: still known */
    cr_expect_eq(r.ngot, 0);
    login(&r, &a, 2 * DAY_MS + DAY_MS / 2 + 1, "alice", "192.0.2.11", 5); /* unseen since day 0 */
    cr_expect_eq(r.ngot, 1);
    login(&r, &a, 5 * DAY_MS, "alice", "192.0.2.10", 6); /* unseen since day 2.5 */
    cr_expect_eq(r.ngot, 2);
    inst_close(&a);
    run_close(&r);
}

Test(first_seen, same_input_same_alert_ids)
{
    const char *ids[2][4];
    struct fs_run r[2];
    struct inst a[2];
    for (int k = 0; k < 2; k++) {
        run_open(&r[k], HOUR_MS, 0);
        inst_open(&r[k], &a[k]);
        login(&r[k], &a[k], 12 * HOUR_MS, "alice", "192.0.2.10", 1);
        login(&r[k], &a[k], 14 * HOUR_MS, "alice", "203.0.113.7", 2);
        login(&r[k], &a[k], 14 * HOUR_MS + 1, "bob", "203.0.113.7", 3);
        login(&r[k], &a[k], 14 * HOUR_MS + 2, "alice", "203.0.113.8", 4);
        cr_assert_eq(r[k].ngot, 3);
        for (int i = 0; i < 3; i++)
            ids[k][i] = r[k].got[i].id;
    }
    for (int i = 0; i < 3; i++)
        cr_expect_str_eq(ids[0][i], ids[1][i]);
    for (int k = 0; k < 2; k++) {
        inst_close(&a[k]);
        run_close(&r[k]);
    }
}

Test(first_seen, events_without_the_fields_are_skipped)
{
    struct fs_run r;
    struct inst a;
    run_open(&r, HOUR_MS, 0);
    inst_open(&r, &a);
    login(&r, &a, 12 * HOUR_MS, "alice", "192.0.2.10", 1);
    /* a sudo line has a user but no source address */
    const char *line = "Mar  3 14:00:00 web-01 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; "
                       "USER=root ; COMMAND=/usr/bin/id";
    struct aw_record rec = {.data = line, .len = strlen(line)};
    rec.origin.kind = AW_ORIGIN_FILE;
    rec.origin.file = "auth.log";
    rec.origin.line = 9;
    struct aw_reject why;
    cr_assert_eq(aw_decoder_decode(r.dec, &rec, on_decoded, &a, &why), 1);
    /* an upstream alert (no event) is not a hit either */
    struct aw_hit upstream = {14 * HOUR_MS, 0, NULL, NULL, 0, NULL, NULL, 0, 0};
    cr_expect_eq(a.det.kind->on_hit(&a.det, &a.env, &upstream), 0);
    cr_expect_eq(r.ngot, 0);
    inst_close(&a);
    run_close(&r);
}

Test(first_seen, init_accepts_only_ecs_fields)
{
    static const struct {
        const char *entity, *value;
        bool ok;
        const char *err;
    } cases[] = {
        {"user.name", "source.ip", true, NULL},
        {"user.name", "user_agent.original", true, NULL},
        {"user.name", "kubernetes.audit.user.groups", true, NULL}, /* a list field */
        {"objectRef.resource", "source.ip", false, "entity_field 'objectRef.resource' is not an ECS field"},
        {"user.name", "auditwatch.origin", false, "value_field 'auditwatch.origin' is not an ECS field"},
        {"user.name", NULL, false, "value_field '(none)'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fs_run r;
        struct inst a;
        run_open(&r, HOUR_MS, 0);
        r.cfg.entity_field = (char *)cases[i].entity;
        r.cfg.value_field = (char *)cases[i].value;
        inst_open(&r, &a);
        cr_expect_eq(a.init_rc == 0, cases[i].ok, "%s/%s: %s", cases[i].entity,
                     cases[i].value ? cases[i].value : "-", a.err);
        if (!cases[i].ok) {
            cr_expect(strstr(a.err, cases[i].err) != NULL, "%s", a.err);
            cr_expect(strstr(a.err, "auth.new_login_source") != NULL, "names the entry: %s", a.err);
            cr_expect_null(a.det.state);
        }
        inst_close(&a);
        run_close(&r);
    }
}
