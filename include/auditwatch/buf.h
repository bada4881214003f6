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
extern const unsigned char aw_json_needs_care[256];

static inline void aw_buf_json_string(struct aw_buf *b, const char *s, size_t len)
{
    /* Fast path for the common short, plain ASCII value. */
    if (len <= 48 && b->cap - b->len >= len + 2) {
        unsigned char care = 0;
        for (size_t i = 0; i < len; i++)
            care |= aw_json_needs_care[(unsigned char)s[i]];
        if (!care) {
            char *d = b->data + b->len;
            d[0] = '"';
            memcpy(d + 1, s, len);
            d[len + 1] = '"';
            b->len += len + 2;
            return;
        }
    }
    aw_buf_json_string_slow(b, s, len);
}
static inline void aw_buf_json_cstr(struct aw_buf *b, const char *s)
{
    aw_buf_json_string(b, s, strlen(s));
}

/* Length of the longest prefix of s[0..len) that is valid UTF-8, so a
 * caller can tell whether the whole string is (result == len). */
size_t aw_utf8_valid_prefix(const char *s, size_t len);

#endif
