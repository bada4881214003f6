/*
 * test_service_map.c - the service map file and the k8s.unmapped_service
 * detector (DESIGN section 9).
 *
 * Loading: the shipped example and the test map load clean; each bad file
 * under tests/data/service_map/ yields exactly the listed problems at
 * exactly the listed line:column.  Detection: real audit events, built as
 * JSON and decoded by the k8s decoder, go through the detector with the
 * memory store; a table gives for every case whether it alerts and which
 * reasons the alert must name.  Most positive cases sit next to a close
 * negative (the same object with the one difference that makes it fine).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditwatch/config.h"
#include "auditwatch/decode.h"
#include "auditwatch/detector.h"
#include "auditwatch/hash.h"
#include "auditwatch/service_map.h"
#include "auditwatch/store.h"
#include "test_util.h"

#define MAP "tests/data/service_map/map.yaml"
#define DATA "tests/data/service_map/"

/* ================================================================ loading */

struct expected_diag {
    int line, col;
    const char *text; /* a substring of the message */
};

static const struct bad_file {
    const char *file;
    size_t n;
    struct expected_diag diags[8];
} bad_files[] = {
    {DATA "bad_unknown_keys.yaml", 3,
     {{9, 1, "unknown key 'extra' in the service map"},
      {3, 5, "unknown key 'ownr' in a service map entry"},
      {8, 7, "unknown key 'externalIPs' in 'expose' (did you mean 'external_ips'?)"}}},
    {DATA "bad_types.yaml", 6,
     {{2, 16, "'namespace' must be a string, not a list"},
      {4, 15, "'services' must be a list of patterns, not a scalar"},
      {6, 21, "'external_ips' must be true or false, not the string 'true'"},
      {7, 19, "'host_ports' must be true or false, not 'yes'"},
      {10, 7, "'owner' must be a string, not a mapping"},
      {12, 13, "'expose' must be a mapping, not a list"}}},
    {DATA "bad_exposure.yaml", 4,
     {{4, 30, "services pattern 'Payments_Worker' can never match"},
      {6, 26, "unknown service type 'Nodeport' (did you mean NodePort?"},
      {6, 36, "unknown service type 'Ingress' (expected ClusterIP, NodePort, LoadBalancer or ExternalName)"},
      {7, 23, "ingress_hosts pattern 'Shop.example.com' can never match"}}},
    {DATA "bad_missing.yaml", 3,
     {{5, 5, "entry has no 'namespace'"},
      {6, 15, "'services' must list at least one name pattern"},
      {7, 5, "namespace 'payments' service 'payments-api' is already mapped by the entry at line 2"}}},
    {DATA "bad_syntax.yaml", 1, {{3, 10, "did not find expected ',' or ']'"}}},
    {DATA "empty.yaml", 1, {{0, 0, "the service map is empty"}}},
};

Test(service_map_load, bad_files_report_every_problem_at_its_position)
{
    for (size_t f = 0; f < sizeof bad_files / sizeof bad_files[0]; f++) {
        const struct bad_file *bf = &bad_files[f];
        struct aw_service_map map;
        struct aw_diags diags = {0};
        size_t n = aw_service_map_load(bf->file, &map, &diags);
        cr_expect_eq(n, bf->n, "%s: %zu problems, expected %zu", bf->file, n, bf->n);
        cr_expect_eq(diags.n, bf->n, "%s: diag count", bf->file);
        for (size_t i = 0; i < bf->n; i++) {
            const struct expected_diag *want = &bf->diags[i];
            bool seen = false;
            for (size_t k = 0; k < diags.n && !seen; k++)
                seen = !strcmp(diags.items[k].file, bf->file) && diags.items[k].line == want->line &&
                       diags.items[k].column == want->col && strstr(diags.items[k].message, want->text);
            cr_expect(seen, "%s: expected %d:%d: ...%s...", bf->file, want->line, want->col, want->text);
        }
        if (n != bf->n)
            aw_diag_print(&diags, stderr);
        aw_diags_free(&diags);
        aw_service_map_free(&map);
    }
}

Test(service_map_load, missing_file_is_a_problem_naming_the_file)
{
    struct aw_service_map map;
    struct aw_diags diags = {0};
    cr_expect_eq(aw_service_map_load(DATA "no-such-file.yaml", &map, &diags), 1);
    cr_expect_str_eq(diags.items[0].file, DATA "no-such-file.yaml");
    cr_expect(strstr(diags.items[0].message, "cannot open") != NULL);
    aw_diags_free(&diags);
    aw_service_map_free(&map);
}

Test(service_map_load, shipped_example_loads_and_answers_lookups)
{
    struct aw_service_map map;
    struct aw_diags diags = {0};
    size_t n = aw_service_map_load("config/service-map.yaml", &map, &diags);
    aw_diag_print(&diags, stderr);
    cr_assert_eq(n, 0);
    cr_expect_gt(map.n, 5);
    static const struct {
        const char *ns, *name;
        enum aw_service_match match;
        const char *owner;
    } cases[] = {
        {"payments", "payments-api", AW_SVC_MAPPED, "team-payments"},
        {"payments", "payments-worker-7", AW_SVC_MAPPED, "team-payments"},
        {"payments", "payments-admin", AW_SVC_NAME_UNMAPPED, "team-payments"},
        {"checkout", "cart-v2", AW_SVC_MAPPED, "team-checkout"}, /* second checkout entry */
        {"monitoring", "node-exporter", AW_SVC_MAPPED, "team-observability"},
        {"kube-system", "coredns", AW_SVC_MAPPED, "platform"},
        {"kube-system", "debug-shell", AW_SVC_NAME_UNMAPPED, "platform"},
        {"ingress-nginx", "ingress-nginx-controller", AW_SVC_MAPPED, "platform"},
        {"team-search", "anything", AW_SVC_MAPPED, NULL},
        {"default", "web", AW_SVC_NAMESPACE_UNMAPPED, NULL},
        {"teams", "web", AW_SVC_NAMESPACE_UNMAPPED, NULL}, /* "team-*" needs the dash */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct aw_service_entry *e;
        enum aw_service_match m = aw_service_map_lookup(&map, cases[i].ns, cases[i].name, &e);
        cr_expect_eq(m, cases[i].match, "%s/%s: match %d", cases[i].ns, cases[i].name, (int)m);
        if (cases[i].owner && e)
            cr_expect_str_eq(e->owner, cases[i].owner, "%s/%s", cases[i].ns, cases[i].name);
        cr_expect_eq(e == NULL, m == AW_SVC_NAMESPACE_UNMAPPED);
    }
    const struct aw_service_entry *lb;
    cr_expect_eq(aw_service_map_lookup(&map, "ingress-nginx", "ingress-nginx-controller", &lb),
                 AW_SVC_MAPPED);
    cr_expect(aw_service_entry_allows_type(lb, AW_SVC_LOAD_BALANCER));
    aw_diags_free(&diags);
    aw_service_map_free(&map);
}

Test(service_map_load, exposure_ladder_and_ingress_hosts)
{
    struct aw_service_map map;
    struct aw_diags diags = {0};
    cr_assert_eq(aw_service_map_load(MAP, &map, &diags), 0);
    const struct aw_service_entry *pay = &map.entries[0], *chk = &map.entries[1], *edge = &map.entries[3];
    /* payments: ClusterIP + ExternalName */
    cr_expect(aw_service_entry_allows_type(pay, AW_SVC_CLUSTER_IP));
    cr_expect(aw_service_entry_allows_type(pay, AW_SVC_EXTERNAL_NAME));
    cr_expect_not(aw_service_entry_allows_type(pay, AW_SVC_NODE_PORT));
    cr_expect_not(aw_service_entry_allows_type(pay, 0));
    /* checkout: LoadBalancer includes NodePort and ClusterIP, not ExternalName */
    cr_expect(aw_service_entry_allows_type(chk, AW_SVC_NODE_PORT));
    cr_expect(aw_service_entry_allows_type(chk, AW_SVC_CLUSTER_IP));
    cr_expect_not(aw_service_entry_allows_type(chk, AW_SVC_EXTERNAL_NAME));
    cr_expect(aw_service_entry_allows_ingress_host(chk, "shop.example.com"));
    cr_expect_not(aw_service_entry_allows_ingress_host(chk, "*"));
    cr_expect_not(aw_service_entry_allows_ingress_host(pay, "shop.example.com"));
    /* edge: NodePort, not LoadBalancer */
    cr_expect(aw_service_entry_allows_type(edge, AW_SVC_NODE_PORT));
    cr_expect_not(aw_service_entry_allows_type(edge, AW_SVC_LOAD_BALANCER));
    cr_expect(edge->external_ips);
    cr_expect_not(pay->external_ips);
    cr_expect(aw_service_map_namespace_allows_ingress(&map, "checkout"));
    cr_expect_not(aw_service_map_namespace_allows_ingress(&map, "payments"));
    aw_diags_free(&diags);
    aw_service_map_free(&map);
}

Test(service_map_load, canonical_text_ignores_layout)
{
    static const char block[] = "entries:\n"
                                "  - namespace: payments\n"
                                "    owner: team-payments\n"
                                "    services:\n"
                                "      - payments-api\n"
                                "    expose:\n"
                                "      types: [LoadBalancer, ClusterIP]\n";
    static const char flow[] = "entries: [{owner: team-payments, namespace: payments,\n"
                               "  expose: {types: [ClusterIP, LoadBalancer], external_ips: false},\n"
                               "  services: [payments-api]}]\n";
    struct aw_service_map a, b;
    struct aw_diags diags = {0};
    cr_assert_eq(aw_service_map_load_string("block", block, strlen(block), &a, &diags), 0);
    cr_assert_eq(aw_service_map_load_string("flow", flow, strlen(flow), &b, &diags), 0);
    cr_expect_eq(a.version, b.version);
    struct aw_buf t = {0};
    aw_service_entry_canonical(&a.entries[0], &t);
    aw_buf_append_char(&t, '\0');
    cr_expect_str_eq(t.data, "{\"namespace\":\"payments\",\"services\":[\"payments-api\"],"
                             "\"owner\":\"team-payments\",\"contact\":null,"
                             "\"types\":[\"ClusterIP\",\"LoadBalancer\"],\"external_ips\":false,"
                             "\"host_ports\":false,\"ingress_hosts\":[]}");
    aw_buf_free(&t);
    aw_service_map_free(&a);
    aw_service_map_free(&b);
}

/* ================================================================ harness */

#define MAX_ALERTS 128

struct got_alert {
    char id[AW_ALERT_ID_LEN + 1];
    char *reason, *message, *json;
};

struct run {
    struct aw_store *store;
    struct aw_config cfg;
    struct aw_detector det;
    struct aw_detector_env env;
    struct aw_decoder *dec;
    struct got_alert got[MAX_ALERTS];
    size_t ngot;
    int init_rc;
    char err[512];
};

static int collect(void *ctx, struct aw_detector *from, const struct aw_alert *a)
{
    struct run *r = ctx;
    (void)from;
    cr_assert_lt(r->ngot, MAX_ALERTS);
    struct got_alert *g = &r->got[r->ngot++];
    memcpy(g->id, a->alert_id, sizeof g->id);
    g->reason = strdup(a->reason ? a->reason : "");
    g->message = strdup(a->message ? a->message : "");
    struct aw_buf b = {0};
    aw_alert_render_json(a, &b);
    aw_buf_append_char(&b, '\0');
    g->json = b.data;
    return 0;
}

static void run_open(struct run *r, const char *map_path, enum aw_level level)
{
    memset(r, 0, sizeof *r);
    r->store = aw_store_memory_new(NULL);
    aw_config_init_defaults(&r->cfg);
    r->cfg.service_map_path = strdup(map_path);
    r->cfg.service_map_level = level;
    r->cfg.required_labels.items = calloc(2, sizeof(char *));
    r->cfg.required_labels.items[0] = strdup("owner");
    r->cfg.required_labels.items[1] = strdup("team");
    r->cfg.required_labels.n = 2;
    r->det.kind = &aw_detector_service_map;
    r->det.name = "k8s.unmapped_service";
    r->env = (struct aw_detector_env){r->store, &r->cfg, NULL, collect, r, AW_DEFAULT_LATENESS_MS};
    r->init_rc = r->det.kind->init(&r->det, &r->env, r->err, sizeof r->err);
    struct aw_decode_options opts = {.source = AW_SOURCE_K8S};
    char err[256];
    r->dec = aw_decoder_new(&opts, err, sizeof err);
    cr_assert(r->dec, "%s", err);
}

static void run_close(struct run *r)
{
    for (size_t i = 0; i < r->ngot; i++) {
        free(r->got[i].reason);
        free(r->got[i].message);
        free(r->got[i].json);
    }
    if (r->det.kind->fini)
        r->det.kind->fini(&r->det);
    aw_decoder_free(r->dec);
    aw_config_free(&r->cfg);
    aw_store_destroy(r->store);
}

static int on_decoded(void *ctx, struct aw_event *ev)
{
    struct run *r = ctx;
    return r->det.kind->on_event(&r->det, &r->env, ev) < 0;
}

/* JSON written with ' for " so the table stays readable. */
static json_t *loads_q(const char *text)
{
    char *t = strdup(text);
    for (char *p = t; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t e;
    json_t *v = json_loads(t, 0, &e);
    cr_assert(v, "bad test JSON: %s: %s", e.text, t);
    free(t);
    return v;
}

/* One audit request, as the table describes it. */
struct req {
    const char *verb, *resource, *group, *ns, *name;
    int code;            /* 0: 201 for create, 200 otherwise */
    const char *level;   /* NULL: RequestResponse */
    const char *query;   /* appended to requestURI */
    const char *subresource;
    const char *request, *response; /* JSON with ' for ", or NULL */
    bool no_ref_name;    /* objectRef without a name (read it from the body) */
};

static char *audit_event(const struct req *q, unsigned serial)
{
    json_t *ev = json_object();
    char id[64], uri[256], ts[64];
    snprintf(id, sizeof id, "5e1d0c1e-0000-4000-8000-%012u", serial);
    snprintf(uri, sizeof uri, "/api%s/namespaces/%s/%s%s", q->group ? "s/x/v1" : "/v1", q->ns,
             q->resource, q->query ? q->query : "");
    snprintf(ts, sizeof ts, "2026-03-03T08:%02u:%02u.000000Z", (serial / 60) % 60, serial % 60);
    json_object_set_new(ev, "kind", json_string("Event"));
    json_object_set_new(ev, "apiVersion", json_string("audit.k8s.io/v1"));
    json_object_set_new(ev, "level", json_string(q->level ? q->level : "RequestResponse"));
    json_object_set_new(ev, "auditID", json_string(id));
    json_object_set_new(ev, "stage", json_string("ResponseComplete"));
    json_object_set_new(ev, "requestURI", json_string(uri));
    json_object_set_new(ev, "verb", json_string(q->verb));
    json_object_set_new(ev, "user", loads_q("{'username':'ci-bot@example.com','groups':['ci']}"));
    json_object_set_new(ev, "sourceIPs", loads_q("['10.30.1.8']"));
    json_t *ref = json_object();
    json_object_set_new(ref, "resource", json_string(q->resource));
    json_object_set_new(ref, "namespace", json_string(q->ns));
    if (!q->no_ref_name)
        json_object_set_new(ref, "name", json_string(q->name));
    if (q->group)
        json_object_set_new(ref, "apiGroup", json_string(q->group));
    json_object_set_new(ref, "apiVersion", json_string("v1"));
    if (q->subresource)
        json_object_set_new(ref, "subresource", json_string(q->subresource));
    json_object_set_new(ev, "objectRef", ref);
    int code = q->code ? q->code : !strcmp(q->verb, "create") ? 201 : 200;
    json_t *status = json_object();
    json_object_set_new(status, "metadata", json_object());
    json_object_set_new(status, "code", json_integer(code));
    json_object_set_new(ev, "responseStatus", status);
    if (q->request)
        json_object_set_new(ev, "requestObject", loads_q(q->request));
    if (q->response)
        json_object_set_new(ev, "responseObject", loads_q(q->response));
    json_object_set_new(ev, "requestReceivedTimestamp", json_string(ts));
    json_object_set_new(ev, "stageTimestamp", json_string(ts));
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    return text;
}

static void feed(struct run *r, const struct req *q, unsigned serial)
{
    char *text = audit_event(q, serial);
    struct aw_record rec = {.data = text, .len = strlen(text)};
    rec.origin.kind = AW_ORIGIN_FILE;
    rec.origin.file = "test-audit.jsonl";
    rec.origin.line = serial;
    struct aw_reject why;
    int rc = aw_decoder_decode(r->dec, &rec, on_decoded, r, &why);
    cr_assert_eq(rc, 1, "event %u not decoded (%d): %s", serial, rc, why.detail);
    free(text);
}

/* ================================================================ objects */

#define LABELS "'labels':{'owner':'someone','team':'some-team'}"
#define SEL "'selector':{'app':'x'},'ports':[{'port':80,'targetPort':8080}]"
#define SVC_L(name, ns, labels, spec)                                                             \
    "{'kind':'Service','apiVersion':'v1','metadata':{'name':'" name "','namespace':'" ns "',"     \
    labels "},'spec':{" spec "}}"
#define SVC(name, ns, spec) SVC_L(name, ns, LABELS, spec)
#define ING(ns, spec)                                                                             \
    "{'kind':'Ingress','apiVersion':'networking.k8s.io/v1','metadata':{'name':'web','namespace':'" \
    ns "'," LABELS "},'spec':{" spec "}}"
#define ING_RULE(host, svc)                                                                       \
    "{'host':'" host "','http':{'paths':[{'path':'/','pathType':'Prefix','backend':{'service':"   \
    "{'name':'" svc "','port':{'number':80}}}}]}}"
#define WORKLOAD(kind, name, ns, podspec)                                                         \
    "{'kind':'" kind "','apiVersion':'apps/v1','metadata':{'name':'" name "','namespace':'" ns    \
    "'," LABELS "},'spec':{'selector':{'matchLabels':{'app':'x'}},'template':{'metadata':"         \
    "{'labels':{'app':'x'}},'spec':{" podspec "}}}}"
#define PORTS(ports) "'containers':[{'name':'web','image':'nginx:1.27','ports':[" ports "]}]"
#define NO_PORTS "'containers':[{'name':'worker','image':'busybox'}]"

#define SVC_CREATE(ns_, name_, obj)                                                               \
    {.verb = "create", .resource = "services", .ns = ns_, .name = name_, .request = obj}
#define ING_CREATE(ns_, obj)                                                                      \
    {.verb = "create", .resource = "ingresses", .group = "networking.k8s.io", .ns = ns_,          \
     .name = "web", .request = obj}
#define WL_CREATE(res, ns_, name_, obj)                                                           \
    {.verb = "create", .resource = res, .group = "apps", .ns = ns_, .name = name_, .request = obj}
#define METADATA(verb_, res, group_, ns_, name_)                                                  \
    {.verb = verb_, .resource = res, .group = group_, .ns = ns_, .name = name_, .level = "Metadata"}

struct sm_case {
    const char *what;
    struct req q;
    bool alert;
    const char *reasons[5]; /* substrings event.reason must hold */
    const char *absent;     /* a substring it must not hold */
    bool body_note;         /* the message says the body was not logged */
};

static const struct sm_case cases[] = {
    /* --- Services: mapping and type */
    {.what = "mapped ClusterIP service",
     .q = SVC_CREATE("payments", "payments-api", SVC("payments-api", "payments", SEL))},
    {.what = "NodePort where only ClusterIP is allowed",
     .q = SVC_CREATE("payments", "payments-api", SVC("payments-api", "payments", "'type':'NodePort'," SEL)),
     .alert = true, .reasons = {"type NodePort is not allowed (allowed: ClusterIP, ExternalName)"},
     .absent = "not mapped"},
    {.what = "LoadBalancer where allowed",
     .q = SVC_CREATE("checkout", "checkout-web", SVC("checkout-web", "checkout", "'type':'LoadBalancer'," SEL))},
    {.what = "NodePort under an allowed LoadBalancer",
     .q = SVC_CREATE("checkout", "checkout-web", SVC("checkout-web", "checkout", "'type':'NodePort'," SEL))},
    {.what = "namespace not in the map",
     .q = SVC_CREATE("scratch", "debug", SVC("debug", "scratch", SEL)),
     .alert = true, .reasons = {"namespace 'scratch' is not in the service map"}, .absent = "type"},
    {.what = "service not mapped in a mapped namespace",
     .q = SVC_CREATE("payments", "payments-debug", SVC("payments-debug", "payments", SEL)),
     .alert = true, .reasons = {"Service 'payments-debug' is not mapped in namespace 'payments'"},
     .absent = "namespace 'payments' is not"},
    {.what = "wildcard namespace, wildcard service",
     .q = SVC_CREATE("team-search", "search-api", SVC("search-api", "team-search", SEL))},
    {.what = "wildcard service pattern",
     .q = SVC_CREATE("payments", "payments-worker-7", SVC("payments-worker-7", "payments", SEL))},
    {.what = "name read from the body when objectRef has none",
     .q = {.verb = "create", .resource = "services", .ns = "payments", .name = "payments-debug",
           .request = SVC("payments-debug", "payments", SEL), .no_ref_name = true},
     .alert = true, .reasons = {"Service 'payments-debug' is not mapped"}},
    /* --- labels */
    {.what = "a required label missing",
     .q = SVC_CREATE("payments", "payments-api", SVC_L("payments-api", "payments", "'labels':{'owner':'someone'}", SEL)),
     .alert = true, .reasons = {"missing required label: team"}},
    {.what = "a required label empty",
     .q = SVC_CREATE("payments", "payments-api", SVC_L("payments-api", "payments", "'labels':{'owner':'','team':'t'}", SEL)),
     .alert = true, .reasons = {"missing required label: owner"}},
    {.what = "no labels at all",
     .q = SVC_CREATE("payments", "payments-api", SVC_L("payments-api", "payments", "'annotations':{}", SEL)),
     .alert = true, .reasons = {"missing required labels: owner, team"}},
    /* --- selector-less Services */
    {.what = "selector-less Service",
     .q = SVC_CREATE("payments", "payments-api", SVC("payments-api", "payments", "'ports':[{'port':5432}]")),
     .alert = true, .reasons = {"Service has no selector"}},
    {.what = "empty selector counts as none",
     .q = SVC_CREATE("payments", "payments-api", SVC("payments-api", "payments", "'selector':{},'ports':[{'port':5432}]")),
     .alert = true, .reasons = {"Service has no selector"}},
    {.what = "ExternalName without selector is fine where allowed",
     .q = SVC_CREATE("payments", "card-processor",
                     SVC("card-processor", "payments", "'type':'ExternalName','externalName':'api.processor.example'"))},
    {.what = "ExternalName where not allowed (but no selector-less reason)",
     .q = SVC_CREATE("checkout", "checkout-web",
                     SVC("checkout-web", "checkout", "'type':'ExternalName','externalName':'evil.example.net'")),
     .alert = true, .reasons = {"type ExternalName is not allowed"}, .absent = "selector"},
    /* --- externalIPs */
    {.what = "externalIPs where not allowed",
     .q = SVC_CREATE("payments", "payments-api", SVC("payments-api", "payments", "'externalIPs':['203.0.113.7']," SEL)),
     .alert = true, .reasons = {"externalIPs are not allowed (203.0.113.7)"}},
    {.what = "externalIPs where allowed",
     .q = SVC_CREATE("edge", "edge-gw", SVC("edge-gw", "edge", "'type':'NodePort','externalIPs':['203.0.113.7']," SEL))},
    /* --- Ingress */
    {.what = "Ingress on an allowed host",
     .q = ING_CREATE("checkout", ING("checkout", "'rules':[" ING_RULE("shop.example.com", "checkout-web") "]"))},
    {.what = "Ingress to a service that may not have one",
     .q = ING_CREATE("payments", ING("payments", "'rules':[" ING_RULE("pay.example.com", "payments-api") "]")),
     .alert = true, .reasons = {"Service 'payments-api' may not be exposed through an Ingress"}},
    {.what = "Ingress on a host not allowed",
     .q = ING_CREATE("checkout", ING("checkout", "'rules':[" ING_RULE("evil.example.net", "checkout-web") "]")),
     .alert = true, .reasons = {"host 'evil.example.net' may not route to Service 'checkout-web'"}},
    {.what = "Ingress default backend serves every host",
     .q = ING_CREATE("checkout", ING("checkout", "'defaultBackend':{'service':{'name':'checkout-web','port':{'number':80}}}")),
     .alert = true, .reasons = {"host '*' may not route to Service 'checkout-web'"}},
    {.what = "Ingress to an unmapped backend",
     .q = ING_CREATE("checkout", ING("checkout", "'rules':[" ING_RULE("shop.example.com", "admin") "]")),
     .alert = true, .reasons = {"backend Service 'admin' is not mapped in namespace 'checkout'"}},
    {.what = "extensions/v1beta1 Ingress (serviceName)",
     .q = {.verb = "create", .resource = "ingresses", .group = "extensions", .ns = "checkout", .name = "web",
           .request = "{'kind':'Ingress','metadata':{'name':'web'," LABELS "},'spec':{'rules':[{'host':"
                      "'evil.example.net','http':{'paths':[{'backend':{'serviceName':'checkout-web',"
                      "'servicePort':80}}]}}]}}"},
     .alert = true, .reasons = {"host 'evil.example.net' may not route"}},
    /* --- workloads */
    {.what = "Deployment with a hostPort",
     .q = WL_CREATE("deployments", "payments", "payments-api",
                    WORKLOAD("Deployment", "payments-api", "payments", PORTS("{'containerPort':8080,'hostPort':8080}"))),
     .alert = true, .reasons = {"hostPort 8080 is not allowed"}},
    {.what = "Deployment with a container port only",
     .q = WL_CREATE("deployments", "payments", "payments-api",
                    WORKLOAD("Deployment", "payments-api", "payments", PORTS("{'containerPort':8080}")))},
    {.what = "Deployment without ports is no service, even unmapped",
     .q = WL_CREATE("deployments", "scratch", "batch", WORKLOAD("Deployment", "batch", "scratch", NO_PORTS))},
    {.what = "Deployment with ports but an unmapped name",
     .q = WL_CREATE("deployments", "payments", "cache",
                    WORKLOAD("Deployment", "cache", "payments", PORTS("{'containerPort':6379}"))),
     .alert = true, .reasons = {"Deployment 'cache' is not mapped in namespace 'payments'"}},
    {.what = "DaemonSet on the host network where allowed",
     .q = WL_CREATE("daemonsets", "monitoring", "node-exporter",
                    WORKLOAD("DaemonSet", "node-exporter", "monitoring",
                             "'hostNetwork':true," PORTS("{'containerPort':9100,'hostPort':9100}")))},
    {.what = "StatefulSet on the host network where not allowed",
     .q = WL_CREATE("statefulsets", "payments", "payments-worker-db",
                    WORKLOAD("StatefulSet", "payments-worker-db", "payments", "'hostNetwork':true," NO_PORTS)),
     .alert = true, .reasons = {"hostNetwork is not allowed"}},
    /* --- requests that did not take effect */
    {.what = "failed create (403)",
     .q = {.verb = "create", .resource = "services", .ns = "scratch", .name = "debug", .code = 403,
           .request = SVC("debug", "scratch", "'type':'NodePort'")}},
    {.what = "dry run",
     .q = {.verb = "create", .resource = "services", .ns = "scratch", .name = "debug", .query = "?dryRun=All",
           .request = SVC("debug", "scratch", "'type':'NodePort'")}},
    {.what = "status subresource patch by a controller",
     .q = {.verb = "patch", .resource = "services", .ns = "scratch", .name = "debug", .subresource = "status",
           .request = "{'status':{'loadBalancer':{'ingress':[{'ip':'203.0.113.9'}]}}}",
           .response = SVC("debug", "scratch", "'type':'LoadBalancer'")}},
    /* --- updates and patches: exposure only */
    {.what = "patch to NodePort (full object in the response)",
     .q = {.verb = "patch", .resource = "services", .ns = "payments", .name = "payments-api",
           .request = "{'spec':{'type':'NodePort'}}", .response = SVC("payments-api", "payments", "'type':'NodePort'," SEL)},
     .alert = true, .reasons = {"type NodePort is not allowed"}},
    {.what = "merge patch to LoadBalancer (request only)",
     .q = {.verb = "patch", .resource = "services", .ns = "payments", .name = "payments-api", .level = "Request",
           .request = "{'spec':{'type':'LoadBalancer'}}"},
     .alert = true, .reasons = {"type LoadBalancer is not allowed"}},
    {.what = "merge patch of labels only",
     .q = {.verb = "patch", .resource = "services", .ns = "payments", .name = "payments-api", .level = "Request",
           .request = "{'metadata':{'labels':{'team':null}}}"}},
    {.what = "JSON patch to NodePort",
     .q = {.verb = "patch", .resource = "services", .ns = "payments", .name = "payments-api", .level = "Request",
           .request = "[{'op':'replace','path':'/spec/type','value':'NodePort'}]"},
     .alert = true, .reasons = {"type NodePort is not allowed"}},
    {.what = "update within what is allowed (selector and labels not judged)",
     .q = {.verb = "update", .resource = "services", .ns = "payments", .name = "payments-api",
           .request = SVC_L("payments-api", "payments", "'annotations':{}", "'ports':[{'port':80}]")}},
    {.what = "update of an unmapped ClusterIP service",
     .q = {.verb = "update", .resource = "services", .ns = "scratch", .name = "debug",
           .request = SVC("debug", "scratch", SEL)}},
    {.what = "update of an unmapped service to LoadBalancer",
     .q = {.verb = "update", .resource = "services", .ns = "scratch", .name = "debug",
           .request = SVC("debug", "scratch", "'type':'LoadBalancer'," SEL)},
     .alert = true,
     .reasons = {"namespace 'scratch' is not in the service map",
                 "type LoadBalancer is not allowed (unmapped, allowed: ClusterIP)"}},
    /* --- Metadata level: no body */
    {.what = "Metadata level, namespace not in the map",
     .q = METADATA("create", "services", NULL, "scratch", "debug"),
     .alert = true, .reasons = {"namespace 'scratch' is not in the service map"}, .body_note = true},
    {.what = "Metadata level, service not mapped",
     .q = METADATA("create", "services", NULL, "payments", "payments-debug"),
     .alert = true, .reasons = {"Service 'payments-debug' is not mapped"}, .body_note = true},
    {.what = "Metadata level, mapped service",
     .q = METADATA("create", "services", NULL, "payments", "payments-api")},
    {.what = "Metadata level, Ingress where the namespace allows none",
     .q = METADATA("create", "ingresses", "networking.k8s.io", "payments", "web"),
     .alert = true, .reasons = {"no Service in namespace 'payments' may be exposed through an Ingress"},
     .body_note = true},
    {.what = "Metadata level, Ingress where the namespace allows one",
     .q = METADATA("create", "ingresses", "networking.k8s.io", "checkout", "web")},
    {.what = "Metadata level, Deployment in an unmapped namespace",
     .q = METADATA("create", "deployments", "apps", "scratch", "batch"),
     .alert = true, .reasons = {"namespace 'scratch' is not in the service map"}, .body_note = true},
    {.what = "Metadata level, Deployment in a mapped namespace (ports unknown)",
     .q = METADATA("create", "deployments", "apps", "payments", "batch")},
    {.what = "Metadata level patch (nothing to judge)",
     .q = METADATA("patch", "services", NULL, "scratch", "debug")},
    /* --- several reasons, one alert */
    {.what = "several reasons in one alert",
     .q = SVC_CREATE("scratch", "debug",
                     SVC_L("debug", "scratch", "'annotations':{}",
                           "'type':'NodePort','externalIPs':['198.51.100.1','198.51.100.2'],'ports':[{'port':22}]")),
     .alert = true,
     .reasons = {"namespace 'scratch' is not in the service map", "type NodePort is not allowed",
                 "externalIPs are not allowed (198.51.100.1, ...)", "Service has no selector",
                 "missing required labels: owner, team"}},
    /* --- not ours */
    {.what = "a ConfigMap",
     .q = {.verb = "create", .resource = "configmaps", .ns = "scratch", .name = "cm",
           .request = "{'kind':'ConfigMap','metadata':{'name':'cm'}}"}},
    {.what = "services in another API group",
     .q = {.verb = "create", .resource = "services", .group = "serving.knative.dev", .ns = "scratch", .name = "svc",
           .request = "{'kind':'Service','metadata':{'name':'svc'}}"}},
};

#define NCASES (sizeof cases / sizeof cases[0])

/* ================================================================ detection */

Test(service_map_detector, every_case)
{
    struct run r;
    run_open(&r, MAP, AW_LEVEL_HIGH);
    cr_assert_eq(r.init_rc, 0, "init: %s", r.err);
    for (size_t i = 0; i < NCASES; i++) {
        const struct sm_case *c = &cases[i];
        size_t before = r.ngot;
        feed(&r, &c->q, (unsigned)i + 1);
        size_t n = r.ngot - before;
        cr_expect_eq(n, c->alert ? 1u : 0u, "%s: %zu alerts%s%s", c->what, n, n ? ": " : "",
                     n ? r.got[before].message : "");
        if (n != 1)
            continue;
        const struct got_alert *g = &r.got[before];
        for (size_t k = 0; k < 5 && c->reasons[k]; k++)
            cr_expect(strstr(g->reason, c->reasons[k]) != NULL, "%s: reason '%s' lacks '%s'", c->what,
                      g->reason, c->reasons[k]);
        if (c->absent)
            cr_expect(strstr(g->reason, c->absent) == NULL, "%s: reason '%s' should not hold '%s'",
                      c->what, g->reason, c->absent);
        bool note = strstr(g->message, "request body not logged (audit level Metadata)") != NULL;
        cr_expect_eq(note, c->body_note, "%s: message '%s'", c->what, g->message);
        cr_expect(strstr(g->message, c->q.ns) != NULL, "%s: message names the namespace", c->what);
        cr_expect(strstr(g->message, g->reason) != NULL, "%s: message holds the reason", c->what);
    }
    run_close(&r);
}

Test(service_map_detector, alert_document)
{
    struct run r;
    run_open(&r, MAP, AW_LEVEL_CRITICAL);
    cr_assert_eq(r.init_rc, 0, "init: %s", r.err);
    const struct sm_case *c = NULL;
    for (size_t i = 0; i < NCASES && !c; i++)
        if (!strcmp(cases[i].what, "several reasons in one alert"))
            c = &cases[i];
    cr_assert(c);
    feed(&r, &c->q, 7);
    cr_assert_eq(r.ngot, 1);
    json_error_t e;
    json_t *doc = json_loads(r.got[0].json, 0, &e);
    cr_assert(doc, "alert JSON: %s", e.text);
    static const struct {
        const char *path, *want;
    } fields[] = {
        {"rule.name", "k8s.unmapped_service"},
        {"log.level", "critical"},
        {"event.kind", "alert"},
        {"auditwatch.group.orchestrator.namespace", "scratch"},
        {"auditwatch.group.orchestrator.resource.type", "services"},
        {"auditwatch.group.orchestrator.resource.name", "debug"},
        {"threat.technique.id", "T1133,T1557"},
        {"user.name", "ci-bot@example.com"},
        {"@timestamp", "2026-03-03T08:00:07.000Z"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        json_t *v = test_json_path(doc, fields[i].path);
        cr_expect(v, "no %s in %s", fields[i].path, r.got[0].json);
        if (!v)
            continue;
        char *text = test_json_text(v);
        cr_expect_str_eq(text, fields[i].want, "%s", fields[i].path);
        free(text);
    }
    char *reason = test_json_text(test_json_path(doc, "event.reason"));
    cr_expect_str_eq(reason, r.got[0].reason);
    free(reason);
    cr_expect_str_eq(json_string_value(test_json_path(doc, "auditwatch.alert_id")), r.got[0].id);
    cr_expect_eq(json_array_size(test_json_path(doc, "auditwatch.evidence")), 1);
    json_decref(doc);
    run_close(&r);
}

Test(service_map_detector, workload_alert_carries_deploy_container_technique)
{
    struct run r;
    run_open(&r, MAP, AW_LEVEL_HIGH);
    struct req q = WL_CREATE("deployments", "payments", "payments-api",
                             WORKLOAD("Deployment", "payments-api", "payments",
                                      PORTS("{'containerPort':8080,'hostPort':8080}")));
    feed(&r, &q, 3);
    cr_assert_eq(r.ngot, 1);
    json_t *doc = json_loads(r.got[0].json, 0, NULL);
    char *t = test_json_text(test_json_path(doc, "threat.technique.id"));
    cr_expect_str_eq(t, "T1133,T1610");
    cr_expect(strstr(r.got[0].message, "Deployment payments/payments-api created by ci-bot@example.com") != NULL,
              "%s", r.got[0].message);
    cr_expect(strstr(r.got[0].message, "(owner: team-payments, contact: #payments-oncall)") != NULL,
              "%s", r.got[0].message);
    free(t);
    json_decref(doc);
    run_close(&r);
}

/* Same input, fresh detector and store: the same alert ids, in order; and
 * no two events share an id. */
Test(service_map_detector, alert_ids_are_deterministic)
{
    struct run a, b;
    run_open(&a, MAP, AW_LEVEL_HIGH);
    run_open(&b, MAP, AW_LEVEL_HIGH);
    for (size_t i = 0; i < NCASES; i++) {
        feed(&a, &cases[i].q, (unsigned)i + 1);
        feed(&b, &cases[i].q, (unsigned)i + 1);
    }
    feed(&a, &cases[1].q, 2); /* a redelivery: same event, same id */
    cr_assert_eq(a.ngot, b.ngot + 1);
    cr_assert_gt(b.ngot, 10);
    for (size_t i = 0; i < b.ngot; i++) {
        cr_expect_str_eq(a.got[i].id, b.got[i].id);
        cr_expect_str_eq(a.got[i].json, b.got[i].json);
        for (size_t k = 0; k < i; k++)
            cr_expect_str_neq(b.got[i].id, b.got[k].id);
    }
    bool again = false;
    for (size_t i = 0; i < b.ngot; i++)
        again = again || !strcmp(a.got[a.ngot - 1].id, b.got[i].id);
    cr_expect(again, "a redelivered event must give the id it gave the first time");
    run_close(&a);
    run_close(&b);
}

Test(service_map_detector, init_mirrors_the_map_into_the_store)
{
    struct run r;
    run_open(&r, MAP, AW_LEVEL_HIGH);
    cr_assert_eq(r.init_rc, 0, "init: %s", r.err);
    struct aw_service_map map;
    struct aw_diags diags = {0};
    cr_assert_eq(aw_service_map_load(MAP, &map, &diags), 0);
    size_t missing = 99;
    cr_expect_eq(aw_service_map_mirror_verify(&map, r.store, &missing), 0);
    cr_expect_eq(missing, 0);
    /* The version is listed. */
    char hex[16];
    aw_hex64(map.version, hex);
    struct aw_wkey versions = {AW_SERVICE_MAP_STORE_KEY, 0, 0};
    bool found = false;
    r.store->ops->set_contains(r.store, &versions, hex, sizeof hex, &found);
    cr_expect(found);
    /* A store that never saw the map misses every entry. */
    struct aw_store *other = aw_store_memory_new(NULL);
    cr_expect_eq(aw_service_map_mirror_verify(&map, other, &missing), 0);
    cr_expect_eq(missing, map.n);
    aw_store_destroy(other);
    aw_service_map_free(&map);
    aw_diags_free(&diags);
    run_close(&r);
}

Test(service_map_detector, init_fails_with_the_first_problem_at_file_line)
{
    struct run r;
    run_open(&r, DATA "bad_exposure.yaml", AW_LEVEL_HIGH);
    cr_expect_eq(r.init_rc, -1);
    cr_expect(!strncmp(r.err, DATA "bad_exposure.yaml:4:30: services pattern 'Payments_Worker'",
                       strlen(DATA "bad_exposure.yaml:4:30: services pattern 'Payments_Worker'")),
              "%s", r.err);
    cr_expect(strstr(r.err, "auditwatch check") != NULL, "%s", r.err);
    cr_expect_null(r.det.state);
    r.det.kind = &aw_detector_service_map;
    run_close(&r);
}
