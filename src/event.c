/*
 * event.c - the normalized event: field table, arena, JSON rendering.
 *
 * Rendering walks aw_field_defs in order and turns dotted names into nested
 * objects in one pass: when the next present field shares fewer leading
 * segments with the open path, the extra objects are closed; its remaining
 * segments are opened.  This needs fields with a common prefix to be
 * adjacent in the table (tests check that invariant).  The texts that open
 * each field's path and the number of objects any two fields share are
 * computed once, so a member costs a few memcpy calls; each member reserves
 * its worst case up front and is written through a raw pointer.  It never
 * allocates beyond the output buffer.
 *
 * The arena is a chain of blocks that never move, so pointers handed out
 * stay valid until aw_event_clear(); the first block is kept for reuse.
 */
#include "auditwatch/event.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditwatch/hash.h"
#include "auditwatch/ipaddr.h"
#include "auditwatch/timeparse.h"
#include "xalloc.h"

const struct aw_field_def aw_field_defs[AW_FIELD_COUNT] = {
    [AW_F_EVENT_DATASET] = {"event.dataset", AW_KIND_STRING},
    [AW_F_EVENT_CATEGORY] = {"event.category", AW_KIND_STRING},
    [AW_F_EVENT_ACTION] = {"event.action", AW_KIND_STRING},
    [AW_F_EVENT_OUTCOME] = {"event.outcome", AW_KIND_STRING},
    [AW_F_EVENT_REASON] = {"event.reason", AW_KIND_STRING},
    [AW_F_USER_NAME] = {"user.name", AW_KIND_STRING},
    [AW_F_USER_ID] = {"user.id", AW_KIND_STRING},
    [AW_F_USER_EFFECTIVE_NAME] = {"user.effective.name", AW_KIND_STRING},
    [AW_F_USER_TARGET_NAME] = {"user.target.name", AW_KIND_STRING},
    [AW_F_GROUP_NAME] = {"group.name", AW_KIND_STRING},
    [AW_F_GROUP_ID] = {"group.id", AW_KIND_STRING},
    [AW_F_SOURCE_IP] = {"source.ip", AW_KIND_STRING},
    [AW_F_SOURCE_PORT] = {"source.port", AW_KIND_NUMBER},
    [AW_F_SOURCE_DOMAIN] = {"source.domain", AW_KIND_STRING},
    [AW_F_HOST_HOSTNAME] = {"host.hostname", AW_KIND_STRING},
    [AW_F_PROCESS_NAME] = {"process.name", AW_KIND_STRING},
    [AW_F_PROCESS_PID] = {"process.pid", AW_KIND_NUMBER},
    [AW_F_PROCESS_COMMAND_LINE] = {"process.command_line", AW_KIND_STRING},
    [AW_F_PROCESS_WORKING_DIRECTORY] = {"process.working_directory", AW_KIND_STRING},
    [AW_F_ORCHESTRATOR_TYPE] = {"orchestrator.type", AW_KIND_STRING},
    [AW_F_ORCHESTRATOR_NAMESPACE] = {"orchestrator.namespace", AW_KIND_STRING},
    [AW_F_ORCHESTRATOR_RESOURCE_TYPE] = {"orchestrator.resource.type", AW_KIND_STRING},
    [AW_F_ORCHESTRATOR_RESOURCE_NAME] = {"orchestrator.resource.name", AW_KIND_STRING},
    [AW_F_HTTP_RESPONSE_STATUS_CODE] = {"http.response.status_code", AW_KIND_NUMBER},
    [AW_F_URL_ORIGINAL] = {"url.original", AW_KIND_STRING},
    [AW_F_USER_AGENT_ORIGINAL] = {"user_agent.original", AW_KIND_STRING},
    [AW_F_K8S_AUDIT_ID] = {"kubernetes.audit.auditID", AW_KIND_STRING},
    [AW_F_K8S_STAGE] = {"kubernetes.audit.stage", AW_KIND_STRING},
    [AW_F_K8S_LEVEL] = {"kubernetes.audit.level", AW_KIND_STRING},
    [AW_F_K8S_OBJECTREF_SUBRESOURCE] = {"kubernetes.audit.objectRef.subresource", AW_KIND_STRING},
    [AW_F_K8S_OBJECTREF_API_GROUP] = {"kubernetes.audit.objectRef.apiGroup", AW_KIND_STRING},
    [AW_F_K8S_OBJECTREF_API_VERSION] = {"kubernetes.audit.objectRef.apiVersion", AW_KIND_STRING},
    [AW_F_K8S_USER_GROUPS] = {"kubernetes.audit.user.groups", AW_KIND_STRING_LIST},
    [AW_F_K8S_ANNOTATION_DECISION] = {"kubernetes.audit.annotations.decision", AW_KIND_STRING},
    [AW_F_K8S_ANNOTATION_REASON] = {"kubernetes.audit.annotations.reason", AW_KIND_STRING},
    [AW_F_SSH_METHOD] = {"system.auth.ssh.method", AW_KIND_STRING},
    [AW_F_MESSAGE] = {"message", AW_KIND_STRING},
    [AW_F_AUDITWATCH_ID] = {"auditwatch.id", AW_KIND_STRING},
    [AW_F_AUDITWATCH_ORIGIN] = {"auditwatch.origin", AW_KIND_ORIGIN},
};

int aw_field_lookup(const char *name, size_t len)
{
    for (int f = 0; f < AW_FIELD_COUNT; f++) {
        const char *n = aw_field_defs[f].name;
        if (strncmp(n, name, len) == 0 && n[len] == '\0')
            return f;
    }
    return -1;
}

/* ---------------------------------------------------------------- arena */

struct aw_arena_block {
    struct aw_arena_block *next;
    size_t cap, used;
    char data[];
};

#define ARENA_BLOCK_SIZE 4096

static struct aw_arena_block *arena_block_new(size_t cap)
{
    struct aw_arena_block *b = aw_xmalloc(sizeof *b + cap);
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    return b;
}

char *aw_event_copy(struct aw_event *ev, const char *ptr, size_t len)
{
    struct aw_arena_block *b = ev->arena;
    if (!b || b->cap - b->used < len + 1) {
        size_t cap = len + 1 > ARENA_BLOCK_SIZE ? len + 1 : ARENA_BLOCK_SIZE;
        struct aw_arena_block *nb = arena_block_new(cap);
        nb->next = b;
        ev->arena = b = nb;
    }
    char *dst = b->data + b->used;
    if (len)
        memcpy(dst, ptr, len);
    dst[len] = '\0';
    b->used += len + 1;
    return dst;
}

void aw_event_init(struct aw_event *ev) { memset(ev, 0, sizeof *ev); }

void aw_event_clear(struct aw_event *ev)
{
    struct aw_arena_block *b = ev->arena;
    /* Keep the oldest (last in the chain) block, free the rest. */
    while (b && b->next) {
        struct aw_arena_block *next = b->next;
        free(b);
        b = next;
    }
    if (b)
        b->used = 0;
    if (ev->raw)
        json_decref(ev->raw);
    memset(ev, 0, sizeof *ev);
    ev->arena = b;
}

void aw_event_fini(struct aw_event *ev)
{
    aw_event_clear(ev);
    free(ev->arena);
    ev->arena = NULL;
}

void aw_event_set_copy(struct aw_event *ev, enum aw_field f, const char *ptr, size_t len)
{
    aw_event_set(ev, f, aw_event_copy(ev, ptr, len), len);
}

void aw_event_set_cstr(struct aw_event *ev, enum aw_field f, const char *static_text)
{
    aw_event_set(ev, f, static_text, strlen(static_text));
}

void aw_event_set_u64(struct aw_event *ev, enum aw_field f, uint64_t v)
{
    char tmp[24];
    size_t n = sizeof tmp;
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    aw_event_set_copy(ev, f, tmp + n, sizeof tmp - n);
}

/* Whether s is an IPv4 address already in canonical dotted-quad form
 * (four decimal octets <= 255, no leading zeros): the common case, which
 * then needs neither parsing by libc nor a copy. */
static bool is_canonical_ipv4(const char *s, size_t len)
{
    size_t i = 0;
    for (int octet = 0; octet < 4; octet++) {
        if (octet) {
            if (i >= len || s[i] != '.')
                return false;
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3)
            v = v * 10 + (unsigned)(s[i++] - '0');
        size_t n = i - start;
        if (n == 0 || v > 255 || (n > 1 && s[start] == '0'))
            return false;
    }
    return i == len;
}

bool aw_event_set_source_address(struct aw_event *ev, const char *ptr, size_t len)
{
    if (is_canonical_ipv4(ptr, len)) {
        aw_event_set(ev, AW_F_SOURCE_IP, ptr, len);
        return true;
    }
    char ip[AW_IP_TEXT_MAX];
    size_t n = aw_ip_normalize(ptr, len, ip);
    if (n) {
        aw_event_set_copy(ev, AW_F_SOURCE_IP, ip, n);
        return true;
    }
    if (len > 0 && len <= 253)
        aw_event_set(ev, AW_F_SOURCE_DOMAIN, ptr, len);
    return false;
}

void aw_event_set_content_id(struct aw_event *ev, uint64_t content_hash, unsigned ordinal)
{
    char tmp[40];
    aw_hex64(content_hash, tmp);
    size_t n = 16;
    if (ordinal)
        n += (size_t)snprintf(tmp + 16, sizeof tmp - 16, "-%u", ordinal);
    aw_event_set_copy(ev, AW_F_AUDITWATCH_ID, tmp, n);
}

/* ------------------------------------------------------------ rendering */

/* Decimal digits of v at d (no NUL); returns the end. */
static char *put_u64(char *d, uint64_t v)
{
    char tmp[20];
    size_t n = sizeof tmp;
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(d, tmp + n, sizeof tmp - n);
    return d + (sizeof tmp - n);
}

void aw_origin_render_json(const struct aw_origin *o, struct aw_buf *out)
{
    if (o->kind == AW_ORIGIN_FILE) {
        /* Records of one file share its name: keep the escaped form of the
         * last one (per thread, compared by text). */
        static _Thread_local struct aw_buf cached_file, cached_name;
        const char *file = o->file ? o->file : "-";
        size_t flen = strlen(file);
        if (flen + 1 != cached_name.len || memcmp(file, cached_name.data, flen) != 0) {
            aw_buf_reset(&cached_name);
            aw_buf_append(&cached_name, file, flen + 1);
            aw_buf_reset(&cached_file);
            aw_buf_append_str(&cached_file, "{\"file\":");
            aw_buf_json_string(&cached_file, file, flen);
            aw_buf_append_str(&cached_file, ",\"line\":");
        }
        /* One reservation for the cached text, the number and the brace. */
        aw_buf_reserve(out, cached_file.len + 21);
        char *d = out->data + out->len;
        memcpy(d, cached_file.data, cached_file.len);
        d = put_u64(d + cached_file.len, o->line);
        *d++ = '}';
        out->len = (size_t)(d - out->data);
        return;
    }
    aw_buf_append_char(out, '{');
    if (o->kind == AW_ORIGIN_KAFKA) {
        aw_buf_append_str(out, "\"topic\":");
        aw_buf_json_cstr(out, o->topic ? o->topic : "");
        aw_buf_append_str(out, ",\"partition\":");
        aw_buf_append_i64(out, o->partition);
        aw_buf_append_str(out, ",\"offset\":");
        aw_buf_append_i64(out, o->offset);
    }
    aw_buf_append_char(out, '}');
}

static bool is_json_number_text(const struct aw_str *v)
{
    if (v->len == 0 || v->len > 19)
        return false;
    for (size_t i = 0; i < v->len; i++)
        if (v->ptr[i] < '0' || v->ptr[i] > '9')
            return false;
    return v->len == 1 || v->ptr[0] != '0';
}

/* Whether field f has a value or a list (one test for the two pointers:
 * this runs for every field of every event). */
static inline bool field_set(const struct aw_event *ev, int f)
{
    return ((uintptr_t)ev->fields[f].ptr | (uintptr_t)ev->lists[f]) != 0;
}

#define MAX_DEPTH 6
#define OPEN_TEXT_MAX 64 /* longest open text; copied as one fixed-size block */

/* Rendering layout, computed once from aw_field_defs.  A field's dotted
 * name becomes one text that opens every object on its path and names the
 * member: "kubernetes":{"audit":{"stage": - with open_off[k] where the part
 * below the first k objects starts.  Going from field g to field f closes
 * the objects g does not share with f (common_depth[g][f] stay open),
 * writes a comma (@timestamp always comes first, so there is always a
 * member before), and copies f's text from open_off[common].  Names are
 * ASCII identifiers: nothing to escape. */
struct field_layout {
    int depth;                       /* objects the member sits in */
    size_t open_off[MAX_DEPTH];      /* open text below k shared objects */
    size_t open_len;
    char open[2 * OPEN_TEXT_MAX]; /* text, then room for the fixed-size copy */
};

static struct field_layout layouts[AW_FIELD_COUNT];
/* common_depth[g][f]: objects of g still open when f follows; the extra
 * row AW_FIELD_COUNT stands for @timestamp (none open), so the first
 * member needs no special case. */
static unsigned char common_depth[AW_FIELD_COUNT + 1][AW_FIELD_COUNT];
static pthread_once_t layouts_once = PTHREAD_ONCE_INIT;

/* Split a dotted name into at most MAX_DEPTH segments (the last one keeps
 * any further dots).  Returns the number of segments. */
static int split_name(const char *name, const char *seg[MAX_DEPTH], size_t seg_len[MAX_DEPTH])
{
    int n = 0;
    for (const char *p = name;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot && n < MAX_DEPTH - 1 ? (size_t)(dot - p) : strlen(p);
        seg[n] = p;
        seg_len[n++] = len;
        if (p[len] == '\0')
            return n;
        p += len + 1;
    }
}

static void build_layouts(void)
{
    const char *seg[AW_FIELD_COUNT][MAX_DEPTH];
    size_t seg_len[AW_FIELD_COUNT][MAX_DEPTH];
    int nseg[AW_FIELD_COUNT];
    for (int f = 0; f < AW_FIELD_COUNT; f++) {
        struct field_layout *l = &layouts[f];
        nseg[f] = split_name(aw_field_defs[f].name, seg[f], seg_len[f]);
        l->depth = nseg[f] - 1;
        size_t used = 0;
        for (int k = 0; k < nseg[f]; k++) {
            l->open_off[k] = used;
            int n = snprintf(l->open + used, OPEN_TEXT_MAX + 1 - used,
                             k < l->depth ? "\"%.*s\":{" : "\"%.*s\":", (int)seg_len[f][k], seg[f][k]);
            if (n < 0 || (size_t)n > OPEN_TEXT_MAX - used) {
                fprintf(stderr, "auditwatch: field name %s too long to render\n", aw_field_defs[f].name);
                abort();
            }
            used += (size_t)n;
        }
        l->open_len = used;
    }
    /* Objects of g still open when f follows: the leading segments they
     * share, short of either member's own name. */
    for (int g = 0; g < AW_FIELD_COUNT; g++)
        for (int f = 0; f < AW_FIELD_COUNT; f++) {
            int k = 0;
            while (k < layouts[g].depth && k < layouts[f].depth && seg_len[g][k] == seg_len[f][k] &&
                   memcmp(seg[g][k], seg[f][k], seg_len[g][k]) == 0)
                k++;
            common_depth[g][f] = (unsigned char)k;
        }
}

/* Room for everything but the value: closing braces, comma, open text
 * (each copied as a fixed-size block, so the room is the block size). */
#define MEMBER_OVERHEAD (8 + 1 + OPEN_TEXT_MAX)

/* Make sure `need` more bytes fit; returns where to write. */
static inline char *room(struct aw_buf *out, size_t need)
{
    if (out->cap - out->len < need)
        aw_buf_reserve(out, need);
    return out->data + out->len;
}

/* Where a rendering stands: the field rendered last (AW_FIELD_COUNT for
 * @timestamp, see common_depth) and how many objects are open. */
struct render_state {
    int prev;
    int depth;
};

/* Append member f of ev. */
static inline void render_member(const struct aw_event *ev, struct aw_buf *out,
                                 struct render_state *rs, int f)
{
    const struct field_layout *l = &layouts[f];
    const struct aw_str *v = &ev->fields[f];
    enum aw_field_kind kind = aw_field_defs[f].kind;
    bool inplace = kind != AW_KIND_STRING || v->len <= AW_JSON_INPLACE_MAX;
    /* Each member reserves its worst case once and is then written
     * through a raw pointer: no capacity check per piece or per byte. */
    char *o = room(out, MEMBER_OVERHEAD +
                            (kind == AW_KIND_STRING && inplace ? AW_JSON_ESCAPE_MAX(v->len) + 2 : 24));
    /* Close, separate, open: fixed-size copies (one or two stores each
     * instead of a memcpy call), then advance by the real length. */
    int common = common_depth[rs->prev][f];
    memcpy(o, "}}}}}}}}", 8);
    o += rs->depth - common;
    *o++ = ',';
    size_t off = l->open_off[common];
    memcpy(o, l->open + off, OPEN_TEXT_MAX);
    o += l->open_len - off;
    rs->depth = l->depth;
    rs->prev = f;
    switch (kind) {
    case AW_KIND_NUMBER:
        if (is_json_number_text(v)) {
            memcpy(o, v->ptr, v->len);
            o += v->len;
            break;
        }
        out->len = (size_t)(o - out->data);
        aw_buf_json_string(out, v->ptr, v->len);
        return;
    case AW_KIND_STRING_LIST: {
        out->len = (size_t)(o - out->data);
        aw_buf_append_char(out, '[');
        size_t i, n = json_array_size(ev->lists[f]);
        for (i = 0; i < n; i++) {
            const json_t *item = json_array_get(ev->lists[f], i);
            if (i)
                aw_buf_append_char(out, ',');
            if (json_is_string(item))
                aw_buf_json_string(out, json_string_value(item), json_string_length(item));
            else
                aw_buf_append(out, "null", 4);
        }
        aw_buf_append_char(out, ']');
        return;
    }
    case AW_KIND_ORIGIN:
        out->len = (size_t)(o - out->data);
        aw_origin_render_json(&ev->origin, out);
        return;
    default:
        if (!inplace) {
            out->len = (size_t)(o - out->data);
            aw_buf_json_string(out, v->ptr, v->len);
            return;
        }
        *o++ = '"';
        o = aw_json_escape_raw(o, v->ptr, v->len);
        *o++ = '"';
    }
    out->len = (size_t)(o - out->data);
}

void aw_event_render_json(const struct aw_event *ev, struct aw_buf *out)
{
    pthread_once(&layouts_once, build_layouts);
    struct render_state rs = {.prev = AW_FIELD_COUNT, .depth = 0};

    char *o = room(out, 16 + AW_RFC3339_MS_LEN + 1);
    memcpy(o, "{\"@timestamp\":\"", 15);
    aw_format_rfc3339_ms(ev->timestamp_ms, o + 15);
    o += 15 + AW_RFC3339_MS_LEN;
    *o++ = '"';
    out->len = (size_t)(o - out->data);

    /* The origin is present without a field value when the event has one. */
    int origin = ev->origin.kind != AW_ORIGIN_NONE ? AW_F_AUDITWATCH_ORIGIN : -1;
    for (int f = 0; f < AW_FIELD_COUNT; f++)
        if (field_set(ev, f) || f == origin)
            render_member(ev, out, &rs, f);

    o = room(out, 8);
    memcpy(o, "}}}}}}}}", 8);
    out->len += (size_t)rs.depth + 1;
}
