/*
 * alert.h - the alert document (DESIGN section 6).
 *
 * An alert is rendered as one JSON object with ECS names: the rule,
 * severity and ATT&CK techniques, a human sentence, the deterministic
 * alert id, the group and window, up to AW_EVIDENCE_MAX contributing
 * events (their auditwatch.id and origin), and the main ECS fields of the
 * event that completed the window.  Everything in it comes either from the
 * rule (trusted) or from events (escaped by the JSON writer).
 *
 * Alert ids are 128-bit hashes (32 hex digits) of the rule name, the
 * canonical group text and the identity of the completing event, so the
 * same input always gives the same ids, whichever store, process or
 * replay produced them.
 */
#ifndef AUDITWATCH_ALERT_H
#define AUDITWATCH_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auditwatch/buf.h"
#include "auditwatch/event.h"
#include "auditwatch/rule.h"

#define AW_EVIDENCE_MAX 10
#define AW_ALERT_ID_LEN 32

struct aw_alert {
    /* rule: either a loaded rule, or the fields of a config-driven detector */
    const char *rule_name, *rule_id, *rule_title, *description;
    enum aw_level level;
    char *const *techniques;
    size_t ntechniques;

    int64_t time_ms; /* the completing event's time */
    char alert_id[AW_ALERT_ID_LEN + 1];
    const char *message;          /* human sentence */
    const char *group_json;       /* {"field": "value", ...} or NULL */
    size_t group_json_len;
    bool has_window;
    int64_t window_start_ms, window_end_ms;
    uint64_t count;
    int64_t distinct; /* value_count; -1 when not applicable */
    const char *evidence[AW_EVIDENCE_MAX]; /* JSON objects {"id":..,"origin":..} */
    size_t evidence_len[AW_EVIDENCE_MAX];
    size_t nevidence;
    const char *fields;          /* JSON members of the completing event's main fields */
    size_t fields_len;
    const char *reason;          /* service map and similar: why (also in the message) */
};

/* id = hash(rule name, group text, completing event identity). */
void aw_alert_make_id(char out[AW_ALERT_ID_LEN + 1], const char *rule_name, const char *group_json,
                      size_t group_len, const char *event_id, size_t event_id_len);
/* Same, with the completing event known only by its identity hash. */
void aw_alert_make_id_hashed(char out[AW_ALERT_ID_LEN + 1], const char *rule_name,
                             const char *group_json, size_t group_len, uint64_t event_id_hash);

/* Fill the parts of an alert about one event (single-event rules, the
 * service map, first_seen); a->rule_name must be set.  Renders the event's
 * evidence and main fields into the caller's buffers (reset first) and sets
 * the time, the id (rule name, group, the identity event_id - NULL: the
 * event's own auditwatch.id), count 1 and the event as the only evidence. */
void aw_alert_about_event(struct aw_alert *a, const struct aw_event *ev, int64_t time_ms,
                          const char *group, size_t group_len, const char *event_id,
                          size_t event_id_len, struct aw_buf *evidence, struct aw_buf *fields);

/* One JSON object, no newline. */
void aw_alert_render_json(const struct aw_alert *a, struct aw_buf *out);
/* One readable line, no newline: "TIME LEVEL rule.name message [id]". */
void aw_alert_render_text(const struct aw_alert *a, struct aw_buf *out);

/* A compact binary summary of an event - its identity, origin and main ECS
 * fields - for window entries, which must outlive the event: about a third
 * of the size of the rendered JSON, and cheaper to make than rendering.
 * It starts with the byte AW_SUMMARY_TAG, so it can be told from JSON. */
#define AW_SUMMARY_TAG '\x01'
void aw_event_pack_summary(const struct aw_event *ev, struct aw_buf *out);
/* Render a summary's evidence ({"id","@timestamp","origin"}, the event time
 * given) or main fields (as aw_event_render_alert_fields).  A damaged
 * summary renders what it can. */
void aw_summary_render_evidence(const char *p, size_t n, int64_t time_ms, struct aw_buf *out);
void aw_summary_render_fields(const char *p, size_t n, struct aw_buf *out);

/* Evidence of an event: {"id":"...","origin":{...}}. */
void aw_event_render_evidence(const struct aw_event *ev, struct aw_buf *out);
/* The main ECS fields of an event as JSON members without braces:
 * "source":{"ip":..},"user":{"name":..},"host":{..},"orchestrator":{..}. */
void aw_event_render_alert_fields(const struct aw_event *ev, struct aw_buf *out);

#endif
