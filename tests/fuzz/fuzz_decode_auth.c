/*
 * fuzz_decode_auth.c - libFuzzer target for the auth-log decoder.
 *
 * Feeds arbitrary bytes as one record through the full decoder front
 * (prechecks included) and renders every event, so the JSON writer is
 * fuzzed together with every header format and pattern.  The property
 * checked besides memory safety: each rendered event is valid JSON.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "auditwatch/decode.h"

static struct aw_decoder *decoder;
static struct aw_buf out;

static int render(void *ctx, struct aw_event *ev)
{
    (void)ctx;
    aw_buf_reset(&out);
    aw_event_render_json(ev, &out);
    json_error_t err;
    json_t *j = json_loadb(out.data, out.len, 0, &err);
    if (!j)
        abort(); /* the renderer produced invalid JSON */
    json_decref(j);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!decoder) {
        struct aw_decode_options opts = {.source = AW_SOURCE_AUTH, .now_ms = 1767225600000LL};
        char err[256];
        decoder = aw_decoder_new(&opts, err, sizeof err);
        if (!decoder)
            abort();
    }
    struct aw_record rec = {.data = (const char *)data, .len = size};
    struct aw_reject why;
    aw_decoder_decode(decoder, &rec, render, NULL, &why);
    return 0;
}
