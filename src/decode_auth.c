/*
 * decode_auth.c - Linux auth-log records -> normalized events.
 *
 * A record is first split into a syslog header and a message.  Headers
 * come in four shapes, told apart by the first byte:
 *   '<'    PRI, then RFC 5424 ("<86>1 2023-10-06T09:47:13.9+02:00 host app
 *          pid msgid sd msg") or RFC 3164 after a PRI
 *   digit  ISO 8601 high-precision stamp (rsyslog) then "host tag: msg"
 *   letter RFC 3164 "Mar  3 12:00:01 host tag: msg" (year and zone from
 *          options; the year defaults to the one that keeps the line out of
 *          the future)
 *   '{'    JSON: a `journalctl -o json` export (MESSAGE, SYSLOG_IDENTIFIER,
 *          _PID, _HOSTNAME, __REALTIME_TIMESTAMP) or a shipper envelope
 *          whose field (default "message", then "log") holds a line
 * A record with no recognizable header is rejected (unrecognized_line).
 *
 * The message is then matched against the pattern table (auth_patterns.c)
 * of its program's family only, then against the PAM rules when it looks
 * like a PAM message; sudo's "user : K=V ; ..." lines are split by hand.
 * A message no pattern knows still becomes an event (program, host,
 * message, outcome unknown) so that rules with `keywords` see it; with
 * `strict` it is rejected as unknown_message instead.
 *
 * "message repeated N times: [ msg ]" (rsyslog's reduction) becomes N
 * events of msg, so that counting rules see every attempt.
 *
 * Event identity (auditwatch.id) is a hash of the record's bytes plus an
 * ordinal among identical records seen just before it, so the same data
 * gets the same ids whether it is read from a file or from Kafka.
 */
#include "auditwatch/decode.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditwatch/hash.h"
#include "auditwatch/timeparse.h"
#include "auth_patterns.h"

#define RECENT_IDS 32
#define BSD_STAMP_LEN 15 /* "Mar  3 12:00:01" */
#define MAX_REPEAT 1000
#define MATCH_LIMIT 200000

struct compiled_rule {
    const struct auth_rule *rule;
    pcre2_code *code;
    size_t prefix_len;
    bool jit;                    /* JIT-compiled: use pcre2_jit_match */
    uint16_t groups[G_COUNT][2]; /* capture numbers per name (0 = none) */
    /* The rule's constant field texts with their lengths, measured once
     * instead of with strlen for every event. */
    struct aw_str action, category, outcome, method;
    /* The groups apply_rule copies straight into a field (see
     * group_fields), listed once so a match does not test all G_COUNT. */
    uint8_t plain_groups[G_COUNT];
    uint8_t n_plain;
};

/* The field a named group fills when copied as it is (0: the group needs
 * more than a copy: ruser, ip, host). */
static const enum aw_field group_fields[G_COUNT] = {
    [G_USER] = AW_F_USER_NAME,          [G_EUSER] = AW_F_USER_EFFECTIVE_NAME,
    [G_TARGET] = AW_F_USER_TARGET_NAME, [G_GROUP] = AW_F_GROUP_NAME,
    [G_PORT] = AW_F_SOURCE_PORT,        [G_METHOD] = AW_F_SSH_METHOD,
    [G_REASON] = AW_F_EVENT_REASON,     [G_UID] = AW_F_USER_ID,
    [G_GID] = AW_F_GROUP_ID,
};

/* Set a field to a string literal (length known at compile time). */
#define SET_LITERAL(ev, f, lit) aw_event_set((ev), (f), (lit), sizeof(lit) - 1)

struct aw_auth_decoder {
    struct compiled_rule *rules;
    size_t nrules;
    uint16_t *family_rules[PROG_COUNT];
    size_t family_count[PROG_COUNT];
    uint16_t *pam_rules;
    size_t pam_count;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    PCRE2_SIZE *ov;    /* md's ovector, fetched once: it never moves */
    uint32_t ov_pairs; /* and its size in pairs */

    struct aw_tz tz;
    int year;
    /* The last RFC 3164 stamp resolved with a fixed year, and its time:
     * lines come in runs of one second, and the same 15 bytes then give
     * the same time without parsing and calendar arithmetic. */
    char last_stamp[BSD_STAMP_LEN];
    int64_t last_stamp_ms;
    bool have_last_stamp;
    int64_t fixed_now_ms; /* 0: wall clock */
    bool strict;
    const char *const *envelope_fields;

    struct aw_event ev;
    char last_prog[32]; /* cache of the last program-name lookup */
    size_t last_prog_len;
    enum auth_program last_family;
    uint64_t recent[RECENT_IDS];
    unsigned recent_next;
    /* How many hashes in recent[] have each low byte: most records match
     * none, and then the ring need not be scanned. */
    uint8_t recent_bytes[256];
    struct aw_buf scratch;     /* journal MESSAGE byte arrays */
    struct aw_buf pam_scratch; /* "pam_unix(prog): msg" rebuilt from old-style tags */
};

static const char *const default_envelope_fields[] = {"message", "log", NULL};

/* ------------------------------------------------------------ set-up */

static bool compile_rules(struct aw_auth_decoder *d, char *err, size_t errlen)
{
    d->nrules = auth_rule_count;
    d->rules = calloc(d->nrules, sizeof *d->rules);
    for (int f = 0; f < PROG_COUNT; f++)
        d->family_rules[f] = calloc(d->nrules, sizeof(uint16_t));
    d->pam_rules = calloc(d->nrules, sizeof(uint16_t));
    if (!d->rules || !d->pam_rules) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    uint32_t max_groups = 0;
    for (size_t i = 0; i < d->nrules; i++) {
        struct compiled_rule *cr = &d->rules[i];
        cr->rule = &auth_rules[i];
        cr->prefix_len = strlen(cr->rule->prefix);
        cr->action = (struct aw_str){cr->rule->action, strlen(cr->rule->action)};
        cr->category = (struct aw_str){cr->rule->category, strlen(cr->rule->category)};
        cr->outcome = (struct aw_str){cr->rule->outcome, strlen(cr->rule->outcome)};
        if (cr->rule->method)
            cr->method = (struct aw_str){cr->rule->method, strlen(cr->rule->method)};
        int ec;
        PCRE2_SIZE eo;
        /* Byte mode, not PCRE2_UTF: records are valid UTF-8 (decode.c
         * checks) and every pattern starts and ends its captures at ASCII
         * text, so a match can only begin or end on a character boundary
         * and gives the same captures; `.` and negated classes then need
         * not decode multi-byte characters (about 4% of decoding time). */
        cr->code = pcre2_compile((PCRE2_SPTR)cr->rule->regex, PCRE2_ZERO_TERMINATED,
                                 PCRE2_ANCHORED | PCRE2_DUPNAMES, &ec, &eo, NULL);
        if (!cr->code) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            snprintf(err, errlen, "internal: auth pattern %zu does not compile at %zu: %s", i,
                     (size_t)eo, (const char *)msg);
            return false;
        }
        /* JIT is a speed-up, not a requirement: without it the
         * interpreter gives the same answers. */
        cr->jit = pcre2_jit_compile(cr->code, PCRE2_JIT_COMPLETE) == 0;
        uint32_t cap = 0;
        pcre2_pattern_info(cr->code, PCRE2_INFO_CAPTURECOUNT, &cap);
        if (cap > max_groups)
            max_groups = cap;
        for (int g = 0; g < G_COUNT; g++) {
            PCRE2_SPTR first, last;
            int entry = pcre2_substring_nametable_scan(cr->code, (PCRE2_SPTR)auth_group_names[g],
                                                       &first, &last);
            if (entry < 0)
                continue;
            uint32_t entry_size = 0;
            pcre2_pattern_info(cr->code, PCRE2_INFO_NAMEENTRYSIZE, &entry_size);
            int k = 0;
            for (PCRE2_SPTR e = first; e <= last && k < 2; e += entry_size, k++)
                cr->groups[g][k] = (uint16_t)((e[0] << 8) | e[1]);
        }
        /* With a ruser group, uid belongs to the requester (see apply_rule). */
        bool has_ruser = cr->groups[G_RUSER][0] != 0;
        for (int g = 0; g < G_COUNT; g++)
            if (group_fields[g] && cr->groups[g][0] && !(g == G_UID && has_ruser))
                cr->plain_groups[cr->n_plain++] = (uint8_t)g;
        if (cr->rule->programs & PM_PAM) {
            d->pam_rules[d->pam_count++] = (uint16_t)i;
        } else {
            for (int f = 0; f < PROG_COUNT; f++)
                if (cr->rule->programs & PM(f))
                    d->family_rules[f][d->family_count[f]++] = (uint16_t)i;
        }
    }
    d->md = pcre2_match_data_create(max_groups + 1, NULL);
    d->mctx = pcre2_match_context_create(NULL);
    if (!d->md || !d->mctx) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    pcre2_set_match_limit(d->mctx, MATCH_LIMIT);
    d->ov = pcre2_get_ovector_pointer(d->md);
    d->ov_pairs = pcre2_get_ovector_count(d->md);
    return true;
}

struct aw_auth_decoder *aw_auth_decoder_new(const struct aw_decode_options *opts, char *err,
                                            size_t errlen)
{
    struct aw_auth_decoder *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    aw_event_init(&d->ev);
    d->recent_bytes[0] = RECENT_IDS; /* the ring starts as RECENT_IDS zero hashes */
    if (!aw_tz_init(&d->tz, opts->timezone, err, errlen) || !compile_rules(d, err, errlen)) {
        aw_auth_decoder_free(d);
        return NULL;
    }
    if (opts->year && (opts->year < 1970 || opts->year > 9999)) {
        snprintf(err, errlen, "year %d is out of range (1970-9999)", opts->year);
        aw_auth_decoder_free(d);
        return NULL;
    }
    d->year = opts->year;
    d->fixed_now_ms = opts->now_ms;
    d->strict = opts->strict;
    d->envelope_fields = opts->envelope_fields ? opts->envelope_fields : default_envelope_fields;
    return d;
}

void aw_auth_decoder_free(struct aw_auth_decoder *d)
{
    if (!d)
        return;
    for (size_t i = 0; d->rules && i < d->nrules; i++)
        pcre2_code_free(d->rules[i].code);
    free(d->rules);
    for (int f = 0; f < PROG_COUNT; f++)
        free(d->family_rules[f]);
    free(d->pam_rules);
    pcre2_match_data_free(d->md);
    pcre2_match_context_free(d->mctx);
    aw_event_fini(&d->ev);
    aw_buf_free(&d->scratch);
    aw_buf_free(&d->pam_scratch);
    free(d);
}

/* ---------------------------------------------------- syslog headers */

struct syslog_line {
    int64_t ts_ms;
    const char *host, *prog, *pid, *msg;
    size_t host_len, prog_len, pid_len, msg_len;
};

static const char *skip_spaces(const char *p, const char *end)
{
    while (p < end && *p == ' ')
        p++;
    return p;
}

static bool all_digits(const char *p, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

/* "tag[pid]: msg" or "tag: msg" at p.  Returns false when there is no tag
 * (the whole text is then the message). */
static bool parse_tag(const char *p, const char *end, struct syslog_line *out)
{
    const char *q = p;
    while (q < end && *q != '[' && *q != ':' && *q != ' ')
        q++;
    if (q == p || q >= end)
        return false;
    const char *prog_end = q;
    const char *pid = NULL, *pid_end = NULL;
    if (*q == '[') {
        pid = q + 1;
        pid_end = memchr(pid, ']', (size_t)(end - pid));
        if (!pid_end)
            return false;
        q = pid_end + 1;
    }
    if (q >= end || *q != ':')
        return false;
    q++;
    if (q < end && *q == ' ')
        q++;
    out->prog = p;
    out->prog_len = (size_t)(prog_end - p);
    if (pid) {
        out->pid = pid;
        out->pid_len = (size_t)(pid_end - pid);
    }
    out->msg = q;
    out->msg_len = (size_t)(end - q);
    return true;
}

/* After the stamp: " host tag: msg".  An empty host ("stamp  tag:") and a
 * missing host ("stamp tag:") both occur in real files. */
static void parse_host_and_tag(const char *p, const char *end, struct syslog_line *out)
{
    if (p < end && *p == ' ')
        p++;
    if (p >= end) {
        out->msg = end;
        out->msg_len = 0;
        return;
    }
    if (*p == ' ') { /* empty host field */
        p = skip_spaces(p, end);
    } else {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        const char *host_end = sp ? sp : end;
        /* A "host" that ends in ':' or holds '[' is really the tag. */
        bool is_tag = host_end > p && (host_end[-1] == ':' || memchr(p, '[', (size_t)(host_end - p)));
        if (!is_tag) {
            out->host = p;
            out->host_len = (size_t)(host_end - p);
            p = sp ? sp + 1 : end;
        }
    }
    if (!parse_tag(p, end, out)) {
        out->msg = p;
        out->msg_len = (size_t)(end - p);
    }
}

static int64_t now_ms(const struct aw_auth_decoder *d)
{
    return d->fixed_now_ms ? d->fixed_now_ms : aw_now_ms();
}

/* RFC 5424 after "<PRI>1 ". */
static bool parse_rfc5424(const char *p, const char *end, struct syslog_line *out,
                          struct aw_reject *why)
{
    const char *field[5];
    size_t flen[5];
    for (int i = 0; i < 5; i++) { /* TIMESTAMP HOSTNAME APP-NAME PROCID MSGID */
        p = skip_spaces(p, end);
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        const char *fe = sp ? sp : end;
        field[i] = p;
        flen[i] = (size_t)(fe - p);
        p = fe;
    }
    if (flen[0] == 1 && field[0][0] == '-') {
        aw_reject_set(why, AW_REJECT_MISSING_TIMESTAMP, "RFC 5424 record without a timestamp");
        return false;
    }
    if (aw_parse_rfc3339(field[0], flen[0], false, &out->ts_ms) != flen[0]) {
        aw_reject_set(why, AW_REJECT_BAD_TIMESTAMP, "RFC 5424 timestamp does not parse");
        return false;
    }
    if (!(flen[1] == 1 && field[1][0] == '-')) {
        out->host = field[1];
        out->host_len = flen[1];
    }
    if (!(flen[2] == 1 && field[2][0] == '-')) {
        out->prog = field[2];
        out->prog_len = flen[2];
    }
    if (!(flen[3] == 1 && field[3][0] == '-')) {
        out->pid = field[3];
        out->pid_len = flen[3];
    }
    /* STRUCTURED-DATA: "-" or one or more [id k="v"...] with \] escapes. */
    if (p < end && *p == ' ')
        p++;
    if (p < end && *p == '-') {
        p++;
    } else {
        while (p < end && *p == '[') {
            p++;
            while (p < end && *p != ']') {
                if (*p == '\\' && p + 1 < end)
                    p++;
                else if (*p == '"') { /* quoted values may hold ']' */
                    p++;
                    while (p < end && *p != '"') {
                        if (*p == '\\' && p + 1 < end)
                            p++;
                        p++;
                    }
                }
                if (p < end)
                    p++;
            }
            if (p < end)
                p++;
        }
    }
    if (p < end && *p == ' ')
        p++;
    if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) /* BOM */
        p += 3;
    out->msg = p;
    out->msg_len = (size_t)(end - p);
    return true;
}

/* Split a syslog line.  Returns false with `why` set when it is not one. */
static bool parse_syslog(struct aw_auth_decoder *d, const char *data, size_t len,
                         struct syslog_line *out, struct aw_reject *why)
{
    const char *p = data, *end = data + len;
    memset(out, 0, sizeof *out);
    p = skip_spaces(p, end);
    if (p < end && *p == '<') { /* PRI */
        const char *q = p + 1;
        while (q < end && q - p <= 4 && *q >= '0' && *q <= '9')
            q++;
        if (q == p + 1 || q >= end || *q != '>') {
            aw_reject_set(why, AW_REJECT_UNRECOGNIZED_LINE, "malformed syslog priority");
            return false;
        }
        p = q + 1;
        if (end - p >= 2 && p[0] == '1' && p[1] == ' ')
            return parse_rfc5424(p + 2, end, out, why);
    }
    size_t n;
    if (p < end && *p >= '0' && *p <= '9') {
        n = aw_parse_rfc3339(p, (size_t)(end - p), true, &out->ts_ms);
        if (!n) {
            aw_reject_set(why, AW_REJECT_BAD_TIMESTAMP, "ISO 8601 timestamp does not parse");
            return false;
        }
    } else if (d->have_last_stamp && end - p > BSD_STAMP_LEN && p[BSD_STAMP_LEN] == ' ' &&
               memcmp(p, d->last_stamp, BSD_STAMP_LEN) == 0) {
        /* The stamp of the line before, without a fraction after it (the
         * cache holds only stamps of exactly 15 bytes and fixed years). */
        n = BSD_STAMP_LEN;
        out->ts_ms = d->last_stamp_ms;
    } else {
        struct aw_bsd_time bt;
        n = aw_parse_bsd_time(p, (size_t)(end - p), &bt);
        if (!n) {
            aw_reject_set(why, AW_REJECT_UNRECOGNIZED_LINE,
                          "no syslog timestamp (RFC 3164, RFC 5424 or ISO 8601) at the start");
            return false;
        }
        if (!aw_bsd_time_resolve(&d->tz, &bt, d->year, d->year ? 0 : now_ms(d), &out->ts_ms)) {
            aw_reject_set(why, AW_REJECT_BAD_TIMESTAMP, "date %02u-%02u does not exist in year %d",
                          bt.month, bt.day, d->year);
            return false;
        }
        if (d->year && n == BSD_STAMP_LEN) { /* the year inferred from the clock may change */
            memcpy(d->last_stamp, p, BSD_STAMP_LEN);
            d->last_stamp_ms = out->ts_ms;
            d->have_last_stamp = true;
        }
    }
    p += n;
    if (p < end && *p != ' ') {
        aw_reject_set(why, AW_REJECT_UNRECOGNIZED_LINE, "timestamp not followed by a space");
        return false;
    }
    parse_host_and_tag(p, end, out);
    return true;
}

/* ------------------------------------------------------- message match */

static bool starts_with(const char *s, size_t len, const char *prefix, size_t plen)
{
    return len >= plen && memcmp(s, prefix, plen) == 0;
}

static const struct compiled_rule *try_rules(struct aw_auth_decoder *d, const uint16_t *list,
                                             size_t count, const char *msg, size_t len)
{
    if (len == 0)
        return NULL; /* every pattern needs text */
    for (size_t i = 0; i < count; i++) {
        const struct compiled_rule *cr = &d->rules[list[i]];
        /* Compare the first byte inline: most rules fail on it, and a
         * memcmp call costs more than the test. */
        if (cr->rule->prefix[0] != msg[0] || !starts_with(msg, len, cr->rule->prefix, cr->prefix_len))
            continue;
        /* The JIT entry point skips pcre2_match's argument checks; the
         * interpreter is the fallback where JIT is unavailable. */
        int rc = cr->jit ? pcre2_jit_match(cr->code, (PCRE2_SPTR)msg, len, 0, 0, d->md, d->mctx)
                         : pcre2_match(cr->code, (PCRE2_SPTR)msg, len, 0, 0, d->md, d->mctx);
        if (rc >= 0)
            return cr;
    }
    return NULL;
}

/* The text of a capture group by name, or false when it did not take part. */
static bool capture(const struct aw_auth_decoder *d, const struct compiled_rule *cr, int g,
                    const char *msg, const char **ptr, size_t *len)
{
    const PCRE2_SIZE *ov = d->ov;
    for (int k = 0; k < 2; k++) {
        uint16_t n = cr->groups[g][k];
        if (n == 0 || n >= d->ov_pairs)
            continue;
        if (ov[2 * n] == PCRE2_UNSET)
            continue;
        *ptr = msg + ov[2 * n];
        *len = ov[2 * n + 1] - ov[2 * n];
        return true;
    }
    return false;
}

static void apply_rule(struct aw_auth_decoder *d, const struct compiled_rule *cr, const char *msg)
{
    struct aw_event *ev = &d->ev;
    const struct auth_rule *r = cr->rule;
    const char *p;
    size_t n;
    ev->fields[AW_F_EVENT_ACTION] = cr->action;
    ev->fields[AW_F_EVENT_CATEGORY] = cr->category;
    ev->fields[AW_F_EVENT_OUTCOME] = cr->outcome;
    if (r->method)
        ev->fields[AW_F_SSH_METHOD] = cr->method;

    /* Groups copied as they are (with a ruser group, uid is not among
     * them: it belongs to the requester, see below). */
    for (unsigned k = 0; k < cr->n_plain; k++) {
        int g = cr->plain_groups[k];
        if (!capture(d, cr, g, msg, &p, &n) || (n == 0 && g != G_USER))
            continue;
        aw_event_set(ev, group_fields[g], p, n);
    }
    /* PAM's ruser (and "session opened ... by X"): the requesting user is
     * the actor; the account asked for becomes the effective user.  PAM's
     * "uid=" is the requesting process's real uid, so it is user.id only
     * next to a ruser; without one it is the service's own uid (0 for
     * sshd), which says nothing about the account. */
    if (capture(d, cr, G_RUSER, msg, &p, &n) && n > 0) {
        if (aw_event_has(ev, AW_F_USER_NAME) && ev->fields[AW_F_USER_NAME].len > 0)
            ev->fields[AW_F_USER_EFFECTIVE_NAME] = ev->fields[AW_F_USER_NAME];
        aw_event_set(ev, AW_F_USER_NAME, p, n);
        if (capture(d, cr, G_UID, msg, &p, &n) && n > 0)
            aw_event_set(ev, AW_F_USER_ID, p, n);
    }
    if (aw_event_has(ev, AW_F_USER_NAME) && ev->fields[AW_F_USER_NAME].len == 0)
        ev->fields[AW_F_USER_NAME].ptr = NULL; /* empty user: absent */
    if (capture(d, cr, G_HOST, msg, &p, &n) && n > 0)
        aw_event_set_source_address(ev, p, n);
    if (capture(d, cr, G_IP, msg, &p, &n) && n > 0)
        aw_event_set_source_address(ev, p, n);
    if (r->flags & AF_USER_IS_ROOT)
        SET_LITERAL(ev, AW_F_USER_NAME, "root");
    if ((r->flags & AF_USER_ALSO_TARGET) && aw_event_has(ev, AW_F_USER_TARGET_NAME))
        ev->fields[AW_F_USER_NAME] = ev->fields[AW_F_USER_TARGET_NAME];
    if ((r->flags & AF_FAIL_ONLY_WITH_REASON) && !capture(d, cr, G_REASON, msg, &p, &n))
        SET_LITERAL(ev, AW_F_EVENT_OUTCOME, "unknown");
}

static void trim(const char **p, size_t *len)
{
    while (*len && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*len)--;
    }
    while (*len && ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t'))
        (*len)--;
}

/* sudo: "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls"
 * with optional reasons before the first KEY=VALUE ("3 incorrect password
 * attempts", "user NOT in sudoers").  COMMAND is last and may itself hold
 * " ; ", so everything after "COMMAND=" is the command.  A command too long
 * for one syslog line goes on in lines "alice : (command continued) ...":
 * those are the same sudo run (outcome unknown), not a failure, and the
 * fragment stays in `message` only (it is not a command line). */
static bool parse_sudo(struct aw_auth_decoder *d, const char *msg, size_t len)
{
    struct aw_event *ev = &d->ev;
    const char *sep = NULL;
    for (size_t i = 0; i + 3 <= len; i++)
        if (msg[i] == ' ' && msg[i + 1] == ':' && msg[i + 2] == ' ') {
            sep = msg + i;
            break;
        }
    if (!sep)
        return false;
    const char *user = msg;
    size_t user_len = (size_t)(sep - msg);
    trim(&user, &user_len);
    if (user_len == 0 || memchr(user, ' ', user_len))
        return false;
    const char *p = sep + 3, *end = msg + len;
    static const char continued[] = "(command continued)";
    if (starts_with(p, (size_t)(end - p), continued, sizeof continued - 1)) {
        aw_event_set(ev, AW_F_USER_NAME, user, user_len);
        SET_LITERAL(ev, AW_F_EVENT_ACTION, "sudo");
        SET_LITERAL(ev, AW_F_EVENT_OUTCOME, "unknown");
        SET_LITERAL(ev, AW_F_EVENT_CATEGORY, "process");
        return true;
    }
    const char *reason = NULL;
    size_t reason_len = 0;
    bool saw_key = false;
    while (p < end) {
        const char *seg = p;
        const char *seg_end = end;
        bool is_command = (size_t)(end - seg) >= 8 && memcmp(seg, "COMMAND=", 8) == 0;
        if (!is_command) {
            for (const char *q = seg; q + 3 <= end; q++)
                if (q[0] == ' ' && q[1] == ';' && q[2] == ' ') {
                    seg_end = q;
                    break;
                }
        }
        size_t seg_len = (size_t)(seg_end - seg);
        trim(&seg, &seg_len);
        const char *eq = memchr(seg, '=', seg_len);
        if (eq && (eq == seg || memchr(seg, ' ', (size_t)(eq - seg)) == NULL)) {
            size_t klen = (size_t)(eq - seg);
            const char *v = eq + 1;
            size_t vlen = seg_len - klen - 1;
            saw_key = true;
            if (klen == 7 && memcmp(seg, "COMMAND", 7) == 0)
                aw_event_set(ev, AW_F_PROCESS_COMMAND_LINE, v, vlen);
            else if (klen == 3 && memcmp(seg, "PWD", 3) == 0)
                aw_event_set(ev, AW_F_PROCESS_WORKING_DIRECTORY, v, vlen);
            else if (klen == 4 && memcmp(seg, "USER", 4) == 0)
                aw_event_set(ev, AW_F_USER_EFFECTIVE_NAME, v, vlen);
        } else if (!saw_key && seg_len && !reason) {
            reason = seg;
            reason_len = seg_len;
        }
        p = seg_end == end ? end : seg_end + 3;
    }
    if (!saw_key && !reason)
        return false;
    aw_event_set(ev, AW_F_USER_NAME, user, user_len);
    SET_LITERAL(ev, AW_F_EVENT_ACTION, "sudo");
    if (reason) {
        aw_event_set(ev, AW_F_EVENT_REASON, reason, reason_len);
        SET_LITERAL(ev, AW_F_EVENT_OUTCOME, "failure");
        SET_LITERAL(ev, AW_F_EVENT_CATEGORY, "authentication");
    } else {
        SET_LITERAL(ev, AW_F_EVENT_OUTCOME, "success");
        SET_LITERAL(ev, AW_F_EVENT_CATEGORY, "process");
    }
    return true;
}

/* Classify msg for a program family and fill the event.  Returns whether a
 * pattern knew the message. */
static bool classify(struct aw_auth_decoder *d, enum auth_program fam, const char *msg, size_t len)
{
    const char *m = msg;
    size_t mlen = len;
    if (fam == PROG_SSHD &&
        (starts_with(m, mlen, "error: ", 7) || starts_with(m, mlen, "fatal: ", 7))) {
        m += 7;
        mlen -= 7;
    }
    const struct compiled_rule *cr = NULL;
    if (fam != PROG_OTHER)
        cr = try_rules(d, d->family_rules[fam], d->family_count[fam], m, mlen);
    if (!cr && mlen > 3 && (m[0] == 'p' || m[0] == 'P') && (m[1] == 'a' || m[1] == 'A'))
        cr = try_rules(d, d->pam_rules, d->pam_count, m, mlen);
    if (cr) {
        apply_rule(d, cr, m);
        return true;
    }
    if (fam == PROG_SUDO)
        return parse_sudo(d, msg, len);
    return false;
}

/* ----------------------------------------------------------- emitting */

/* How many of the last RECENT_IDS records had hash h; then remember h. */
static unsigned next_ordinal(struct aw_auth_decoder *d, uint64_t h)
{
    unsigned same = 0;
    if (d->recent_bytes[h & 0xff]) /* scan only when a hash might match */
        for (unsigned i = 0; i < RECENT_IDS; i++)
            same += d->recent[i] == h;
    d->recent_bytes[d->recent[d->recent_next] & 0xff]--;
    d->recent_bytes[h & 0xff]++;
    d->recent[d->recent_next] = h;
    d->recent_next = (d->recent_next + 1) % RECENT_IDS;
    return same;
}

/* Fill and emit the event(s) of one parsed syslog line. */
static int emit_line(struct aw_auth_decoder *d, const struct aw_record *rec,
                     const struct syslog_line *sl, aw_emit_fn emit, void *ctx,
                     struct aw_reject *why)
{
    struct aw_event *ev = &d->ev;
    const char *msg = sl->msg;
    size_t msg_len = sl->msg_len;
    unsigned repeat = 1;
    size_t full_msg_len = sl->msg_len;
    while (full_msg_len && (msg[full_msg_len - 1] == ' ' || msg[full_msg_len - 1] == '\t'))
        full_msg_len--;
    msg_len = full_msg_len;

    /* "message repeated N times: [ msg]" */
    static const char rep[] = "message repeated ";
    if (starts_with(msg, msg_len, rep, sizeof rep - 1)) {
        const char *p = msg + sizeof rep - 1, *end = msg + msg_len;
        unsigned n = 0;
        while (p < end && *p >= '0' && *p <= '9' && n < 100000)
            n = n * 10 + (unsigned)(*p++ - '0');
        static const char tail[] = " times: [";
        if (n > 0 && starts_with(p, (size_t)(end - p), tail, sizeof tail - 1) && end[-1] == ']') {
            p += sizeof tail - 1;
            if (p < end && *p == ' ')
                p++;
            msg = p;
            msg_len = (size_t)(end - 1 - p);
            repeat = n > MAX_REPEAT ? MAX_REPEAT : n;
        }
    }

    while (msg_len && (msg[msg_len - 1] == ' ' || msg[msg_len - 1] == '\t'))
        msg_len--;

    /* Old-style tags name the PAM module: "sshd(pam_unix)[123]: msg".  The
     * program is the part before '('; the message is matched as the
     * modern "pam_unix(sshd): msg" form. */
    const char *prog = sl->prog;
    size_t prog_len = sl->prog_len;
    const char *match_msg = msg;
    size_t match_len = msg_len;
    const char *paren = prog ? memchr(prog, '(', prog_len) : NULL;
    if (paren && prog[prog_len - 1] == ')') {
        const char *module = paren + 1;
        size_t module_len = (size_t)(prog + prog_len - 1 - module);
        prog_len = (size_t)(paren - prog);
        if (module_len > 4 && memcmp(module, "pam_", 4) == 0 && !starts_with(msg, msg_len, "pam_", 4)) {
            struct aw_buf *b = &d->pam_scratch;
            aw_buf_reset(b);
            aw_buf_append(b, module, module_len);
            aw_buf_append_char(b, '(');
            aw_buf_append(b, prog, prog_len);
            aw_buf_append_str(b, "): ");
            aw_buf_append(b, msg, msg_len);
            match_msg = b->data;
            match_len = b->len;
        }
    }

    enum auth_program fam = PROG_OTHER;
    if (prog) {
        /* Logs come in runs of one program: remember the last lookup. */
        if (prog_len == d->last_prog_len && prog_len <= sizeof d->last_prog &&
            memcmp(prog, d->last_prog, prog_len) == 0) {
            fam = d->last_family;
        } else {
            fam = auth_program_family(prog, prog_len);
            if (prog_len <= sizeof d->last_prog) {
                memcpy(d->last_prog, prog, prog_len);
                d->last_prog_len = prog_len;
                d->last_family = fam;
            }
        }
    }
    /* process.name is the program's name; a path tag ("/usr/bin/sudo")
     * keeps only its last component. */
    const char *base_name = prog;
    size_t base_len = prog_len;
    const char *slash = prog ? memrchr(prog, '/', prog_len) : NULL;
    if (slash && slash + 1 < prog + prog_len) {
        base_len -= (size_t)(slash + 1 - prog);
        base_name = slash + 1;
    }
    uint64_t h = aw_hash64(rec->data, rec->len, 0);
    unsigned ordinal = next_ordinal(d, h);
    int emitted = 0;
    for (unsigned k = 0; k < repeat; k++) {
        aw_event_clear(ev);
        bool known = classify(d, fam, match_msg, match_len);
        if (!known && d->strict) {
            aw_reject_set(why, AW_REJECT_UNKNOWN_MESSAGE, "no pattern knows this %.*s message",
                          (int)(sl->prog_len > 40 ? 40 : sl->prog_len), sl->prog ? sl->prog : "");
            return -1;
        }
        if (!known)
            SET_LITERAL(ev, AW_F_EVENT_OUTCOME, "unknown");
        ev->timestamp_ms = sl->ts_ms;
        ev->origin = rec->origin;
        SET_LITERAL(ev, AW_F_EVENT_DATASET, "system.auth");
        if (sl->host && sl->host_len)
            aw_event_set(ev, AW_F_HOST_HOSTNAME, sl->host, sl->host_len);
        if (prog) {
            if (fam == PROG_SSHD)
                SET_LITERAL(ev, AW_F_PROCESS_NAME, "sshd");
            else
                aw_event_set(ev, AW_F_PROCESS_NAME, base_name, base_len);
        }
        if (sl->pid && all_digits(sl->pid, sl->pid_len) && sl->pid_len < 19)
            aw_event_set(ev, AW_F_PROCESS_PID, sl->pid, sl->pid_len);
        aw_event_set(ev, AW_F_MESSAGE, sl->msg, full_msg_len);
        if (repeat > 1)
            aw_event_set_content_id(ev, aw_hash64(rec->data, rec->len, k + 1), ordinal);
        else
            aw_event_set_content_id(ev, h, ordinal);
        int rc = emit(ctx, ev);
        if (rc)
            return -2;
        emitted++;
    }
    return emitted;
}

/* ---------------------------------------------------------------- JSON */

/* Value at a dotted path of an object ("log", "event.original"). */
static json_t *json_path(json_t *obj, const char *path)
{
    json_t *v = json_object_get(obj, path); /* a literal dotted key wins */
    if (v || !strchr(path, '.'))
        return v;
    char key[128];
    const char *p = path;
    v = obj;
    while (v && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof key || !json_is_object(v))
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        v = json_object_get(v, key);
        p = dot ? dot + 1 : p + n;
    }
    return v;
}

static bool json_str(json_t *obj, const char *key, const char **p, size_t *n)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return false;
    *p = json_string_value(v);
    *n = json_string_length(v);
    return true;
}

/* journalctl -o json: MESSAGE is a string, or an array of byte values when
 * it is not valid UTF-8 (rejected then, as for any other record). */
static int decode_journal(struct aw_auth_decoder *d, const struct aw_record *rec, json_t *root,
                          json_t *message, aw_emit_fn emit, void *ctx, struct aw_reject *why)
{
    struct syslog_line sl;
    memset(&sl, 0, sizeof sl);
    if (json_is_string(message)) {
        sl.msg = json_string_value(message);
        sl.msg_len = json_string_length(message);
    } else if (json_is_array(message)) {
        aw_buf_reset(&d->scratch);
        size_t i;
        json_t *b;
        json_array_foreach(message, i, b)
        {
            if (!json_is_integer(b) || json_integer_value(b) < 0 || json_integer_value(b) > 255) {
                aw_reject_set(why, AW_REJECT_WRONG_TYPE, "MESSAGE array item %zu is not a byte", i);
                return -1;
            }
            aw_buf_append_char(&d->scratch, (char)json_integer_value(b));
        }
        if (memchr(d->scratch.data, '\0', d->scratch.len)) {
            aw_reject_set(why, AW_REJECT_NUL_BYTE, "MESSAGE holds a NUL byte");
            return -1;
        }
        size_t valid = aw_utf8_valid_prefix(d->scratch.data, d->scratch.len);
        if (valid != d->scratch.len) {
            aw_reject_set(why, AW_REJECT_INVALID_UTF8, "MESSAGE is not UTF-8 at byte %zu", valid);
            return -1;
        }
        sl.msg = d->scratch.data ? d->scratch.data : "";
        sl.msg_len = d->scratch.len;
    } else {
        aw_reject_set(why, AW_REJECT_WRONG_TYPE, "MESSAGE is neither a string nor a byte array");
        return -1;
    }
    const char *p;
    size_t n;
    if (!json_str(root, "SYSLOG_IDENTIFIER", &sl.prog, &sl.prog_len))
        json_str(root, "_COMM", &sl.prog, &sl.prog_len);
    if (!json_str(root, "SYSLOG_PID", &sl.pid, &sl.pid_len))
        json_str(root, "_PID", &sl.pid, &sl.pid_len);
    json_str(root, "_HOSTNAME", &sl.host, &sl.host_len);
    json_t *ts = json_object_get(root, "_SOURCE_REALTIME_TIMESTAMP");
    if (!ts)
        ts = json_object_get(root, "__REALTIME_TIMESTAMP");
    if (!ts) {
        aw_reject_set(why, AW_REJECT_MISSING_TIMESTAMP, "journal entry without __REALTIME_TIMESTAMP");
        return -1;
    }
    if (!json_str(root, json_object_get(root, "_SOURCE_REALTIME_TIMESTAMP")
                            ? "_SOURCE_REALTIME_TIMESTAMP"
                            : "__REALTIME_TIMESTAMP",
                  &p, &n) ||
        !all_digits(p, n) || n > 18) {
        aw_reject_set(why, AW_REJECT_BAD_TIMESTAMP,
                      "journal timestamp is not a string of microseconds");
        return -1;
    }
    int64_t us = 0;
    for (size_t i = 0; i < n; i++)
        us = us * 10 + (p[i] - '0');
    sl.ts_ms = us / 1000;
    return emit_line(d, rec, &sl, emit, ctx, why);
}

/* A shipper envelope: the configured field holds a syslog line. */
static int decode_envelope(struct aw_auth_decoder *d, const struct aw_record *rec, json_t *root,
                           aw_emit_fn emit, void *ctx, struct aw_reject *why)
{
    for (const char *const *f = d->envelope_fields; *f; f++) {
        json_t *v = json_path(root, *f);
        if (!v)
            continue;
        if (!json_is_string(v)) {
            aw_reject_set(why, AW_REJECT_WRONG_TYPE, "envelope field \"%s\" is not a string", *f);
            return -1;
        }
        const char *line = json_string_value(v);
        size_t len = json_string_length(v);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (memchr(line, '\0', len)) {
            aw_reject_set(why, AW_REJECT_NUL_BYTE, "envelope field \"%s\" holds a NUL byte", *f);
            return -1;
        }
        struct syslog_line sl;
        if (!parse_syslog(d, line, len, &sl, why))
            return -1;
        return emit_line(d, rec, &sl, emit, ctx, why);
    }
    aw_reject_set(why, AW_REJECT_UNRECOGNIZED_LINE,
                  "JSON object is neither a journal entry nor an envelope with field \"%s\"",
                  d->envelope_fields[0] ? d->envelope_fields[0] : "");
    return -1;
}

static int decode_json(struct aw_auth_decoder *d, const struct aw_record *rec, aw_emit_fn emit,
                       void *ctx, struct aw_reject *why)
{
    json_error_t jerr;
    json_t *root = json_loadb(rec->data, rec->len, 0, &jerr);
    if (!root) {
        aw_reject_set(why, AW_REJECT_INVALID_JSON, "%s at line %d column %d", jerr.text, jerr.line,
                      jerr.column);
        return -1;
    }
    int rc;
    if (!json_is_object(root)) {
        aw_reject_set(why, AW_REJECT_UNRECOGNIZED_LINE, "JSON value is not an object");
        rc = -1;
    } else {
        json_t *message = json_object_get(root, "MESSAGE");
        if (message)
            rc = decode_journal(d, rec, root, message, emit, ctx, why);
        else
            rc = decode_envelope(d, rec, root, emit, ctx, why);
    }
    aw_event_clear(&d->ev); /* drop pointers into root before freeing it */
    json_decref(root);
    return rc;
}

/* -------------------------------------------------------------- entry */

int aw_auth_decode(struct aw_auth_decoder *d, const struct aw_record *rec, aw_emit_fn emit,
                   void *ctx, struct aw_reject *why)
{
    const char *p = rec->data, *end = rec->data + rec->len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p < end && *p == '{')
        return decode_json(d, rec, emit, ctx, why);
    struct syslog_line sl;
    if (!parse_syslog(d, rec->data, rec->len, &sl, why))
        return -1;
    return emit_line(d, rec, &sl, emit, ctx, why);
}
