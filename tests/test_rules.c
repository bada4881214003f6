/*
 * test_rules.c - loading, checking and linking rule files.
 *
 * Good fixtures (tests/data/rules/good) must load without a single
 * problem and link into the expected graph; every bad fixture
 * (tests/data/rules/bad) and every inline case must produce a problem at
 * the exact file:line:col with a message that names the feature.  The YAML
 * tree and the duration parser are checked here too, since the loader
 * stands on them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditwatch/diag.h"
#include "auditwatch/rule.h"
#include "auditwatch/yaml_tree.h"

int aw_check_rule_paths(const char *const *paths, size_t n, FILE *out);

#define GOOD "tests/data/rules/good"
#define BAD "tests/data/rules/bad/"

/* Print diags into a string for failure messages. */
static char *diags_text(const struct aw_diags *d)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    aw_diag_print(d, f);
    fclose(f);
    return text;
}

/* ------------------------------------------------------------ good rules */

Test(rules, good_fixtures_load_and_link)
{
    struct aw_ruleset set = {0};
    struct aw_diags diags = {0};
    size_t problems = aw_ruleset_load_path(&set, GOOD, &diags);
    problems += aw_ruleset_link(&set, &diags);
    char *text = diags_text(&diags);
    cr_assert_eq(problems, 0, "problems:\n%s", text);
    free(text);
    cr_assert_eq(set.n, 8);
    /* Files load in path order, documents in file order. */
    cr_expect_str_eq(set.rules[0]->name, "auth.ssh_failure");
    cr_expect_str_eq(set.rules[1]->name, "auth.ssh_bruteforce");
    for (size_t i = 0; i < set.n; i++)
        cr_expect_eq(set.rules[i]->index, i);

    /* The detection and its correlation in one multi-document file. */
    struct aw_rule *fail = aw_ruleset_find(&set, "auth.ssh_failure");
    struct aw_rule *brute = aw_ruleset_find(&set, "auth.ssh_bruteforce");
    cr_assert(fail && brute);
    cr_expect_eq(aw_ruleset_find(&set, "5c0b6c0e-7a52-4c1e-9d6a-0d3f2b1a9e11"), fail);
    cr_expect_eq(fail->line, 2);
    cr_expect_eq(brute->line, 27);
    cr_expect_str_eq(fail->title, "SSH authentication failure");
    cr_expect_eq(fail->level, AW_LEVEL_LOW);
    cr_expect_eq(fail->datasets, AW_DATASET_AUTH);
    cr_expect_str_eq(fail->service, "auth");
    cr_expect_eq(fail->ntags, 2);
    cr_assert_eq(fail->ntechniques, 1);
    cr_expect_str_eq(fail->techniques[0], "T1110.001");
    cr_expect(fail->detection != NULL && fail->correlation == NULL);
    cr_expect(fail->referenced);
    cr_expect(!fail->alerts, "referenced without generate: no alerts of its own");
    cr_assert_eq(fail->nconsumers, 1);
    cr_expect_eq(fail->consumers[0], brute);

    const struct aw_correlation *c = brute->correlation;
    cr_assert(c != NULL);
    cr_expect_eq(brute->datasets, 0);
    cr_expect_eq(c->type, AW_CORR_EVENT_COUNT);
    cr_expect_eq(c->cmp, AW_CMP_GTE);
    cr_expect_eq(c->threshold, 5);
    cr_expect_eq(c->timespan_ms, 10 * 60 * 1000);
    cr_expect(!c->generate);
    cr_assert_eq(c->nrules, 1);
    cr_expect_eq(c->rules[0], fail);
    cr_assert_eq(c->ngroup, 1);
    cr_expect_str_eq(c->group_by[0].name, "source.ip");
    cr_expect_eq(c->group_by[0].per_rule[0].ecs, AW_F_SOURCE_IP);
    cr_expect(brute->alerts);
    cr_expect_eq(brute->suppress_ms, 30 * 60 * 1000);
    cr_expect_eq(brute->lateness_ms, 2 * 60 * 1000);
    cr_expect_eq(brute->level, AW_LEVEL_HIGH);

    /* SigmaHQ-shaped Kubernetes rule: no name, so the id names it. */
    struct aw_rule *exec = aw_ruleset_find(&set, "3f1d8a52-3c44-4d8e-a3cf-8f0b5a0e6a21");
    cr_assert(exec != NULL);
    cr_expect_str_eq(exec->name, exec->id);
    cr_expect_eq(exec->datasets, AW_DATASET_K8S);
    cr_expect_str_eq(exec->category, "application");
    cr_expect_eq(exec->level, AW_LEVEL_MEDIUM);
    cr_expect(exec->alerts && !exec->referenced);

    /* SigmaHQ-shaped linux keyword rule without a service. */
    struct aw_rule *kw = aw_ruleset_find(&set, "8b2d6f3e-1c0a-4f57-9e0b-6a4c2d9e7f10");
    cr_assert(kw != NULL);
    cr_expect_eq(kw->datasets, AW_DATASET_AUTH);
    cr_expect_null(kw->service);
    cr_expect_eq(kw->suppress_ms, -1);
    cr_expect_eq(kw->lateness_ms, -1);

    /* Temporal with aliases and generate, consumed by a chained count. */
    struct aw_rule *rd = aw_ruleset_find(&set, "k8s.secret_read");
    struct aw_rule *ex = aw_ruleset_find(&set, "k8s.pod_exec");
    struct aw_rule *tmp = aw_ruleset_find(&set, "k8s.secret_then_exec");
    struct aw_rule *rep = aw_ruleset_find(&set, "k8s.secret_then_exec_repeated");
    cr_assert(rd && ex && tmp && rep);
    const struct aw_correlation *t = tmp->correlation;
    cr_expect_eq(t->type, AW_CORR_TEMPORAL_ORDERED);
    cr_expect_eq(t->cmp, AW_CMP_GTE);
    cr_expect_eq(t->threshold, 2, "temporal defaults to all referenced rules");
    cr_expect(t->generate, "top-level generate: true");
    cr_assert_eq(t->ngroup, 1);
    cr_expect_str_eq(t->group_by[0].name, "actor");
    cr_expect_str_eq(t->group_by[0].per_rule[0].name, "user.name");
    cr_expect_eq(t->group_by[0].per_rule[0].ecs, AW_F_USER_NAME);
    cr_expect_str_eq(t->group_by[0].per_rule[1].name, "user.username");
    cr_expect_eq(t->group_by[0].per_rule[1].ecs, -1);
    cr_expect_eq(t->group_by[0].per_rule[1].depth, 2);
    cr_expect(rd->referenced && rd->alerts, "generate: true keeps the inputs alerting");
    cr_expect(ex->referenced && ex->alerts);
    cr_expect(tmp->referenced && !tmp->alerts, "consumed by a correlation without generate");
    cr_expect(!rep->referenced && rep->alerts);
    cr_expect_eq(rep->correlation->rules[0], tmp);
    cr_expect_eq(rep->correlation->cmp, AW_CMP_GT);
    cr_expect_str_eq(rep->correlation->group_by[0].per_rule[0].name, "actor");
    cr_expect_eq(rep->level, AW_LEVEL_CRITICAL);

    aw_diags_free(&diags);
    aw_ruleset_free(&set);
}

/* ------------------------------------------------------------ bad files */

static const struct {
    const char *file;
    int line, column;
    const char *message; /* a substring of the problem */
} bad_files[] = {
    {"unknown_modifier.yml", 6, 9, "unknown modifier 'startwith'"},
    {"unsupported_modifier.yml", 7, 9, "modifier 'base64offset' is not supported by auditwatch"},
    {"aggregation.yml", 10, 5, "timeframe is Sigma 1 aggregation; use a correlation rule"},
    {"aggregation.yml", 11, 26, "aggregation in condition is Sigma 1; use a correlation rule"},
    {"unknown_identifier.yml", 7, 34, "condition names 'filter'"},
    {"bad_regex.yml", 8, 15, "invalid regular expression 'Failed (password': missing closing"},
    {"bad_cidr.yml", 6, 25, "invalid CIDR '10.0.0.0/33'"},
    {"unknown_logsource.yml", 5, 14, "logsource product 'windows' is not produced by auditwatch"},
    {"unknown_logsource.yml", 15, 14, "logsource service 'auditd' of product 'linux' is not"},
    {"unknown_logsource.yml", 24, 15,
     "logsource category 'process_creation' is not produced by auditwatch"},
    {"unknown_top_key.yml", 4, 1, "unknown top-level key 'severity'"},
    {"missing_title.yml", 1, 1, "rule has no title"},
    {"no_name.yml", 1, 1, "rule needs a name or an id"},
    {"unknown_correlation_ref.yml", 15, 11,
     "correlation refers to unknown rule 'bad.no_such_rule'"},
    {"bad_correlation_type.yml", 4, 11, "correlation type 'value_sum' is not supported"},
    {"missing_timespan.yml", 4, 5, "correlation has no timespan"},
    {"cycle.yml", 4, 5, "correlation cycle: bad.cycle_a -> bad.cycle_b -> bad.cycle_a"},
    {"duplicate_name.yml", 8, 1, "duplicate rule name 'bad.twice'"},
    {"yaml_alias.yml", 5, 10, "anchors ('&base') are not supported"},
    {"chained_groupby.yml", 23, 16,
     "'user.name' is not a group-by field of the correlation 'bad.many'"},
};

Test(rules, bad_fixtures_report_position_and_feature)
{
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, BAD "%s", bad_files[i].file);
        struct aw_ruleset set = {0};
        struct aw_diags diags = {0};
        aw_ruleset_load_path(&set, path, &diags);
        aw_ruleset_link(&set, &diags);
        bool found = false;
        for (size_t k = 0; k < diags.n && !found; k++)
            found = !strcmp(diags.items[k].file, path) &&
                    diags.items[k].line == bad_files[i].line &&
                    diags.items[k].column == bad_files[i].column &&
                    strstr(diags.items[k].message, bad_files[i].message);
        char *text = diags_text(&diags);
        cr_expect(found, "%s: want %d:%d '%s'; got:\n%s", path, bad_files[i].line,
                  bad_files[i].column, bad_files[i].message, text);
        free(text);
        aw_diags_free(&diags);
        aw_ruleset_free(&set);
    }
}

Test(rules, a_bad_document_is_left_out_and_others_load)
{
    struct aw_ruleset set = {0};
    struct aw_diags diags = {0};
    aw_ruleset_load_path(&set, BAD "unknown_logsource.yml", &diags);
    cr_expect_eq(diags.n, 3, "one problem per bad document");
    cr_expect_eq(set.n, 0);
    aw_diags_free(&diags);
    aw_ruleset_free(&set);

    aw_ruleset_load_path(&set, BAD "unknown_correlation_ref.yml", &diags);
    cr_expect_eq(diags.n, 0, "the unknown reference is a link problem");
    cr_expect_eq(set.n, 2);
    cr_expect_eq(aw_ruleset_link(&set, &diags), 1);
    aw_diags_free(&diags);
    aw_ruleset_free(&set);
}

Test(rules, whole_bad_folder_reports_every_file)
{
    struct aw_ruleset set = {0};
    struct aw_diags diags = {0};
    aw_ruleset_load_path(&set, "tests/data/rules/bad", &diags);
    aw_ruleset_link(&set, &diags);
    /* At least one problem from each fixture file. */
    size_t files = 0;
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
        if (i > 0 && !strcmp(bad_files[i].file, bad_files[i - 1].file))
            continue;
        files++;
        bool seen = false;
        for (size_t k = 0; k < diags.n && !seen; k++)
            seen = strstr(diags.items[k].file, bad_files[i].file) != NULL;
        cr_expect(seen, "no problem reported for %s", bad_files[i].file);
    }
    cr_expect_geq(diags.n, files);
    aw_diags_free(&diags);
    aw_ruleset_free(&set);
}

/* ------------------------------------------------------------ inline cases */

#define HEAD "title: t\nname: t\nlogsource: {product: linux}\n"

static const struct {
    const char *yaml;
    int line, column;
    const char *message;
} bad_inline[] = {
    {HEAD "detection:\n  sel:\n    message|contains|startswith: x\n  condition: sel\n", 6, 5,
     "modifiers 'contains' and 'startswith' cannot be combined"},
    {HEAD "detection:\n  sel:\n    message|re|cidr: x\n  condition: sel\n", 6, 5,
     "modifiers 're' and 'cidr' cannot be combined"},
    {HEAD "detection:\n  sel:\n    message|i: x\n  condition: sel\n", 6, 5,
     "modifier 'i' is only valid after 're'"},
    {HEAD "detection:\n  sel:\n    message|re|cased: x\n  condition: sel\n", 6, 5,
     "modifier 'cased' does not apply to 're'"},
    {HEAD "detection:\n  sel:\n    message|windash: x\n  condition: sel\n", 6, 5,
     "modifier 'windash' is not supported by auditwatch"},
    {HEAD "detection:\n  sel:\n    message|fieldref: user.name\n  condition: sel\n", 6, 5,
     "modifier 'fieldref' is not supported by auditwatch"},
    {HEAD "detection:\n  sel:\n    message|expand: '%admins%'\n  condition: sel\n", 6, 5,
     "modifier 'expand' is not supported by auditwatch"},
    {HEAD "detection:\n  sel:\n    message||contains: x\n  condition: sel\n", 6, 5,
     "empty modifier"},
    {HEAD "detection:\n  sel:\n    user.name|exists: maybe\n  condition: sel\n", 6, 23,
     "modifier 'exists' takes true or false"},
    {HEAD "detection:\n  sel:\n    source.port|gt: many\n  condition: sel\n", 6, 21,
     "'many' is not a number"},
    {HEAD "detection:\n  sel:\n    message|contains: null\n  condition: sel\n", 6, 23,
     "a null value cannot be used with modifiers"},
    {HEAD "detection:\n  sel:\n    message: {a: b}\n  condition: sel\n", 6, 14,
     "the value of 'message' must be a string, a number or a list"},
    {HEAD "detection:\n  sel:\n    message: []\n  condition: sel\n", 6, 14,
     "'message' has an empty list of values"},
    {HEAD "detection:\n  sel:\n    a..b: x\n  condition: sel\n", 6, 5,
     "field name 'a..b' has an empty path segment"},
    {HEAD "detection:\n  sel:\n    a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q: x\n  condition: sel\n", 6, 5,
     "more than 16 segments"},
    {HEAD "detection:\n  sel:\n  condition: sel\n", 5, 7, "search identifier 'sel' has no value"},
    {HEAD "detection:\n  sel: {}\n  condition: sel\n", 5, 8, "holds an empty map"},
    {HEAD "detection:\n  sel: [[a]]\n  condition: sel\n", 5, 9, "a list inside a list"},
    {HEAD "detection:\n  sel: {message: x}\n", 5, 3, "detection has no condition"},
    {HEAD "detection:\n  condition: sel\n", 5, 3, "detection has no search identifier"},
    {HEAD "detection:\n  sel: {message: x}\n  condition: ''\n", 6, 14, "empty condition"},
    {HEAD "detection:\n  sel: {message: x}\n  condition: (sel\n", 6, 18,
     "missing ')' at the end of the condition"},
    {HEAD "detection:\n  sel: {message: x}\n  condition: sel)\n", 6, 17, "unexpected ')'"},
    {HEAD "detection:\n  sel: {message: x}\n  condition: sel and\n", 6, 21,
     "condition ends too early"},
    {HEAD "detection:\n  sel: {message: x}\n  condition: 2 of sel*\n", 6, 14,
     "'2 of' is not supported"},
    {HEAD "detection:\n  sel: {message: x}\n  condition: 1 of foo*\n", 6, 19,
     "'foo*' in condition matches no search identifier"},
    {HEAD "detection:\n  sel: {message: x}\n  condition: all sel\n", 6, 18,
     "expected 'of' after 'all'"},
    {HEAD "detection:\n  sel: {message: x}\n  other: {message: y}\n  condition: sel near other\n",
     7, 18, "'near' is Sigma 1"},
    {HEAD "detection:\n  sel: {message: x}\n  condition: sel & sel\n", 6, 18, "unexpected '&'"},
    {HEAD "detection:\n  sel: {message: x}\n  condition: [sel, nope]\n", 6, 20,
     "condition names 'nope'"},
    {HEAD "detection:\n  sel: {message: x}\n  condition: [sel and, nope]\n", 6, 24,
     "condition names 'nope'"},
    {HEAD "detection:\n  sel: {message: x}\n  condition: {a: b}\n", 6, 14,
     "condition must be a string or a list of strings"},
    {HEAD "level: urgent\ndetection:\n  sel: {message: x}\n  condition: sel\n", 4, 8,
     "unknown level 'urgent'"},
    {HEAD "tags: attack.t1110\ndetection:\n  sel: {message: x}\n  condition: sel\n", 4, 7,
     "'tags' must be a list of strings"},
    {HEAD "auditwatch: {suppress: soon}\ndetection:\n  sel: {message: x}\n  condition: sel\n", 4,
     24, "auditwatch.suppress must be a duration"},
    {HEAD "auditwatch: {mute: 1m}\ndetection:\n  sel: {message: x}\n  condition: sel\n", 4, 14,
     "unknown key 'auditwatch.mute'"},
    {HEAD "generate: true\ndetection:\n  sel: {message: x}\n  condition: sel\n", 4, 11,
     "'generate' belongs to correlation rules"},
    {HEAD "detection:\n  sel: {message: x}\n  condition: sel\ncorrelation: {type: temporal}\n", 7,
     14, "either a detection or a correlation"},
    {"title: t\nname: t\ndetection:\n  sel: {message: x}\n  condition: sel\n", 1, 1,
     "rule has no logsource"},
    {"title: t\nname: t\nlogsource: {product: linux, vendor: x}\ndetection:\n  sel: {message: x}\n"
     "  condition: sel\n",
     3, 29, "unknown logsource key 'vendor'"},
    {"title: t\nname: t\nlogsource: {service: audit}\ndetection:\n  sel: {message: x}\n"
     "  condition: sel\n",
     3, 12, "logsource names no product"},
    {"title: t\nname: t\nlogsource: {product: kubernetes, service: apiserver}\ndetection:\n"
     "  sel: {message: x}\n  condition: sel\n",
     3, 43, "logsource service 'apiserver' of product 'kubernetes' is not produced"},
    {HEAD "detection:\n  sel: {message: x}\n  sel: {message: y}\n  condition: sel\n", 6, 3,
     "duplicate key 'sel' (first at line 5)"},
    {"title: t\nname: t\ncorrelation:\n  type: event_count\n  rules: [a]\n  timespan: 5m\n"
     "  condition: {gt: 1, lte: 9}\n",
     7, 22, "a range condition"},
    {"title: t\nname: t\ncorrelation:\n  type: value_count\n  rules: [a]\n  timespan: 5m\n"
     "  condition: {gte: 3}\n",
     7, 14, "value_count correlation needs condition 'field'"},
    {"title: t\nname: t\ncorrelation:\n  type: event_count\n  rules: [a]\n  timespan: 5m\n", 4, 3,
     "event_count correlation has no condition"},
    {"title: t\nname: t\ncorrelation:\n  type: event_count\n  rules: [a]\n  timespan: 5m\n"
     "  condition: {gte: -1}\n",
     7, 20, "needs a non-negative integer"},
    {"title: t\nname: t\ncorrelation:\n  type: temporal\n  rules: [a, a]\n  timespan: 5m\n", 5,
     14, "'rules' lists 'a' twice"},
    {"title: t\nname: t\ncorrelation:\n  type: temporal\n  rules: [a]\n  timespan: 0s\n", 6, 13,
     "invalid timespan '0s'"},
    {"title: t\nname: t\ncorrelation:\n  type: temporal\n  rules: [a]\n  timespan: 5m\n"
     "  window: 2\n",
     7, 3, "unknown correlation key 'window'"},
    {"title: t\nname: t\ncorrelation:\n  type: temporal\n  rules: [a]\n  timespan: 5m\n"
     "  generate: maybe\n",
     7, 13, "'generate' must be true or false"},
    {"title: t\nname: t\ncorrelation:\n  type: temporal\n  timespan: 5m\n", 4, 3,
     "correlation has no rules"},
    {"- a\n- b\n", 1, 1, "a rule document must be a map"},
    {"title: [unclosed\n", 2, 1, "did not find expected"},
    {"title: !custom x\n", 1, 8, "tag '!custom' is not supported"},
    {"title: *nothing\n", 1, 8, "aliases ('*nothing') are not supported"},
};

Test(rules, inline_problems_have_exact_positions)
{
    for (size_t i = 0; i < sizeof bad_inline / sizeof bad_inline[0]; i++) {
        struct aw_ruleset set = {0};
        struct aw_diags diags = {0};
        const char *y = bad_inline[i].yaml;
        size_t n = aw_ruleset_load_string(&set, "inline.yml", y, strlen(y), &diags);
        bool found = false;
        for (size_t k = 0; k < diags.n && !found; k++)
            found = diags.items[k].line == bad_inline[i].line &&
                    diags.items[k].column == bad_inline[i].column &&
                    strstr(diags.items[k].message, bad_inline[i].message);
        char *text = diags_text(&diags);
        cr_expect(n > 0 && found, "case %zu: want %d:%d '%s'; got:\n%s", i, bad_inline[i].line,
                  bad_inline[i].column, bad_inline[i].message, text);
        cr_expect_eq(set.n, 0, "case %zu: a rule with a problem must not load", i);
        free(text);
        aw_diags_free(&diags);
        aw_ruleset_free(&set);
    }
}

/* Link-time problems that need several rules. */
Test(rules, alias_must_name_a_consumed_rule)
{
    const char *y = "title: a\nname: a\nlogsource: {product: linux}\n"
                    "detection: {s: {message: x}, condition: s}\n"
                    "---\n"
                    "title: c\nname: c\ncorrelation:\n  type: temporal\n  rules: [a]\n"
                    "  group-by: [who]\n  timespan: 1m\n"
                    "  aliases:\n    who:\n      a: user.name\n      b: user.id\n";
    struct aw_ruleset set = {0};
    struct aw_diags diags = {0};
    cr_assert_eq(aw_ruleset_load_string(&set, "alias.yml", y, strlen(y), &diags), 0);
    cr_assert_eq(aw_ruleset_link(&set, &diags), 1);
    cr_expect_eq(diags.items[0].line, 16);
    cr_expect_eq(diags.items[0].column, 7);
    cr_expect(strstr(diags.items[0].message, "alias 'who' names rule 'b'"));
    aw_diags_free(&diags);
    aw_ruleset_free(&set);
}

Test(rules, duplicate_id_and_rules_listed_twice)
{
    const char *y = "title: a\nid: 11111111-1111-4111-8111-111111111111\nname: a\n"
                    "logsource: {product: linux}\ndetection: {s: {message: x}, condition: s}\n"
                    "---\n"
                    "title: b\nid: 11111111-1111-4111-8111-111111111111\n"
                    "logsource: {product: linux}\ndetection: {s: {message: y}, condition: s}\n";
    struct aw_ruleset set = {0};
    struct aw_diags diags = {0};
    cr_assert_eq(aw_ruleset_load_string(&set, "dup.yml", y, strlen(y), &diags), 0);
    cr_expect_eq(aw_ruleset_link(&set, &diags), 1);
    char *text = diags_text(&diags);
    cr_expect(strstr(text, "dup.yml:7:1: duplicate rule id '11111111-1111-4111-8111-111111111111'"
                           " (also used by the rule at dup.yml:1)"),
              "%s", text);
    free(text);
    aw_diags_free(&diags);
    aw_ruleset_free(&set);

    /* The same rule by name and by id. */
    y = "title: a\nid: 11111111-1111-4111-8111-111111111111\nname: a\n"
        "logsource: {product: linux}\ndetection: {s: {message: x}, condition: s}\n"
        "---\n"
        "title: c\nname: c\ncorrelation:\n  type: event_count\n"
        "  rules: [a, 11111111-1111-4111-8111-111111111111]\n"
        "  timespan: 1m\n  condition: {gte: 2}\n";
    cr_assert_eq(aw_ruleset_load_string(&set, "twice.yml", y, strlen(y), &diags), 0);
    cr_expect_eq(aw_ruleset_link(&set, &diags), 1);
    text = diags_text(&diags);
    cr_expect(strstr(text, "twice.yml:11:14: correlation refers to rule 'a' twice"), "%s", text);
    free(text);
    aw_diags_free(&diags);
    aw_ruleset_free(&set);
}

/* `generate` inside the correlation map (pySigma's place) works too, and
 * a correlation without group-by is one global group. */
Test(rules, generate_in_correlation_and_global_group)
{
    const char *y = "title: a\nname: a\nlogsource: {product: linux}\n"
                    "detection: {s: {message: x}, condition: s}\n"
                    "---\n"
                    "title: c\nname: c\ncorrelation:\n  type: value_count\n  rules: a\n"
                    "  timespan: 1h\n  condition: {field: user.name, gte: 3}\n"
                    "  generate: true\n";
    struct aw_ruleset set = {0};
    struct aw_diags diags = {0};
    cr_assert_eq(aw_ruleset_load_string(&set, "gen.yml", y, strlen(y), &diags), 0);
    cr_assert_eq(aw_ruleset_link(&set, &diags), 0);
    const struct aw_rule *a = set.rules[0], *c = set.rules[1];
    cr_expect(c->correlation->generate);
    cr_expect_eq(c->correlation->ngroup, 0);
    cr_expect_str_eq(c->correlation->value_field_name, "user.name");
    cr_expect_eq(c->correlation->value_field[0].ecs, AW_F_USER_NAME);
    cr_expect(a->referenced && a->alerts);
    cr_expect(c->alerts);
    aw_diags_free(&diags);
    aw_ruleset_free(&set);
}

/* ------------------------------------------------------------ the check command */

Test(rules, check_prints_problems_and_summary)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    const char *good[] = {GOOD};
    cr_expect_eq(aw_check_rule_paths(good, 1, f), 0);
    fflush(f);
    cr_expect_str_eq(text, "8 rules loaded (5 detections, 3 correlations), 0 problems\n");
    fclose(f);
    free(text);

    f = open_memstream(&text, &len);
    const char *mixed[] = {GOOD "/linux_shell_keywords.yml", BAD "unknown_modifier.yml",
                           "tests/data/rules/none.yml"};
    cr_expect_eq(aw_check_rule_paths(mixed, 3, f), 2);
    fclose(f);
    cr_expect(strstr(text, BAD "unknown_modifier.yml:6:9: unknown modifier 'startwith'\n"),
              "%s", text);
    cr_expect(strstr(text, "tests/data/rules/none.yml: cannot open: No such file"), "%s", text);
    cr_expect(strstr(text, "1 rules loaded (1 detections, 0 correlations), 2 problems\n"), "%s",
              text);
    free(text);
}

Test(rules, diag_print_escapes_input)
{
    struct aw_diags d = {0};
    aw_diag_add(&d, "a\nb.yml", 3, 4, "unknown key '%s'", "x\x1b[31m\ny\xff");
    aw_diag_add(&d, "f.yml", 0, 0, "whole file");
    aw_diag_add(&d, "f.yml", 7, 0, "whole line; path C:\\x");
    char *text = diags_text(&d);
    cr_expect_str_eq(text, "a\\nb.yml:3:4: unknown key 'x\\x1b[31m\\ny\\xff'\n"
                           "f.yml: whole file\n"
                           "f.yml:7: whole line; path C:\\x\n");
    free(text);
    aw_diags_free(&d);
}

/* ------------------------------------------------------------ YAML and durations */

Test(yaml, tree_positions_quoting_and_documents)
{
    const char *y = "a: 1\nb: '1'\nc:\n  - x\n  - {d: ~}\ne: !!str 2\n---\n- z\n---\n";
    struct aw_ydoc_list docs;
    char err[256];
    cr_assert(aw_yaml_load_string("t.yml", y, strlen(y), &docs, err, sizeof err), "%s", err);
    cr_assert_eq(docs.n, 3);
    const struct aw_ynode *root = docs.docs[0];
    cr_assert_eq(root->type, AW_Y_MAP);
    cr_expect_eq(root->n, 4);
    const struct aw_ynode *a = aw_ymap_get(root, "a"), *b = aw_ymap_get(root, "b");
    cr_expect(aw_yscalar_is(a, "1") && !a->quoted);
    cr_expect(aw_yscalar_is(b, "1") && b->quoted);
    cr_expect_eq(b->line, 2);
    cr_expect_eq(b->column, 4);
    const struct aw_ynode *c = aw_ymap_get(root, "c");
    cr_assert_eq(c->type, AW_Y_SEQ);
    cr_expect_eq(c->items[1]->line, 5);
    cr_expect_eq(c->items[1]->column, 5);
    cr_expect(aw_yscalar_is_null(aw_ymap_get(c->items[1], "d")));
    cr_expect(aw_ymap_get(root, "e")->quoted, "!!str makes a string");
    cr_expect_null(aw_ymap_get(root, "zz"));
    cr_expect_eq(docs.docs[1]->type, AW_Y_SEQ);
    cr_expect(aw_yscalar_is_null(docs.docs[2]), "an empty trailing document is null");
    aw_ydoc_list_free(&docs);
}

Test(yaml, rejects_what_our_formats_do_not_use)
{
    static const struct {
        const char *text;
        const char *err;
    } cases[] = {
        {"a: &x 1\nb: 2\n", "t.yml:1:4: anchors ('&x') are not supported"},
        {"a: [1, *x]\n", "t.yml:1:8: aliases"},
        {"a: !!binary aGk=\n", "t.yml:1:4: tag 'tag:yaml.org,2002:binary' is not supported"},
        {"a: 1\na: 2\n", "t.yml:2:1: duplicate key 'a' (first at line 1)"},
        {"? [a]\n: 1\n", "t.yml:1:3: a mapping key must be a plain string"},
        {"a: \"x\\0y\"\n", "t.yml:1:4: NUL byte"},
        {"a: [\n", "t.yml:2:1:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct aw_ydoc_list docs;
        char err[256] = "";
        cr_expect(!aw_yaml_load_string("t.yml", cases[i].text, strlen(cases[i].text), &docs, err,
                                       sizeof err),
                  "case %zu must fail", i);
        cr_expect(strstr(err, cases[i].err), "case %zu: '%s' lacks '%s'", i, err, cases[i].err);
    }
    struct aw_ydoc_list docs;
    char err[256];
    cr_expect(!aw_yaml_load_file("tests/data/rules/missing.yml", &docs, err, sizeof err));
    cr_expect(strstr(err, "tests/data/rules/missing.yml:0:0: cannot open"), "%s", err);
    /* Nesting is bounded. */
    char deep[300];
    memset(deep, '[', 200);
    deep[200] = '\0';
    cr_expect(!aw_yaml_load_string("t.yml", deep, 200, &docs, err, sizeof err));
    cr_expect(strstr(err, "nesting deeper than"), "%s", err);
}

Test(yaml, durations)
{
    static const struct {
        const char *text;
        int64_t ms; /* -1: invalid */
    } cases[] = {
        {"30s", 30000}, {"10m", 600000},  {"2h", 7200000}, {"1d", 86400000}, {"500ms", 500},
        {"45", 45000},  {"0s", 0},        {"", -1},        {"m", -1},        {"5 m", -1},
        {"-5m", -1},    {"1.5h", -1},     {"5M", -1},      {"3w", -1},       {"10mss", -1},
        {"99999999999999999999s", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = 12345;
        bool ok = aw_parse_duration_ms(cases[i].text, &ms);
        if (cases[i].ms < 0) {
            cr_expect(!ok, "'%s' must not parse", cases[i].text);
        } else {
            cr_expect(ok, "'%s' must parse", cases[i].text);
            cr_expect_eq(ms, cases[i].ms, "'%s'", cases[i].text);
        }
    }
}

Test(rules, levels_and_comparisons)
{
    static const struct {
        enum aw_level level;
        const char *name;
        int severity;
    } levels[] = {
        {AW_LEVEL_INFORMATIONAL, "informational", 10}, {AW_LEVEL_LOW, "low", 21},
        {AW_LEVEL_MEDIUM, "medium", 47},               {AW_LEVEL_HIGH, "high", 73},
        {AW_LEVEL_CRITICAL, "critical", 99},
    };
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        cr_expect_str_eq(aw_level_name(levels[i].level), levels[i].name);
        cr_expect_eq(aw_level_severity(levels[i].level), levels[i].severity);
    }
    static const struct {
        enum aw_cmp cmp;
        int64_t v, t;
        bool want;
    } cmps[] = {
        {AW_CMP_GT, 5, 4, true},   {AW_CMP_GT, 5, 5, false},  {AW_CMP_GTE, 5, 5, true},
        {AW_CMP_GTE, 4, 5, false}, {AW_CMP_LT, 4, 5, true},   {AW_CMP_LT, 5, 5, false},
        {AW_CMP_LTE, 5, 5, true},  {AW_CMP_LTE, 6, 5, false}, {AW_CMP_EQ, 5, 5, true},
        {AW_CMP_EQ, 4, 5, false},
    };
    for (size_t i = 0; i < sizeof cmps / sizeof cmps[0]; i++)
        cr_expect_eq(aw_cmp_holds(cmps[i].cmp, cmps[i].v, cmps[i].t), cmps[i].want, "case %zu", i);
}
