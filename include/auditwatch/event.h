/*
 * event.h - the normalized event: one model for auth logs and k8s audit.
 *
 * An event is a fixed array of ECS fields indexed by enum aw_field, plus the
 * event time, its origin, and (for Kubernetes audit events) the original
 * JSON document.  Field values are (pointer, length) views, never copies
 * when they can be avoided: a decoder points them into the record it is
 * decoding or into the jansson strings of the original event, and copies
 * into the event's arena only text it had to build (normalized addresses,
 * numbers, joined strings).
 *
 * Lifetime: an event handed to an emit callback is valid only during that
 * callback; it borrows from the record and is reused for the next one.
 * Whoever needs a value longer copies it.
 *
 * The field table (aw_field_defs) is the single source of the ECS names:
 * the JSON renderer, the rule engine's field lookup and the tests all use
 * it.  Fields that share a dotted prefix are listed next to each other so
 * the renderer can nest them in one pass.
 */
#ifndef AUDITWATCH_EVENT_H
#define AUDITWATCH_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auditwatch/buf.h"

enum aw_field {
    AW_F_EVENT_DATASET,
    AW_F_EVENT_CATEGORY,
    AW_F_EVENT_ACTION,
    AW_F_EVENT_OUTCOME,
    AW_F_EVENT_REASON,
    AW_F_USER_NAME,
    AW_F_USER_ID,
    AW_F_USER_EFFECTIVE_NAME,
    AW_F_USER_TARGET_NAME,
    AW_F_GROUP_NAME,
    AW_F_GROUP_ID,
    AW_F_SOURCE_IP,
    AW_F_SOURCE_PORT,
    AW_F_SOURCE_DOMAIN,
    AW_F_HOST_HOSTNAME,
    AW_F_PROCESS_NAME,
    AW_F_PROCESS_PID,
    AW_F_PROCESS_COMMAND_LINE,
    AW_F_PROCESS_WORKING_DIRECTORY,
    AW_F_ORCHESTRATOR_TYPE,
    AW_F_ORCHESTRATOR_NAMESPACE,
    AW_F_ORCHESTRATOR_RESOURCE_TYPE,
    AW_F_ORCHESTRATOR_RESOURCE_NAME,
    AW_F_HTTP_RESPONSE_STATUS_CODE,
    AW_F_URL_ORIGINAL,
    AW_F_USER_AGENT_ORIGINAL,
    AW_F_K8S_AUDIT_ID,
    AW_F_K8S_STAGE,
    AW_F_K8S_LEVEL,
    AW_F_K8S_OBJECTREF_SUBRESOURCE,
    AW_F_K8S_OBJECTREF_API_GROUP,
    AW_F_K8S_OBJECTREF_API_VERSION,
    AW_F_K8S_USER_GROUPS,
    AW_F_K8S_ANNOTATION_DECISION,
    AW_F_K8S_ANNOTATION_REASON,
    AW_F_SSH_METHOD,
    AW_F_MESSAGE,
    AW_F_AUDITWATCH_ID,
    AW_F_AUDITWATCH_ORIGIN, /* rendered from aw_event.origin, not from fields[] */
    AW_FIELD_COUNT
};

enum aw_field_kind {
    AW_KIND_STRING,      /* JSON string */
    AW_KIND_NUMBER,      /* decimal digits, rendered as a JSON number */
    AW_KIND_STRING_LIST, /* a JSON array of strings, held in aw_event.lists[] */
    AW_KIND_ORIGIN       /* the origin object */
};

struct aw_field_def {
    const char *name; /* dotted ECS name, e.g. "source.ip" */
    enum aw_field_kind kind;
};

extern const struct aw_field_def aw_field_defs[AW_FIELD_COUNT];

/* The field with this dotted name, or -1. */
int aw_field_lookup(const char *name, size_t len);

struct aw_str {
    const char *ptr;
    size_t len;
};

enum aw_origin_kind { AW_ORIGIN_NONE, AW_ORIGIN_FILE, AW_ORIGIN_KAFKA };

/* Where a record came from.  Strings are borrowed from the source. */
struct aw_origin {
    enum aw_origin_kind kind;
    const char *file; /* file path, "-" for stdin */
    uint64_t line;    /* 1-based line number of the record's first line */
    const char *topic;
    int32_t partition;
    int64_t offset;
};

struct aw_arena_block;

struct aw_event {
    int64_t timestamp_ms; /* event time, milliseconds since the Unix epoch, UTC */
    struct aw_str fields[AW_FIELD_COUNT];
    const json_t *lists[AW_FIELD_COUNT]; /* AW_KIND_STRING_LIST values (borrowed) */
    json_t *raw;                         /* original audit event, one reference owned, or NULL */
    struct aw_origin origin;
    struct aw_arena_block *arena;
};

void aw_event_init(struct aw_event *ev);
/* Forget every field and drop the raw reference; keeps the arena's first
 * block for reuse. */
void aw_event_clear(struct aw_event *ev);
void aw_event_fini(struct aw_event *ev);

/* Point a field at text that outlives the event's use (record or raw JSON). */
static inline void aw_event_set(struct aw_event *ev, enum aw_field f, const char *ptr, size_t len)
{
    ev->fields[f].ptr = ptr;
    ev->fields[f].len = len;
}
static inline bool aw_event_has(const struct aw_event *ev, enum aw_field f)
{
    return ev->fields[f].ptr != NULL;
}
/* Copy len bytes into the event's arena (NUL-terminated) and return the copy. */
char *aw_event_copy(struct aw_event *ev, const char *ptr, size_t len);
void aw_event_set_copy(struct aw_event *ev, enum aw_field f, const char *ptr, size_t len);
void aw_event_set_cstr(struct aw_event *ev, enum aw_field f, const char *static_text);
void aw_event_set_u64(struct aw_event *ev, enum aw_field f, uint64_t v);
/* Set the source address from text: a valid IPv4/IPv6 literal is
 * normalized into source.ip; anything else that looks like a host name
 * goes to source.domain.  Returns true when source.ip was set. */
bool aw_event_set_source_address(struct aw_event *ev, const char *ptr, size_t len);

/* Set auditwatch.id from a content hash and an ordinal that tells apart
 * events sharing that hash: identical auth records seen close together
 * (1, 2, ...), or the items of one k8s EventList.  Ordinal 0 adds nothing. */
void aw_event_set_content_id(struct aw_event *ev, uint64_t content_hash, unsigned ordinal);

/* Append the event as one nested ECS JSON object (no newline). */
void aw_event_render_json(const struct aw_event *ev, struct aw_buf *out);
/* Append the origin as a JSON object ({"file":..,"line":..} or topic form). */
void aw_origin_render_json(const struct aw_origin *origin, struct aw_buf *out);

#endif
