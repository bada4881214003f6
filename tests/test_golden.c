/*
 * test_golden.c - table-driven decoder tests from the case files in tests/data/.
 *
 * In the spirit of sshguard's parser tests, each case is plain text that
 * anyone can add without writing C:
 *
 *   @ source=auth year=2024 tz=UTC      options for the following cases
 *   < Feb 20 08:35:22 h sshd[1]: Failed password for root from 1.2.3.4 port 2 ssh2
 *   = event.action=ssh_login            expected field (flattened ECS name)
 *   = source.domain=                    empty value: the field must be absent
 *   = events=2                          number of events (default 1)
 *   = [1].user.name=bob                 a field of the second event
 *   ! too_large                         instead: rejected with this reason
 *
 * "<<" instead of "<" takes C escapes in the input (\n \t \r \\ \xNN), for
 * NUL bytes, invalid UTF-8 and continuation lines.  Directive keys:
 * source=auth|k8s|auto year=N tz=SPEC strict=0|1 max_record=N
 * envelope=a,b now=RFC3339.
 *
 * Every expectation is checked through the event's rendered JSON, so these
 * cases also pin down the output format.
 */
#include <criterion/criterion.h>
#include <ctype.h>

#include "auditwatch/decode.h"
#include "auditwatch/timeparse.h"
#include "test_util.h"

#define MAX_EVENTS 16

struct case_options {
    char text[512]; /* the directive line, to reuse a decoder while unchanged */
    struct aw_decode_options opts;
    char envelope_buf[256];
    const char *envelope[AW_MAX_ENVELOPE_FIELDS + 1];
};

struct collected {
    json_t *events[MAX_EVENTS];
    int count;
};

static int collect(void *ctx, struct aw_event *ev)
{
    struct collected *c = ctx;
    if (c->count < MAX_EVENTS) {
        struct aw_buf b = {0};
        aw_event_render_json(ev, &b);
        json_error_t err;
        c->events[c->count] = json_loadb(b.data, b.len, 0, &err);
        if (!c->events[c->count])
            cr_log_error("rendered event is not valid JSON (%s): %.*s", err.text, (int)b.len, b.data);
        aw_buf_free(&b);
    }
    c->count++;
    return 0;
}

static size_t unescape(const char *s, char *out)
{
    size_t n = 0;
    while (*s) {
        if (*s == '\\' && s[1]) {
            s++;
            switch (*s) {
            case 'n': out[n++] = '\n'; s++; break;
            case 't': out[n++] = '\t'; s++; break;
            case 'r': out[n++] = '\r'; s++; break;
            case 'x':
                if (isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
                    char hex[3] = {s[1], s[2], 0};
                    out[n++] = (char)strtol(hex, NULL, 16);
                    s += 3;
                    break;
                }
                /* fall through */
            default: out[n++] = *s++;
            }
        } else {
            out[n++] = *s++;
        }
    }
    return n;
}

static void parse_directive(struct case_options *co, const char *line)
{
    snprintf(co->text, sizeof co->text, "%s", line);
    memset(&co->opts, 0, sizeof co->opts);
    co->opts.source = AW_SOURCE_AUTO;
    /* Fixed reference time so year inference is reproducible. */
    co->opts.now_ms = 1767225600000LL; /* 2026-01-01T00:00:00Z */
    char buf[512];
    snprintf(buf, sizeof buf, "%s", line);
    char *save = NULL;
    static char tz_store[64];
    for (char *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *k = tok, *v = eq + 1;
        if (!strcmp(k, "source"))
            co->opts.source = !strcmp(v, "auth") ? AW_SOURCE_AUTH
                              : !strcmp(v, "k8s") ? AW_SOURCE_K8S
                                                  : AW_SOURCE_AUTO;
        else if (!strcmp(k, "year"))
            co->opts.year = atoi(v);
        else if (!strcmp(k, "tz")) {
            snprintf(tz_store, sizeof tz_store, "%s", v);
            co->opts.timezone = tz_store;
        } else if (!strcmp(k, "strict"))
            co->opts.strict = atoi(v) != 0;
        else if (!strcmp(k, "max_record"))
            co->opts.max_record = (size_t)atol(v);
        else if (!strcmp(k, "now"))
            aw_parse_rfc3339(v, strlen(v), false, &co->opts.now_ms);
        else if (!strcmp(k, "envelope")) {
            snprintf(co->envelope_buf, sizeof co->envelope_buf, "%s", v);
            int n = 0;
            char *s2 = NULL;
            for (char *f = strtok_r(co->envelope_buf, ",", &s2); f && n < AW_MAX_ENVELOPE_FIELDS;
                 f = strtok_r(NULL, ",", &s2))
                co->envelope[n++] = f;
            co->envelope[n] = NULL;
            co->opts.envelope_fields = co->envelope;
        } else
            cr_log_warn("unknown directive key '%s'", k);
    }
}

struct golden_stats {
    int cases, failures;
};

static void fail_case(struct golden_stats *st, const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cr_log_error("%s:%d: %s", file, line, msg);
    st->failures++;
}

/* Check one case: input, expectation lines (each "= ..." or "! ..."). */
static void run_case(struct golden_stats *st, struct aw_decoder *dec, const char *file, int line,
                     const char *input, size_t input_len, char **expect, int n_expect)
{
    struct collected got = {0};
    struct aw_reject why;
    struct aw_record rec = {.data = input, .len = input_len};
    rec.origin.kind = AW_ORIGIN_FILE;
    rec.origin.file = file;
    rec.origin.line = (uint64_t)line;
    int rc = aw_decoder_decode(dec, &rec, collect, &got, &why);
    st->cases++;
    int want_events = 1;
    const char *want_reject = NULL;
    for (int i = 0; i < n_expect; i++) {
        if (expect[i][0] == '!')
            want_reject = expect[i] + 1 + strspn(expect[i] + 1, " ");
        else if (!strncmp(expect[i] + 2, "events=", 7))
            want_events = atoi(expect[i] + 9);
    }
    if (want_reject) {
        if (rc != -1)
            fail_case(st, file, line, "expected rejection '%s', got %d event(s)", want_reject, got.count);
        else if (strcmp(aw_reject_name(why.reason), want_reject) != 0)
            fail_case(st, file, line, "expected rejection '%s', got '%s' (%s)", want_reject,
                      aw_reject_name(why.reason), why.detail);
        goto done;
    }
    if (rc < 0) {
        fail_case(st, file, line, "rejected as %s (%s)", aw_reject_name(why.reason), why.detail);
        goto done;
    }
    if (got.count != want_events) {
        fail_case(st, file, line, "expected %d event(s), got %d", want_events, got.count);
        goto done;
    }
    for (int i = 0; i < n_expect; i++) {
        if (expect[i][0] != '=')
            continue;
        const char *spec = expect[i] + 1 + strspn(expect[i] + 1, " ");
        int index = 0;
        if (spec[0] == '[') {
            index = atoi(spec + 1);
            spec = strchr(spec, ']');
            spec = spec ? spec + 1 : "";
            if (*spec == '.')
                spec++;
        }
        const char *eq = strchr(spec, '=');
        if (!eq) {
            fail_case(st, file, line, "malformed expectation '%s'", expect[i]);
            continue;
        }
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(eq - spec), spec);
        const char *want = eq + 1;
        if (!strcmp(key, "events"))
            continue;
        if (index >= got.count || index >= MAX_EVENTS || !got.events[index]) {
            fail_case(st, file, line, "no event [%d]", index);
            continue;
        }
        json_t *v = test_json_path(got.events[index], key);
        if (*want == '\0') {
            if (v) {
                char *t = test_json_text(v);
                fail_case(st, file, line, "%s should be absent, is '%s'", key, t);
                free(t);
            }
            continue;
        }
        if (!v) {
            fail_case(st, file, line, "%s missing (want '%s')", key, want);
            continue;
        }
        char *t = test_json_text(v);
        if (strcmp(t, want) != 0) {
            /* An expectation may also be written as compact JSON. */
            char *dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!dump || strcmp(dump, want) != 0)
                fail_case(st, file, line, "%s is '%s', want '%s'", key, t, want);
            free(dump);
        }
        free(t);
    }
done:
    for (int i = 0; i < got.count && i < MAX_EVENTS; i++)
        json_decref(got.events[i]);
}

static struct golden_stats run_case_file(const char *path)
{
    struct golden_stats st = {0};
    char *text = test_read_file(path, NULL);
    cr_assert_not_null(text, "cannot read %s", path);
    struct case_options co;
    parse_directive(&co, "");
    struct aw_decoder *dec = NULL;
    char err[256];
    char *input = NULL;
    size_t input_len = 0;
    int input_line = 0;
    char *expect[64];
    int n_expect = 0;
    int lineno = 0;
    char *save = NULL;
    /* strtok_r would merge blank lines; split by hand instead. */
    for (char *p = text; p && *p;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        char *line = p;
        p = nl ? nl + 1 : NULL;
        lineno++;
        (void)save;
        bool starts_case = line[0] == '<';
        bool is_blank = line[strspn(line, " \t\r")] == '\0';
        if ((starts_case || is_blank || line[0] == '@') && input) {
            if (!dec) {
                dec = aw_decoder_new(&co.opts, err, sizeof err);
                cr_assert_not_null(dec, "%s:%d: decoder options rejected: %s", path, input_line, err);
            }
            run_case(&st, dec, path, input_line, input, input_len, expect, n_expect);
            free(input);
            input = NULL;
            n_expect = 0;
        }
        if (line[0] == '#' || is_blank)
            continue;
        if (line[0] == '@') {
            parse_directive(&co, line + 1);
            aw_decoder_free(dec);
            dec = NULL;
        } else if (starts_case) {
            const char *body = line + 1;
            bool escaped = *body == '<';
            if (escaped)
                body++;
            if (*body == ' ')
                body++;
            input = malloc(strlen(body) + 1);
            input_len = escaped ? unescape(body, input) : strlen(body);
            if (!escaped)
                memcpy(input, body, input_len + 1);
            input_line = lineno;
        } else if ((line[0] == '=' || line[0] == '!') && input) {
            if (n_expect < 64)
                expect[n_expect++] = line;
        } else {
            cr_log_warn("%s:%d: line ignored: %s", path, lineno, line);
        }
    }
    if (input) {
        if (!dec)
            dec = aw_decoder_new(&co.opts, err, sizeof err);
        cr_assert_not_null(dec, "decoder: %s", err);
        run_case(&st, dec, path, input_line, input, input_len, expect, n_expect);
        free(input);
    }
    aw_decoder_free(dec);
    free(text);
    return st;
}

static void check_file(const char *path, int min_cases)
{
    struct golden_stats st = run_case_file(path);
    cr_log_info("%s: %d cases, %d failures", path, st.cases, st.failures);
    cr_expect_geq(st.cases, min_cases, "%s has %d cases, want at least %d", path, st.cases, min_cases);
    cr_expect_eq(st.failures, 0, "%s: %d of %d cases failed (see the log above)", path, st.failures,
                 st.cases);
}

Test(golden, auth_cases) { check_file("tests/data/auth_cases.txt", 150); }
Test(golden, k8s_cases) { check_file("tests/data/k8s_cases.txt", 40); }
Test(golden, bad_input_cases) { check_file("tests/data/bad_input_cases.txt", 10); }
