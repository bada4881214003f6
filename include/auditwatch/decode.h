/*
 * decode.h - records in, normalized events out.
 *
 * A record is one unit of input: a file line (with its continuation lines),
 * a Kafka message.  A decoder turns a record into zero or more events and
 * hands each to an emit callback, or rejects the whole record with a reason
 * from a fixed list (DESIGN section 10).  Nothing is dropped silently: the
 * caller counts every rejection and sends it to its dead-letter sink.
 *
 * Decoders own the event they emit and reuse it; see event.h for lifetimes.
 * A decoder is not thread-safe; make one per thread.
 */
#ifndef AUDITWATCH_DECODE_H
#define AUDITWATCH_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auditwatch/event.h"

enum aw_reject_reason {
    AW_REJECT_NONE = 0,
    AW_REJECT_TOO_LARGE,         /* over the record size limit */
    AW_REJECT_NUL_BYTE,          /* a NUL byte inside the record */
    AW_REJECT_INVALID_UTF8,      /* bytes that are not UTF-8 */
    AW_REJECT_INVALID_JSON,      /* JSON expected but not parseable */
    AW_REJECT_NOT_AUDIT_EVENT,   /* valid JSON, but not a k8s audit Event/EventList */
    AW_REJECT_WRONG_TYPE,        /* a known field holds the wrong JSON type */
    AW_REJECT_MISSING_TIMESTAMP, /* no event time at all */
    AW_REJECT_BAD_TIMESTAMP,     /* an event time that does not parse or cannot exist */
    AW_REJECT_UNRECOGNIZED_LINE, /* not a syslog line in any supported format */
    AW_REJECT_UNKNOWN_MESSAGE,   /* --strict: a syslog line no pattern knows */
    AW_REJECT_REASON_COUNT
};

/* Stable snake_case name of a reason, as written in rejection records. */
const char *aw_reject_name(enum aw_reject_reason r);

struct aw_reject {
    enum aw_reject_reason reason;
    char detail[200]; /* human-readable; may quote (escaped on output) input */
};

void aw_reject_set(struct aw_reject *why, enum aw_reject_reason r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct aw_record {
    const char *data;
    size_t len;
    struct aw_origin origin;
};

/* Called once per event.  Return 0 to go on, nonzero to stop decoding the
 * record (the value is passed back to the caller of aw_decoder_decode). */
typedef int (*aw_emit_fn)(void *ctx, struct aw_event *ev);

enum aw_source_kind { AW_SOURCE_AUTH, AW_SOURCE_K8S, AW_SOURCE_AUTO };

#define AW_DEFAULT_MAX_RECORD (1024 * 1024)
#define AW_MAX_ENVELOPE_FIELDS 8

struct aw_decode_options {
    enum aw_source_kind source;
    int year;              /* 0: infer from now_ms */
    const char *timezone;  /* NULL: UTC */
    int64_t now_ms;        /* 0: wall clock at decoder creation */
    size_t max_record;     /* 0: AW_DEFAULT_MAX_RECORD */
    bool strict;           /* unknown syslog messages are rejected, not passed through */
    /* JSON envelope fields holding a log line or an audit event, tried in
     * order; NULL-terminated; NULL list means {"message", "log"}. */
    const char *const *envelope_fields;
};

struct aw_decoder;

/* Returns NULL and writes a message into err on a bad option. */
struct aw_decoder *aw_decoder_new(const struct aw_decode_options *opts, char *err, size_t errlen);
void aw_decoder_free(struct aw_decoder *d);

/* Decode one record.  Returns the number of events emitted (>= 0), or -1
 * with `why` filled when the record is rejected.  When emit returns
 * nonzero, decoding stops and -2 is returned (why->reason is NONE). */
int aw_decoder_decode(struct aw_decoder *d, const struct aw_record *rec, aw_emit_fn emit, void *ctx,
                      struct aw_reject *why);

/* Which source a record looks like (for --source auto): JSON objects that
 * hold an audit event or event list are k8s, everything else auth. */
enum aw_source_kind aw_detect_source(const char *data, size_t len);
/* The source named "auth", "k8s" or "auto" (options, kafka.inputs'
 * decoder); false for any other name. */
bool aw_source_kind_parse(const char *name, enum aw_source_kind *out);

/* The dead-letter form of a rejected record, one JSON object without a
 * newline: {"error": REASON, "detail": ..., "origin": {...}, "size": N,
 * "excerpt": the first excerpt_max bytes, escaped}.  Used by every sink of
 * rejections (stderr, --dead-letter files, the dead-letter topic). */
void aw_reject_render_json(const struct aw_record *rec, const struct aw_reject *why,
                           size_t excerpt_max, struct aw_buf *out);

/* Checks every decoder makes first: size limit, NUL bytes, UTF-8.
 * Returns false with `why` filled. */
bool aw_record_precheck(const struct aw_record *rec, size_t max_record, struct aw_reject *why);

/* ------------------------------------------------- per-format decoders */

struct aw_auth_decoder;
struct aw_auth_decoder *aw_auth_decoder_new(const struct aw_decode_options *opts, char *err,
                                            size_t errlen);
void aw_auth_decoder_free(struct aw_auth_decoder *d);
int aw_auth_decode(struct aw_auth_decoder *d, const struct aw_record *rec, aw_emit_fn emit,
                   void *ctx, struct aw_reject *why);

struct aw_k8s_decoder;
struct aw_k8s_decoder *aw_k8s_decoder_new(const struct aw_decode_options *opts, char *err,
                                          size_t errlen);
void aw_k8s_decoder_free(struct aw_k8s_decoder *d);
int aw_k8s_decode(struct aw_k8s_decoder *d, const struct aw_record *rec, aw_emit_fn emit,
                  void *ctx, struct aw_reject *why);

#endif
