/*
 * buf.h - growable byte buffer and JSON string escaping.
 *
 * Every document auditwatch writes (normalized events, rejection records,
 * alerts) is built in an aw_buf and written with one fwrite.  The buffer
 * owns its storage; aw_buf_reset() keeps the allocation so a hot loop that
 * renders one document per record allocates only while the buffer grows.
 *
 * aw_buf_json_string() is the one place where text of outside origin is
 * quoted for JSON.  It escapes quotes, backslashes and every control
 * character, and replaces bytes that are not valid UTF-8 with U+FFFD, so
 * whatever an attacker put into a user name or a URI, the output stays one
 * well-formed JSON line.
 */
#ifndef AUDITWATCH_BUF_H
#define AUDITWATCH_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct aw_buf {
    char *data;
    size_t len;
    size_t cap;
};

/* Make sure at least `extra` more bytes fit.  Aborts on out-of-memory:
 * a stream processor that cannot allocate a few KiB cannot go on safely. */
void aw_buf_reserve(struct aw_buf *b, size_t extra);
void aw_buf_reset(struct aw_buf *b);
void aw_buf_free(struct aw_buf *b);

/* Slow path of the inline appenders: grow, then copy. */
void aw_buf_append_slow(struct aw_buf *b, const void *data, size_t len);

static inline void aw_buf_append(struct aw_buf *b, const void *data, size_t len)
{
    if (b->cap - b->len >= len) {
        if (len)
            memcpy(b->data + b->len, data, len);
        b->len += len;
    } else {
        aw_buf_append_slow(b, data, len);
    }
}
static inline void aw_buf_append_str(struct aw_buf *b, const char *s) { aw_buf_append(b, s, strlen(s)); }
static inline void aw_buf_append_char(struct aw_buf *b, char c)
{
    if (b->cap == b->len)
        aw_buf_reserve(b, 1);
    b->data[b->len++] = c;
}
void aw_buf_append_i64(struct aw_buf *b, int64_t v);
void aw_buf_append_u64(struct aw_buf *b, uint64_t v);

/* Append `s` (len bytes, need not be NUL-terminated) as a quoted JSON
 * string, escaping as described above. */
void aw_buf_json_string_slow(struct aw_buf *b, const char *s, size_t len);

/* Worst-case output of escaping len bytes: a control byte becomes a
 * six-byte \u00XX escape, nothing grows more.  Escaping in place needs
 * this much room; longer strings go through the chunked slow path so a
 * huge value never reserves six times its size. */
#define AW_JSON_ESCAPE_MAX(len) (6 * (len))
#define AW_JSON_INPLACE_MAX 4096

/* Write s[0..len) escaped (without quotes) at dst, which must have room
 * for AW_JSON_ESCAPE_MAX(len) bytes; returns the end of what was written.
 * For writers that reserve once for a whole document. */
char *aw_json_escape_raw(char *dst, const char *s, size_t len);

static inline void aw_buf_json_string(struct aw_buf *b, const char *s, size_t len)
{
    /* One capacity check for the worst case, then no more per byte. */
    if (len <= AW_JSON_INPLACE_MAX && b->cap - b->len >= AW_JSON_ESCAPE_MAX(len) + 2) {
        char *d = b->data + b->len;
        *d++ = '"';
        d = aw_json_escape_raw(d, s, len);
        *d++ = '"';
        b->len = (size_t)(d - b->data);
        return;
    }
    aw_buf_json_string_slow(b, s, len);
}
static inline void aw_buf_json_cstr(struct aw_buf *b, const char *s)
{
    aw_buf_json_string(b, s, strlen(s));
}

/* Append at most max bytes of s as one line of plain text: control
 * characters become '?', so text of outside origin cannot break a message
 * or a log line into several. */
void aw_buf_append_printable(struct aw_buf *b, const char *s, size_t len, size_t max);

/* Length of the longest prefix of s[0..len) that is valid UTF-8, so a
 * caller can tell whether the whole string is (result == len). */
size_t aw_utf8_valid_prefix(const char *s, size_t len);

#endif
