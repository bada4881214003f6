/*
 * cli_replay.c - `auditwatch replay`: run the rules over historical logs.
 *
 * For investigations: the same decoders, rules, detectors and window
 * semantics as the stream job, over files or stdin, with the embedded
 * memory store by default (Redis with its own key prefix when asked).  The
 * alerts are the ones a live run over the same events gave: windows use
 * event time and are finalized only once the lateness has passed, so the
 * order in which records arrive does not matter within the lateness.
 *
 * Alerts go to stdout (or --output) as JSON lines, or one readable line
 * each with --format text.  Rejected records are counted by reason; the
 * first few are shown on stderr and all of them go to --dead-letter FILE
 * when given.  A summary (records, events, rejected, alerts per rule,
 * events/s) ends the run on stderr; on a terminal a progress line shows
 * the run advancing.
 *
 * With --kafka the input is a range of Kafka topics instead (kafka_range.c:
 * offsets by timestamp, no group, no commits), one pipeline stream per
 * partition, each topic decoded as the configuration's kafka.inputs say;
 * --alerts-topic produces the alerts to a topic instead of writing them.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auditwatch/config.h"
#include "auditwatch/decode.h"
#include "auditwatch/log.h"
#include "auditwatch/pipeline.h"
#include "auditwatch/source.h"
#include "auditwatch/timeparse.h"
#include "cli.h"
#include "kafka_conf.h"
#include "kafka_range.h"

#define SHOWN_REJECTIONS 10
#define MAX_RULE_PATHS 64
#define MAX_TOPICS 32
#define HOLD_UNTIL_FIRST (INT64_MIN + 1) /* a partition's stream before its first record */

struct replay_run {
    struct aw_pipeline *pipeline;
    int stream; /* pipeline stream of the input being read */
    FILE *out, *dead_letter;
    bool text;
    struct aw_buf errbuf;
    uint64_t records, events, rejected, by_reason[AW_REJECT_REASON_COUNT], alerts;
    bool failed;
    bool progress;
    double started, last_progress;
    struct aw_store *store;
    uint64_t peak_windows, peak_entries, peak_bytes; /* sampled before the final flush */
    /* The alerts of the current batch, written in (time, rule, id) order
     * when it ends: the order then depends on neither the store nor the
     * order in which detectors finalized. */
    struct aw_buf batch_text;
    struct batch_alert {
        int64_t time;
        const char *rule;
        char id[AW_ALERT_ID_LEN + 1];
        size_t off, len;
        size_t key_off, key_len; /* the group (--alerts-topic message key) */
    } *batch;
    size_t nbatch, batch_cap;
    /* --alerts-topic */
    rd_kafka_t *producer;
    const char *alerts_topic;
    uint64_t delivery_failures;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int on_alert(void *ctx, const struct aw_alert *a)
{
    struct replay_run *run = ctx;
    if (run->nbatch == run->batch_cap) {
        size_t ncap = run->batch_cap ? run->batch_cap * 2 : 64;
        struct batch_alert *nb = realloc(run->batch, ncap * sizeof *nb);
        if (!nb) {
            run->failed = true;
            return -1;
        }
        run->batch = nb;
        run->batch_cap = ncap;
    }
    struct batch_alert *b = &run->batch[run->nbatch++];
    b->time = a->time_ms;
    b->rule = a->rule_name;
    memcpy(b->id, a->alert_id, sizeof b->id);
    b->off = run->batch_text.len;
    if (run->text)
        aw_alert_render_text(a, &run->batch_text);
    else
        aw_alert_render_json(a, &run->batch_text);
    aw_buf_append_char(&run->batch_text, '\n');
    b->len = run->batch_text.len - b->off;
    b->key_off = run->batch_text.len;
    if (a->group_json)
        aw_buf_append(&run->batch_text, a->group_json, a->group_json_len);
    else
        aw_buf_append_str(&run->batch_text, a->rule_name);
    b->key_len = run->batch_text.len - b->key_off;
    run->alerts++;
    return 0;
}

static int cmp_batch_alert(const void *x, const void *y)
{
    const struct batch_alert *a = x, *b = y;
    if (a->time != b->time)
        return a->time < b->time ? -1 : 1;
    int c = strcmp(a->rule, b->rule);
    return c ? c : strcmp(a->id, b->id);
}

static int on_batch(void *ctx)
{
    struct replay_run *run = ctx;
    if (run->nbatch > 1)
        qsort(run->batch, run->nbatch, sizeof *run->batch, cmp_batch_alert);
    for (size_t i = 0; i < run->nbatch; i++) {
        const struct batch_alert *b = &run->batch[i];
        if (run->producer) {
            rd_kafka_resp_err_t e;
            while ((e = rd_kafka_producev(run->producer, RD_KAFKA_V_TOPIC(run->alerts_topic),
                                          RD_KAFKA_V_KEY(run->batch_text.data + b->key_off, b->key_len),
                                          RD_KAFKA_V_VALUE(run->batch_text.data + b->off, b->len - 1),
                                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
                   RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(run->producer, 100);
            if (e) {
                aw_log(AW_LOG_ERROR, "producing to %s: %s", run->alerts_topic, rd_kafka_err2str(e));
                run->failed = true;
                return -1;
            }
            rd_kafka_poll(run->producer, 0);
        } else if (fwrite(run->batch_text.data + b->off, 1, b->len, run->out) != b->len) {
            run->failed = true;
            return -1;
        }
    }
    run->nbatch = 0;
    aw_buf_reset(&run->batch_text);
    return 0;
}

static int on_event(void *ctx, struct aw_event *ev)
{
    struct replay_run *run = ctx;
    run->events++;
    return aw_pipeline_process_stream(run->pipeline, run->stream, ev) < 0 ? -1 : 0;
}

static void reject(struct replay_run *run, const struct aw_record *rec, const struct aw_reject *why)
{
    run->rejected++;
    run->by_reason[why->reason]++;
    struct aw_buf *e = &run->errbuf;
    aw_buf_reset(e);
    aw_reject_render_json(rec, why, AW_OVERSIZE_EXCERPT, e);
    aw_buf_append_char(e, '\n');
    if (run->dead_letter)
        fwrite(e->data, 1, e->len, run->dead_letter);
    if (run->rejected <= SHOWN_REJECTIONS)
        fwrite(e->data, 1, e->len, stderr);
    if (run->rejected == SHOWN_REJECTIONS && !run->dead_letter)
        fputs("auditwatch replay: more rejections are counted but not shown; use --dead-letter FILE "
              "to keep them all\n", stderr);
}

static void show_progress(struct replay_run *run, bool final)
{
    double t = now_s();
    if (!run->progress || (!final && t - run->last_progress < 1.0))
        return;
    run->last_progress = t;
    double el = t - run->started;
    fprintf(stderr, "\r%llu records, %llu events, %llu alerts, %.0f events/s%s",
            (unsigned long long)run->records, (unsigned long long)run->events,
            (unsigned long long)run->alerts, el > 0 ? (double)run->events / el : 0.0, final ? "\n" : "");
}

struct first_time {
    int64_t t;
};

static int note_time(void *ctx, struct aw_event *ev)
{
    struct first_time *ft = ctx;
    if (ft->t == AW_TIME_NONE || ev->timestamp_ms < ft->t)
        ft->t = ev->timestamp_ms;
    return 0;
}

/* Time of the first decodable record of a file (AW_TIME_NONE when there is
 * none or the input cannot be read twice).  Uses its own decoder so the
 * real pass sees the same decoder history, hence the same event ids. */
static int64_t peek_first_time(struct aw_decoder *peek, const char *path,
                               const struct aw_decode_options *opts)
{
    struct first_time ft = {AW_TIME_NONE};
    if (!strcmp(path, "-"))
        return AW_TIME_NONE;
    char err[256];
    struct aw_line_reader *r =
        aw_line_reader_open(path, opts->max_record, opts->source == AW_SOURCE_AUTH, err, sizeof err);
    if (!r)
        return AW_TIME_NONE;
    struct aw_record rec;
    struct aw_reject why;
    for (int tries = 0; tries < 1000 && ft.t == AW_TIME_NONE; tries++) {
        enum aw_read_status st = aw_line_reader_next(r, &rec, err, sizeof err);
        if (st <= 0)
            break;
        if (st == AW_READ_RECORD)
            aw_decoder_decode(peek, &rec, note_time, &ft, &why);
    }
    aw_line_reader_close(r);
    return ft.t;
}

static int replay_input(struct replay_run *run, struct aw_decoder *dec, const char *path,
                        const struct aw_decode_options *opts)
{
    char err[512];
    struct aw_line_reader *reader =
        aw_line_reader_open(path, opts->max_record, opts->source == AW_SOURCE_AUTH, err, sizeof err);
    if (!reader) {
        aw_log(AW_LOG_ERROR, "%s", err);
        return -1;
    }
    struct aw_record rec;
    struct aw_reject why;
    enum aw_read_status st;
    int rc = 0;
    while ((st = aw_line_reader_next(reader, &rec, err, sizeof err)) > 0) {
        run->records++;
        if (st == AW_READ_OVERSIZE) {
            aw_reject_set(&why, AW_REJECT_TOO_LARGE, "record of %zu bytes exceeds the limit of %zu",
                          rec.len, opts->max_record);
            reject(run, &rec, &why);
            continue;
        }
        int n = aw_decoder_decode(dec, &rec, on_event, run, &why);
        if (n == -1)
            reject(run, &rec, &why);
        else if (n == -2) {
            aw_log(AW_LOG_ERROR, "processing stopped at %s:%llu: %s", path,
                   (unsigned long long)rec.origin.line,
                   run->failed ? "writing alerts failed" : "the state store failed");
            rc = -1;
            break;
        }
        if ((run->records & 0x3ff) == 0)
            show_progress(run, false);
    }
    if (st == AW_READ_ERROR) {
        aw_log(AW_LOG_ERROR, "%s", err);
        rc = -1;
    }
    aw_line_reader_close(reader);
    return rc;
}

static void on_alert_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct replay_run *run = opaque;
    if (m->err) {
        run->delivery_failures++;
        aw_log(AW_LOG_ERROR, "delivery to %s failed: %s", rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
    }
}

/* The decoder of a topic: as kafka.inputs says, else the --source one. */
static struct aw_decoder *topic_decoder(const struct aw_config *cfg, const char *topic,
                                        const struct aw_decode_options *base, char *err, size_t errlen)
{
    struct aw_decode_options o = *base;
    for (size_t i = 0; i < cfg->ninputs; i++)
        if (!strcmp(cfg->inputs[i].topic, topic))
            o.source = !strcmp(cfg->inputs[i].decoder, "k8s") ? AW_SOURCE_K8S : AW_SOURCE_AUTH;
    return aw_decoder_new(&o, err, errlen);
}

/* --kafka: every record of the range through the pipeline, one stream per
 * partition (held back until its first record, closed at its end). */
static int replay_kafka(struct replay_run *run, const struct aw_config *cfg, const char *const *topics,
                        size_t ntopics, int64_t from_ms, int64_t to_ms, const struct aw_decode_options *opts)
{
    char err[512];
    struct aw_kafka_range *range = aw_kafka_range_open(cfg, topics, ntopics, from_ms, to_ms, err, sizeof err);
    if (!range) {
        aw_log(AW_LOG_ERROR, "kafka: %s", err);
        return -1;
    }
    struct aw_decoder *decs[MAX_TOPICS] = {NULL};
    size_t nparts = aw_kafka_range_count(range);
    int *streams = calloc(nparts ? nparts : 1, sizeof *streams);
    int rc = streams ? 0 : -1;
    for (size_t i = 0; !rc && i < ntopics; i++)
        if (!(decs[i] = topic_decoder(cfg, topics[i], opts, err, sizeof err))) {
            aw_log(AW_LOG_ERROR, "%s", err);
            rc = -1;
        }
    for (size_t i = 0; !rc && i < nparts; i++)
        streams[i] = aw_pipeline_stream_open(run->pipeline, HOLD_UNTIL_FIRST);
    if (!rc && run->progress)
        fprintf(stderr, "auditwatch replay: %llu records in %zu partition(s)\n",
                (unsigned long long)aw_kafka_range_total(range), nparts);
    while (!rc) {
        rd_kafka_message_t *m;
        int finished;
        int got = aw_kafka_range_next(range, &m, &finished, err, sizeof err);
        if (got < 0) {
            aw_log(AW_LOG_ERROR, "kafka: %s", err);
            rc = -1;
            break;
        }
        if (got == 1) {
            const char *topic = rd_kafka_topic_name(m->rkt);
            size_t t = 0;
            while (t < ntopics && strcmp(topics[t], topic))
                t++;
            int part = aw_kafka_range_index(range, topic, m->partition);
            struct aw_record rec = {m->payload ? m->payload : "", m->len,
                                    {AW_ORIGIN_KAFKA, NULL, 0, topic, m->partition, m->offset}};
            struct aw_reject why;
            run->records++;
            run->stream = streams[part];
            int n = t < ntopics ? aw_decoder_decode(decs[t], &rec, on_event, run, &why) : 0;
            if (n == -1)
                reject(run, &rec, &why);
            rd_kafka_message_destroy(m);
            if (n == -2) {
                aw_log(AW_LOG_ERROR, "processing stopped at %s [%d] offset %lld: %s", topic, (int)rec.origin.partition,
                       (long long)rec.origin.offset, run->failed ? "writing alerts failed" : "the state store failed");
                rc = -1;
                break;
            }
            if ((run->records & 0x3ff) == 0)
                show_progress(run, false);
        }
        if (finished >= 0 && aw_pipeline_stream_close(run->pipeline, streams[finished]) < 0)
            rc = -1;
        if (got == 0)
            break;
    }
    for (size_t i = 0; i < ntopics; i++)
        aw_decoder_free(decs[i]);
    free(streams);
    aw_kafka_range_close(range);
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: auditwatch replay [options] [FILE...|-]\n"
            "       auditwatch replay --kafka --topic T [--from TIME] [--to TIME] [options]\n\n"
            "Run the detection rules over historical auth logs and Kubernetes audit\n"
            "logs and print the alerts a live run would have raised.\n\n"
            "Options:\n"
            "  -c, --config FILE        configuration (default: config/auditwatch.yaml when it\n"
            "                           exists, else built-in defaults)\n"
            "  -r, --rules PATH         rule file or folder; repeatable; runs these rules\n"
            "                           as written instead of the configured rule set (no\n"
            "                           overrides, service map or first_seen)\n"
            "      --store SPEC         memory (default), redis://[user@]host[:port][/db] or\n"
            "                           unix:///path.sock; the password comes from\n"
            "                           AUDITWATCH_REDIS_PASSWORD (or user:password@ in SPEC)\n"
            "      --prefix PREFIX      Redis key prefix (default: store.replay_prefix plus a\n"
            "                           run id, so a replay never touches live state)\n"
            "      --peers N            N replays share --prefix, each reading part of one\n"
            "                           stream: wait (up to a minute) until all N have\n"
            "                           started; windows then finalize at the slowest one's\n"
            "                           event time\n"
            "  -s, --source KIND        auth, k8s or auto (default: auto, per record)\n"
            "  -y, --year YEAR          year of RFC 3164 stamps (default: from config, or\n"
            "                           inferred)\n"
            "  -z, --timezone TZ        zone of stamps without one (default: from config)\n"
            "  -o, --output FILE        write alerts to FILE instead of stdout\n"
            "  -f, --format FORMAT      json (default, one alert per line) or text\n"
            "      --dead-letter FILE   write every rejected record there (JSON lines)\n"
            "  -q, --quiet              no summary and no progress line\n"
            "      --kafka              read Kafka topics (kafka.brokers and kafka.properties\n"
            "                           of the configuration) instead of files; no consumer\n"
            "                           group, no committed offsets\n"
            "      --topic T            a topic to read (repeatable); decoded as kafka.inputs\n"
            "                           says, else by --source\n"
            "      --from TIME          first record time (RFC 3339, e.g. 2026-03-01T00:00:00Z;\n"
            "                           default: the oldest record kept)\n"
            "      --to TIME            last record time (default: the newest when the replay\n"
            "                           starts)\n"
            "      --alerts-topic T     produce the alerts to topic T instead of writing them\n"
            "  -h, --help               this help\n\n"
            "Exit status: 0 done, 1 input or output failure, 2 usage or configuration error.\n");
}

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void print_summary(struct replay_run *run, struct aw_pipeline *p, struct aw_store *store)
{
    double el = now_s() - run->started;
    fprintf(stderr, "auditwatch replay: %llu records, %llu events, %llu rejected, %llu alerts in %.2fs (%.0f events/s)\n",
            (unsigned long long)run->records, (unsigned long long)run->events,
            (unsigned long long)run->rejected, (unsigned long long)run->alerts, el,
            el > 0 ? (double)run->events / el : 0.0);
    for (int r = 1; r < AW_REJECT_REASON_COUNT; r++)
        if (run->by_reason[r])
            fprintf(stderr, "  rejected %-20s %llu\n", aw_reject_name((enum aw_reject_reason)r),
                    (unsigned long long)run->by_reason[r]);
    struct aw_store_stats ss;
    memset(&ss, 0, sizeof ss);
    store->ops->stats(store, &ss);
    if (store->ops->sync) /* Redis: the state lives in the server */
        fprintf(stderr, "  store %s: %llu round trips (%.1f events each)\n", store->ops->name,
                (unsigned long long)ss.round_trips,
                ss.round_trips ? (double)run->events / (double)ss.round_trips : 0.0);
    else
        fprintf(stderr, "  store %s: peak %llu windows, %llu entries, %llu bytes; %llu entries evicted by the cap\n",
                store->ops->name, (unsigned long long)run->peak_windows, (unsigned long long)run->peak_entries,
                (unsigned long long)run->peak_bytes, (unsigned long long)ss.evicted);
    struct aw_rule_stats st[512];
    size_t n = aw_pipeline_stats(p, st, 512);
    for (size_t i = 0; i < n; i++) {
        if (st[i].building_block) {
            if (st[i].late)
                fprintf(stderr, "  %-43s %llu late events dropped\n", st[i].name,
                        (unsigned long long)st[i].late);
            continue;
        }
        if (st[i].alerts || st[i].late)
            fprintf(stderr, "  alerts %-36s %llu%s\n", st[i].name, (unsigned long long)st[i].alerts,
                    st[i].late ? " (late events dropped)" : "");
    }
}

int aw_cli_replay(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},   {"rules", required_argument, NULL, 'r'},
        {"store", required_argument, NULL, 'S'},    {"source", required_argument, NULL, 's'},
        {"year", required_argument, NULL, 'y'},     {"timezone", required_argument, NULL, 'z'},
        {"output", required_argument, NULL, 'o'},   {"format", required_argument, NULL, 'f'},
        {"dead-letter", required_argument, NULL, 'D'}, {"quiet", no_argument, NULL, 'q'},
        {"prefix", required_argument, NULL, 'P'},   {"help", no_argument, NULL, 'h'},
        {"peers", required_argument, NULL, 'N'},
        {"kafka", no_argument, NULL, 'K'},          {"topic", required_argument, NULL, 'T'},
        {"from", required_argument, NULL, 'F'},     {"to", required_argument, NULL, 'U'},
        {"alerts-topic", required_argument, NULL, 'A'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *store_spec = NULL, *output = NULL, *dead_letter = NULL;
    const char *prefix = NULL, *alerts_topic = NULL;
    int peers = 0;
    bool kafka = false;
    const char *topics[MAX_TOPICS];
    size_t ntopics = 0;
    int64_t from_ms = INT64_MIN, to_ms = INT64_MIN;
    const char *rule_paths[MAX_RULE_PATHS];
    size_t nrule_paths = 0;
    int year = -1;
    const char *tz = NULL;
    bool text = false, quiet = false;
    enum aw_source_kind source = AW_SOURCE_AUTO;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:r:s:y:z:o:f:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'r':
            if (nrule_paths == MAX_RULE_PATHS) {
                fprintf(stderr, "auditwatch replay: at most %d --rules options\n", MAX_RULE_PATHS);
                return AW_EXIT_USAGE;
            }
            rule_paths[nrule_paths++] = optarg;
            break;
        case 'S': store_spec = optarg; break;
        case 'P': prefix = optarg; break;
        case 'N': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 1000) {
                fprintf(stderr, "auditwatch replay: --peers must be from 1 to 1000\n");
                return AW_EXIT_USAGE;
            }
            peers = (int)n;
            break;
        }
        case 's':
            if (!strcmp(optarg, "auth"))
                source = AW_SOURCE_AUTH;
            else if (!strcmp(optarg, "k8s"))
                source = AW_SOURCE_K8S;
            else if (!strcmp(optarg, "auto"))
                source = AW_SOURCE_AUTO;
            else {
                fprintf(stderr, "auditwatch replay: --source must be auth, k8s or auto\n");
                return AW_EXIT_USAGE;
            }
            break;
        case 'y': {
            char *end;
            long y = strtol(optarg, &end, 10);
            if (*end || y < 1970 || y > 9999) {
                fprintf(stderr, "auditwatch replay: --year must be a year from 1970 to 9999\n");
                return AW_EXIT_USAGE;
            }
            year = (int)y;
            break;
        }
        case 'z': tz = optarg; break;
        case 'o': output = optarg; break;
        case 'f':
            if (!strcmp(optarg, "text"))
                text = true;
            else if (strcmp(optarg, "json")) {
                fprintf(stderr, "auditwatch replay: --format must be json or text\n");
                return AW_EXIT_USAGE;
            }
            break;
        case 'D': dead_letter = optarg; break;
        case 'K': kafka = true; break;
        case 'A': alerts_topic = optarg; break;
        case 'T':
            if (ntopics == MAX_TOPICS) {
                fprintf(stderr, "auditwatch replay: at most %d --topic options\n", MAX_TOPICS);
                return AW_EXIT_USAGE;
            }
            topics[ntopics++] = optarg;
            break;
        case 'F':
        case 'U': {
            int64_t *t = c == 'F' ? &from_ms : &to_ms;
            size_t len = strlen(optarg);
            if (!len || aw_parse_rfc3339(optarg, len, false, t) != len) {
                fprintf(stderr, "auditwatch replay: --%s wants an RFC 3339 time such as "
                                "2026-03-01T12:00:00Z, got '%s'\n", c == 'F' ? "from" : "to", optarg);
                return AW_EXIT_USAGE;
            }
            break;
        }
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return AW_EXIT_OK;
        default: usage(stderr); return AW_EXIT_USAGE;
        }
    }

    if (kafka && (!ntopics || optind < argc)) {
        fprintf(stderr, "auditwatch replay: --kafka reads --topic T (at least one) and no files\n");
        return AW_EXIT_USAGE;
    }
    if (!kafka && (ntopics || from_ms != INT64_MIN || to_ms != INT64_MIN || alerts_topic)) {
        fprintf(stderr, "auditwatch replay: --topic, --from, --to and --alerts-topic go with --kafka\n");
        return AW_EXIT_USAGE;
    }
    if (from_ms != INT64_MIN && to_ms != INT64_MIN && to_ms < from_ms) {
        fprintf(stderr, "auditwatch replay: --to is before --from\n");
        return AW_EXIT_USAGE;
    }
    struct aw_config cfg;
    struct aw_diags diags = {0};
    struct aw_ruleset rules = {0};
    struct aw_store *store = NULL;
    struct aw_decoder *dec = NULL;
    struct aw_pipeline *pipeline = NULL;
    struct replay_run run;
    memset(&run, 0, sizeof run);
    int status = AW_EXIT_USAGE;
    char err[1024];

    aw_config_init_defaults(&cfg);
    if (!config_path && file_exists("config/auditwatch.yaml"))
        config_path = "config/auditwatch.yaml";
    if (config_path && aw_config_load(&cfg, config_path, &diags))
        goto diag_out;
    if (nrule_paths) {
        for (size_t i = 0; i < nrule_paths; i++)
            aw_ruleset_load_path(&rules, rule_paths[i], &diags);
    } else if (cfg.rule_paths.n) {
        for (size_t i = 0; i < cfg.rule_paths.n; i++) {
            char *p = aw_config_resolve_path(&cfg, cfg.rule_paths.items[i]);
            aw_ruleset_load_path(&rules, p, &diags);
            free(p);
        }
    } else {
        fprintf(stderr, "auditwatch replay: no rules: give --rules PATH or a configuration with "
                        "rules.paths\n");
        goto out;
    }
    if (diags.n)
        goto diag_out;
    /* --rules runs the named rules as written: the configuration's rule
     * overrides, first_seen entries and service map belong to its own rule
     * set and stay out. */
    if (aw_ruleset_link(&rules, &diags) || (!nrule_paths && aw_config_apply_overrides(&cfg, &rules, &diags)))
        goto diag_out;

    /* An investigation gets keys of its own: the replay prefix plus a run
     * id, unless --prefix names one (to share state between processes). */
    char run_prefix[256];
    if (prefix)
        snprintf(run_prefix, sizeof run_prefix, "%s", prefix);
    else
        snprintf(run_prefix, sizeof run_prefix, "%s:%ld-%lld", cfg.replay_prefix, (long)getpid(),
                 (long long)time(NULL));
    struct aw_store_options so = {cfg.memory_cap, run_prefix, cfg.connect_timeout_ms, cfg.command_timeout_ms,
                                  cfg.reconnect_wait_ms, NULL, NULL};
    if (peers && (!prefix || !store_spec || !strcmp(store_spec, "memory"))) {
        fprintf(stderr, "auditwatch replay: --peers needs --store redis://... and --prefix\n");
        goto out;
    }
    store = aw_store_open(store_spec ? store_spec : "memory", &so, err, sizeof err);
    if (!store) {
        fprintf(stderr, "auditwatch replay: %s\n", err);
        status = AW_EXIT_FAILURE;
        goto out;
    }
    if (peers > 1 && store->ops->join(store, peers, 60000) < 0) {
        status = AW_EXIT_FAILURE;
        goto out;
    }
    const char *envelope[AW_MAX_ENVELOPE_FIELDS + 1] = {NULL};
    for (size_t i = 0; i < cfg.envelope_fields.n && i < AW_MAX_ENVELOPE_FIELDS; i++)
        envelope[i] = cfg.envelope_fields.items[i];
    struct aw_decode_options opts = {
        .source = source,
        .year = year >= 0 ? year : cfg.year,
        .timezone = tz ? tz : cfg.timezone,
        .max_record = cfg.max_record,
        .strict = cfg.strict,
        .envelope_fields = cfg.envelope_fields.n ? envelope : NULL,
    };
    dec = aw_decoder_new(&opts, err, sizeof err);
    if (!dec) {
        fprintf(stderr, "auditwatch replay: %s\n", err);
        goto out;
    }
    struct aw_pipeline_options po = {&rules, &cfg, store, on_alert, &run, nrule_paths > 0, cfg.batch_events, on_batch};
    pipeline = aw_pipeline_new(&po, err, sizeof err);
    if (!pipeline) {
        fprintf(stderr, "auditwatch replay: %s\n", err);
        goto out;
    }
    run.pipeline = pipeline;
    run.text = text;
    run.out = stdout;
    status = AW_EXIT_FAILURE;
    if (output && !(run.out = fopen(output, "w"))) {
        aw_log(AW_LOG_ERROR, "cannot write %s", output);
        goto out;
    }
    if (dead_letter && !(run.dead_letter = fopen(dead_letter, "w"))) {
        aw_log(AW_LOG_ERROR, "cannot write %s", dead_letter);
        goto out;
    }
    run.progress = !quiet && isatty(STDERR_FILENO);
    run.started = now_s();
    status = AW_EXIT_OK;
    if (kafka && alerts_topic) {
        rd_kafka_conf_t *pc = aw_kafka_conf(&cfg, "auditwatch replay", "enable.idempotence", "true", "acks", "all",
                                            (char *)NULL);
        if (!pc) {
            status = AW_EXIT_USAGE;
            goto out;
        }
        rd_kafka_conf_set_opaque(pc, &run);
        rd_kafka_conf_set_dr_msg_cb(pc, on_alert_delivery);
        if (!(run.producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err))) {
            aw_log(AW_LOG_ERROR, "kafka: %s", err);
            status = AW_EXIT_FAILURE;
            goto out;
        }
        run.alerts_topic = alerts_topic;
    }
    if (kafka) {
        if (!cfg.kafka_brokers) {
            fprintf(stderr, "auditwatch replay: --kafka needs kafka.brokers in the configuration\n");
            status = AW_EXIT_USAGE;
            goto out;
        }
        if (replay_kafka(&run, &cfg, topics, ntopics, from_ms, to_ms, &opts) < 0)
            status = AW_EXIT_FAILURE;
    } else {
        /* One pipeline stream per input, registered up front with the time of
         * its first record: files read one after the other then hold event
         * time back for each other instead of arriving "late". */
        const char *stdin_only[] = {"-"};
        char **inputs = optind < argc ? argv + optind : (char **)stdin_only;
        int ninputs = optind < argc ? argc - optind : 1;
        int *streams = calloc((size_t)ninputs, sizeof *streams);
        struct aw_decoder *peek = ninputs > 1 ? aw_decoder_new(&opts, err, sizeof err) : NULL;
        for (int i = 0; i < ninputs; i++)
            streams[i] = aw_pipeline_stream_open(pipeline, peek ? peek_first_time(peek, inputs[i], &opts)
                                                                : AW_TIME_NONE);
        aw_decoder_free(peek);
        for (int i = 0; i < ninputs && !run.failed; i++) {
            run.stream = streams[i];
            if (replay_input(&run, dec, inputs[i], &opts) < 0)
                status = AW_EXIT_FAILURE;
            if (aw_pipeline_stream_close(pipeline, streams[i]) < 0)
                status = AW_EXIT_FAILURE;
        }
        free(streams);
    }
    struct aw_store_stats live;
    memset(&live, 0, sizeof live);
    store->ops->stats(store, &live);
    run.peak_windows = live.windows;
    run.peak_entries = live.entries;
    run.peak_bytes = live.bytes;
    if (aw_pipeline_flush(pipeline) < 0)
        status = AW_EXIT_FAILURE;
    if (run.nbatch) /* stopped by a failure mid-batch: keep what was found */
        on_batch(&run);
    if (run.producer) {
        if (rd_kafka_flush(run.producer, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR || run.delivery_failures) {
            aw_log(AW_LOG_ERROR, "%llu alert(s) not delivered to %s",
                   (unsigned long long)(run.delivery_failures + (uint64_t)rd_kafka_outq_len(run.producer)),
                   alerts_topic);
            status = AW_EXIT_FAILURE;
        }
    }
    if (fflush(run.out) != 0 || run.failed) {
        aw_log(AW_LOG_ERROR, "writing alerts failed");
        status = AW_EXIT_FAILURE;
    }
    show_progress(&run, true);
    if (!quiet)
        print_summary(&run, pipeline, store);
    goto out;

diag_out:
    aw_diag_print(&diags, stderr);
    fprintf(stderr, "auditwatch replay: %zu problem(s) in the configuration or rules; nothing was run\n",
            diags.n);
out:
    if (run.producer)
        rd_kafka_destroy(run.producer);
    if (run.out && run.out != stdout)
        fclose(run.out);
    if (run.dead_letter)
        fclose(run.dead_letter);
    aw_buf_free(&run.errbuf);
    aw_buf_free(&run.batch_text);
    free(run.batch);
    aw_pipeline_free(pipeline);
    aw_decoder_free(dec);
    aw_store_destroy(store);
    aw_ruleset_free(&rules);
    aw_config_free(&cfg);
    aw_diags_free(&diags);
    return status;
}
