/*
 * fuzz_decode_auth.c - libFuzzer target for the auth-log decoder: every
 * header format and pattern, with the JSON writer behind them (see
 * fuzz_decode_common.h).
 */
#include "fuzz_decode_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct aw_decode_options opts = {.source = AW_SOURCE_AUTH, .now_ms = 1767225600000LL};
    fuzz_decode(&opts, data, size);
    return 0;
}
