/*
 * alert.c - alert ids and the alert document (see alert.h).
 *
 * The document is written member by member into an aw_buf; text from the
 * rule is trusted but still escaped, text from events arrives either as
 * already-rendered JSON fragments (evidence, event fields, group) that the
 * detectors built with the escaping writer, or is escaped here.
 */
#include "auditwatch/alert.h"

#include <string.h>

#include "auditwatch/hash.h"
#include "auditwatch/timeparse.h"

static uint64_t id_part(uint64_t seed, const char *rule, const char *group, size_t group_len,
                        uint64_t event_hash)
{
    uint64_t h = aw_hash64(rule, strlen(rule), seed);
    h = aw_hash64(group ? group : "", group ? group_len : 0, h);
    unsigned char ev[8];
    for (int i = 0; i < 8; i++)
        ev[i] = (unsigned char)(event_hash >> (8 * i));
    return aw_hash64(ev, sizeof ev, h);
}

void aw_alert_make_id_hashed(char out[AW_ALERT_ID_LEN + 1], const char *rule_name,
                             const char *group_json, size_t group_len, uint64_t event_id_hash)
{
    aw_hex64(id_part(0x616c657274ULL, rule_name, group_json, group_len, event_id_hash), out);
    aw_hex64(id_part(0x6964ULL, rule_name, group_json, group_len, event_id_hash), out + 16);
    out[AW_ALERT_ID_LEN] = '\0';
}

void aw_alert_make_id(char out[AW_ALERT_ID_LEN + 1], const char *rule_name, const char *group_json,
                      size_t group_len, const char *event_id, size_t event_id_len)
{
    aw_alert_make_id_hashed(out, rule_name, group_json, group_len,
                            aw_hash64(event_id, event_id_len, 0));
}

static void put_time(struct aw_buf *out, int64_t ms);

void aw_alert_about_event(struct aw_alert *a, const struct aw_event *ev, int64_t time_ms,
                          const char *group, size_t group_len, const char *event_id,
                          size_t event_id_len, struct aw_buf *evidence, struct aw_buf *fields)
{
    aw_buf_reset(evidence);
    aw_buf_reset(fields);
    aw_event_render_evidence(ev, evidence);
    aw_event_render_alert_fields(ev, fields);
    if (!event_id) {
        const struct aw_str *id = &ev->fields[AW_F_AUDITWATCH_ID];
        event_id = id->ptr ? id->ptr : "";
        event_id_len = id->ptr ? id->len : 0;
    }
    a->time_ms = time_ms;
    aw_alert_make_id(a->alert_id, a->rule_name, group ? group : "", group ? group_len : 0, event_id,
                     event_id_len);
    a->group_json = group_len ? group : NULL;
    a->group_json_len = group_len;
    a->count = 1;
    a->distinct = -1;
    a->evidence[0] = evidence->data;
    a->evidence_len[0] = evidence->len;
    a->nevidence = 1;
    a->fields = fields->data;
    a->fields_len = fields->len;
}

static void put_time(struct aw_buf *out, int64_t ms)
{
    char ts[AW_RFC3339_MS_LEN + 1];
    aw_format_rfc3339_ms(ms, ts);
    aw_buf_append_char(out, '"');
    aw_buf_append(out, ts, AW_RFC3339_MS_LEN);
    aw_buf_append_char(out, '"');
}

void aw_alert_render_json(const struct aw_alert *a, struct aw_buf *out)
{
    aw_buf_append_str(out, "{\"@timestamp\":");
    put_time(out, a->time_ms);
    aw_buf_append_str(out, ",\"event\":{\"kind\":\"alert\",\"severity\":");
    aw_buf_append_i64(out, aw_level_severity(a->level));
    if (a->reason) {
        aw_buf_append_str(out, ",\"reason\":");
        aw_buf_json_cstr(out, a->reason);
    }
    aw_buf_append_str(out, "},\"log\":{\"level\":");
    aw_buf_json_cstr(out, aw_level_name(a->level));
    aw_buf_append_str(out, "},\"rule\":{\"name\":");
    aw_buf_json_cstr(out, a->rule_name);
    if (a->rule_id) {
        aw_buf_append_str(out, ",\"id\":");
        aw_buf_json_cstr(out, a->rule_id);
    }
    const char *desc = a->description ? a->description : a->rule_title;
    if (desc) {
        aw_buf_append_str(out, ",\"description\":");
        aw_buf_json_cstr(out, desc);
    }
    aw_buf_append_char(out, '}');
    if (a->ntechniques) {
        aw_buf_append_str(out, ",\"threat\":{\"framework\":\"MITRE ATT&CK\",\"technique\":{\"id\":[");
        for (size_t i = 0; i < a->ntechniques; i++) {
            if (i)
                aw_buf_append_char(out, ',');
            aw_buf_json_cstr(out, a->techniques[i]);
        }
        aw_buf_append_str(out, "]}}");
    }
    aw_buf_append_str(out, ",\"message\":");
    aw_buf_json_cstr(out, a->message ? a->message : "");
    if (a->fields && a->fields_len) {
        aw_buf_append_char(out, ',');
        aw_buf_append(out, a->fields, a->fields_len);
    }
    aw_buf_append_str(out, ",\"auditwatch\":{\"alert_id\":\"");
    aw_buf_append_str(out, a->alert_id);
    aw_buf_append_char(out, '"');
    if (a->group_json && a->group_json_len) {
        aw_buf_append_str(out, ",\"group\":");
        aw_buf_append(out, a->group_json, a->group_json_len);
    }
    if (a->has_window) {
        aw_buf_append_str(out, ",\"window\":{\"start\":");
        put_time(out, a->window_start_ms);
        aw_buf_append_str(out, ",\"end\":");
        put_time(out, a->window_end_ms);
        aw_buf_append_str(out, ",\"count\":");
        aw_buf_append_u64(out, a->count);
        if (a->distinct >= 0) {
            aw_buf_append_str(out, ",\"distinct\":");
            aw_buf_append_i64(out, a->distinct);
        }
        aw_buf_append_char(out, '}');
    }
    aw_buf_append_str(out, ",\"evidence\":[");
    for (size_t i = 0; i < a->nevidence; i++) {
        if (i)
            aw_buf_append_char(out, ',');
        aw_buf_append(out, a->evidence[i], a->evidence_len[i]);
    }
    aw_buf_append_str(out, "]}}");
}

void aw_alert_render_text(const struct aw_alert *a, struct aw_buf *out)
{
    char ts[AW_RFC3339_MS_LEN + 1];
    aw_format_rfc3339_ms(a->time_ms, ts);
    aw_buf_append(out, ts, AW_RFC3339_MS_LEN);
    aw_buf_append_char(out, ' ');
    const char *lvl = aw_level_name(a->level);
    for (const char *p = lvl; *p; p++)
        aw_buf_append_char(out, (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p));
    aw_buf_append_char(out, ' ');
    aw_buf_append_str(out, a->rule_name);
    aw_buf_append_str(out, ": ");
    /* The message may hold attacker text: keep the line one line. */
    const char *m = a->message ? a->message : "";
    aw_buf_append_printable(out, m, strlen(m), SIZE_MAX);
    aw_buf_append_str(out, " [");
    aw_buf_append_str(out, a->alert_id);
    aw_buf_append_char(out, ']');
}

static void render_evidence(const struct aw_str *id, int64_t time_ms, const struct aw_origin *origin,
                            struct aw_buf *out)
{
    aw_buf_append_str(out, "{\"id\":");
    aw_buf_json_string(out, id->ptr ? id->ptr : "", id->ptr ? id->len : 0);
    aw_buf_append_str(out, ",\"@timestamp\":");
    put_time(out, time_ms);
    aw_buf_append_str(out, ",\"origin\":");
    aw_origin_render_json(origin, out);
    aw_buf_append_char(out, '}');
}

void aw_event_render_evidence(const struct aw_event *ev, struct aw_buf *out)
{
    render_evidence(&ev->fields[AW_F_AUDITWATCH_ID], ev->timestamp_ms, &ev->origin, out);
}

/* Render the present fields among `list` as one nested object member. */
static void object_member(struct aw_buf *out, const struct aw_event *ev, const char *object,
                          const enum aw_field *list, const char *const *keys, size_t n)
{
    bool opened = false;
    for (size_t i = 0; i < n; i++) {
        const struct aw_str *v = &ev->fields[list[i]];
        if (!v->ptr)
            continue;
        if (!opened) {
            if (out->len && out->data[out->len - 1] != '{' && out->len > 0)
                aw_buf_append_char(out, ',');
            aw_buf_append_char(out, '"');
            aw_buf_append_str(out, object);
            aw_buf_append_str(out, "\":{");
            opened = true;
        } else {
            aw_buf_append_char(out, ',');
        }
        aw_buf_append_char(out, '"');
        aw_buf_append_str(out, keys[i]);
        aw_buf_append_str(out, "\":");
        if (aw_field_defs[list[i]].kind == AW_KIND_NUMBER && v->len && v->len < 19 &&
            strspn(v->ptr, "0123456789") >= v->len)
            aw_buf_append(out, v->ptr, v->len);
        else
            aw_buf_json_string(out, v->ptr, v->len);
    }
    if (opened)
        aw_buf_append_char(out, '}');
}

void aw_event_render_alert_fields(const struct aw_event *ev, struct aw_buf *out)
{
    size_t start = out->len;
    static const enum aw_field source[] = {AW_F_SOURCE_IP, AW_F_SOURCE_PORT, AW_F_SOURCE_DOMAIN};
    static const char *const source_keys[] = {"ip", "port", "domain"};
    static const enum aw_field host[] = {AW_F_HOST_HOSTNAME};
    static const char *const host_keys[] = {"hostname"};
    static const enum aw_field process[] = {AW_F_PROCESS_NAME, AW_F_PROCESS_COMMAND_LINE};
    static const char *const process_keys[] = {"name", "command_line"};
    static const enum aw_field url[] = {AW_F_URL_ORIGINAL};
    static const char *const url_keys[] = {"original"};
    /* A leading separator is only needed between members: render into the
     * buffer and let object_member decide by the previous byte. */
    struct aw_buf tmp = {0};
    aw_buf_append_char(&tmp, '{');
    object_member(&tmp, ev, "source", source, source_keys, 3);
    /* user: name, effective.name, target.name */
    const struct aw_str *un = &ev->fields[AW_F_USER_NAME], *ue = &ev->fields[AW_F_USER_EFFECTIVE_NAME],
                        *ut = &ev->fields[AW_F_USER_TARGET_NAME];
    if (un->ptr || ue->ptr || ut->ptr) {
        if (tmp.data[tmp.len - 1] != '{')
            aw_buf_append_char(&tmp, ',');
        aw_buf_append_str(&tmp, "\"user\":{");
        bool first = true;
        if (un->ptr) {
            aw_buf_append_str(&tmp, "\"name\":");
            aw_buf_json_string(&tmp, un->ptr, un->len);
            first = false;
        }
        if (ue->ptr) {
            aw_buf_append_str(&tmp, first ? "\"effective\":{\"name\":" : ",\"effective\":{\"name\":");
            aw_buf_json_string(&tmp, ue->ptr, ue->len);
            aw_buf_append_char(&tmp, '}');
            first = false;
        }
        if (ut->ptr) {
            aw_buf_append_str(&tmp, first ? "\"target\":{\"name\":" : ",\"target\":{\"name\":");
            aw_buf_json_string(&tmp, ut->ptr, ut->len);
            aw_buf_append_char(&tmp, '}');
        }
        aw_buf_append_char(&tmp, '}');
    }
    object_member(&tmp, ev, "host", host, host_keys, 1);
    object_member(&tmp, ev, "process", process, process_keys, 2);
    if (ev->fields[AW_F_ORCHESTRATOR_NAMESPACE].ptr || ev->fields[AW_F_ORCHESTRATOR_RESOURCE_TYPE].ptr) {
        if (tmp.data[tmp.len - 1] != '{')
            aw_buf_append_char(&tmp, ',');
        aw_buf_append_str(&tmp, "\"orchestrator\":{\"type\":\"kubernetes\"");
        const struct aw_str *ns = &ev->fields[AW_F_ORCHESTRATOR_NAMESPACE];
        if (ns->ptr) {
            aw_buf_append_str(&tmp, ",\"namespace\":");
            aw_buf_json_string(&tmp, ns->ptr, ns->len);
        }
        const struct aw_str *rt = &ev->fields[AW_F_ORCHESTRATOR_RESOURCE_TYPE],
                            *rn = &ev->fields[AW_F_ORCHESTRATOR_RESOURCE_NAME];
        if (rt->ptr || rn->ptr) {
            aw_buf_append_str(&tmp, ",\"resource\":{");
            if (rt->ptr) {
                aw_buf_append_str(&tmp, "\"type\":");
                aw_buf_json_string(&tmp, rt->ptr, rt->len);
            }
            if (rn->ptr) {
                aw_buf_append_str(&tmp, rt->ptr ? ",\"name\":" : "\"name\":");
                aw_buf_json_string(&tmp, rn->ptr, rn->len);
            }
            aw_buf_append_char(&tmp, '}');
        }
        aw_buf_append_char(&tmp, '}');
    }
    object_member(&tmp, ev, "url", url, url_keys, 1);
    (void)start;
    if (tmp.len > 1)
        aw_buf_append(out, tmp.data + 1, tmp.len - 1);
    aw_buf_free(&tmp);
}

/* ------------------------------------------------------------ summaries */

/* Fields a summary keeps: what evidence and aw_event_render_alert_fields
 * use. */
static const enum aw_field summary_fields[] = {
    AW_F_AUDITWATCH_ID,          AW_F_SOURCE_IP,
    AW_F_SOURCE_PORT,            AW_F_SOURCE_DOMAIN,
    AW_F_USER_NAME,              AW_F_USER_EFFECTIVE_NAME,
    AW_F_USER_TARGET_NAME,       AW_F_HOST_HOSTNAME,
    AW_F_PROCESS_NAME,           AW_F_PROCESS_COMMAND_LINE,
    AW_F_ORCHESTRATOR_NAMESPACE, AW_F_ORCHESTRATOR_RESOURCE_TYPE,
    AW_F_ORCHESTRATOR_RESOURCE_NAME, AW_F_URL_ORIGINAL,
};
#define NSUMMARY (sizeof summary_fields / sizeof summary_fields[0])

static bool get_varint(const char **p, const char *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        unsigned char b = (unsigned char)*(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* Bytes with a length in front; the copy keeps a NUL after them so that
 * strings read back can be used as C strings (origin file and topic). */
static bool get_bytes(const char **p, const char *end, const char **s, size_t *n)
{
    uint64_t len;
    if (!get_varint(p, end, &len) || len >= (uint64_t)(end - *p))
        return false;
    *s = *p;
    *n = (size_t)len;
    *p += len + 1; /* and the NUL */
    return true;
}

/* The packers below write through a pointer into space reserved once
 * (one event is packed for every window it feeds: no per-byte checks). */
#define VARINT_MAX 10

static char *put_varint_raw(char *w, uint64_t v)
{
    do {
        unsigned char b = (unsigned char)(v & 0x7f);
        v >>= 7;
        *w++ = (char)(v ? b | 0x80 : b);
    } while (v);
    return w;
}

static char *put_bytes_raw(char *w, const char *s, size_t n)
{
    w = put_varint_raw(w, n);
    if (n)
        memcpy(w, s, n);
    w[n] = '\0';
    return w + n + 1;
}

void aw_event_pack_summary(const struct aw_event *ev, struct aw_buf *out)
{
    const struct aw_origin *o = &ev->origin;
    const char *name = o->kind == AW_ORIGIN_FILE ? (o->file ? o->file : "-")
                       : o->kind == AW_ORIGIN_KAFKA ? (o->topic ? o->topic : "") : "";
    size_t name_len = o->kind == AW_ORIGIN_FILE || o->kind == AW_ORIGIN_KAFKA ? strlen(name) : 0;
    unsigned mask = 0;
    size_t need = 2 + name_len + 1 + 3 * VARINT_MAX + VARINT_MAX;
    for (size_t i = 0; i < NSUMMARY; i++)
        if (ev->fields[summary_fields[i]].ptr) {
            mask |= 1u << i;
            need += VARINT_MAX + ev->fields[summary_fields[i]].len + 1;
        }
    aw_buf_reserve(out, need);
    char *w = out->data + out->len;
    *w++ = AW_SUMMARY_TAG;
    *w++ = (char)o->kind;
    if (o->kind == AW_ORIGIN_FILE) {
        w = put_bytes_raw(w, name, name_len);
        w = put_varint_raw(w, o->line);
    } else if (o->kind == AW_ORIGIN_KAFKA) {
        w = put_bytes_raw(w, name, name_len);
        w = put_varint_raw(w, (uint64_t)(uint32_t)o->partition);
        w = put_varint_raw(w, (uint64_t)o->offset);
    }
    w = put_varint_raw(w, mask);
    for (size_t i = 0; i < NSUMMARY; i++)
        if (mask & (1u << i))
            w = put_bytes_raw(w, ev->fields[summary_fields[i]].ptr, ev->fields[summary_fields[i]].len);
    out->len = (size_t)(w - out->data);
}

/* Rebuild the fields a summary holds into an event (pointing into p). */
static void unpack(const char *p, size_t n, struct aw_event *ev)
{
    const char *end = p + n;
    memset(ev, 0, sizeof *ev);
    if (n < 2 || *p != AW_SUMMARY_TAG)
        return;
    p++;
    int kind = *p++;
    uint64_t a, b;
    const char *s;
    size_t len;
    if (kind == AW_ORIGIN_FILE) {
        if (!get_bytes(&p, end, &s, &len) || !get_varint(&p, end, &a))
            return;
        ev->origin.kind = AW_ORIGIN_FILE;
        ev->origin.file = s;
        ev->origin.line = a;
    } else if (kind == AW_ORIGIN_KAFKA) {
        if (!get_bytes(&p, end, &s, &len) || !get_varint(&p, end, &a) || !get_varint(&p, end, &b))
            return;
        ev->origin.kind = AW_ORIGIN_KAFKA;
        ev->origin.topic = s;
        ev->origin.partition = (int32_t)a;
        ev->origin.offset = (int64_t)b;
    }
    uint64_t mask;
    if (!get_varint(&p, end, &mask))
        return;
    for (size_t i = 0; i < NSUMMARY; i++)
        if (mask & (1u << i)) {
            if (!get_bytes(&p, end, &s, &len))
                return;
            aw_event_set(ev, summary_fields[i], s, len);
        }
}

/* The origin and the id of a summary, as unpack would leave them in an
 * event (what evidence renders), without clearing and filling a whole
 * event: an alert renders up to ten of these. */
static void unpack_origin_id(const char *p, size_t n, struct aw_origin *o, struct aw_str *id)
{
    const char *end = p + n;
    memset(o, 0, sizeof *o);
    id->ptr = NULL;
    id->len = 0;
    if (n < 2 || *p != AW_SUMMARY_TAG)
        return;
    p++;
    int kind = *p++;
    uint64_t a, b, mask;
    const char *s;
    size_t len;
    if (kind == AW_ORIGIN_FILE) {
        if (!get_bytes(&p, end, &s, &len) || !get_varint(&p, end, &a))
            return;
        o->kind = AW_ORIGIN_FILE;
        o->file = s;
        o->line = a;
    } else if (kind == AW_ORIGIN_KAFKA) {
        if (!get_bytes(&p, end, &s, &len) || !get_varint(&p, end, &a) || !get_varint(&p, end, &b))
            return;
        o->kind = AW_ORIGIN_KAFKA;
        o->topic = s;
        o->partition = (int32_t)a;
        o->offset = (int64_t)b;
    }
    /* the id is summary_fields[0]: the first field packed */
    if (!get_varint(&p, end, &mask) || !(mask & 1u) || !get_bytes(&p, end, &s, &len))
        return;
    id->ptr = s;
    id->len = len;
}

void aw_summary_render_evidence(const char *p, size_t n, int64_t time_ms, struct aw_buf *out)
{
    struct aw_origin o;
    struct aw_str id;
    unpack_origin_id(p, n, &o, &id);
    render_evidence(&id, time_ms, &o, out);
}

void aw_summary_render_fields(const char *p, size_t n, struct aw_buf *out)
{
    struct aw_event ev;
    unpack(p, n, &ev);
    aw_event_render_alert_fields(&ev, out);
}
