/*
 * test_rule_cases.c - every shipped rule fires on a real attack and stays
 * silent on the nearest benign thing.
 *
 * The cases are plain text in tests/data/rule_cases/ *.txt, so a detection
 * engineer adds one without writing C (in the spirit of test_golden.c):
 *
 *   # a comment
 *   @ case RULE KIND[: what the case shows]
 *   < RECORD                an auth log line or a Kubernetes audit event, one
 *   < RECORD                per line; as many as the case needs, in order
 *   = alert RULE [N]        RULE alerts exactly N times (default 1)
 *   = no-alert RULE         RULE does not alert
 *   = alerts N              N alerts in all, whatever the rule
 *   = matches RULE N        detection rule RULE (a building block too)
 *                           matched N events
 *   = field RULE PATH=VALUE the first alert of RULE holds VALUE at PATH
 *                           (dotted, as in test_golden.c; numbers as digits;
 *                           an empty VALUE: PATH is absent)
 *
 * KIND says what the case is about RULE, and implies an expectation:
 *
 *   positive     a real attack: RULE alerts exactly once (or N times when
 *                the case says "= alert RULE N")
 *   negative     the nearest benign thing: RULE stays silent
 *   gap          a real attack that RULE misses today, a known defect of
 *                the rule: it must stay silent, and the case fails once the
 *                rule catches it - then make it a positive case
 *   false-alarm  a benign case that RULE alerts on today, a known defect:
 *                it must alert, and the case fails once the rule is silent
 *                on it - then make it a negative case
 *
 * Each case runs through a fresh pipeline built exactly as `auditwatch
 * replay -c config/auditwatch.yaml --source auto --year 2026` builds one:
 * the shipped configuration, the rules of its rule paths with its
 * overrides, the service map and first_seen detectors it enables, the
 * memory store.  Records are decoded and processed in order, then the
 * pipeline is flushed (end of input), which finalizes the correlation
 * windows: windows use event time, so the timestamps in the records are the
 * case's clock.  Every record must decode into at least one event - a typo
 * that made a record undecodable would turn a negative case into a test
 * that cannot fail.
 *
 * Coverage: every alerting rule of the shipped configuration (the loaded
 * rules that alert by themselves, plus the config-driven service map and
 * first_seen detectors) needs at least one positive and one negative case,
 * so a rule added without cases fails this test.  Gap and false-alarm
 * cases count for neither.
 *
 * Failures are reported as FILE:LINE of the case, the record or the
 * expectation, with the alerts the case produced.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <glob.h>
#include <stdarg.h>

#include "auditwatch/config.h"
#include "auditwatch/decode.h"
#include "auditwatch/pipeline.h"
#include "test_util.h"

#define CONFIG_PATH "config/auditwatch.yaml"
#define CASE_GLOB "tests/data/rule_cases/*.txt"
#define CASE_YEAR 2026
/* The rule name of the service map detector (src/pipeline.c). */
#define SERVICE_MAP_RULE "k8s.unmapped_service"
#define RULE_NAME_LEN 128
#define MAX_STATS 1024

/* ============================================================ case files */

enum case_kind { KIND_POSITIVE, KIND_NEGATIVE, KIND_GAP, KIND_FALSE_ALARM, KIND_COUNT };
static const char *const kind_names[KIND_COUNT] = {"positive", "negative", "gap", "false-alarm"};

enum expect_type { EXPECT_ALERT, EXPECT_NO_ALERT, EXPECT_TOTAL, EXPECT_MATCHES, EXPECT_FIELD };

struct record_line {
    const char *text; /* points into the file text */
    int line;
};

struct expectation {
    enum expect_type type;
    int line;
    char rule[RULE_NAME_LEN]; /* "" for EXPECT_TOTAL */
    long count;
    const char *path, *value; /* EXPECT_FIELD; point into the file text */
};

struct rule_case {
    int line; /* of the "@ case" header */
    char rule[RULE_NAME_LEN];
    enum case_kind kind;
    const char *note;
    struct record_line *records;
    size_t nrecords;
    struct expectation *expects;
    size_t nexpects;
};

/* A parsed case file.  `text` owns every string the cases point into. */
struct case_file {
    char path[256];
    char *text;
    struct rule_case *cases;
    size_t ncases;
    int problems; /* format errors (logged with file:line unless quiet) */
    bool quiet;
};

static void file_problem(struct case_file *f, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void file_problem(struct case_file *f, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!f->quiet)
        cr_log_error("%s:%d: %s", f->path, line, msg);
    f->problems++;
}

/* Next whitespace-separated word of *s (NUL-terminated in place), or NULL. */
static char *next_word(char **s)
{
    char *p = *s + strspn(*s, " \t");
    if (!*p)
        return NULL;
    char *end = p + strcspn(p, " \t");
    if (*end)
        *end++ = '\0';
    *s = end;
    return p;
}

/* A whole-word count ("5"); false when it is not one. */
static bool parse_count(const char *word, long *out)
{
    if (!word || !*word)
        return false;
    char *end;
    long v = strtol(word, &end, 10);
    if (*end || v < 0)
        return false;
    *out = v;
    return true;
}

static bool copy_rule_name(struct case_file *f, int line, char out[RULE_NAME_LEN], const char *word)
{
    if (!word) {
        file_problem(f, line, "a rule name is missing");
        return false;
    }
    if (strlen(word) >= RULE_NAME_LEN) {
        file_problem(f, line, "rule name too long: %.40s...", word);
        return false;
    }
    snprintf(out, RULE_NAME_LEN, "%s", word);
    return true;
}

/* "@ case RULE KIND[: note]" into a new case of f; false on a bad header. */
static bool parse_header(struct case_file *f, int line, char *rest)
{
    char *word = next_word(&rest);
    if (!word || strcmp(word, "case") != 0) {
        file_problem(f, line, "expected '@ case RULE KIND[: note]'");
        return false;
    }
    struct rule_case c = {.line = line};
    if (!copy_rule_name(f, line, c.rule, next_word(&rest)))
        return false;
    /* The kind ends at a colon or a blank; the note follows the colon. */
    char *kind = rest + strspn(rest, " \t");
    size_t klen = strcspn(kind, ": \t");
    char *after = kind + klen;
    c.note = "";
    if (*after) {
        char *colon = strchr(after, ':');
        if (colon)
            c.note = colon + 1 + strspn(colon + 1, " \t");
        else if (after[strspn(after, " \t")] != '\0') {
            file_problem(f, line, "text after the kind must follow a colon: '%s'", after);
            return false;
        }
        *after = '\0';
    }
    int k;
    for (k = 0; k < KIND_COUNT && strcmp(kind, kind_names[k]) != 0; k++)
        ;
    if (k == KIND_COUNT) {
        file_problem(f, line, "unknown case kind '%s' (positive, negative, gap, false-alarm)", kind);
        return false;
    }
    c.kind = (enum case_kind)k;
    struct rule_case *nc = realloc(f->cases, (f->ncases + 1) * sizeof *nc);
    cr_assert_not_null(nc);
    f->cases = nc;
    f->cases[f->ncases++] = c;
    return true;
}

/* One "= ..." line of case c. */
static void parse_expectation(struct case_file *f, struct rule_case *c, int line, char *rest)
{
    struct expectation e = {.line = line};
    char *what = next_word(&rest);
    char *word;
    bool ok = true;
    if (!what) {
        file_problem(f, line, "empty expectation");
        return;
    }
    if (!strcmp(what, "alert")) {
        e.type = EXPECT_ALERT;
        ok = copy_rule_name(f, line, e.rule, next_word(&rest));
        word = next_word(&rest);
        e.count = 1;
        if (ok && word && !parse_count(word, &e.count)) {
            file_problem(f, line, "'= alert RULE [N]': '%s' is not a count", word);
            ok = false;
        }
    } else if (!strcmp(what, "no-alert")) {
        e.type = EXPECT_NO_ALERT;
        ok = copy_rule_name(f, line, e.rule, next_word(&rest));
    } else if (!strcmp(what, "alerts")) {
        e.type = EXPECT_TOTAL;
        word = next_word(&rest);
        if (!parse_count(word, &e.count)) {
            file_problem(f, line, "'= alerts N' needs a count");
            ok = false;
        }
    } else if (!strcmp(what, "matches")) {
        e.type = EXPECT_MATCHES;
        ok = copy_rule_name(f, line, e.rule, next_word(&rest));
        word = next_word(&rest);
        if (ok && !parse_count(word, &e.count)) {
            file_problem(f, line, "'= matches RULE N' needs a count");
            ok = false;
        }
    } else if (!strcmp(what, "field")) {
        e.type = EXPECT_FIELD;
        ok = copy_rule_name(f, line, e.rule, next_word(&rest));
        char *spec = rest + strspn(rest, " \t");
        char *eq = strchr(spec, '=');
        if (ok && (!eq || eq == spec)) {
            file_problem(f, line, "'= field RULE PATH=VALUE' needs PATH=VALUE");
            ok = false;
        }
        if (ok) {
            *eq = '\0';
            e.path = spec;
            e.value = eq + 1;
        }
        rest = eq ? eq + 1 + strlen(eq + 1) : rest; /* the value takes the rest */
    } else {
        file_problem(f, line, "unknown expectation '%s' (alert, no-alert, alerts, matches, field)", what);
        return;
    }
    if (ok && e.type != EXPECT_FIELD && (word = next_word(&rest)) != NULL) {
        file_problem(f, line, "unexpected '%s' at the end of the expectation", word);
        ok = false;
    }
    if (!ok)
        return;
    if (!strcmp(e.rule, c->rule) && e.type == EXPECT_ALERT && c->kind != KIND_POSITIVE) {
        file_problem(f, line, "a %s case cannot expect its own rule to alert", kind_names[c->kind]);
        return;
    }
    if (!strcmp(e.rule, c->rule) && e.type == EXPECT_ALERT && e.count == 0) {
        file_problem(f, line, "a positive case cannot expect 0 alerts of its rule");
        return;
    }
    struct expectation *ne = realloc(c->expects, (c->nexpects + 1) * sizeof *ne);
    cr_assert_not_null(ne);
    c->expects = ne;
    c->expects[c->nexpects++] = e;
}

/* Read and parse a case file; format problems are counted, and logged
 * unless `quiet` (one test reports them; the others only run cases).
 * Returns false when the file cannot be read. */
static bool case_file_load(struct case_file *f, const char *path, bool quiet)
{
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    f->quiet = quiet;
    f->text = test_read_file(path, NULL);
    if (!f->text) {
        file_problem(f, 0, "cannot read the file");
        return false;
    }
    struct rule_case *cur = NULL;
    int lineno = 0;
    for (char *p = f->text; p && *p;) {
        char *line = p;
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        p = nl ? nl + 1 : NULL;
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        if (line[0] == '#' || line[strspn(line, " \t")] == '\0')
            continue;
        if (line[0] == '@') {
            cur = parse_header(f, lineno, line + 1) ? &f->cases[f->ncases - 1] : NULL;
            continue;
        }
        if (line[0] != '<' && line[0] != '=') {
            file_problem(f, lineno, "a line must start with #, @, < or =");
            continue;
        }
        if (!cur) {
            file_problem(f, lineno, "'%c' line outside a case (after a bad or missing '@ case')", line[0]);
            continue;
        }
        if (line[0] == '<') {
            const char *body = line + 1;
            if (*body == ' ')
                body++;
            if (!*body) {
                file_problem(f, lineno, "empty record");
                continue;
            }
            struct record_line *nr = realloc(cur->records, (cur->nrecords + 1) * sizeof *nr);
            cr_assert_not_null(nr);
            cur->records = nr;
            cur->records[cur->nrecords++] = (struct record_line){body, lineno};
        } else {
            parse_expectation(f, cur, lineno, line + 1);
        }
    }
    for (size_t i = 0; i < f->ncases; i++)
        if (!f->cases[i].nrecords)
            file_problem(f, f->cases[i].line, "case %s %s has no records", f->cases[i].rule,
                         kind_names[f->cases[i].kind]);
    return true;
}

static void case_file_free(struct case_file *f)
{
    for (size_t i = 0; i < f->ncases; i++) {
        free(f->cases[i].records);
        free(f->cases[i].expects);
    }
    free(f->cases);
    free(f->text);
}

/* The case files, sorted by path (glob sorts); 0 when there are none. */
static size_t case_paths(glob_t *g)
{
    memset(g, 0, sizeof *g);
    int rc = glob(CASE_GLOB, 0, NULL, g);
    return rc == 0 ? g->gl_pathc : 0;
}

/* ======================================================= the pipeline */

/* One pipeline as `auditwatch replay` builds it, and what it alerted. */
struct shipped {
    struct aw_config cfg;
    struct aw_diags diags;
    struct aw_ruleset rules;
    struct aw_store *store;
    const char *envelope[AW_MAX_ENVELOPE_FIELDS + 1];
    struct aw_decoder *dec;
    struct aw_pipeline *p;
    json_t *alerts; /* array of the alerts, rendered and parsed back */
    int bad_alerts; /* alerts whose rendering was not valid JSON */
};

static int collect_alert(void *ctx, const struct aw_alert *a)
{
    struct shipped *s = ctx;
    struct aw_buf b = {0};
    aw_alert_render_json(a, &b);
    json_error_t err;
    json_t *j = json_loadb(b.data, b.len, 0, &err);
    if (j)
        json_array_append_new(s->alerts, j);
    else {
        cr_log_error("alert is not valid JSON (%s): %.*s", err.text, (int)b.len, b.data);
        s->bad_alerts++;
    }
    aw_buf_free(&b);
    return 0;
}

static void shipped_close(struct shipped *s)
{
    aw_pipeline_free(s->p);
    aw_decoder_free(s->dec);
    aw_store_destroy(s->store);
    aw_ruleset_free(&s->rules);
    aw_config_free(&s->cfg);
    aw_diags_free(&s->diags);
    json_decref(s->alerts);
    memset(s, 0, sizeof *s);
}

/* Build the pipeline: config, rules from its paths, link, overrides,
 * memory store, decoder, pipeline - the calls of src/cli_replay.c.  A
 * failure is fatal to the whole test: the shipped configuration must load. */
static void shipped_open(struct shipped *s)
{
    memset(s, 0, sizeof *s);
    s->alerts = json_array();
    aw_config_init_defaults(&s->cfg);
    if (aw_config_load(&s->cfg, CONFIG_PATH, &s->diags) == 0) {
        cr_assert_gt(s->cfg.rule_paths.n, 0, "%s names no rule paths", CONFIG_PATH);
        for (size_t i = 0; i < s->cfg.rule_paths.n; i++) {
            char *path = aw_config_resolve_path(&s->cfg, s->cfg.rule_paths.items[i]);
            aw_ruleset_load_path(&s->rules, path, &s->diags);
            free(path);
        }
    }
    if (!s->diags.n)
        aw_ruleset_link(&s->rules, &s->diags);
    if (!s->diags.n)
        aw_config_apply_overrides(&s->cfg, &s->rules, &s->diags);
    if (s->diags.n)
        aw_diag_print(&s->diags, stderr);
    cr_assert_eq(s->diags.n, 0, "the shipped configuration or rules have problems (see above)");

    struct aw_store_options so = {.memory_cap = s->cfg.memory_cap, .prefix = s->cfg.replay_prefix};
    s->store = aw_store_memory_new(&so);
    for (size_t i = 0; i < s->cfg.envelope_fields.n && i < AW_MAX_ENVELOPE_FIELDS; i++)
        s->envelope[i] = s->cfg.envelope_fields.items[i];
    struct aw_decode_options opts = {
        .source = AW_SOURCE_AUTO,
        .year = CASE_YEAR,
        .timezone = s->cfg.timezone,
        .max_record = s->cfg.max_record,
        .strict = s->cfg.strict,
        .envelope_fields = s->cfg.envelope_fields.n ? s->envelope : NULL,
    };
    char err[512];
    s->dec = aw_decoder_new(&opts, err, sizeof err);
    cr_assert_not_null(s->dec, "decoder: %s", err);
    struct aw_pipeline_options po = {&s->rules, &s->cfg, s->store, collect_alert, s, false, 0, NULL};
    s->p = aw_pipeline_new(&po, err, sizeof err);
    cr_assert_not_null(s->p, "pipeline: %s", err);
}

/* Whether `name` is an alerting rule of the pipeline: a loaded rule that
 * alerts by itself (read after aw_pipeline_new, which turns off the own
 * alerts of rules that feed a first_seen entry), or a config-driven
 * detector. */
static bool is_alerting(const struct shipped *s, const char *name)
{
    const struct aw_rule *r = aw_ruleset_find(&s->rules, name);
    if (r)
        return r->alerts && !r->disabled;
    if (s->cfg.service_map_path && !strcmp(name, SERVICE_MAP_RULE))
        return true;
    for (size_t i = 0; i < s->cfg.nfirst_seen; i++)
        if (s->cfg.first_seen[i].name && !strcmp(name, s->cfg.first_seen[i].name))
            return true;
    return false;
}

static bool is_known(const struct shipped *s, const char *name)
{
    return aw_ruleset_find(&s->rules, name) != NULL || is_alerting(s, name);
}

/* Every alerting rule name, in load order, then the config-driven ones. */
static size_t alerting_names(const struct shipped *s, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < s->rules.n && n < max; i++)
        if (is_alerting(s, s->rules.rules[i]->name))
            out[n++] = s->rules.rules[i]->name;
    if (s->cfg.service_map_path && n < max)
        out[n++] = SERVICE_MAP_RULE;
    for (size_t i = 0; i < s->cfg.nfirst_seen && n < max; i++)
        out[n++] = s->cfg.first_seen[i].name;
    return n;
}

static int feed_event(void *ctx, struct aw_event *ev)
{
    return aw_pipeline_process(ctx, ev) < 0 ? -1 : 0;
}

static const char *alert_rule(json_t *alert)
{
    json_t *v = test_json_path(alert, "rule.name");
    return json_is_string(v) ? json_string_value(v) : "";
}

static long alert_count(const struct shipped *s, const char *rule)
{
    long n = 0;
    size_t i;
    json_t *a;
    json_array_foreach(s->alerts, i, a)
    {
        if (!strcmp(alert_rule(a), rule))
            n++;
    }
    return n;
}

/* ========================================================== running */

/* Failure of the current case: FILE:LINE, the case, and the message. */
struct case_ctx {
    const struct case_file *f;
    const struct rule_case *c;
    bool failed;
};

static void case_fail(struct case_ctx *cc, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void case_fail(struct case_ctx *cc, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cr_log_error("%s:%d: [case %s %s%s%s] %s", cc->f->path, line, cc->c->rule, kind_names[cc->c->kind],
                 *cc->c->note ? ": " : "", cc->c->note, msg);
    cc->failed = true;
}

static void check_field(struct case_ctx *cc, const struct shipped *s, const struct expectation *e)
{
    size_t i;
    json_t *a, *alert = NULL;
    json_array_foreach(s->alerts, i, a)
    {
        if (!strcmp(alert_rule(a), e->rule)) {
            alert = a;
            break;
        }
    }
    if (!alert) {
        case_fail(cc, e->line, "no alert of %s to read %s from", e->rule, e->path);
        return;
    }
    json_t *v = test_json_path(alert, e->path);
    if (!*e->value) {
        if (v) {
            char *t = test_json_text(v);
            case_fail(cc, e->line, "%s of the %s alert should be absent, is '%s'", e->path, e->rule, t);
            free(t);
        }
        return;
    }
    if (!v) {
        case_fail(cc, e->line, "%s of the %s alert is missing (want '%s')", e->path, e->rule, e->value);
        return;
    }
    char *t = test_json_text(v);
    if (strcmp(t, e->value) != 0) {
        /* A value may also be written as compact JSON. */
        char *dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!dump || strcmp(dump, e->value) != 0)
            case_fail(cc, e->line, "%s of the %s alert is '%s', want '%s'", e->path, e->rule, t, e->value);
        free(dump);
    }
    free(t);
}

static void check_expectation(struct case_ctx *cc, const struct shipped *s, const struct expectation *e)
{
    if (e->type != EXPECT_TOTAL && !is_known(s, e->rule)) {
        case_fail(cc, e->line, "'%s' is not a rule of the shipped configuration", e->rule);
        return;
    }
    switch (e->type) {
    case EXPECT_ALERT:
    case EXPECT_NO_ALERT: {
        long want = e->type == EXPECT_ALERT ? e->count : 0;
        long got = alert_count(s, e->rule);
        if (want && !is_alerting(s, e->rule))
            case_fail(cc, e->line, "%s does not alert by itself (a building block?)", e->rule);
        else if (got != want)
            case_fail(cc, e->line, "%s alerted %ld time(s), want %ld", e->rule, got, want);
        break;
    }
    case EXPECT_TOTAL: {
        long got = (long)json_array_size(s->alerts);
        if (got != e->count)
            case_fail(cc, e->line, "%ld alert(s) in all, want %ld", got, e->count);
        break;
    }
    case EXPECT_MATCHES: {
        struct aw_rule_stats st[MAX_STATS];
        size_t n = aw_pipeline_stats(s->p, st, MAX_STATS);
        size_t i;
        for (i = 0; i < n && strcmp(st[i].name, e->rule) != 0; i++)
            ;
        if (i == n)
            case_fail(cc, e->line, "%s is not an enabled detection rule (no match count)", e->rule);
        else if ((long)st[i].matches != e->count)
            case_fail(cc, e->line, "%s matched %llu event(s), want %ld", e->rule,
                      (unsigned long long)st[i].matches, e->count);
        break;
    }
    case EXPECT_FIELD: check_field(cc, s, e); break;
    }
}

/* What the case's kind implies about its own rule. */
static void check_kind(struct case_ctx *cc, const struct shipped *s)
{
    const struct rule_case *c = cc->c;
    if (!is_alerting(s, c->rule)) {
        case_fail(cc, c->line, "%s is not an alerting rule of the shipped configuration%s", c->rule,
                  is_known(s, c->rule) ? " (a building block: name the rule it feeds)" : "");
        return;
    }
    long got = alert_count(s, c->rule);
    switch (c->kind) {
    case KIND_POSITIVE:
        for (size_t i = 0; i < c->nexpects; i++)
            if (c->expects[i].type == EXPECT_ALERT && !strcmp(c->expects[i].rule, c->rule))
                return; /* counted by that expectation */
        if (got != 1)
            case_fail(cc, c->line, "%s alerted %ld time(s), want exactly 1", c->rule, got);
        break;
    case KIND_NEGATIVE:
        if (got)
            case_fail(cc, c->line, "%s alerted %ld time(s) on a benign case, want none", c->rule, got);
        break;
    case KIND_GAP:
        if (got)
            case_fail(cc, c->line, "%s now catches this known gap (%ld alert(s)): make it a positive case",
                      c->rule, got);
        break;
    case KIND_FALSE_ALARM:
        if (!got)
            case_fail(cc, c->line, "%s no longer alerts on this known false alarm: make it a negative case",
                      c->rule);
        break;
    case KIND_COUNT: break;
    }
}

static void log_alerts(const struct shipped *s)
{
    size_t i;
    json_t *a;
    if (!json_array_size(s->alerts))
        cr_log_error("    (no alerts)");
    json_array_foreach(s->alerts, i, a)
    {
        json_t *m = test_json_path(a, "message");
        cr_log_error("    alert %s: %s", alert_rule(a), json_is_string(m) ? json_string_value(m) : "");
    }
}

/* Run one case in a fresh pipeline; false when it failed (logged). */
static bool run_case(const struct case_file *f, const struct rule_case *c)
{
    struct case_ctx cc = {f, c, false};
    struct shipped s;
    shipped_open(&s);
    bool fed = true;
    for (size_t i = 0; i < c->nrecords && fed; i++) {
        const struct record_line *r = &c->records[i];
        struct aw_record rec = {.data = r->text, .len = strlen(r->text)};
        rec.origin.kind = AW_ORIGIN_FILE;
        rec.origin.file = f->path;
        rec.origin.line = (uint64_t)r->line;
        struct aw_reject why = {0};
        int rc = aw_decoder_decode(s.dec, &rec, feed_event, s.p, &why);
        if (rc == -1)
            case_fail(&cc, r->line, "record rejected as %s (%s)", aw_reject_name(why.reason), why.detail);
        else if (rc == -2) {
            case_fail(&cc, r->line, "the pipeline failed on this record");
            fed = false;
        } else if (rc == 0)
            case_fail(&cc, r->line, "the record gave no event");
    }
    if (fed && aw_pipeline_flush(s.p) < 0)
        case_fail(&cc, c->line, "flushing the pipeline failed");
    if (s.bad_alerts)
        case_fail(&cc, c->line, "%d alert(s) did not render as JSON", s.bad_alerts);
    if (fed) {
        check_kind(&cc, &s);
        for (size_t i = 0; i < c->nexpects; i++)
            check_expectation(&cc, &s, &c->expects[i]);
    }
    if (cc.failed)
        log_alerts(&s);
    shipped_close(&s);
    return !cc.failed;
}

/* ============================================================ tests */

/* One case as a test parameter: its file and the line of its header.
 * Each case runs in a test process of its own, so a crash names it. */
struct case_ref {
    char path[256];
    int line;
};

static void free_case_refs(struct criterion_test_params *params) { cr_free(params->params); }

ParameterizedTestParameters(rule_cases, each_case)
{
    glob_t g;
    size_t nfiles = case_paths(&g), n = 0;
    struct case_ref *refs = NULL;
    for (size_t pass = 0; pass < 2; pass++) {
        if (pass == 1)
            refs = cr_malloc((n ? n : 1) * sizeof *refs);
        n = 0;
        for (size_t i = 0; i < nfiles; i++) {
            struct case_file f;
            case_file_load(&f, g.gl_pathv[i], true);
            for (size_t k = 0; k < f.ncases; k++, n++)
                if (refs) {
                    snprintf(refs[n].path, sizeof refs[n].path, "%s", f.path);
                    refs[n].line = f.cases[k].line;
                }
            case_file_free(&f);
        }
    }
    globfree(&g);
    return cr_make_param_array(struct case_ref, refs, n, free_case_refs);
}

ParameterizedTest(struct case_ref *ref, rule_cases, each_case)
{
    cr_log_info("%s:%d", ref->path, ref->line);
    struct case_file f;
    cr_assert(case_file_load(&f, ref->path, true), "cannot read %s", ref->path);
    const struct rule_case *c = NULL;
    for (size_t k = 0; k < f.ncases && !c; k++)
        if (f.cases[k].line == ref->line)
            c = &f.cases[k];
    cr_assert_not_null(c, "%s:%d: the case is gone", ref->path, ref->line);
    bool ok = run_case(&f, c);
    cr_expect(ok, "%s:%d: case %s %s failed (see the log above)", f.path, c->line, c->rule,
              kind_names[c->kind]);
    case_file_free(&f);
}

Test(rule_cases, case_files_are_well_formed)
{
    glob_t g;
    size_t nfiles = case_paths(&g);
    cr_assert_gt(nfiles, 0, "no case files match %s", CASE_GLOB);
    int problems = 0;
    for (size_t i = 0; i < nfiles; i++) {
        struct case_file f;
        case_file_load(&f, g.gl_pathv[i], false);
        cr_expect_gt(f.ncases, 0, "%s holds no cases", f.path);
        problems += f.problems;
        case_file_free(&f);
    }
    globfree(&g);
    cr_expect_eq(problems, 0, "%d format problem(s) in the case files (see the log)", problems);
}

Test(rule_cases, every_alerting_rule_has_a_positive_and_a_negative_case)
{
    struct shipped s;
    shipped_open(&s);
    const char *names[MAX_STATS];
    size_t n = alerting_names(&s, names, MAX_STATS);
    cr_assert_gt(n, 0, "the shipped configuration has no alerting rules");
    int (*count)[KIND_COUNT] = calloc(n, sizeof *count);
    cr_assert_not_null(count);

    glob_t g;
    size_t nfiles = case_paths(&g);
    for (size_t i = 0; i < nfiles; i++) {
        struct case_file f;
        case_file_load(&f, g.gl_pathv[i], true);
        for (size_t k = 0; k < f.ncases; k++) {
            const struct rule_case *c = &f.cases[k];
            size_t r;
            for (r = 0; r < n && strcmp(names[r], c->rule) != 0; r++)
                ;
            if (r < n)
                count[r][c->kind]++;
            cr_expect_lt(r, n, "%s:%d: case for %s, which is not an alerting rule of the shipped "
                         "configuration", f.path, c->line, c->rule);
        }
        case_file_free(&f);
    }
    globfree(&g);

    int missing = 0;
    for (size_t r = 0; r < n; r++) {
        cr_log_info("%-36s positive %d  negative %d  gap %d  false-alarm %d", names[r],
                    count[r][KIND_POSITIVE], count[r][KIND_NEGATIVE], count[r][KIND_GAP],
                    count[r][KIND_FALSE_ALARM]);
        if (!count[r][KIND_POSITIVE] || !count[r][KIND_NEGATIVE]) {
            cr_log_error("%s has %d positive and %d negative case(s) in %s; it needs at least one of each",
                         names[r], count[r][KIND_POSITIVE], count[r][KIND_NEGATIVE], CASE_GLOB);
            missing++;
        }
    }
    cr_expect_eq(missing, 0, "%d alerting rule(s) without a positive and a negative case (see the log)",
                 missing);
    free(count);
    shipped_close(&s);
}
