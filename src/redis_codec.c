/*
 * redis_codec.c - how the Redis store writes times, identities, window
 * entries and window meta as Redis strings, and reads them back.
 *
 *   time      decimal milliseconds; "-inf"/"+inf" for none/unbounded
 *   identity  16 lower-case hex digits (sorts like the number)
 *   payload   value hash (8 bytes LE), tag (4), evidence length (4),
 *             evidence, fields
 *   entry     a window entry as its window hash field's value: its
 *             time, one space, 'I' (its kind: the payload inline, the
 *             only one written), then its payload.  The time comes first
 *             so that a script can read it with a pattern.
 *   meta      "cursor_time cursor_id suppress_until suppress_entry
 *             alert_id", "n" for a time not set, "-" for no alert
 * Readers treat what they read as untrusted: a malformed value decodes
 * to "none" or is refused, never read out of bounds (fuzz_redis_codec).
 */
#include "redis_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditwatch/hash.h"

size_t aw_redis_fmt_i64(char out[24], int64_t t)
{
    /* by hand: the store formats several numbers per window entry, and
     * snprintf was a tenth of the client's time */
    char tmp[24];
    size_t n = 0, len = 0;
    uint64_t u = t < 0 ? (uint64_t)0 - (uint64_t)t : (uint64_t)t;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (t < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    out[len] = '\0';
    return len;
}

size_t aw_redis_fmt_time(char out[24], int64_t t)
{
    if (t == AW_TIME_NONE) {
        memcpy(out, "-inf", 5);
        return 4;
    }
    if (t == INT64_MAX) {
        memcpy(out, "+inf", 5);
        return 4;
    }
    return aw_redis_fmt_i64(out, t);
}

int64_t aw_redis_parse_time(const char *p, size_t n)
{
    if (!n)
        return AW_TIME_NONE;
    char tmp[40];
    if (n >= sizeof tmp)
        n = sizeof tmp - 1;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    /* Scores come back as "%.17g"; event times are integers well below
     * 2^53.  Anything else (not a number, out of range) reads as none. */
    char *end;
    double v = strtod(tmp, &end);
    if (end == tmp || !(v > -9.0e18 && v < 9.0e18))
        return AW_TIME_NONE;
    return (int64_t)v;
}

uint64_t aw_redis_parse_hex64(const char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && i < 16; i++) {
        char ch = p[i];
        unsigned d = ch >= '0' && ch <= '9' ? (unsigned)(ch - '0')
                     : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                                              : 0u;
        v = v << 4 | d;
    }
    return v;
}


/* Payload: value hash (8) tag (4) evidence length (4) evidence fields. */
static void append_head(struct aw_buf *b, const struct aw_window_entry *e)
{
    unsigned char head[16];
    for (int i = 0; i < 8; i++)
        head[i] = (unsigned char)(e->value_hash >> (8 * i));
    for (int i = 0; i < 4; i++)
        head[8 + i] = (unsigned char)(e->tag >> (8 * i));
    for (int i = 0; i < 4; i++)
        head[12 + i] = (unsigned char)((uint32_t)e->evidence_len >> (8 * i));
    aw_buf_append(b, head, sizeof head);
}

static void append_payload(struct aw_buf *b, const struct aw_window_entry *e)
{
    append_head(b, e);
    if (e->evidence_len)
        aw_buf_append(b, e->evidence, e->evidence_len);
    if (e->fields_len)
        aw_buf_append(b, e->fields, e->fields_len);
}

void aw_redis_encode_payload(struct aw_buf *b, const struct aw_window_entry *e)
{
    aw_buf_reset(b);
    append_payload(b, e);
}

/* The payload's 16-byte head: value hash, tag, evidence length. */
static void decode_head(const char *p, struct aw_window_entry *e, uint32_t *evidence_len)
{
    const unsigned char *u = (const unsigned char *)p;
    uint64_t v = 0;
    uint32_t tag = 0, el = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | u[i];
    for (int i = 3; i >= 0; i--)
        tag = tag << 8 | u[8 + i];
    for (int i = 3; i >= 0; i--)
        el = el << 8 | u[12 + i];
    e->value_hash = v;
    e->tag = tag;
    *evidence_len = el;
}

bool aw_redis_decode_payload(const char *p, size_t n, struct aw_window_entry *e)
{
    if (n < 16)
        return false;
    struct aw_window_entry h;
    uint32_t el;
    decode_head(p, &h, &el);
    uint64_t v = h.value_hash;
    uint32_t tag = h.tag;
    if (el > n - 16)
        return false;
    e->value_hash = v;
    e->tag = tag;
    e->evidence = p + 16;
    e->evidence_len = el;
    e->fields = p + 16 + el;
    e->fields_len = n - 16 - el;
    return true;
}

static void append_time(struct aw_buf *b, int64_t t)
{
    char num[24];
    size_t n = aw_redis_fmt_i64(num, t);
    aw_buf_append(b, num, n);
    aw_buf_append_char(b, ' ');
}

void aw_redis_encode_entry(struct aw_buf *b, const struct aw_window_entry *e)
{
    aw_buf_reset(b);
    append_time(b, e->time_ms);
    aw_buf_append_char(b, 'I');
    append_payload(b, e);
}

bool aw_redis_decode_entry(const char *p, size_t n, struct aw_window_entry *e)
{
    size_t i = 0;
    bool neg = n > 0 && p[0] == '-';
    if (neg)
        i++;
    uint64_t v = 0;
    size_t digits = 0;
    while (i < n && p[i] >= '0' && p[i] <= '9' && digits < 18) {
        v = v * 10 + (uint64_t)(p[i] - '0');
        i++;
        digits++;
    }
    if (!digits || i + 1 >= n || p[i] != ' ')
        return false;
    i++;
    if (p[i] != 'I' || !aw_redis_decode_payload(p + i + 1, n - i - 1, e))
        return false;
    e->time_ms = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

/* Meta "m": cursor_time cursor_id suppress_until suppress_entry alert_id. */
void aw_redis_encode_meta(struct aw_buf *b, const struct aw_window_meta *m)
{
    char t[24], hex[17];
    hex[16] = '\0';
    aw_buf_reset(b);
    if (m->cursor_time == AW_TIME_NONE)
        aw_buf_append_char(b, 'n');
    else {
        aw_redis_fmt_time(t, m->cursor_time);
        aw_buf_append_str(b, t);
    }
    aw_buf_append_char(b, ' ');
    aw_hex64(m->cursor_id, hex);
    aw_buf_append_str(b, hex);
    aw_buf_append_char(b, ' ');
    if (m->suppress_until == AW_TIME_NONE)
        aw_buf_append_char(b, 'n');
    else {
        aw_redis_fmt_time(t, m->suppress_until);
        aw_buf_append_str(b, t);
    }
    aw_buf_append_char(b, ' ');
    aw_hex64(m->suppress_entry, hex);
    aw_buf_append_str(b, hex);
    aw_buf_append_char(b, ' ');
    aw_buf_append_str(b, m->alert_id[0] ? m->alert_id : "-");
}

void aw_redis_decode_meta(const char *p, size_t n, struct aw_window_meta *m)
{
    m->cursor_time = AW_TIME_NONE;
    m->cursor_id = 0;
    m->suppress_until = AW_TIME_NONE;
    m->suppress_entry = 0;
    m->alert_id[0] = '\0';
    const char *f[5];
    size_t fl[5];
    size_t nf = 0, i = 0;
    while (i < n && nf < 5) {
        size_t j = i;
        while (j < n && p[j] != ' ')
            j++;
        f[nf] = p + i;
        fl[nf++] = j - i;
        i = j + 1;
    }
    if (nf != 5)
        return;
    if (!(fl[0] == 1 && f[0][0] == 'n'))
        m->cursor_time = aw_redis_parse_time(f[0], fl[0]);
    m->cursor_id = aw_redis_parse_hex64(f[1], fl[1]);
    if (!(fl[2] == 1 && f[2][0] == 'n'))
        m->suppress_until = aw_redis_parse_time(f[2], fl[2]);
    m->suppress_entry = aw_redis_parse_hex64(f[3], fl[3]);
    /* an alert id is 32 hex digits; anything else reads as "no alert" */
    bool hex = fl[4] == sizeof m->alert_id - 1;
    for (size_t k = 0; hex && k < fl[4]; k++)
        hex = (f[4][k] >= '0' && f[4][k] <= '9') || (f[4][k] >= 'a' && f[4][k] <= 'f');
    if (hex) {
        memcpy(m->alert_id, f[4], fl[4]);
        m->alert_id[fl[4]] = '\0';
    }
}

/* The next space-separated token of [*p, end); false at the end. */
bool aw_redis_next_token(const char **p, const char *end, const char **tok, size_t *len)
{
    while (*p < end && **p == ' ')
        (*p)++;
    if (*p >= end)
        return false;
    *tok = *p;
    while (*p < end && **p != ' ')
        (*p)++;
    *len = (size_t)(*p - *tok);
    return true;
}
