/*
 * buf.c - growable byte buffer and JSON string escaping (see buf.h).
 *
 * Growth doubles the capacity, so appending n bytes costs O(n) amortized.
 * The JSON escaper reserves room for the worst case once (six bytes out
 * per byte in, a chunk at a time for long strings) and then writes without
 * capacity checks: plain text is tested and copied eight bytes at a time
 * (SWAR), and it only stops at bytes that need attention (", \, controls,
 * and bytes >= 0x80, which are checked for UTF-8 validity).
 */
#include "auditwatch/buf.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void aw_buf_reserve(struct aw_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return;
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    b->data = aw_xrealloc(b->data, cap);
    b->cap = cap;
}

void aw_buf_reset(struct aw_buf *b) { b->len = 0; }

void aw_buf_free(struct aw_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void aw_buf_append_slow(struct aw_buf *b, const void *data, size_t len)
{
    aw_buf_reserve(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

void aw_buf_append_printable(struct aw_buf *b, const char *s, size_t len, size_t max)
{
    if (len > max)
        len = max;
    aw_buf_reserve(b, len);
    for (size_t i = 0; i < len; i++)
        b->data[b->len++] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
}

void aw_buf_append_u64(struct aw_buf *b, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    aw_buf_reserve(b, (size_t)n);
    while (n)
        b->data[b->len++] = tmp[--n];
}

void aw_buf_append_i64(struct aw_buf *b, int64_t v)
{
    if (v < 0) {
        aw_buf_append_char(b, '-');
        aw_buf_append_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        aw_buf_append_u64(b, (uint64_t)v);
    }
}

/* Length of the UTF-8 sequence starting at s (at most len bytes), or 0 when
 * it is not a valid, shortest-form encoding of a scalar value. */
static size_t utf8_sequence_length(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return 0;
    return n;
}

size_t aw_utf8_valid_prefix(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        /* Fast path: eight ASCII bytes at a time. */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_sequence_length(s + i, len - i);
        if (n == 0)
            return i;
        i += n;
    }
    return len;
}

static const char hex_digits[] = "0123456789abcdef";

/* Nonzero for bytes the escaper must look at: controls, '"', '\\' and
 * every byte >= 0x80 (checked for UTF-8 validity). */
static const unsigned char needs_care[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* True when none of the 8 bytes of w needs care (SWAR: no byte < 0x20,
 * none >= 0x80, none equal to '"' or '\\'). */
static inline int word_is_plain(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t lt20 = (w - ones * 0x20) & ~w;
    uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
    uint64_t zero_q = (q - ones) & ~q, zero_bs = (bs - ones) & ~bs;
    return ((lt20 | zero_q | zero_bs | w) & high) == 0;
}

/* The general escaper: any length, any content. */
static char *escape_any(char *d, const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        /* Plain text is copied a word at a time: test 8 bytes, store 8. */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!word_is_plain(w))
                break;
            memcpy(d, &w, 8);
            d += 8;
            i += 8;
        }
        /* A short plain tail: the last 8 bytes of the string, overlapping
         * what was already copied verbatim, instead of a byte loop. */
        if (i < len && len >= 8 && len - i < 8) {
            uint64_t w;
            memcpy(&w, s + len - 8, 8);
            if (word_is_plain(w)) {
                memcpy(d - (8 - (len - i)), &w, 8);
                return d + (len - i);
            }
        }
        while (i < len && !needs_care[s[i]])
            *d++ = (char)s[i++];
        if (i >= len)
            break;
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t n = utf8_sequence_length(s + i, len - i);
            if (n) {
                memcpy(d, s + i, n);
                d += n;
                i += n;
                continue;
            }
            memcpy(d, "\xEF\xBF\xBD", 3); /* invalid UTF-8 -> U+FFFD */
            d += 3;
            i++;
            continue;
        }
        d[0] = '\\';
        switch (c) {
        case '"': d[1] = '"'; d += 2; break;
        case '\\': d[1] = '\\'; d += 2; break;
        case '\n': d[1] = 'n'; d += 2; break;
        case '\r': d[1] = 'r'; d += 2; break;
        case '\t': d[1] = 't'; d += 2; break;
        default: /* the other controls */
            d[1] = 'u';
            d[2] = '0';
            d[3] = '0';
            d[4] = hex_digits[c >> 4];
            d[5] = hex_digits[c & 15];
            d += 6;
        }
        i++;
    }
    return d;
}

/*
 * Most values are short and plain (names, actions, hosts).  Up to 16
 * bytes they are tested and copied with two overlapping loads and stores,
 * without a loop whose exit the CPU would mispredict; anything longer or
 * needing escapes goes to escape_any().
 */
char *aw_json_escape_raw(char *d, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    if (len >= 8 && len <= 16) {
        uint64_t lo, hi;
        memcpy(&lo, s, 8);
        memcpy(&hi, s + len - 8, 8);
        if (word_is_plain(lo) && word_is_plain(hi)) {
            memcpy(d, &lo, 8);
            memcpy(d + len - 8, &hi, 8);
            return d + len;
        }
    } else if (len >= 4 && len < 8) {
        uint32_t lo, hi;
        memcpy(&lo, s, 4);
        memcpy(&hi, s + len - 4, 4);
        if (word_is_plain((uint64_t)lo | (uint64_t)hi << 32)) {
            memcpy(d, &lo, 4);
            memcpy(d + len - 4, &hi, 4);
            return d + len;
        }
    } else if (len > 0 && len < 4) {
        /* first, middle and last byte cover every byte of 1..3 */
        unsigned char a = s[0], m = s[len / 2], z = s[len - 1];
        if (!(needs_care[a] | needs_care[m] | needs_care[z])) {
            d[0] = (char)a;
            d[len / 2] = (char)m;
            d[len - 1] = (char)z;
            return d + len;
        }
    } else if (len == 0) {
        return d;
    }
    return escape_any(d, s, len);
}

void aw_buf_json_string_slow(struct aw_buf *b, const char *str, size_t len)
{
    /* Reserve for one chunk of input at a time, not for all of it: the
     * worst case is six bytes out per byte in.  A chunk never ends inside
     * a UTF-8 sequence (it stops before the sequence's lead byte), so
     * every sequence is judged whole, as if the string were one chunk. */
    const unsigned char *s = (const unsigned char *)str;
    aw_buf_append_char(b, '"');
    size_t pos = 0;
    while (pos < len) {
        size_t stop = len;
        if (len - pos > AW_JSON_INPLACE_MAX) {
            stop = pos + AW_JSON_INPLACE_MAX;
            size_t k = stop;
            while (stop - k < 3 && (s[k] & 0xC0) == 0x80)
                k--;
            if ((s[k] & 0xC0) == 0xC0)
                stop = k;
        }
        aw_buf_reserve(b, AW_JSON_ESCAPE_MAX(stop - pos));
        char *d = aw_json_escape_raw(b->data + b->len, str + pos, stop - pos);
        b->len = (size_t)(d - b->data);
        pos = stop;
    }
    aw_buf_append_char(b, '"');
}
