/*
 * fuzz_decode_k8s.c - libFuzzer target for the Kubernetes audit decoder:
 * events, event lists, envelopes and double-encoded strings (see
 * fuzz_decode_common.h).
 */
#include "fuzz_decode_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct aw_decode_options opts = {.source = AW_SOURCE_K8S};
    fuzz_decode(&opts, data, size);
    return 0;
}
