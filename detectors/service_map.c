/*
 * service_map.c - the k8s.unmapped_service detector: new Services (and
 * Ingresses, and workloads that expose ports) that the service map does
 * not cover, or that are exposed more than it allows (DESIGN section 9).
 *
 * Config-driven: there is no rule; the pipeline makes one instance when
 * the configuration names a service map.  init loads the map (a problem in
 * it fails init with file:line) and mirrors it into the store, so every
 * instance sharing the store records which map judged the stream.
 *
 * What is judged.  Only Kubernetes audit events of a request that took
 * effect: a 2xx response at stage ResponseComplete (or without a stage),
 * no subresource (a load-balancer controller patching services/status is
 * not a change of exposure), and not a dry run.  The object is read from
 * the original audit event:
 *
 *   create         requestObject, else responseObject (the full object);
 *   update         the same;
 *   patch          responseObject (the object after the patch), else the
 *                  patch itself: a merge patch object or a JSON patch list,
 *                  of which only what it states is judged (a patch that
 *                  says nothing about spec.type changes no type).
 *
 * A create is judged whole: the namespace and the name against the map,
 * the exposure against the entry (type, externalIPs, hostPort and
 * hostNetwork, Ingress hosts and backends), the required labels, and for a
 * Service a missing selector (hand-written Endpoints; ExternalName needs no
 * selector).  A Deployment/StatefulSet/DaemonSet is only a service when its
 * pod template declares ports or uses the host network; otherwise it is
 * not judged at all.  An update or patch is judged for exposure only: it
 * alerts when the object ends up exposed more than its entry (or, for an
 * unmapped object, more than ClusterIP) allows, and then names the mapping
 * problems too.  Several reasons on one object make one alert listing
 * them all.
 *
 * Without a body (audit level Metadata) only what the event itself tells
 * is judged: the namespace and the name of a Service, the namespace of a
 * workload, and whether an Ingress may exist in the namespace at all.  The
 * alert then says that the body was not logged, and an update or patch is
 * not judged.
 *
 * The alert id is the hash of the rule name, the group text (namespace,
 * resource type and name) and the event's identity: the same audit event
 * always gives the same id.
 */
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditwatch/config.h"
#include "auditwatch/detector.h"
#include "auditwatch/service_map.h"

#define RULE_NAME "k8s.unmapped_service"
#define MAX_REASONS 12
#define REASON_LEN 320
#define NAME_LEN 256
#define TABLE_LEN(t) (sizeof(t) / sizeof((t)[0]))

enum object_class { OBJ_SERVICE, OBJ_INGRESS, OBJ_WORKLOAD };

/* The resources judged: objectRef.resource and apiGroup ("" is core). */
static const struct object_def {
    const char *resource;
    const char *groups[2];
    enum object_class cls;
    const char *kind; /* as in the object's "kind" and in messages */
} object_defs[] = {
    {"services", {"", NULL}, OBJ_SERVICE, "Service"},
    {"ingresses", {"networking.k8s.io", "extensions"}, OBJ_INGRESS, "Ingress"},
    {"deployments", {"apps", "extensions"}, OBJ_WORKLOAD, "Deployment"},
    {"statefulsets", {"apps", NULL}, OBJ_WORKLOAD, "StatefulSet"},
    {"daemonsets", {"apps", "extensions"}, OBJ_WORKLOAD, "DaemonSet"},
};

/* ATT&CK techniques: exposing a service is External Remote Services;
 * externalIPs, hand-written Endpoints and ExternalName can redirect
 * in-cluster traffic (Adversary-in-the-Middle, cf. CVE-2020-8554); a
 * workload is a deployed container. */
static char tech_remote[] = "T1133", tech_aitm[] = "T1557", tech_container[] = "T1610";

struct svcmap_state {
    struct aw_service_map map;
    const struct aw_strlist *required_labels; /* borrowed from the config */
    enum aw_level level;
    struct aw_buf message, reason, group, evidence, fields;
};

/* One object being judged. */
struct judgement {
    const struct object_def *def;
    bool create;
    const char *verb;
    char ns[NAME_LEN], name[NAME_LEN];
    const json_t *body;       /* full object, or a merge patch when partial */
    bool partial;             /* body is a merge patch: judge what it states */
    const json_t *json_patch; /* a JSON patch list, or NULL */
    bool no_body;             /* nothing of the request was logged */
    enum aw_service_match match;
    const struct aw_service_entry *entry; /* MAPPED: the entry; NAME_UNMAPPED: the namespace's */
    bool exposure;            /* some exposure reason was found */
    bool aitm;                /* a traffic-redirecting reason */
    char reasons[MAX_REASONS][REASON_LEN];
    size_t nreasons, dropped;
};

/* ============================================================ helpers */

static bool str_eq(const struct aw_str *s, const char *text)
{
    size_t n = strlen(text);
    return s->ptr && s->len == n && !memcmp(s->ptr, text, n);
}

/* Copy a name for matching and messages: bounded, control characters
 * replaced (names from the API server are DNS names; this only guards the
 * message against a forged log). */
static void copy_text(char *dst, size_t size, const char *src, size_t len)
{
    if (len >= size)
        len = size - 1;
    for (size_t i = 0; i < len; i++)
        dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? '?' : src[i];
    dst[len] = '\0';
}

static void copy_name(char *dst, const char *src, size_t len) { copy_text(dst, NAME_LEN, src, len); }

static const json_t *jget(const json_t *obj, const char *key)
{
    return json_is_object(obj) ? json_object_get(obj, key) : NULL;
}

static const char *jstr(const json_t *obj, const char *key)
{
    const json_t *v = jget(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static const json_t *jspec(const json_t *obj) { return jget(obj, "spec"); }

static void add_reason(struct judgement *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Add a reason unless the same text is there already. */
static void add_reason(struct judgement *j, const char *fmt, ...)
{
    char text[REASON_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < j->nreasons; i++)
        if (!strcmp(j->reasons[i], text))
            return;
    if (j->nreasons == MAX_REASONS) {
        j->dropped++;
        return;
    }
    memcpy(j->reasons[j->nreasons++], text, sizeof text);
}

/* "ClusterIP, ExternalName" - the types an entry allows, for messages. */
static void allowed_types_text(const struct aw_service_entry *e, char *out, size_t len)
{
    static const unsigned bits[] = {AW_SVC_CLUSTER_IP, AW_SVC_NODE_PORT, AW_SVC_LOAD_BALANCER,
                                    AW_SVC_EXTERNAL_NAME};
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < TABLE_LEN(bits); i++) {
        if (e ? !aw_service_entry_allows_type(e, bits[i]) : bits[i] != AW_SVC_CLUSTER_IP)
            continue;
        int w = snprintf(out + used, len - used, "%s%s", used ? ", " : "", aw_service_type_name(bits[i]));
        if (w < 0 || (size_t)w >= len - used)
            return;
        used += (size_t)w;
    }
}

/* The entry that governs exposure: the object's own, or none (unmapped
 * objects are allowed no more than the defaults). */
static const struct aw_service_entry *governing(const struct judgement *j)
{
    return j->match == AW_SVC_MAPPED ? j->entry : NULL;
}

/* ============================================================ mapping */

static void judge_mapping(const struct svcmap_state *st, struct judgement *j)
{
    j->match = aw_service_map_lookup(&st->map, j->ns, j->name, &j->entry);
    if (j->match == AW_SVC_NAMESPACE_UNMAPPED)
        add_reason(j, "namespace '%s' is not in the service map", j->ns);
    else if (j->match == AW_SVC_NAME_UNMAPPED && j->def->cls != OBJ_INGRESS)
        add_reason(j, "%s '%s' is not mapped in namespace '%s'", j->def->kind,
                   j->name[0] ? j->name : "(unnamed)", j->ns);
}

static void judge_labels(const struct svcmap_state *st, struct judgement *j)
{
    if (!st->required_labels || !st->required_labels->n)
        return;
    const json_t *labels = jget(jget(j->body, "metadata"), "labels");
    char missing[REASON_LEN] = "";
    size_t used = 0, n = 0;
    for (size_t i = 0; i < st->required_labels->n; i++) {
        const char *key = st->required_labels->items[i];
        const json_t *v = jget(labels, key);
        if (json_is_string(v) && json_string_length(v) > 0)
            continue; /* an empty value names nobody: missing */
        int w = snprintf(missing + used, sizeof missing - used, "%s%s", n ? ", " : "", key);
        if (w > 0 && (size_t)w < sizeof missing - used)
            used += (size_t)w;
        n++;
    }
    if (n)
        add_reason(j, "missing required label%s: %s", n > 1 ? "s" : "", missing);
}

/* =========================================================== Services */

/* spec.type and spec.externalIPs as a body or patch states them. */
struct service_facts {
    bool type_known;
    const char *type; /* NULL: absent, which is ClusterIP */
    bool ips_known;
    size_t nips;
    const char *first_ip;
};

static void facts_from_object(const json_t *body, bool partial, struct service_facts *f)
{
    const json_t *spec = jspec(body);
    const json_t *type = jget(spec, "type");
    const json_t *ips = jget(spec, "externalIPs");
    /* A full object states everything (absent = default); a merge patch
     * states a key only when it holds it (null resets to the default). */
    f->type_known = !partial || type != NULL;
    f->type = json_is_string(type) ? json_string_value(type) : NULL;
    f->ips_known = !partial || ips != NULL;
    f->nips = json_is_array(ips) ? json_array_size(ips) : 0;
    f->first_ip = f->nips ? json_string_value(json_array_get(ips, 0)) : NULL;
}

static void facts_from_json_patch(const json_t *ops, struct service_facts *f)
{
    size_t i;
    const json_t *op;
    json_array_foreach(ops, i, op) {
        const char *kind = jstr(op, "op"), *path = jstr(op, "path");
        if (!kind || !path || (strcmp(kind, "add") != 0 && strcmp(kind, "replace") != 0))
            continue;
        const json_t *value = jget(op, "value");
        if (!strcmp(path, "/spec/type")) {
            f->type_known = true;
            f->type = json_is_string(value) ? json_string_value(value) : NULL;
        } else if (!strcmp(path, "/spec/externalIPs") && json_is_array(value)) {
            f->ips_known = true;
            f->nips = json_array_size(value);
            f->first_ip = f->nips ? json_string_value(json_array_get(value, 0)) : NULL;
        } else if (!strncmp(path, "/spec/externalIPs/", 18) && json_is_string(value)) {
            f->ips_known = true;
            f->nips++;
            if (!f->first_ip)
                f->first_ip = json_string_value(value);
        }
    }
}

static void judge_service(struct judgement *j)
{
    struct service_facts f = {0};
    if (j->json_patch)
        facts_from_json_patch(j->json_patch, &f);
    else
        facts_from_object(j->body, j->partial, &f);
    const struct aw_service_entry *e = governing(j);
    const char *type = f.type && *f.type ? f.type : "ClusterIP";
    if (f.type_known) {
        unsigned bit = aw_service_type_parse(type);
        bool ok = e ? aw_service_entry_allows_type(e, bit) : bit == AW_SVC_CLUSTER_IP;
        if (!ok) {
            char allowed[128];
            allowed_types_text(e, allowed, sizeof allowed);
            char name[64];
            copy_text(name, sizeof name, type, strlen(type));
            add_reason(j, "type %s is not allowed (%s: %s)", name,
                       e ? "allowed" : "unmapped, allowed", allowed);
            j->exposure = true;
            if (bit == AW_SVC_EXTERNAL_NAME)
                j->aitm = true;
        }
    }
    if (f.ips_known && f.nips && !(e && e->external_ips)) {
        char ip[64] = "?";
        if (f.first_ip)
            copy_text(ip, sizeof ip, f.first_ip, strlen(f.first_ip));
        add_reason(j, "externalIPs are not allowed (%s%s)", ip, f.nips > 1 ? ", ..." : "");
        j->exposure = true;
        j->aitm = true;
    }
    if (j->create && !j->partial && !j->json_patch && strcmp(type, "ExternalName") != 0) {
        const json_t *sel = jget(jspec(j->body), "selector");
        if (!json_is_object(sel) || json_object_size(sel) == 0) {
            add_reason(j, "Service has no selector: its Endpoints are written by hand");
            j->aitm = true;
        }
    }
}

/* ========================================================== Ingresses */

static void judge_backend(const struct svcmap_state *st, struct judgement *j, const char *host,
                          const char *service)
{
    const struct aw_service_entry *e;
    char svc[NAME_LEN], h[NAME_LEN];
    copy_name(svc, service, strlen(service));
    copy_name(h, host, strlen(host));
    enum aw_service_match m = aw_service_map_lookup(&st->map, j->ns, svc, &e);
    if (m != AW_SVC_MAPPED) {
        if (m == AW_SVC_NAME_UNMAPPED)
            add_reason(j, "backend Service '%s' is not mapped in namespace '%s'", svc, j->ns);
        return;
    }
    if (!e->ningress_hosts)
        add_reason(j, "Service '%s' may not be exposed through an Ingress", svc);
    else if (!aw_service_entry_allows_ingress_host(e, h))
        add_reason(j, "host '%s' may not route to Service '%s'", h, svc);
}

/* Every (host, backend Service) of an Ingress, networking.k8s.io/v1 and
 * the older extensions/v1beta1 shape.  Returns the number judged. */
static size_t judge_ingress_backends(const struct svcmap_state *st, struct judgement *j)
{
    const json_t *spec = jspec(j->body);
    size_t n = 0;
    const char *def = jstr(jget(jget(spec, "defaultBackend"), "service"), "name");
    if (!def)
        def = jstr(jget(spec, "backend"), "serviceName");
    if (def) {
        judge_backend(st, j, "*", def);
        n++;
    }
    size_t i, k;
    const json_t *rule, *path;
    const json_t *rules = jget(spec, "rules");
    if (!json_is_array(rules))
        return n;
    json_array_foreach(rules, i, rule) {
        const char *host = jstr(rule, "host");
        if (!host || !*host)
            host = "*";
        const json_t *paths = jget(jget(rule, "http"), "paths");
        if (!json_is_array(paths))
            continue;
        json_array_foreach(paths, k, path) {
            const json_t *backend = jget(path, "backend");
            const char *svc = jstr(jget(backend, "service"), "name");
            if (!svc)
                svc = jstr(backend, "serviceName");
            if (svc) {
                judge_backend(st, j, host, svc);
                n++;
            }
        }
    }
    return n;
}

static void judge_ingress(const struct svcmap_state *st, struct judgement *j)
{
    size_t before = j->nreasons;
    judge_ingress_backends(st, j);
    j->exposure = j->nreasons > before || j->dropped;
}

/* =========================================================== workloads */

struct port_scan {
    bool any_port;   /* some container declares a port */
    bool host_net;   /* spec.hostNetwork */
    char host_ports[96];
    size_t nhost_ports;
};

static void scan_containers(const json_t *list, struct port_scan *ps)
{
    size_t i, k;
    const json_t *c, *p;
    if (!json_is_array(list))
        return;
    json_array_foreach(list, i, c) {
        const json_t *ports = jget(c, "ports");
        if (!json_is_array(ports))
            continue;
        json_array_foreach(ports, k, p) {
            ps->any_port = true;
            const json_t *hp = jget(p, "hostPort");
            if (!json_is_integer(hp) || json_integer_value(hp) <= 0)
                continue;
            size_t used = strlen(ps->host_ports);
            if (ps->nhost_ports < 5)
                snprintf(ps->host_ports + used, sizeof ps->host_ports - used, "%s%lld",
                         ps->nhost_ports ? ", " : "", (long long)json_integer_value(hp));
            ps->nhost_ports++;
        }
    }
}

static void scan_pod_template(const json_t *body, struct port_scan *ps)
{
    const json_t *pod = jspec(jget(jspec(body), "template"));
    memset(ps, 0, sizeof *ps);
    scan_containers(jget(pod, "containers"), ps);
    scan_containers(jget(pod, "initContainers"), ps); /* sidecars may serve */
    ps->host_net = json_is_true(jget(pod, "hostNetwork"));
}

static void judge_workload_ports(struct judgement *j, const struct port_scan *ps)
{
    const struct aw_service_entry *e = governing(j);
    if (e && e->host_ports)
        return;
    if (ps->host_net) {
        add_reason(j, "hostNetwork is not allowed (the pods serve on their nodes' addresses)");
        j->exposure = true;
    }
    if (ps->nhost_ports) {
        add_reason(j, "hostPort %s%s is not allowed", ps->host_ports, ps->nhost_ports > 5 ? ", ..." : "");
        j->exposure = true;
    }
}

/* =========================================================== the event */

static const struct object_def *object_of(const struct aw_event *ev)
{
    const struct aw_str *res = &ev->fields[AW_F_ORCHESTRATOR_RESOURCE_TYPE];
    const struct aw_str *grp = &ev->fields[AW_F_K8S_OBJECTREF_API_GROUP];
    for (size_t i = 0; i < TABLE_LEN(object_defs); i++) {
        const struct object_def *d = &object_defs[i];
        if (!str_eq(res, d->resource))
            continue;
        for (size_t g = 0; g < 2 && d->groups[g]; g++)
            if (d->groups[g][0] ? str_eq(grp, d->groups[g]) : grp->ptr == NULL)
                return d;
    }
    return NULL;
}

/* Whether the request took effect: 2xx, final stage, not a dry run. */
static bool took_effect(const struct aw_event *ev)
{
    const struct aw_str *code = &ev->fields[AW_F_HTTP_RESPONSE_STATUS_CODE];
    if (!code->ptr || code->len != 3 || code->ptr[0] != '2')
        return false;
    const struct aw_str *stage = &ev->fields[AW_F_K8S_STAGE];
    if (stage->ptr && !str_eq(stage, "ResponseComplete"))
        return false;
    const struct aw_str *uri = &ev->fields[AW_F_URL_ORIGINAL];
    if (uri->ptr && memmem(uri->ptr, uri->len, "dryRun=", 7))
        return false;
    return !ev->fields[AW_F_K8S_OBJECTREF_SUBRESOURCE].ptr;
}

/* A usable object: a JSON object whose kind, when stated, is ours. */
static bool usable_object(const json_t *v, const char *kind)
{
    if (!json_is_object(v))
        return false;
    const char *k = jstr(v, "kind");
    return !k || !strcmp(k, kind);
}

static void pick_body(const struct aw_event *ev, struct judgement *j, bool patch)
{
    const json_t *req = jget(ev->raw, "requestObject");
    const json_t *resp = jget(ev->raw, "responseObject");
    if (!patch && usable_object(req, j->def->kind))
        j->body = req;
    else if (usable_object(resp, j->def->kind))
        j->body = resp;
    else if (patch && json_is_object(req))
        j->body = req, j->partial = true;
    else if (patch && json_is_array(req))
        j->json_patch = req;
    else
        j->no_body = true;
}

static void take_names(const struct aw_event *ev, struct judgement *j)
{
    const struct aw_str *ns = &ev->fields[AW_F_ORCHESTRATOR_NAMESPACE];
    const struct aw_str *name = &ev->fields[AW_F_ORCHESTRATOR_RESOURCE_NAME];
    const json_t *meta = j->partial ? NULL : jget(j->body, "metadata");
    const char *text;
    if (ns->ptr)
        copy_name(j->ns, ns->ptr, ns->len);
    else if ((text = jstr(meta, "namespace")) != NULL)
        copy_name(j->ns, text, strlen(text));
    if (name->ptr)
        copy_name(j->name, name->ptr, name->len);
    else if ((text = jstr(meta, "name")) != NULL)
        copy_name(j->name, text, strlen(text));
    else if ((text = jstr(jget(jget(ev->raw, "responseObject"), "metadata"), "name")) != NULL)
        copy_name(j->name, text, strlen(text));
}

/* Fill j->reasons; returns false when the event is not one to judge. */
static bool judge(const struct svcmap_state *st, const struct aw_event *ev, struct judgement *j)
{
    const struct aw_str *verb = &ev->fields[AW_F_EVENT_ACTION];
    bool create = str_eq(verb, "create"), update = str_eq(verb, "update"),
         patch = str_eq(verb, "patch");
    if (!ev->raw || aw_event_dataset_bit(ev) != AW_DATASET_K8S || !(create || update || patch))
        return false;
    j->def = object_of(ev);
    if (!j->def || !took_effect(ev))
        return false;
    j->create = create;
    j->verb = create ? "created" : update ? "updated" : "patched";
    pick_body(ev, j, patch);
    take_names(ev, j);
    if (!create && j->no_body)
        return false; /* nothing tells how exposure changed */

    struct port_scan ps;
    if (j->def->cls == OBJ_WORKLOAD) {
        if (j->no_body) { /* ports unknown: only the namespace can be judged */
            j->match = aw_service_map_lookup(&st->map, j->ns, NULL, &j->entry);
            if (j->match == AW_SVC_NAMESPACE_UNMAPPED)
                add_reason(j, "namespace '%s' is not in the service map", j->ns);
            return true;
        }
        if (j->partial)
            return false; /* a partial pod template tells nothing reliable */
        scan_pod_template(j->body, &ps);
        if (!ps.any_port && !ps.host_net)
            return false; /* serves nothing: not a service */
    }
    if (j->def->cls == OBJ_INGRESS && (j->partial || j->json_patch))
        return false;

    judge_mapping(st, j);
    if (j->no_body) {
        if (j->def->cls == OBJ_INGRESS && j->match != AW_SVC_NAMESPACE_UNMAPPED &&
            !aw_service_map_namespace_allows_ingress(&st->map, j->ns))
            add_reason(j, "no Service in namespace '%s' may be exposed through an Ingress", j->ns);
        return true;
    }
    switch (j->def->cls) {
    case OBJ_SERVICE: judge_service(j); break;
    case OBJ_INGRESS: judge_ingress(st, j); break;
    case OBJ_WORKLOAD: judge_workload_ports(j, &ps); break;
    }
    if (create && !j->partial && !j->json_patch) {
        judge_labels(st, j);
    } else if (!j->exposure) {
        /* update/patch within what is allowed: mapping alone is no news */
        j->nreasons = 0;
        j->dropped = 0;
    }
    return true;
}

/* ========================================================== the alert */

static void append_clean(struct aw_buf *b, const char *s)
{
    aw_buf_append_printable(b, s, strlen(s), SIZE_MAX);
}

static void build_message(struct svcmap_state *st, const struct aw_event *ev, const struct judgement *j)
{
    struct aw_buf *m = &st->message, *r = &st->reason;
    aw_buf_reset(m);
    aw_buf_reset(r);
    for (size_t i = 0; i < j->nreasons; i++) {
        if (i)
            aw_buf_append_str(r, "; ");
        aw_buf_append_str(r, j->reasons[i]);
    }
    if (j->dropped) {
        char more[48];
        snprintf(more, sizeof more, "; and %zu more", j->dropped);
        aw_buf_append_str(r, more);
    }
    aw_buf_append_char(r, '\0');

    aw_buf_append_str(m, j->def->kind);
    aw_buf_append_char(m, ' ');
    append_clean(m, j->ns[0] ? j->ns : "(no namespace)");
    aw_buf_append_char(m, '/');
    append_clean(m, j->name[0] ? j->name : "(unnamed)");
    aw_buf_append_char(m, ' ');
    aw_buf_append_str(m, j->verb);
    const struct aw_str *user = &ev->fields[AW_F_USER_NAME];
    if (user->ptr) {
        char u[NAME_LEN];
        copy_name(u, user->ptr, user->len);
        aw_buf_append_str(m, " by ");
        aw_buf_append_str(m, u);
    }
    aw_buf_append_str(m, ": ");
    aw_buf_append(m, r->data, r->len - 1);
    aw_buf_append_str(m, " (owner: ");
    if (j->entry) {
        append_clean(m, j->entry->owner);
        if (j->entry->contact) {
            aw_buf_append_str(m, ", contact: ");
            append_clean(m, j->entry->contact);
        }
    } else {
        aw_buf_append_str(m, "unknown");
    }
    aw_buf_append_char(m, ')');
    if (j->no_body) {
        const struct aw_str *level = &ev->fields[AW_F_K8S_LEVEL];
        char lv[32] = "?";
        if (level->ptr)
            copy_text(lv, sizeof lv, level->ptr, level->len);
        aw_buf_append_str(m, "; request body not logged (audit level ");
        aw_buf_append_str(m, lv);
        static const char *const unchecked[] = {
            [OBJ_SERVICE] = "): exposure, labels and selector were not checked",
            [OBJ_INGRESS] = "): hosts, backends and labels were not checked",
            [OBJ_WORKLOAD] = "): ports, exposure and labels were not checked",
        };
        aw_buf_append_str(m, unchecked[j->def->cls]);
    }
    aw_buf_append_char(m, '\0');
}

static int emit_alert(struct aw_detector *d, const struct aw_detector_env *env,
                      const struct aw_event *ev, const struct judgement *j)
{
    struct svcmap_state *st = d->state;
    build_message(st, ev, j);
    aw_buf_reset(&st->group);
    aw_buf_append_str(&st->group, "{\"orchestrator.namespace\":");
    aw_buf_json_cstr(&st->group, j->ns);
    aw_buf_append_str(&st->group, ",\"orchestrator.resource.type\":");
    aw_buf_json_cstr(&st->group, j->def->resource);
    aw_buf_append_str(&st->group, ",\"orchestrator.resource.name\":");
    aw_buf_json_cstr(&st->group, j->name);
    aw_buf_append_char(&st->group, '}');
    char *techniques[3];
    size_t ntech = 0;
    techniques[ntech++] = tech_remote;
    if (j->aitm)
        techniques[ntech++] = tech_aitm;
    if (j->def->cls == OBJ_WORKLOAD)
        techniques[ntech++] = tech_container;

    struct aw_alert a;
    memset(&a, 0, sizeof a);
    a.rule_name = d->name ? d->name : RULE_NAME;
    a.rule_title = "Unmapped or over-exposed Kubernetes service";
    a.description = "A Service, Ingress or port-exposing workload that the service map does not "
                    "cover, or that is exposed more than the map allows";
    a.level = st->level;
    a.techniques = techniques;
    a.ntechniques = ntech;
    aw_alert_about_event(&a, ev, ev->timestamp_ms, st->group.data, st->group.len, NULL, 0,
                         &st->evidence, &st->fields);
    a.message = st->message.data;
    a.reason = st->reason.data;
    d->stats.alerts++;
    return env->emit(env->emit_ctx, d, &a);
}

/* ========================================================== callbacks */

static void svcmap_fini(struct aw_detector *d)
{
    struct svcmap_state *st = d->state;
    if (!st)
        return;
    aw_service_map_free(&st->map);
    aw_buf_free(&st->message);
    aw_buf_free(&st->reason);
    aw_buf_free(&st->group);
    aw_buf_free(&st->evidence);
    aw_buf_free(&st->fields);
    free(st);
    d->state = NULL;
}

static int svcmap_init(struct aw_detector *d, const struct aw_detector_env *env, char *err, size_t errlen)
{
    const struct aw_config *cfg = env->config;
    if (!cfg || !cfg->service_map_path) {
        snprintf(err, errlen, "%s: no service map configured (service_map_path)", RULE_NAME);
        return -1;
    }
    struct svcmap_state *st = calloc(1, sizeof *st);
    char *path = aw_config_resolve_path(cfg, cfg->service_map_path);
    if (!st || !path) {
        free(st);
        free(path);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    d->state = st;
    st->required_labels = &cfg->required_labels;
    st->level = cfg->service_map_level;
    struct aw_diags diags = {0};
    size_t problems = aw_service_map_load(path, &st->map, &diags);
    free(path);
    if (problems) {
        const struct aw_diag_item *it = &diags.items[0];
        snprintf(err, errlen, "%s:%d:%d: %s%s", it->file, it->line, it->column, it->message,
                 problems > 1 ? " (and more problems: run auditwatch check)" : "");
        aw_diags_free(&diags);
        svcmap_fini(d);
        return -1;
    }
    aw_diags_free(&diags);
    if (env->store && aw_service_map_mirror(&st->map, env->store) < 0) {
        snprintf(err, errlen, "%s: cannot mirror the service map into the store", RULE_NAME);
        svcmap_fini(d);
        return -1;
    }
    return 0;
}

static int svcmap_on_event(struct aw_detector *d, const struct aw_detector_env *env,
                           const struct aw_event *ev)
{
    struct svcmap_state *st = d->state;
    /* Most events are not Kubernetes writes: leave before the set-up. */
    if (!ev->raw || aw_event_dataset_bit(ev) != AW_DATASET_K8S)
        return 0;
    struct judgement j;
    memset(&j, 0, sizeof j);
    if (!judge(st, ev, &j))
        return 0;
    d->stats.hits++;
    if (!j.nreasons)
        return 0;
    return emit_alert(d, env, ev, &j);
}

const struct aw_detector_kind aw_detector_service_map = {
    .name = "service_map",
    .init = svcmap_init,
    .on_event = svcmap_on_event,
    .fini = svcmap_fini,
};
