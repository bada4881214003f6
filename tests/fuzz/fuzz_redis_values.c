/*
 * fuzz_redis_values.c - libFuzzer target for what the Redis store parses:
 * store addresses (config and command line) and the values it reads back
 * from Redis (times, identities, window entries, window meta), which are
 * outside input too - anyone with write access to the server can put
 * anything there.
 *
 * The first byte picks the parser, the rest is its input.  Checked: no
 * crash or out-of-bounds read (ASan), decoded payloads and entries point
 * inside their input, decoded meta has a terminated alert id, a parsed
 * address has a port in range, and an encoded payload, entry or meta
 * decodes back to itself (a window entry, "TIME I" + payload, to the
 * same fields: "007" and "7" are one time).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis_codec.h"
#include "redis_spec.h"

static void check_payload(const char *p, size_t n)
{
    struct aw_window_entry e;
    memset(&e, 0, sizeof e);
    if (!aw_redis_decode_payload(p, n, &e))
        return;
    if (e.evidence < p || e.evidence + e.evidence_len > p + n || e.fields < p ||
        e.fields + e.fields_len > p + n)
        abort();
    struct aw_buf b = {0};
    aw_redis_encode_payload(&b, &e);
    if (b.len != n || memcmp(b.data, p, n))
        abort();
    aw_buf_free(&b);
}

static void check_meta(const char *p, size_t n)
{
    struct aw_window_meta m;
    memset(&m, 0, sizeof m);
    aw_redis_decode_meta(p, n, &m);
    if (strlen(m.alert_id) >= sizeof m.alert_id)
        abort();
    struct aw_buf b = {0};
    aw_redis_encode_meta(&b, &m);
    struct aw_window_meta again;
    memset(&again, 0, sizeof again);
    aw_redis_decode_meta(b.data, b.len, &again);
    if (again.cursor_time != m.cursor_time || again.cursor_id != m.cursor_id ||
        again.suppress_until != m.suppress_until || again.suppress_entry != m.suppress_entry ||
        strcmp(again.alert_id, m.alert_id))
        abort();
    aw_buf_free(&b);
}

static void check_entry(const char *p, size_t n)
{
    struct aw_window_entry e;
    memset(&e, 0, sizeof e);
    if (!aw_redis_decode_entry(p, n, &e))
        return;
    if (e.evidence < p || e.evidence + e.evidence_len > p + n || e.fields < p || e.fields + e.fields_len > p + n)
        abort();
    struct aw_buf b = {0};
    aw_redis_encode_entry(&b, &e);
    struct aw_window_entry again;
    memset(&again, 0, sizeof again);
    if (!aw_redis_decode_entry(b.data, b.len, &again) || again.time_ms != e.time_ms ||
        again.value_hash != e.value_hash || again.tag != e.tag || again.evidence_len != e.evidence_len ||
        again.fields_len != e.fields_len ||
        (e.evidence_len && memcmp(again.evidence, e.evidence, e.evidence_len)) ||
        (e.fields_len && memcmp(again.fields, e.fields, e.fields_len)))
        abort();
    aw_buf_free(&b);
}

static void check_spec(const char *p, size_t n)
{
    char *spec = malloc(n + 1);
    if (!spec)
        return;
    memcpy(spec, p, n);
    spec[n] = '\0';
    struct aw_redis_spec s;
    char err[256];
    if (aw_redis_spec_parse(&s, spec, err, sizeof err) == 0) {
        if (!s.unix_path && (!s.host || s.port < 1 || s.port > 65535))
            abort();
        if (s.db < 0)
            abort();
    } else if (!memchr(err, '\0', sizeof err)) {
        abort();
    }
    aw_redis_spec_free(&s);
    free(spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 5) {
    case 0: check_payload(p, n); break;
    case 1: check_meta(p, n); break;
    case 2: check_spec(p, n); break;
    case 4: check_entry(p, n); break;
    default:
        (void)aw_redis_parse_time(p, n);
        (void)aw_redis_parse_hex64(p, n);
        break;
    }
    return 0;
}
