/*
 * decode_k8s.c - Kubernetes API-server audit events to normalized events.
 *
 * A record is parsed once with jansson and never copied: every string field
 * of the emitted event points into a jansson string of the parsed document,
 * and the event keeps one reference to its audit event (ev->raw) so rules
 * can read any path of the original.  Only two values are built: the
 * normalized source address and the status code's digits, both in the
 * event's arena, whose first block is reused from record to record.  The
 * decoder owns one aw_event and reuses it for every emission.
 *
 * What a record may be
 *
 *   - an Event: "kind": "Event", or no kind but the key auditID, or verb
 *     with stage or requestURI, or an audit.k8s.io apiVersion (writers of
 *     EventList items and some shippers omit the type meta; one generic
 *     key such as "stage" alone is not enough);
 *   - an EventList: "kind": "EventList" (the webhook backend's batch), one
 *     event per element of "items"; a missing or null "items" is an empty
 *     batch and yields no events;
 *   - an envelope: an object with none of the above whose field holds the
 *     event (or list) as an object or as a JSON string.  The fields are
 *     the configured list (default "message", "log"), then the AKS path
 *     "properties.log".  A name with dots that is not itself a key is read
 *     as a path of nested objects.  The first of these fields that holds an
 *     object or a string decides; its content must be an audit document (an
 *     envelope inside an envelope is not unwrapped).  A string that does
 *     not start with '{' is plain text, not an audit event; one that does
 *     and does not parse is invalid JSON.
 *
 * apiVersion may be missing, audit.k8s.io/v1 or audit.k8s.io/v1beta1;
 * anything else (notably "v1": a core Event is a cluster event, not an audit
 * event) is not an audit event.
 *
 * Rejections.  "kind" that is present but not a string is wrong_type, also
 * in {"kind": 0}: kind is the one field every Kubernetes object carries, so
 * a non-string kind is a malformed object, and naming the broken field tells
 * the operator more than "not an audit event" would.  A JSON value that is
 * not an object, an object without any audit marker, a foreign kind and a
 * GKE Cloud Audit record (protoPayload: a different schema that a later
 * decoder may map) are not_audit_event.  A known field of the wrong JSON
 * type is wrong_type and the detail names the field.  JSON null counts as
 * absent, and so does an empty string (Kubernetes serializes unset fields as
 * omitted, and "apiGroup": "" for the core group carries no information);
 * absent fields are simply not set.
 *
 * A record is decided whole.  If any item of an EventList is bad, the whole
 * list is rejected and nothing is emitted: the record is the unit of the
 * dead-letter sink and of Kafka offsets, so a partial emission would either
 * lose the bad item from the dead letters or, if the record were replayed
 * from the dead-letter topic after a fix, emit its good items twice.  To
 * keep "emitted events are never followed by a rejection", every item is
 * decoded once to validate it and again to emit it; the same function does
 * both, so the second pass cannot fail.  A single Event is decoded once.
 *
 * Field mapping (ECS, DESIGN section 4)
 *
 *   @timestamp                    requestReceivedTimestamp, else stageTimestamp,
 *                                 else timestamp (RFC 3339 with a zone; digits
 *                                 below the millisecond truncated).  The first
 *                                 present one decides: a bad one is rejected,
 *                                 not skipped.
 *   event.action                  verb
 *   event.outcome                 responseStatus.code 100-399 success, >= 400
 *                                 failure; no code (RequestReceived stage) or
 *                                 a code below 100: unknown
 *   event.category                the first that applies:
 *     authentication  code 401;
 *     iam             objectRef.apiGroup rbac.authorization.k8s.io,
 *                     authentication.k8s.io, authorization.k8s.io or
 *                     certificates.k8s.io; or no apiGroup (core group) and
 *                     resource serviceaccounts, or an RBAC, review or CSR
 *                     resource name (events written before objectRef had
 *                     apiGroup) - see iam_core_resources;
 *     configuration   verb create, update, patch, delete, deletecollection;
 *     web             everything else (reads, watches, non-resource URLs).
 *   user.name / user.id           user.username / user.uid
 *   user.effective.name           impersonatedUser.username
 *   source.ip                     sourceIPs[0], normalized (a non-address goes
 *                                 to source.domain)
 *   orchestrator.*                type "kubernetes"; namespace, resource.type,
 *                                 resource.name from objectRef
 *   http.response.status_code     responseStatus.code
 *   url.original, user_agent.original   requestURI, userAgent
 *   kubernetes.audit.*            auditID, stage, level, objectRef.subresource,
 *                                 objectRef.apiGroup, objectRef.apiVersion,
 *                                 user.groups, annotations
 *                                 authorization.k8s.io/decision and /reason
 *   auditwatch.id                 auditID; without one, a hash of the record's
 *                                 bytes with the item's index as ordinal
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auditwatch/decode.h"
#include "auditwatch/event.h"
#include "auditwatch/hash.h"
#include "auditwatch/timeparse.h"

/* The AKS diagnostic-log wrapper: {"category": "kube-audit", "properties":
 * {"log": EVENT-OR-STRING, ...}}.  Tried after the configured fields. */
#define AKS_ENVELOPE_PATH "properties.log"

#define TABLE_LEN(t) (sizeof(t) / sizeof((t)[0]))

struct aw_k8s_decoder {
    struct aw_event ev; /* reused for every emitted event */
    char *envelope[AW_MAX_ENVELOPE_FIELDS]; /* owned copies of the field names */
    size_t n_envelope;
};

/* What a record is being decoded as; carried along so that every rejection
 * can say where in the record the problem sits. */
struct record_ctx {
    const struct aw_record *rec;
    const char *envelope; /* envelope field holding the document, or NULL */
    bool in_list;         /* decoding items[index] of an EventList */
    size_t index;
    bool have_hash; /* content_hash computed (lazily: most events have an auditID) */
    uint64_t content_hash;
};

/* ============================================================ life cycle */

/*
 * Make a decoder.  Only opts->envelope_fields matters here (NULL opts or a
 * NULL list: "message", "log"); the names are copied, so the caller's list
 * need not outlive the decoder.  Returns NULL with a message in err when the
 * list is too long or holds an empty name, or when memory runs out.
 */
struct aw_k8s_decoder *aw_k8s_decoder_new(const struct aw_decode_options *opts, char *err,
                                          size_t errlen)
{
    static const char *const default_fields[] = {"message", "log", NULL};
    const char *const *fields =
        opts && opts->envelope_fields ? opts->envelope_fields : default_fields;
    size_t n = 0;
    while (fields[n]) {
        if (fields[n][0] == '\0') {
            if (err && errlen)
                snprintf(err, errlen, "envelope field %zu: empty name", n + 1);
            return NULL;
        }
        if (++n > AW_MAX_ENVELOPE_FIELDS) {
            if (err && errlen)
                snprintf(err, errlen, "too many envelope fields (at most %d)",
                         AW_MAX_ENVELOPE_FIELDS);
            return NULL;
        }
    }
    struct aw_k8s_decoder *d = calloc(1, sizeof *d);
    if (!d)
        goto oom;
    aw_event_init(&d->ev);
    for (size_t i = 0; i < n; i++) {
        d->envelope[i] = strdup(fields[i]);
        if (!d->envelope[i])
            goto oom;
        d->n_envelope = i + 1;
    }
    return d;
oom:
    aw_k8s_decoder_free(d);
    if (err && errlen)
        snprintf(err, errlen, "out of memory");
    return NULL;
}

/* Free the decoder, its event (and the audit document that event may still
 * hold) and its envelope names.  NULL is a no-op. */
void aw_k8s_decoder_free(struct aw_k8s_decoder *d)
{
    if (!d)
        return;
    aw_event_fini(&d->ev);
    for (size_t i = 0; i < d->n_envelope; i++)
        free(d->envelope[i]);
    free(d);
}

/* ============================================================ rejections */

/* The JSON type of v as a word for rejection details. */
static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "value";
}

/*
 * Fill `why` with reason r and a detail prefixed by where the problem is
 * ("log: items[2]: ...").  Always returns false so that checks can end
 * with `return reject(...)`.  Only the rejection path formats text.
 */
static bool reject(struct aw_reject *why, const struct record_ctx *rc, enum aw_reject_reason r,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static bool reject(struct aw_reject *why, const struct record_ctx *rc, enum aw_reject_reason r,
                   const char *fmt, ...)
{
    char msg[sizeof why->detail];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char list_pos[40] = "";
    if (rc->in_list)
        snprintf(list_pos, sizeof list_pos, "items[%zu]: ", rc->index);
    if (rc->envelope)
        aw_reject_set(why, r, "%s: %s%s", rc->envelope, list_pos, msg);
    else
        aw_reject_set(why, r, "%s%s", list_pos, msg);
    return false;
}

/* A wrong_type rejection naming the field, what it must be and what it is. */
static bool reject_type(struct aw_reject *why, const struct record_ctx *rc, const char *field,
                        const char *expected, const json_t *got)
{
    return reject(why, rc, AW_REJECT_WRONG_TYPE, "%s must be %s, got %s", field, expected,
                  type_name(got));
}

/* ======================================================= field accessors */

/* A missing key and JSON null mean the same: the field is not set. */
static bool is_absent(const json_t *v) { return v == NULL || json_is_null(v); }

/* ================================================ one pass over an object */

/*
 * json_object_get hashes the name it is given and probes the table.  An
 * audit event has about fifteen members and the decoder reads most of
 * them, and several of user, objectRef and annotations: one walk over the
 * object with jansson's iterator, picking the wanted members by name into
 * slots, costs less than those lookups.  The slots hold what
 * json_object_get would return: NULL for a missing member, and for a key
 * that appears twice in the text the one member jansson kept (the last
 * value).  Names are compared with their lengths, as jansson does.
 */
struct member_name {
    const char *name;
    size_t len;
};

#define MEMBER(n) {n, sizeof(n) - 1}

/* slots[i] = obj[names[i].name] for each of the n names, or NULL. */
static void pick_members(const json_t *obj, const struct member_name *names, size_t n,
                         const json_t **slots)
{
    for (size_t i = 0; i < n; i++)
        slots[i] = NULL;
    /* jansson's iterator API takes a non-const object; it does not change it. */
    json_t *o = (json_t *)obj;
    for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
        const char *key = json_object_iter_key(it);
        size_t len = json_object_iter_key_len(it);
        for (size_t i = 0; i < n; i++) {
            if (names[i].len == len && names[i].name[0] == key[0] &&
                memcmp(names[i].name, key, len) == 0) {
                slots[i] = json_object_iter_value(it);
                break;
            }
        }
    }
}

/* The members of an audit document the decoder reads. */
enum doc_member {
    M_KIND,
    M_API_VERSION,
    M_AUDIT_ID,
    M_VERB,
    M_STAGE,
    M_REQUEST_URI,
    M_ITEMS,
    M_PROTO_PAYLOAD,
    M_LEVEL,
    M_USER_AGENT,
    M_USER,
    M_IMPERSONATED_USER,
    M_SOURCE_IPS,
    M_OBJECT_REF,
    M_RESPONSE_STATUS,
    M_ANNOTATIONS,
    M_REQUEST_RECEIVED_TIMESTAMP,
    M_STAGE_TIMESTAMP,
    M_TIMESTAMP,
    DOC_MEMBER_COUNT
};

static const struct member_name doc_member_names[DOC_MEMBER_COUNT] = {
    [M_KIND] = MEMBER("kind"),
    [M_API_VERSION] = MEMBER("apiVersion"),
    [M_AUDIT_ID] = MEMBER("auditID"),
    [M_VERB] = MEMBER("verb"),
    [M_STAGE] = MEMBER("stage"),
    [M_REQUEST_URI] = MEMBER("requestURI"),
    [M_ITEMS] = MEMBER("items"),
    [M_PROTO_PAYLOAD] = MEMBER("protoPayload"),
    [M_LEVEL] = MEMBER("level"),
    [M_USER_AGENT] = MEMBER("userAgent"),
    [M_USER] = MEMBER("user"),
    [M_IMPERSONATED_USER] = MEMBER("impersonatedUser"),
    [M_SOURCE_IPS] = MEMBER("sourceIPs"),
    [M_OBJECT_REF] = MEMBER("objectRef"),
    [M_RESPONSE_STATUS] = MEMBER("responseStatus"),
    [M_ANNOTATIONS] = MEMBER("annotations"),
    [M_REQUEST_RECEIVED_TIMESTAMP] = MEMBER("requestReceivedTimestamp"),
    [M_STAGE_TIMESTAMP] = MEMBER("stageTimestamp"),
    [M_TIMESTAMP] = MEMBER("timestamp"),
};

struct doc_members {
    const json_t *v[DOC_MEMBER_COUNT];
};

/* Which doc_member the key is, or -1: by length first, so that at most
 * four names are compared, each with a memcmp of known length. */
static int doc_member_of(const char *key, size_t len)
{
#define IS(id) (memcmp(key, doc_member_names[id].name, len) == 0)
    switch (len) {
    case 4: return key[0] == 'k' ? (IS(M_KIND) ? M_KIND : -1)
                 : key[0] == 'v' ? (IS(M_VERB) ? M_VERB : -1)
                                 : (IS(M_USER) ? M_USER : -1);
    case 5: return IS(M_STAGE) ? M_STAGE : IS(M_ITEMS) ? M_ITEMS : IS(M_LEVEL) ? M_LEVEL : -1;
    case 7: return IS(M_AUDIT_ID) ? M_AUDIT_ID : -1;
    case 9:
        return IS(M_USER_AGENT) ? M_USER_AGENT
             : IS(M_SOURCE_IPS) ? M_SOURCE_IPS
             : IS(M_OBJECT_REF) ? M_OBJECT_REF
             : IS(M_TIMESTAMP)  ? M_TIMESTAMP
                                : -1;
    case 10: return IS(M_API_VERSION) ? M_API_VERSION : IS(M_REQUEST_URI) ? M_REQUEST_URI : -1;
    case 11: return IS(M_ANNOTATIONS) ? M_ANNOTATIONS : -1;
    case 12: return IS(M_PROTO_PAYLOAD) ? M_PROTO_PAYLOAD : -1;
    case 14:
        return IS(M_RESPONSE_STATUS) ? M_RESPONSE_STATUS : IS(M_STAGE_TIMESTAMP) ? M_STAGE_TIMESTAMP : -1;
    case 16: return IS(M_IMPERSONATED_USER) ? M_IMPERSONATED_USER : -1;
    case 24: return IS(M_REQUEST_RECEIVED_TIMESTAMP) ? M_REQUEST_RECEIVED_TIMESTAMP : -1;
    default: return -1;
    }
#undef IS
}

/* m->v[i] = obj[doc_member_names[i]] for every doc member, or NULL: the
 * same as pick_members(), with the names told apart by a switch because
 * every record goes through here. */
static void pick_doc_members(const json_t *obj, struct doc_members *m)
{
    for (size_t i = 0; i < DOC_MEMBER_COUNT; i++)
        m->v[i] = NULL;
    json_t *o = (json_t *)obj; /* the iterator API is not const; it changes nothing */
    for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
        int id = doc_member_of(json_object_iter_key(it), json_object_iter_key_len(it));
        if (id >= 0)
            m->v[id] = json_object_iter_value(it);
    }
}

/* ======================================================= field accessors */

/*
 * Point event field f at the string v, a member's value or NULL when it is
 * missing (no copy).  Absent, null and empty leave f unset; any other
 * non-string is wrong_type, reported as `path`.  Returns false only on
 * rejection.
 */
static bool take_string(struct aw_event *ev, enum aw_field f, const json_t *v, const char *path,
                        const struct record_ctx *rc, struct aw_reject *why)
{
    if (is_absent(v))
        return true;
    if (!json_is_string(v))
        return reject_type(why, rc, path, "a string", v);
    size_t len = json_string_length(v);
    if (len)
        aw_event_set(ev, f, json_string_value(v), len);
    return true;
}

/* The member v (named key) as an object in *out (NULL when absent or
 * null); any other type is wrong_type.  Returns false only on rejection. */
static bool take_object(const json_t *v, const char *key, const struct record_ctx *rc,
                        const json_t **out, struct aw_reject *why)
{
    *out = NULL;
    if (is_absent(v))
        return true;
    if (!json_is_object(v))
        return reject_type(why, rc, key, "an object", v);
    *out = v;
    return true;
}

/* The member v as an array whose elements are all strings, in *out (NULL
 * when absent or null).  Returns false only on rejection. */
static bool take_string_array(const json_t *v, const char *path, const struct record_ctx *rc,
                              const json_t **out, struct aw_reject *why)
{
    *out = NULL;
    if (is_absent(v))
        return true;
    if (!json_is_array(v))
        return reject_type(why, rc, path, "an array of strings", v);
    size_t n = json_array_size(v);
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(v, i);
        if (!json_is_string(item))
            return reject(why, rc, AW_REJECT_WRONG_TYPE,
                          "%s must be an array of strings, element %zu is %s", path, i,
                          type_name(item));
    }
    *out = v;
    return true;
}

/* A string literal as a view: its length is known at compile time, so
 * table lookups and constant fields need no strlen per event. */
#define LIT(s) {s, sizeof(s) - 1}

/* ========================================================== event time */

/*
 * The event time: the first present of the three stamps, in the order of
 * DESIGN section 4.  A present stamp that is not a string, or not an RFC
 * 3339 time with a zone from its first to its last byte, is bad_timestamp.
 */
static bool take_time(const struct doc_members *m, const struct record_ctx *rc, int64_t *ms,
                      struct aw_reject *why)
{
    static const char *const keys[] = {"requestReceivedTimestamp", "stageTimestamp",
                                       "timestamp"};
    static const enum doc_member members[] = {M_REQUEST_RECEIVED_TIMESTAMP, M_STAGE_TIMESTAMP,
                                              M_TIMESTAMP};
    for (size_t k = 0; k < TABLE_LEN(keys); k++) {
        const json_t *v = m->v[members[k]];
        if (is_absent(v))
            continue;
        if (!json_is_string(v))
            return reject(why, rc, AW_REJECT_BAD_TIMESTAMP, "%s must be an RFC 3339 string, got %s",
                          keys[k], type_name(v));
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        size_t used = aw_parse_rfc3339(s, len, false, ms);
        if (used == 0 || used != len)
            return reject(why, rc, AW_REJECT_BAD_TIMESTAMP,
                          "%s \"%.40s\" is not an RFC 3339 time with a zone", keys[k], s);
        return true;
    }
    return reject(why, rc, AW_REJECT_MISSING_TIMESTAMP,
                  "no requestReceivedTimestamp, stageTimestamp or timestamp");
}

/* ====================================================== derived fields */

/* Decimal text of a status code into the arena (no snprintf: hot path). */
static void set_status_code(struct aw_event *ev, uint64_t code)
{
    char text[20];
    size_t pos = sizeof text;
    do {
        text[--pos] = (char)('0' + code % 10);
        code /= 10;
    } while (code);
    aw_event_set_copy(ev, AW_F_HTTP_RESPONSE_STATUS_CODE, text + pos, sizeof text - pos);
}

/* API groups whose every resource is about identity or access. */
static const struct aw_str iam_api_groups[] = {
    LIT("rbac.authorization.k8s.io"),
    LIT("authentication.k8s.io"),
    LIT("authorization.k8s.io"),
    LIT("certificates.k8s.io"),
};

/* Resources that are about identity or access when objectRef names no API
 * group: serviceaccounts lives in the core group; the others belong to the
 * groups above and appear group-less only in events written before objectRef
 * carried apiGroup. */
static const struct aw_str iam_core_resources[] = {
    LIT("serviceaccounts"),
    LIT("roles"),
    LIT("rolebindings"),
    LIT("clusterroles"),
    LIT("clusterrolebindings"),
    LIT("certificatesigningrequests"),
    LIT("tokenreviews"),
    LIT("subjectaccessreviews"),
    LIT("selfsubjectaccessreviews"),
    LIT("localsubjectaccessreviews"),
    LIT("selfsubjectrulesreviews"),
    LIT("selfsubjectreviews"),
};

/* Verbs that change cluster state (event.category "configuration"). */
static const struct aw_str changing_verbs[] = {
    LIT("create"), LIT("update"), LIT("patch"), LIT("delete"), LIT("deletecollection"),
};

/* Whether the view s equals one of the n texts of table. */
static bool in_table(const struct aw_str *s, const struct aw_str *table, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s->len == table[i].len && memcmp(s->ptr, table[i].ptr, s->len) == 0)
            return true;
    return false;
}

/* event.category from the already-set fields and the status code (code < 0:
 * none).  The mapping is documented at the top of this file. */
static struct aw_str event_category(const struct aw_event *ev, json_int_t code)
{
    static const struct aw_str authentication = LIT("authentication"), iam = LIT("iam"),
                               configuration = LIT("configuration"), web = LIT("web");
    if (code == 401)
        return authentication;
    const struct aw_str *group = &ev->fields[AW_F_K8S_OBJECTREF_API_GROUP];
    const struct aw_str *resource = &ev->fields[AW_F_ORCHESTRATOR_RESOURCE_TYPE];
    if (group->ptr) {
        if (in_table(group, iam_api_groups, TABLE_LEN(iam_api_groups)))
            return iam;
    } else if (resource->ptr &&
               in_table(resource, iam_core_resources, TABLE_LEN(iam_core_resources))) {
        return iam;
    }
    const struct aw_str *verb = &ev->fields[AW_F_EVENT_ACTION];
    if (verb->ptr && in_table(verb, changing_verbs, TABLE_LEN(changing_verbs)))
        return configuration;
    return web;
}

/* ===================================================== one audit event */

/*
 * Decode one audit Event object into ev (which the caller has cleared):
 * every known field is type-checked, and the fields of the normalized event
 * are pointed into `item`'s strings.  On success ev holds a reference to
 * item in ev->raw.  Returns false with `why` filled on rejection (ev may
 * then hold some fields; the caller clears it).  Deterministic: the same
 * item always gives the same result, which the EventList passes rely on.
 */
static bool decode_event(struct aw_event *ev, json_t *item, const struct doc_members *m,
                         struct record_ctx *rc, struct aw_reject *why)
{
    const json_t *obj;
    const json_t *list;

    if (!take_string(ev, AW_F_K8S_AUDIT_ID, m->v[M_AUDIT_ID], "auditID", rc, why) ||
        !take_string(ev, AW_F_K8S_STAGE, m->v[M_STAGE], "stage", rc, why) ||
        !take_string(ev, AW_F_K8S_LEVEL, m->v[M_LEVEL], "level", rc, why) ||
        !take_string(ev, AW_F_EVENT_ACTION, m->v[M_VERB], "verb", rc, why) ||
        !take_string(ev, AW_F_URL_ORIGINAL, m->v[M_REQUEST_URI], "requestURI", rc, why) ||
        !take_string(ev, AW_F_USER_AGENT_ORIGINAL, m->v[M_USER_AGENT], "userAgent", rc, why))
        return false;

    if (!take_object(m->v[M_USER], "user", rc, &obj, why))
        return false;
    if (obj) {
        static const struct member_name names[] = {MEMBER("username"), MEMBER("uid"),
                                                   MEMBER("groups")};
        const json_t *v[TABLE_LEN(names)];
        pick_members(obj, names, TABLE_LEN(names), v);
        if (!take_string(ev, AW_F_USER_NAME, v[0], "user.username", rc, why) ||
            !take_string(ev, AW_F_USER_ID, v[1], "user.uid", rc, why) ||
            !take_string_array(v[2], "user.groups", rc, &list, why))
            return false;
        if (list && json_array_size(list) > 0)
            ev->lists[AW_F_K8S_USER_GROUPS] = list;
    }

    if (!take_object(m->v[M_IMPERSONATED_USER], "impersonatedUser", rc, &obj, why))
        return false;
    if (obj && !take_string(ev, AW_F_USER_EFFECTIVE_NAME, json_object_get(obj, "username"),
                            "impersonatedUser.username", rc, why))
        return false;

    if (!take_string_array(m->v[M_SOURCE_IPS], "sourceIPs", rc, &list, why))
        return false;
    if (list && json_array_size(list) > 0) {
        const json_t *first = json_array_get(list, 0);
        if (json_string_length(first) > 0)
            aw_event_set_source_address(ev, json_string_value(first), json_string_length(first));
    }

    if (!take_object(m->v[M_OBJECT_REF], "objectRef", rc, &obj, why))
        return false;
    if (obj) {
        static const struct member_name names[] = {MEMBER("namespace"),   MEMBER("resource"),
                                                   MEMBER("name"),        MEMBER("subresource"),
                                                   MEMBER("apiGroup"),    MEMBER("apiVersion")};
        const json_t *v[TABLE_LEN(names)];
        pick_members(obj, names, TABLE_LEN(names), v);
        if (!take_string(ev, AW_F_ORCHESTRATOR_NAMESPACE, v[0], "objectRef.namespace", rc, why) ||
            !take_string(ev, AW_F_ORCHESTRATOR_RESOURCE_TYPE, v[1], "objectRef.resource", rc,
                         why) ||
            !take_string(ev, AW_F_ORCHESTRATOR_RESOURCE_NAME, v[2], "objectRef.name", rc, why) ||
            !take_string(ev, AW_F_K8S_OBJECTREF_SUBRESOURCE, v[3], "objectRef.subresource", rc,
                         why) ||
            !take_string(ev, AW_F_K8S_OBJECTREF_API_GROUP, v[4], "objectRef.apiGroup", rc, why) ||
            !take_string(ev, AW_F_K8S_OBJECTREF_API_VERSION, v[5], "objectRef.apiVersion", rc,
                         why))
            return false;
    }

    json_int_t code = -1;
    if (!take_object(m->v[M_RESPONSE_STATUS], "responseStatus", rc, &obj, why))
        return false;
    if (obj) {
        const json_t *c = json_object_get(obj, "code");
        if (!is_absent(c)) {
            if (!json_is_integer(c))
                return reject_type(why, rc, "responseStatus.code", "an integer", c);
            code = json_integer_value(c);
            if (code >= 0) /* a negative code is no HTTP status; raw keeps it */
                set_status_code(ev, (uint64_t)code);
        }
    }

    if (!take_object(m->v[M_ANNOTATIONS], "annotations", rc, &obj, why))
        return false;
    if (obj) {
        static const struct member_name names[] = {MEMBER("authorization.k8s.io/decision"),
                                                   MEMBER("authorization.k8s.io/reason")};
        const json_t *v[TABLE_LEN(names)];
        pick_members(obj, names, TABLE_LEN(names), v);
        if (!take_string(ev, AW_F_K8S_ANNOTATION_DECISION, v[0],
                         "annotations.authorization.k8s.io/decision", rc, why) ||
            !take_string(ev, AW_F_K8S_ANNOTATION_REASON, v[1],
                         "annotations.authorization.k8s.io/reason", rc, why))
            return false;
    }

    if (!take_time(m, rc, &ev->timestamp_ms, why))
        return false;

    /* Everything is valid: derived and constant fields. */
    static const struct aw_str dataset = LIT("kubernetes.audit"), type = LIT("kubernetes"),
                               failure = LIT("failure"), success = LIT("success"),
                               unknown = LIT("unknown");
    ev->fields[AW_F_EVENT_DATASET] = dataset;
    ev->fields[AW_F_ORCHESTRATOR_TYPE] = type;
    ev->fields[AW_F_EVENT_CATEGORY] = event_category(ev, code);
    ev->fields[AW_F_EVENT_OUTCOME] = code >= 400 ? failure : code >= 100 ? success : unknown;
    if (aw_event_has(ev, AW_F_K8S_AUDIT_ID)) {
        ev->fields[AW_F_AUDITWATCH_ID] = ev->fields[AW_F_K8S_AUDIT_ID];
    } else {
        if (!rc->have_hash) {
            rc->content_hash = aw_hash64(rc->rec->data, rc->rec->len, 0);
            rc->have_hash = true;
        }
        aw_event_set_content_id(ev, rc->content_hash, rc->in_list ? (unsigned)rc->index : 0);
    }
    ev->origin = rc->rec->origin;
    ev->raw = json_incref(item);
    return true;
}

/* ===================================================== document shapes */

enum doc_shape {
    SHAPE_EVENT, /* an audit Event */
    SHAPE_LIST,  /* an audit EventList */
    SHAPE_NONE,  /* no audit marker at all: maybe an envelope (why untouched) */
    SHAPE_BAD    /* claims to be something else or is malformed (why filled) */
};

/* Whether the NUL-terminated s begins with prefix. */
static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * What the object `obj` is, judged by kind, apiVersion and the audit
 * markers (see the top of the file).  SHAPE_BAD fills `why`; SHAPE_NONE
 * leaves it alone so the caller can explain in its own context.
 */
static enum doc_shape classify(const struct doc_members *m, const struct record_ctx *rc,
                               struct aw_reject *why)
{
    const json_t *kind = m->v[M_KIND];
    const json_t *api = m->v[M_API_VERSION];
    enum doc_shape shape;

    if (!is_absent(kind)) {
        if (!json_is_string(kind)) {
            reject_type(why, rc, "kind", "a string", kind);
            return SHAPE_BAD;
        }
        const char *k = json_string_value(kind);
        if (strcmp(k, "Event") == 0) {
            shape = SHAPE_EVENT;
        } else if (strcmp(k, "EventList") == 0) {
            shape = SHAPE_LIST;
        } else {
            reject(why, rc, AW_REJECT_NOT_AUDIT_EVENT,
                   "kind \"%.40s\" is not an audit Event or EventList", k);
            return SHAPE_BAD;
        }
    } else if (m->v[M_AUDIT_ID] ||
               (m->v[M_VERB] && (m->v[M_STAGE] || m->v[M_REQUEST_URI]))) {
        shape = SHAPE_EVENT;
    } else if (json_is_string(api) && starts_with(json_string_value(api), "audit.k8s.io/")) {
        shape = m->v[M_ITEMS] ? SHAPE_LIST : SHAPE_EVENT;
    } else {
        return SHAPE_NONE;
    }

    if (!is_absent(api)) {
        if (!json_is_string(api)) {
            reject_type(why, rc, "apiVersion", "a string", api);
            return SHAPE_BAD;
        }
        const char *v = json_string_value(api);
        if (strcmp(v, "audit.k8s.io/v1") != 0 && strcmp(v, "audit.k8s.io/v1beta1") != 0) {
            reject(why, rc, AW_REJECT_NOT_AUDIT_EVENT,
                   "apiVersion \"%.40s\" is not audit.k8s.io/v1 or audit.k8s.io/v1beta1", v);
            return SHAPE_BAD;
        }
    }
    return shape;
}

/* Why an object without audit markers is not an audit event, for the detail. */
static bool reject_unmarked(struct aw_reject *why, const struct record_ctx *rc,
                            const json_t *obj, const struct doc_members *m,
                            const struct aw_k8s_decoder *d)
{
    if (m->v[M_PROTO_PAYLOAD])
        return reject(why, rc, AW_REJECT_NOT_AUDIT_EVENT,
                      "a GKE Cloud Audit record (protoPayload), not an audit.k8s.io Event");
    if (json_object_size(obj) == 0)
        return reject(why, rc, AW_REJECT_NOT_AUDIT_EVENT, "an empty object");
    if (rc->envelope)
        return reject(why, rc, AW_REJECT_NOT_AUDIT_EVENT,
                      "an object with no kind, auditID or verb");
    char fields[120] = "";
    size_t used = 0;
    for (size_t i = 0; i < d->n_envelope && used < sizeof fields; i++)
        used += (size_t)snprintf(fields + used, sizeof fields - used, "%s, ", d->envelope[i]);
    return reject(why, rc, AW_REJECT_NOT_AUDIT_EVENT,
                  "an object with no kind, auditID or verb, and no envelope field (%s"
                  AKS_ENVELOPE_PATH ")",
                  fields);
}

/* obj[path], where a dotted path that is not itself a key walks nested
 * objects ("properties.log").  NULL when absent. */
static json_t *lookup_path(json_t *obj, const char *path)
{
    json_t *v = json_object_get(obj, path);
    if (v || !strchr(path, '.'))
        return v;
    const char *seg = path;
    for (;;) {
        const char *dot = strchr(seg, '.');
        if (!dot)
            return json_object_get(obj, seg);
        obj = json_object_getn(obj, seg, (size_t)(dot - seg));
        if (!json_is_object(obj))
            return NULL;
        seg = dot + 1;
    }
}

/*
 * Find the audit document of a record whose root is `root`: the root
 * itself, or the content of the first envelope field holding an object or a
 * string.  On success *doc and *shape describe it, rc->envelope names the
 * field it came from, and *inner holds a document this call parsed from an
 * envelope string (the caller owns that reference; NULL otherwise).
 * Returns false with `why` filled on rejection.
 */
static bool locate_document(const struct aw_k8s_decoder *d, json_t *root, struct record_ctx *rc,
                            json_t **doc, struct doc_members *m, json_t **inner,
                            enum doc_shape *shape, struct aw_reject *why)
{
    if (!json_is_object(root))
        return reject(why, rc, AW_REJECT_NOT_AUDIT_EVENT,
                      "a JSON %s, not an object holding an audit event", type_name(root));
    pick_doc_members(root, m);
    *shape = classify(m, rc, why);
    if (*shape == SHAPE_EVENT || *shape == SHAPE_LIST) {
        *doc = root;
        return true;
    }
    if (*shape == SHAPE_BAD)
        return false;

    for (size_t i = 0; i <= d->n_envelope; i++) {
        const char *path = i < d->n_envelope ? d->envelope[i] : AKS_ENVELOPE_PATH;
        json_t *content = lookup_path(root, path);
        if (json_is_string(content)) {
            const char *s = json_string_value(content);
            size_t len = json_string_length(content);
            size_t k = 0;
            while (k < len && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r' || s[k] == '\n'))
                k++;
            rc->envelope = path;
            if (k == len || s[k] != '{')
                return reject(why, rc, AW_REJECT_NOT_AUDIT_EVENT,
                              "text that is not a JSON audit event");
            json_error_t jerr;
            *inner = json_loadb(s, len, 0, &jerr);
            if (!*inner)
                return reject(why, rc, AW_REJECT_INVALID_JSON, "%s at line %d column %d",
                              jerr.text, jerr.line, jerr.column);
            content = *inner;
        } else if (json_is_object(content)) {
            rc->envelope = path;
        } else {
            continue; /* absent, or a type that cannot hold an event */
        }
        pick_doc_members(content, m);
        *shape = classify(m, rc, why);
        if (*shape == SHAPE_EVENT || *shape == SHAPE_LIST) {
            *doc = content;
            return true;
        }
        if (*shape == SHAPE_BAD)
            return false;
        return reject_unmarked(why, rc, content, m, d);
    }
    return reject_unmarked(why, rc, root, m, d);
}

/* ============================================================ emission */

/*
 * Decode an EventList's items: validate every item first, then decode and
 * emit them (see the top of the file).  Returns the number emitted, -1 on
 * rejection (nothing emitted), -2 when emit asked to stop.
 */
static int decode_list(struct aw_k8s_decoder *d, const struct doc_members *list,
                       struct record_ctx *rc, aw_emit_fn emit, void *ctx, struct aw_reject *why)
{
    const json_t *items = list->v[M_ITEMS];
    if (is_absent(items))
        return 0;
    if (!json_is_array(items)) {
        reject_type(why, rc, "items", "an array", items);
        return -1;
    }
    size_t n = json_array_size(items);

    rc->in_list = true;
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(items, i);
        rc->index = i;
        if (!json_is_object(item)) {
            reject_type(why, rc, "event", "an object", item);
            return -1;
        }
        /* Items usually omit kind and apiVersion; when present they must
         * still say Event.  An unmarked item is an event by its position. */
        struct doc_members m;
        pick_doc_members(item, &m);
        enum doc_shape shape = classify(&m, rc, why);
        if (shape == SHAPE_BAD)
            return -1;
        if (shape == SHAPE_LIST) {
            reject(why, rc, AW_REJECT_NOT_AUDIT_EVENT, "an EventList inside an EventList");
            return -1;
        }
        aw_event_clear(&d->ev);
        if (!decode_event(&d->ev, item, &m, rc, why))
            return -1;
    }

    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(items, i);
        struct doc_members m;
        pick_doc_members(item, &m);
        rc->index = i;
        aw_event_clear(&d->ev);
        if (!decode_event(&d->ev, item, &m, rc, why))
            return -1; /* unreachable: the first pass accepted this item */
        if (emit(ctx, &d->ev) != 0)
            return -2;
    }
    return (int)n;
}

/*
 * Decode one record into zero or more events (see decode.h).  Returns the
 * number of events emitted, -1 with `why` filled when the record is
 * rejected (no event was emitted), or -2 when emit returned nonzero (why
 * says none).  The emitted event and everything it points to are valid
 * only during the emit call.
 */
int aw_k8s_decode(struct aw_k8s_decoder *d, const struct aw_record *rec, aw_emit_fn emit,
                  void *ctx, struct aw_reject *why)
{
    why->reason = AW_REJECT_NONE;
    why->detail[0] = '\0';

    json_error_t jerr;
    json_t *root = json_loadb(rec->data, rec->len, JSON_DECODE_ANY, &jerr);
    if (!root) {
        aw_reject_set(why, AW_REJECT_INVALID_JSON, "%s at line %d column %d", jerr.text,
                      jerr.line, jerr.column);
        return -1;
    }

    struct record_ctx rc = {.rec = rec};
    json_t *inner = NULL;
    json_t *doc = NULL;
    struct doc_members m; /* of doc */
    enum doc_shape shape = SHAPE_NONE;
    int result = -1;

    if (!locate_document(d, root, &rc, &doc, &m, &inner, &shape, why))
        goto out;
    if (shape == SHAPE_LIST) {
        result = decode_list(d, &m, &rc, emit, ctx, why);
    } else {
        aw_event_clear(&d->ev);
        if (decode_event(&d->ev, doc, &m, &rc, why))
            result = emit(ctx, &d->ev) != 0 ? -2 : 1;
    }
out:
    /* Drop the event's reference now so the document is freed with the
     * record, not when the next record arrives. */
    aw_event_clear(&d->ev);
    json_decref(inner);
    json_decref(root);
    if (result != -1) {
        why->reason = AW_REJECT_NONE;
        why->detail[0] = '\0';
    }
    return result;
}
