/*
 * fuzz_decode_common.h - the body shared by the decoder fuzz targets.
 *
 * Arbitrary bytes go as one record through the decoder front (prechecks
 * included) with the options the target chooses, and every event is
 * rendered: the property checked besides memory safety is that each
 * rendered event is valid JSON.
 */
#ifndef AUDITWATCH_FUZZ_DECODE_COMMON_H
#define AUDITWATCH_FUZZ_DECODE_COMMON_H

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "auditwatch/decode.h"

static int fuzz_render(void *ctx, struct aw_event *ev)
{
    struct aw_buf *out = ctx;
    aw_buf_reset(out);
    aw_event_render_json(ev, out);
    json_error_t err;
    json_t *j = json_loadb(out->data, out->len, 0, &err);
    if (!j)
        abort(); /* the renderer produced invalid JSON */
    json_decref(j);
    return 0;
}

/* Decode data with a decoder made once from opts (per process). */
static void fuzz_decode(const struct aw_decode_options *opts, const uint8_t *data, size_t size)
{
    static struct aw_decoder *decoder;
    static struct aw_buf out;
    if (!decoder) {
        char err[256];
        decoder = aw_decoder_new(opts, err, sizeof err);
        if (!decoder)
            abort();
    }
    struct aw_record rec = {.data = (const char *)data, .len = size};
    struct aw_reject why;
    aw_decoder_decode(decoder, &rec, fuzz_render, &out, &why);
}

#endif
