/*
 * decode.c - decoder front: record checks, source detection, dispatch.
 *
 * aw_decoder wraps the auth and k8s decoders behind one call.  With
 * --source auto each record is routed by a cheap look at its first bytes:
 * a JSON object that mentions an audit event's markers goes to the k8s
 * decoder, everything else to the auth decoder (which handles JSON forms of
 * log lines itself).  The checks every record gets (size, NUL, UTF-8) live
 * here so that both decoders reject those the same way.
 */
#include "auditwatch/decode.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const reject_names[AW_REJECT_REASON_COUNT] = {
    [AW_REJECT_NONE] = "none",
    [AW_REJECT_TOO_LARGE] = "too_large",
    [AW_REJECT_NUL_BYTE] = "nul_byte",
    [AW_REJECT_INVALID_UTF8] = "invalid_utf8",
    [AW_REJECT_INVALID_JSON] = "invalid_json",
    [AW_REJECT_NOT_AUDIT_EVENT] = "not_audit_event",
    [AW_REJECT_WRONG_TYPE] = "wrong_type",
    [AW_REJECT_MISSING_TIMESTAMP] = "missing_timestamp",
    [AW_REJECT_BAD_TIMESTAMP] = "bad_timestamp",
    [AW_REJECT_UNRECOGNIZED_LINE] = "unrecognized_line",
    [AW_REJECT_UNKNOWN_MESSAGE] = "unknown_message",
};

const char *aw_reject_name(enum aw_reject_reason r)
{
    return (unsigned)r < AW_REJECT_REASON_COUNT ? reject_names[r] : "unknown";
}

void aw_reject_set(struct aw_reject *why, enum aw_reject_reason r, const char *fmt, ...)
{
    why->reason = r;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why->detail, sizeof why->detail, fmt, ap);
    va_end(ap);
}

void aw_reject_render_json(const struct aw_record *rec, const struct aw_reject *why,
                           size_t excerpt_max, struct aw_buf *out)
{
    aw_buf_append_str(out, "{\"error\":");
    aw_buf_json_cstr(out, aw_reject_name(why->reason));
    aw_buf_append_str(out, ",\"detail\":");
    aw_buf_json_cstr(out, why->detail);
    aw_buf_append_str(out, ",\"origin\":");
    aw_origin_render_json(&rec->origin, out);
    aw_buf_append_str(out, ",\"size\":");
    aw_buf_append_u64(out, rec->len);
    aw_buf_append_str(out, ",\"excerpt\":");
    aw_buf_json_string(out, rec->data, rec->len < excerpt_max ? rec->len : excerpt_max);
    aw_buf_append_char(out, '}');
}

bool aw_record_precheck(const struct aw_record *rec, size_t max_record, struct aw_reject *why)
{
    if (rec->len > max_record) {
        aw_reject_set(why, AW_REJECT_TOO_LARGE, "record of %zu bytes exceeds the limit of %zu",
                      rec->len, max_record);
        return false;
    }
    const char *nul = memchr(rec->data, '\0', rec->len);
    if (nul) {
        aw_reject_set(why, AW_REJECT_NUL_BYTE, "NUL byte at offset %zu",
                      (size_t)(nul - rec->data));
        return false;
    }
    size_t valid = aw_utf8_valid_prefix(rec->data, rec->len);
    if (valid != rec->len) {
        aw_reject_set(why, AW_REJECT_INVALID_UTF8, "invalid UTF-8 at offset %zu", valid);
        return false;
    }
    return true;
}

/* Bounded substring search (records are not NUL-terminated). */
static bool contains(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    if (n > len)
        return false;
    const char *end = hay + len - n;
    for (const char *p = hay; p <= end; p++) {
        p = memchr(p, needle[0], (size_t)(end - p) + 1);
        if (!p)
            return false;
        if (memcmp(p, needle, n) == 0)
            return true;
    }
    return false;
}

bool aw_source_kind_parse(const char *name, enum aw_source_kind *out)
{
    static const struct {
        const char *name;
        enum aw_source_kind kind;
    } names[] = {{"auth", AW_SOURCE_AUTH}, {"k8s", AW_SOURCE_K8S}, {"auto", AW_SOURCE_AUTO}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (name && !strcmp(name, names[i].name)) {
            *out = names[i].kind;
            return true;
        }
    return false;
}

enum aw_source_kind aw_detect_source(const char *data, size_t len)
{
    size_t i = 0;
    while (i < len && (data[i] == ' ' || data[i] == '\t'))
        i++;
    if (i >= len || data[i] != '{')
        return AW_SOURCE_AUTH;
    /* Audit events carry these keys; journal exports and shipper envelopes
     * of log lines do not (an envelope of an audit event does, inside its
     * string or object).  Other Kubernetes objects (kind/apiVersion) go to
     * the k8s decoder too, which rejects them as not_audit_event. */
    if (contains(data + i, len - i, "auditID") || contains(data + i, len - i, "\"EventList\"") ||
        contains(data + i, len - i, "audit.k8s.io") || contains(data + i, len - i, "\"apiVersion\"") ||
        contains(data + i, len - i, "\"kind\"") || contains(data + i, len - i, "\"protoPayload\""))
        return AW_SOURCE_K8S;
    return AW_SOURCE_AUTH;
}

struct aw_decoder {
    enum aw_source_kind source;
    size_t max_record;
    struct aw_auth_decoder *auth;
    struct aw_k8s_decoder *k8s;
};

struct aw_decoder *aw_decoder_new(const struct aw_decode_options *opts, char *err, size_t errlen)
{
    struct aw_decoder *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->source = opts->source;
    d->max_record = opts->max_record ? opts->max_record : AW_DEFAULT_MAX_RECORD;
    if (opts->source != AW_SOURCE_K8S) {
        d->auth = aw_auth_decoder_new(opts, err, errlen);
        if (!d->auth)
            goto fail;
    }
    if (opts->source != AW_SOURCE_AUTH) {
        d->k8s = aw_k8s_decoder_new(opts, err, errlen);
        if (!d->k8s)
            goto fail;
    }
    return d;
fail:
    aw_decoder_free(d);
    return NULL;
}

void aw_decoder_free(struct aw_decoder *d)
{
    if (!d)
        return;
    aw_k8s_decoder_free(d->k8s);
    aw_auth_decoder_free(d->auth);
    free(d);
}

int aw_decoder_decode(struct aw_decoder *d, const struct aw_record *rec, aw_emit_fn emit, void *ctx,
                      struct aw_reject *why)
{
    why->reason = AW_REJECT_NONE;
    why->detail[0] = '\0';
    if (!aw_record_precheck(rec, d->max_record, why))
        return -1;
    enum aw_source_kind kind = d->source;
    if (kind == AW_SOURCE_AUTO)
        kind = aw_detect_source(rec->data, rec->len);
    if (kind == AW_SOURCE_K8S)
        return aw_k8s_decode(d->k8s, rec, emit, ctx, why);
    return aw_auth_decode(d->auth, rec, emit, ctx, why);
}
