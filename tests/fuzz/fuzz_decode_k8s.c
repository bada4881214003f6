/*
 * fuzz_decode_k8s.c - libFuzzer target for the Kubernetes audit decoder.
 *
 * Arbitrary bytes go through the decoder front with --source auto, so
 * both the source detection and the k8s decoder (events, event lists,
 * envelopes, double-encoded strings) are reached; every event is rendered
 * and must be valid JSON.
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
        abort();
    json_decref(j);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!decoder) {
        struct aw_decode_options opts = {.source = AW_SOURCE_K8S};
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
