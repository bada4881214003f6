/*
 * test_rule_gate.c - the action pre-filter (aw_rule_action_gate) is a
 * necessary condition of a rule: the sets it derives, and "no set" where
 * the condition does not pin the action; and the index the pipeline
 * builds from those sets (gate_index.c) hands out exactly the rules whose
 * set admits an action, without case, in rule order.
 */
#include <criterion/criterion.h>

#include "auditwatch/rule.h"
#include "gate_index.h"

static size_t gate_of(const char *yaml, const char **out, size_t max)
{
    struct aw_ruleset set = {0};
    struct aw_diags d = {0};
    aw_ruleset_load_string(&set, "gate.yml", yaml, strlen(yaml), &d);
    aw_diag_print(&d, stderr);
    cr_assert_eq(d.n, 0);
    cr_assert_eq(set.n, 1);
    static char keep[8][32];
    size_t n = aw_rule_action_gate(set.rules[0], out, max);
    for (size_t i = 0; i < n && i < 8; i++) { /* the strings belong to the rule */
        snprintf(keep[i], sizeof keep[i], "%s", out[i]);
        out[i] = keep[i];
    }
    aw_ruleset_free(&set);
    aw_diags_free(&d);
    return n;
}

#define HEAD "title: t\nname: t.r\nlogsource: {product: linux, service: auth}\ndetection:\n"
#define K8S "title: t\nname: t.r\nlogsource: {product: kubernetes, service: audit}\ndetection:\n"

Test(gate, derived_sets)
{
    const char *v[16];
    cr_assert_eq(gate_of(HEAD "  s: {event.action: SSH_Login, event.outcome: failure}\n  condition: s\n", v, 16), 1);
    cr_expect_str_eq(v[0], "ssh_login");
    cr_assert_eq(gate_of(HEAD "  a: {event.action: [sudo, su]}\n  b: {event.action: pam_auth}\n"
                              "  condition: a or b\n", v, 16), 3);
    cr_assert_eq(gate_of(HEAD "  a: {event.action: sudo}\n  b: {user.name: root}\n  condition: b and a\n", v, 16), 1);
    cr_expect_str_eq(v[0], "sudo");
    cr_assert_eq(gate_of(K8S "  w: {verb: [create, patch], objectRef.resource: pods}\n  condition: w\n", v, 16), 2);
}

Test(gate, no_set_where_the_action_is_not_pinned)
{
    const char *v[16];
    cr_expect_eq(gate_of(HEAD "  a: {event.action: sudo}\n  b: {user.name: root}\n  condition: a or b\n", v, 16), 0);
    cr_expect_eq(gate_of(HEAD "  a: {event.action: sudo}\n  condition: not a\n", v, 16), 0);
    cr_expect_eq(gate_of(HEAD "  a: {event.action|startswith: ssh_}\n  condition: a\n", v, 16), 0);
    cr_expect_eq(gate_of(HEAD "  a: {event.action|cased: Sudo}\n  condition: a\n", v, 16), 0);
    cr_expect_eq(gate_of(HEAD "  a:\n    - {event.action: sudo}\n    - {user.name: root}\n  condition: a\n", v, 16), 0);
    cr_expect_eq(gate_of(HEAD "  kw: [failed]\n  condition: kw\n", v, 16), 0);
    cr_expect_eq(gate_of(HEAD "  a: {event.action: [a, b, c]}\n  condition: a\n", v, 2), 0, "more values than room");
}

Test(gate, index_lists_the_rules_an_action_can_match)
{
    struct aw_gate_index *x = aw_gate_index_new();
    cr_assert_not_null(x);
    const char *login[] = {"ssh_login"}, *sudo[] = {"sudo", "SU"}, *both[] = {"ssh_login", "su"};
    cr_assert(aw_gate_index_add(x, 0, 0, login, 1));
    cr_assert(aw_gate_index_add(x, 0, 1, NULL, 0)); /* ungated: every action */
    cr_assert(aw_gate_index_add(x, 0, 2, sudo, 2));
    cr_assert(aw_gate_index_add(x, 1, 3, login, 1)); /* the other bucket */
    cr_assert(aw_gate_index_add(x, 0, 4, both, 2));
    cr_assert(aw_gate_index_build(x));
    size_t n;
    const size_t *c = aw_gate_index_candidates(x, 0, "SSH_Login", 9, &n);
    cr_assert_eq(n, 3);
    cr_expect(c[0] == 0 && c[1] == 1 && c[2] == 4);
    c = aw_gate_index_candidates(x, 0, "su", 2, &n);
    cr_assert_eq(n, 3);
    cr_expect(c[0] == 1 && c[1] == 2 && c[2] == 4);
    c = aw_gate_index_candidates(x, 0, "ssh_logins", 10, &n); /* longer than any gate value */
    cr_assert_eq(n, 1);
    cr_expect_eq(c[0], 1);
    c = aw_gate_index_candidates(x, 0, "cron", 4, &n);
    cr_assert_eq(n, 1);
    c = aw_gate_index_candidates(x, 0, NULL, 0, &n); /* no action at all */
    cr_assert_eq(n, 1);
    c = aw_gate_index_candidates(x, 1, "ssh_login", 9, &n);
    cr_assert_eq(n, 1);
    cr_expect_eq(c[0], 3);
    c = aw_gate_index_candidates(x, 1, "sudo", 4, &n);
    cr_expect_eq(n, 0);
    /* the same address holding another action next time (answers are
     * remembered by address, but only trusted for the same text) */
    char buf[16] = "sudo";
    c = aw_gate_index_candidates(x, 0, buf, 4, &n);
    cr_expect_eq(n, 2);
    memcpy(buf, "cron", 4);
    c = aw_gate_index_candidates(x, 0, buf, 4, &n);
    cr_assert_eq(n, 1);
    cr_expect_eq(c[0], 1);
    memcpy(buf, "SUDO", 4);
    c = aw_gate_index_candidates(x, 0, buf, 4, &n);
    cr_expect_eq(n, 2);
    aw_gate_index_free(x);
}
