/*
 * fuzz_rules.c - libFuzzer target for the YAML reader and the rule loader.
 *
 * Rule files and configurations are outside input too (`auditwatch check`
 * reads whatever it is given): arbitrary bytes are loaded as a rule file
 * and linked.  Whatever loads must then be evaluable without crashing, so
 * each loaded detection is run against one fixed auth event.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auditwatch/decode.h"
#include "auditwatch/rule.h"

static struct aw_decoder *decoder;
static struct aw_match_ctx *match;

struct eval_ctx {
    struct aw_ruleset *set;
};

static int evaluate(void *ctx, struct aw_event *ev)
{
    struct eval_ctx *e = ctx;
    for (size_t i = 0; i < e->set->n; i++) {
        struct aw_rule *r = e->set->rules[i];
        if (!r->correlation && aw_rule_logsource_admits(r, ev))
            (void)aw_rule_matches(r, ev, match);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!decoder) {
        struct aw_decode_options opts = {.source = AW_SOURCE_AUTH, .year = 2024};
        char err[256];
        decoder = aw_decoder_new(&opts, err, sizeof err);
        match = aw_match_ctx_new();
        if (!decoder || !match)
            abort();
    }
    struct aw_ruleset set = {0};
    struct aw_diags diags = {0};
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    aw_ruleset_load_string(&set, "fuzz.yml", text, size, &diags);
    if (!diags.n && !aw_ruleset_link(&set, &diags)) {
        static const char line[] =
            "Mar  3 10:00:00 web-01 sshd[1]: Failed password for invalid user admin from 10.1.2.3 port 22 ssh2";
        struct aw_record rec = {line, sizeof line - 1, {AW_ORIGIN_NONE, NULL, 0, NULL, 0, 0}};
        struct aw_reject why;
        struct eval_ctx ctx = {&set};
        aw_decoder_decode(decoder, &rec, evaluate, &ctx, &why);
    }
    aw_ruleset_free(&set);
    aw_diags_free(&diags);
    free(text);
    return 0;
}
