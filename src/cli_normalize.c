/*
 * cli_normalize.c - `auditwatch normalize`: records in, ECS JSON lines out.
 *
 * The equivalent of fail2ban-regex for our event model: it shows exactly
 * what the decoders make of a log, one normalized event per line on stdout,
 * and every rejected record as a JSON object on stderr
 * ({"error": REASON, "detail": ..., "origin": {...}, "excerpt": ...}).
 * Rejections are counted and summarized at the end; they do not change the
 * exit status (0), because a log with some bad lines is normal input.
 * Exit 1 means an input could not be read, 2 a usage error.
 *
 * Output is built in one buffer and written in large blocks; the decoder
 * allocates nothing per auth line, so throughput is bounded by the regex
 * engine and the JSON writer.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditwatch/buf.h"
#include "auditwatch/decode.h"
#include "auditwatch/log.h"
#include "auditwatch/source.h"
#include "auditwatch/timeparse.h"
#include "cli.h"

#define FLUSH_AT (256 * 1024)
#define EXCERPT_MAX AW_OVERSIZE_EXCERPT

struct normalize_run {
    struct aw_buf out;
    struct aw_buf err;
    uint64_t records, events, unknown_messages, rejected;
    uint64_t by_reason[AW_REJECT_REASON_COUNT];
    uint64_t blank_lines;
    bool write_failed;
    bool interactive; /* stdout is a terminal */
};

static void flush_buf(struct aw_buf *b, FILE *f, bool *failed)
{
    if (b->len && fwrite(b->data, 1, b->len, f) != b->len)
        *failed = true;
    aw_buf_reset(b);
}

static int on_event(void *ctx, struct aw_event *ev)
{
    struct normalize_run *run = ctx;
    run->events++;
    if (!aw_event_has(ev, AW_F_EVENT_ACTION))
        run->unknown_messages++;
    aw_event_render_json(ev, &run->out);
    aw_buf_append_char(&run->out, '\n');
    if (run->out.len >= FLUSH_AT)
        flush_buf(&run->out, stdout, &run->write_failed);
    return 0;
}

static void report_rejection(struct normalize_run *run, const struct aw_record *rec,
                             const struct aw_reject *why, size_t excerpt_len)
{
    run->rejected++;
    run->by_reason[why->reason]++;
    /* On a terminal, keep events and rejections in input order. */
    if (run->interactive)
        flush_buf(&run->out, stdout, &run->write_failed), fflush(stdout);
    struct aw_buf *e = &run->err;
    aw_reject_render_json(rec, why, excerpt_len, e);
    aw_buf_append_char(e, '\n');
    flush_buf(e, stderr, &run->write_failed);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: auditwatch normalize [options] [FILE...|-]\n\n"
            "Decode auth-log lines and Kubernetes audit events into normalized ECS\n"
            "events, printed as JSON lines on stdout.  Rejected records are printed\n"
            "on stderr as {\"error\": REASON, ...} objects and counted; a summary\n"
            "follows on stderr.  With no FILE, or FILE '-', read standard input.\n\n"
            "Options:\n"
            "  -s, --source KIND        auth, k8s or auto (default: auto, per record)\n"
            "  -y, --year YEAR          year of RFC 3164 stamps (default: the latest\n"
            "                           year that does not put the line in the future)\n"
            "  -z, --timezone TZ        zone of stamps without one: UTC (default),\n"
            "                           an offset like +02:00, or a name like Europe/Berlin\n"
            "      --now TIME           reference time for year inference (RFC 3339)\n"
            "  -e, --envelope-field F   JSON envelope field holding the line or event\n"
            "                           (repeatable; default: message, then log)\n"
            "      --max-record BYTES   reject records larger than this (default 1048576)\n"
            "      --strict             reject syslog lines that no pattern knows\n"
            "                           (default: pass them through, without event.action)\n"
            "  -q, --quiet              no summary on stderr\n"
            "  -h, --help               this help\n\n"
            "Exit status: 0 when all input was read (even if records were rejected),\n"
            "1 when an input could not be read, 2 on a usage error.\n");
}

static void print_summary(const struct normalize_run *run)
{
    fprintf(stderr,
            "auditwatch normalize: %llu records, %llu events (%llu without a known pattern), "
            "%llu rejected, %llu blank lines skipped\n",
            (unsigned long long)run->records, (unsigned long long)run->events,
            (unsigned long long)run->unknown_messages, (unsigned long long)run->rejected,
            (unsigned long long)run->blank_lines);
    for (int r = 1; r < AW_REJECT_REASON_COUNT; r++)
        if (run->by_reason[r])
            fprintf(stderr, "  rejected %-18s %llu\n", aw_reject_name((enum aw_reject_reason)r),
                    (unsigned long long)run->by_reason[r]);
}

static int normalize_input(struct normalize_run *run, struct aw_decoder *dec, const char *path,
                           const struct aw_decode_options *opts)
{
    char err[512];
    bool join = opts->source == AW_SOURCE_AUTH;
    struct aw_line_reader *reader = aw_line_reader_open(path, opts->max_record, join, err, sizeof err);
    if (!reader) {
        aw_log(AW_LOG_ERROR, "%s", err);
        return -1;
    }
    struct aw_record rec;
    struct aw_reject why;
    enum aw_read_status st;
    while ((st = aw_line_reader_next(reader, &rec, err, sizeof err)) > 0) {
        run->records++;
        if (st == AW_READ_OVERSIZE) {
            aw_reject_set(&why, AW_REJECT_TOO_LARGE, "record of %zu bytes exceeds the limit of %zu",
                          rec.len, opts->max_record);
            report_rejection(run, &rec, &why, rec.len < EXCERPT_MAX ? rec.len : EXCERPT_MAX);
            continue;
        }
        if (aw_decoder_decode(dec, &rec, on_event, run, &why) == -1)
            report_rejection(run, &rec, &why, rec.len < EXCERPT_MAX ? rec.len : EXCERPT_MAX);
    }
    run->blank_lines += aw_line_reader_blank_lines(reader);
    aw_line_reader_close(reader);
    if (st == AW_READ_ERROR) {
        aw_log(AW_LOG_ERROR, "%s", err);
        return -1;
    }
    return 0;
}

int aw_cli_normalize(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"source", required_argument, NULL, 's'},
        {"year", required_argument, NULL, 'y'},
        {"timezone", required_argument, NULL, 'z'},
        {"now", required_argument, NULL, 'N'},
        {"envelope-field", required_argument, NULL, 'e'},
        {"max-record", required_argument, NULL, 'M'},
        {"strict", no_argument, NULL, 'S'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct aw_decode_options opts = {.source = AW_SOURCE_AUTO, .max_record = AW_DEFAULT_MAX_RECORD};
    const char *envelope[AW_MAX_ENVELOPE_FIELDS + 1] = {NULL};
    int n_envelope = 0;
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:y:z:e:qh", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 's':
            if (!aw_source_kind_parse(optarg, &opts.source)) {
                fprintf(stderr, "auditwatch normalize: --source must be auth, k8s or auto\n");
                return AW_EXIT_USAGE;
            }
            break;
        case 'y': {
            long y = strtol(optarg, &end, 10);
            if (*end || y < 1970 || y > 9999) {
                fprintf(stderr, "auditwatch normalize: --year must be a year from 1970 to 9999\n");
                return AW_EXIT_USAGE;
            }
            opts.year = (int)y;
            break;
        }
        case 'z': opts.timezone = optarg; break;
        case 'N':
            if (aw_parse_rfc3339(optarg, strlen(optarg), false, &opts.now_ms) != strlen(optarg)) {
                fprintf(stderr, "auditwatch normalize: --now must be RFC 3339 with a zone, "
                                "e.g. 2026-03-01T00:00:00Z\n");
                return AW_EXIT_USAGE;
            }
            break;
        case 'e':
            if (n_envelope == AW_MAX_ENVELOPE_FIELDS) {
                fprintf(stderr, "auditwatch normalize: at most %d --envelope-field options\n",
                        AW_MAX_ENVELOPE_FIELDS);
                return AW_EXIT_USAGE;
            }
            envelope[n_envelope++] = optarg;
            break;
        case 'M': {
            unsigned long long v = strtoull(optarg, &end, 10);
            if (*end || v < 64 || v > (1ULL << 30)) {
                fprintf(stderr, "auditwatch normalize: --max-record must be 64 .. 1073741824\n");
                return AW_EXIT_USAGE;
            }
            opts.max_record = (size_t)v;
            break;
        }
        case 'S': opts.strict = true; break;
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return AW_EXIT_OK;
        default: usage(stderr); return AW_EXIT_USAGE;
        }
    }
    if (n_envelope)
        opts.envelope_fields = envelope;

    char err[512];
    struct aw_decoder *dec = aw_decoder_new(&opts, err, sizeof err);
    if (!dec) {
        fprintf(stderr, "auditwatch normalize: %s\n", err);
        return AW_EXIT_USAGE;
    }
    struct normalize_run run;
    memset(&run, 0, sizeof run);
    run.interactive = isatty(STDOUT_FILENO) && isatty(STDERR_FILENO);
    int status = AW_EXIT_OK;
    if (optind >= argc) {
        if (normalize_input(&run, dec, "-", &opts) < 0)
            status = AW_EXIT_FAILURE;
    }
    for (int i = optind; i < argc; i++)
        if (normalize_input(&run, dec, argv[i], &opts) < 0)
            status = AW_EXIT_FAILURE;
    flush_buf(&run.out, stdout, &run.write_failed);
    if (fflush(stdout) != 0 || run.write_failed) {
        aw_log(AW_LOG_ERROR, "writing the output failed");
        status = AW_EXIT_FAILURE;
    }
    if (!quiet)
        print_summary(&run);
    aw_buf_free(&run.out);
    aw_buf_free(&run.err);
    aw_decoder_free(dec);
    return status;
}
