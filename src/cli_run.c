/*
 * cli_run.c - `auditwatch run`: the stream job.
 *
 * Consumes the configured input topics (one decoder per topic) in one
 * consumer group with cooperative-sticky assignment, runs the pipeline
 * over them batch by batch with the configured store, and produces
 * alerts to the alerts topic (key: the alert's group, value: the alert
 * document) and undecodable records to the dead-letter topic (value: the
 * record, headers: reason, detail, origin).  DESIGN section 8.
 *
 * At least once: offsets are stored only after a batch's window updates
 * went through the store and every alert and dead letter the batch
 * produced has a successful delivery report (idempotent producer,
 * acks=all); deliveries that fail are produced again with backoff while
 * the assigned partitions are paused, so lag grows and nothing is
 * dropped.  A batch's deliveries fly while the next batches are read, and
 * offsets are committed in batch order as batches complete
 * (run_outbox.c).  Redelivered records
 * count once (window entries are keyed by event identity) and raise
 * alerts with the ids they had (consumers deduplicate by alert id).
 *
 * Event time is tracked per partition: each assigned partition is a
 * pipeline stream, so a partition that is behind holds finalization back.
 * A revoked partition's stream keeps holding for RELEASE_GRACE_MS (its
 * unread records are the next owner's, whose event time reaches the
 * shared store's peer bound only once it has started), and is not closed
 * at all on the way out.
 *
 * Signals: SIGTERM/SIGINT finish the batch, wait for its deliveries
 * (bounded by SHUTDOWN_WAIT_MS), commit and close.  SIGHUP reloads the
 * configuration's rules, overrides, allowlists and service map between
 * two batches: a new pipeline is built over the same store and takes
 * over the streams, so windows go on; if anything in the new files is
 * wrong, the old rules stay in force and the problems are logged.
 * Kafka, store, decode and metrics settings are read at start only.
 *
 * The store retries a failing server itself (reconnect and resend, up to
 * store.reconnect_wait) while the job polls nothing, so consumption
 * pauses; past that wait the job exits 1 without committing the batch and
 * a restart redelivers it.  /metrics and /healthz are served on
 * metrics.address (status_server.c; what they show: run_status.c).
 * Partitions, their inputs and streams are in run_parts.c, deliveries
 * and commits in run_outbox.c.
 */
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditwatch/config.h"
#include "auditwatch/decode.h"
#include "auditwatch/log.h"
#include "auditwatch/metrics.h"
#include "auditwatch/pipeline.h"
#include "auditwatch/source.h"
#include "auditwatch/status_server.h"
#include "auditwatch/timeparse.h"
#include "cli.h"
#include "kafka_conf.h"
#include "run_outbox.h"
#include "run_parts.h"
#include "run_status.h"
#include "xalloc.h"

#define SHUTDOWN_WAIT_MS 30000           /* deliveries still failing at a stop: give up */
#define BATCH_WAIT_MS 50                 /* a batch ends this long after it started */
#define CONSUME_SLICE 256                /* records taken from librdkafka per call */
#define RELEASE_GRACE_MS 30000           /* a revoked partition holds event time back this long */

static volatile sig_atomic_t stopping, reload_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    reload_requested = 1;
}

struct input {
    const char *topic;
    struct aw_decoder *dec;
    uint64_t records; /* this batch, published to the metrics at its end */
};

struct run {
    rd_kafka_t *consumer, *producer;
    struct aw_store *store;
    struct aw_pipeline *pipeline;
    /* rules in force and the configuration they came from (the start
     * configuration until the first reload) */
    struct aw_ruleset *rules;
    struct aw_config *rules_cfg;
    const struct aw_config *start_cfg;
    struct input *inputs;
    size_t ninputs;
    const char *alerts_topic, *dead_topic;
    struct aw_run_parts parts; /* partition -> input, pipeline stream, offset */
    struct aw_outbox *outbox; /* deliveries and commits */
    struct aw_buf buf;
    uint64_t records, events, rejected, alerts;
    uint64_t batch_events, batch_rejected[AW_REJECT_REASON_COUNT];
    struct aw_run_part *current; /* the partition of the record being decoded */
    bool failed;
    struct aw_metrics *metrics;
    struct aw_run_health health; /* read by the HTTP thread */
};

/* The input that reads `topic` (the last one listed), -1 none. */
static int input_index(const struct run *r, const char *topic)
{
    int found = -1;
    for (size_t i = 0; i < r->ninputs; i++)
        if (!strcmp(r->inputs[i].topic, topic))
            found = (int)i;
    return found;
}

/* The entry of topic/partition; `create`: add it when missing.  NULL when
 * missing, or when the table is full (AW_RUN_PARTS_MAX partitions). */
static struct aw_run_part *part_for(struct run *r, const char *topic, int32_t partition, bool create)
{
    struct aw_run_part *p = aw_run_parts_find(&r->parts, topic, partition);
    if (!p && create)
        p = aw_run_parts_add(&r->parts, topic, partition, input_index(r, topic));
    return p;
}

/* -------------------------------------------------------------- metrics */

static void one_label(struct aw_buf *b, const char *key, const char *value)
{
    aw_buf_reset(b);
    aw_metrics_label(b, key, value);
    aw_buf_append_char(b, '\0');
}

/* The batch's counts into the registry, the lag of every assigned
 * partition, and the event time reached. */
static void publish_batch(struct run *r)
{
    struct aw_buf lbl = {0};
    for (size_t i = 0; i < r->ninputs; i++)
        if (r->inputs[i].records) {
            one_label(&lbl, "topic", r->inputs[i].topic);
            aw_metrics_add(r->metrics, "auditwatch_records_total", lbl.data, (double)r->inputs[i].records);
            r->inputs[i].records = 0;
        }
    aw_metrics_add(r->metrics, "auditwatch_events_total", NULL, (double)r->batch_events);
    r->batch_events = 0;
    for (int k = 1; k < AW_REJECT_REASON_COUNT; k++)
        if (r->batch_rejected[k]) {
            one_label(&lbl, "reason", aw_reject_name((enum aw_reject_reason)k));
            aw_metrics_add(r->metrics, "auditwatch_rejected_total", lbl.data, (double)r->batch_rejected[k]);
            r->batch_rejected[k] = 0;
        }
    aw_run_status_lag(r->metrics, r->consumer, &r->parts);
    int64_t wm = aw_pipeline_watermark(r->pipeline);
    if (wm > 0)
        aw_metrics_set(r->metrics, "auditwatch_event_time_seconds", NULL, (double)wm / 1000.0);
    aw_buf_free(&lbl);
}

/* ------------------------------------------------------------ producing */

/* --------------------------------------------------------------- alerts */

static int on_alert(void *ctx, const struct aw_alert *a)
{
    struct run *r = ctx;
    aw_buf_reset(&r->buf);
    aw_alert_render_json(a, &r->buf);
    const char *key = a->group_json ? a->group_json : a->rule_name;
    size_t klen = a->group_json ? a->group_json_len : strlen(a->rule_name);
    aw_outbox_message(r->outbox, r->alerts_topic, key, klen, r->buf.data, r->buf.len, NULL);
    r->alerts++;
    aw_buf_reset(&r->buf);
    aw_metrics_label(&r->buf, "rule", a->rule_name);
    aw_buf_append_char(&r->buf, '\0');
    aw_metrics_add(r->metrics, "auditwatch_alerts_total", r->buf.data, 1);
    return 0;
}

static void dead_letter(struct run *r, const rd_kafka_message_t *m, const struct aw_reject *why)
{
    r->rejected++;
    r->batch_rejected[why->reason]++;
    if (!r->dead_topic) {
        aw_log(AW_LOG_WARN, "rejected %s [%d] offset %lld (%s: %s); no dead_letter_topic configured",
               rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset, aw_reject_name(why->reason),
               why->detail);
        return;
    }
    rd_kafka_headers_t *h = rd_kafka_headers_new(3);
    const char *reason = aw_reject_name(why->reason);
    rd_kafka_header_add(h, "auditwatch.reason", -1, reason, -1);
    rd_kafka_header_add(h, "auditwatch.detail", -1, why->detail, -1);
    struct aw_buf origin = {0};
    aw_buf_append_str(&origin, "{\"topic\":");
    aw_buf_json_cstr(&origin, rd_kafka_topic_name(m->rkt));
    aw_buf_append_str(&origin, ",\"partition\":");
    aw_buf_append_i64(&origin, m->partition);
    aw_buf_append_str(&origin, ",\"offset\":");
    aw_buf_append_i64(&origin, m->offset);
    aw_buf_append_char(&origin, '}');
    rd_kafka_header_add(h, "auditwatch.origin", -1, origin.data, (ssize_t)origin.len);
    aw_buf_free(&origin);
    aw_outbox_message(r->outbox, r->dead_topic, m->key ? m->key : "", m->key ? m->key_len : 0,
                      m->payload ? m->payload : "", m->len, h);
}

static int on_event(void *ctx, struct aw_event *ev)
{
    struct run *r = ctx;
    struct aw_run_part *p = r->current;
    r->events++;
    r->batch_events++;
    if (p && p->stream < 0)
        p->stream = aw_pipeline_stream_open(r->pipeline, AW_TIME_NONE);
    return aw_pipeline_process_stream(r->pipeline, p ? p->stream : 0, ev) < 0 ? -1 : 0;
}

/* One record: through its input's decoder into the pipeline (its events
 * go to its partition's stream), or to the dead-letter topic.  -1 when
 * the store failed. */
static int handle(struct run *r, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    struct aw_run_part *p = part_for(r, topic, m->partition, true);
    int input = p ? p->input : input_index(r, topic);
    r->records++;
    if (p) {
        p->next_offset = m->offset + 1;
        p->seen = true;
    }
    if (input < 0)
        return 0;
    struct input *in = &r->inputs[input];
    in->records++;
    struct aw_record rec = {m->payload ? m->payload : "", m->len,
                            {AW_ORIGIN_KAFKA, NULL, 0, topic, m->partition, m->offset}};
    struct aw_reject why;
    r->current = p;
    int n = aw_decoder_decode(in->dec, &rec, on_event, r, &why);
    if (n == -1)
        dead_letter(r, m, &why);
    return n == -2 ? -1 : 0;
}

/* End the batch: windows, then its alerts and offsets to the outbox
 * (delivered while the next batch is read; committed in order once
 * delivered; all of it at once when sync_commit).  -1 when the store
 * failed or a stop gave up on deliveries. */
static int finish_batch(struct run *r, int64_t started_ms, bool sync_commit)
{
    int64_t t0 = aw_mono_ms();
    atomic_store(&r->health.store_since_ms, t0);
    int rc = aw_pipeline_end_batch(r->pipeline);
    atomic_store(&r->health.store_since_ms, 0);
    int64_t t1 = aw_mono_ms();
    aw_metrics_observe(r->metrics, "auditwatch_store_duration_seconds", NULL, (double)(t1 - t0) / 1000.0);
    if (rc < 0) {
        aw_metrics_add(r->metrics, "auditwatch_store_errors_total", NULL, 1);
        return -1;
    }
    for (size_t i = 0; i < r->parts.n; i++) {
        struct aw_run_part *p = &r->parts.v[i];
        if (p->next_offset >= 0) {
            if (p->assigned)
                aw_outbox_offset(r->outbox, p->topic, p->partition, p->next_offset);
            p->next_offset = -1;
        }
    }
    rc = aw_outbox_seal(r->outbox, sync_commit, SHUTDOWN_WAIT_MS);
    atomic_store(&r->health.delivery_failing_since_ms, aw_outbox_failing_since(r->outbox));
    if (rc < 0)
        return -1;
    publish_batch(r);
    aw_metrics_add(r->metrics, "auditwatch_batches_total", NULL, 1);
    aw_metrics_observe(r->metrics, "auditwatch_batch_duration_seconds", NULL,
                       (double)(aw_mono_ms() - started_ms) / 1000.0);
    return 0;
}

/* The store is about to send state to Redis: first every alert emitted so
 * far must be delivered.  Otherwise a crash after the store recorded a
 * finalization (cursor, suppression, the group leaving the queue) but
 * before its alert reached the topic would lose that alert for good: the
 * restart reads the batch again, but finds the group already finalized.
 * In this order a restart finalizes it again and emits the same alert id.
 * (Memory stores never call this; Redis calls it about once per batch.) */
static int before_store_send(void *ctx)
{
    struct run *r = ctx;
    if (!r->outbox || !aw_outbox_undelivered(r->outbox))
        return 0;
    int rc = aw_outbox_deliver_all(r->outbox, SHUTDOWN_WAIT_MS);
    atomic_store(&r->health.delivery_failing_since_ms, aw_outbox_failing_since(r->outbox));
    return rc;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    struct run *r = opaque;
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        /* Finish and commit the in-flight batch before giving anything up.
         * Inside a delivery wait that batch cannot be finished here: the
         * revoked partitions' offsets are then not committed, and their
         * next owner reads those records again (at least once). */
        if (!aw_outbox_busy(r->outbox) && !r->failed && finish_batch(r, aw_mono_ms(), true) < 0)
            r->failed = true;
        for (int i = 0; i < parts->cnt; i++) {
            struct aw_run_part *p = part_for(r, parts->elems[i].topic, parts->elems[i].partition, false);
            if (p && p->assigned) {
                /* Its stream stays open for a while: the records after the
                 * committed offset are the next owner's now, and until that
                 * owner has published its own event time, finalizing past
                 * this partition's time would make them late. */
                p->assigned = false;
                p->next_offset = -1;
                aw_outbox_forget(r->outbox, p->topic, p->partition);
                p->released_at = aw_mono_ms();
                atomic_fetch_sub(&r->health.assigned_count, 1);
            }
        }
        rd_kafka_incremental_unassign(rk, parts);
        aw_log(AW_LOG_INFO, "run: %d partition(s) revoked", parts->cnt);
    } else if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++) {
            struct aw_run_part *p = part_for(r, parts->elems[i].topic, parts->elems[i].partition, true);
            if (p && !p->assigned) {
                /* An assigned partition holds event time back until it has
                 * given its first record (or proved empty): otherwise the
                 * first partition read would make every other one late. */
                if (p->stream < 0)
                    p->stream = aw_pipeline_stream_open(r->pipeline, AW_STREAM_HOLD_UNTIL_FIRST);
                p->assigned = true;
                p->seen = false;
                p->released_at = 0;
                atomic_fetch_add(&r->health.assigned_count, 1);
            }
        }
        rd_kafka_incremental_assign(rk, parts);
        aw_log(AW_LOG_INFO, "run: %d partition(s) assigned", parts->cnt);
    }
}

/* ------------------------------------------------------------- reloading */

/* SIGHUP, between batches: new rules and service map from the same
 * configuration file, over the same store and streams.  On any problem
 * the rules in force stay. */
static void reload(struct run *r)
{
    struct aw_config *cfg = aw_xcalloc(1, sizeof *cfg);
    struct aw_ruleset *rules = aw_xcalloc(1, sizeof *rules);
    struct aw_diags diags = {0};
    char err[1024];
    struct aw_pipeline *np = NULL;
    aw_config_init_defaults(cfg);
    if (!aw_config_load(cfg, r->start_cfg->path, &diags) && !aw_config_load_rules(cfg, rules, &diags)) {
        struct aw_pipeline_options po = {rules, cfg, r->store, on_alert, r, false, r->start_cfg->batch_events,
                                         NULL};
        np = aw_pipeline_new(&po, err, sizeof err);
        if (!np)
            aw_diag_add(&diags, r->start_cfg->path, 0, 0, "%s", err);
        else if (aw_pipeline_adopt_streams(np, r->pipeline) < 0) {
            aw_diag_add(&diags, r->start_cfg->path, 0, 0, "out of memory");
            aw_pipeline_free(np);
            np = NULL;
        }
    }
    if (!np) {
        for (size_t i = 0; i < diags.n; i++)
            aw_log(AW_LOG_ERROR, "reload refused: %s:%d: %s", diags.items[i].file ? diags.items[i].file : "",
                   diags.items[i].line, diags.items[i].message);
        aw_log(AW_LOG_ERROR, "reload refused: %zu problem(s); the rules in force stay", diags.n);
        aw_metrics_add(r->metrics, "auditwatch_reloads_total", "result=\"refused\"", 1);
        aw_ruleset_free(rules);
        free(rules);
        aw_config_free(cfg);
        free(cfg);
        aw_diags_free(&diags);
        return;
    }
    aw_pipeline_free(r->pipeline);
    r->pipeline = np;
    if (r->rules_cfg != r->start_cfg) {
        aw_ruleset_free(r->rules);
        free(r->rules);
        aw_config_free(r->rules_cfg);
        free(r->rules_cfg);
    }
    r->rules = rules;
    r->rules_cfg = cfg;
    aw_diags_free(&diags);
    aw_metrics_add(r->metrics, "auditwatch_reloads_total", "result=\"ok\"", 1);
    aw_log(AW_LOG_INFO, "reloaded %s: %zu rules in force", cfg->path, rules->n);
}

/* ------------------------------------------------------------ the job */

static void usage(FILE *out)
{
    fprintf(out, "usage: auditwatch run [-c CONFIG] [--store SPEC] [--metrics ADDR] [--log-format FMT] [-q]\n\n"
                 "Consume the configured Kafka topics, detect, and produce alerts to the\n"
                 "alerts topic (see README: the stream job).\n\n"
                 "  -c, --config FILE     configuration (default config/auditwatch.yaml)\n"
                 "      --store SPEC      override store.backend (memory, redis://..., unix://...)\n"
                 "      --metrics ADDR    override metrics.address (host:port, port 0 = any free\n"
                 "                        port, 'off' = no HTTP endpoints)\n"
                 "      --log-format FMT  text (default) or json (one object per line)\n"
                 "  -q, --quiet           no summary at exit\n"
                 "  -h, --help            this help\n\n"
                 "Signals: SIGTERM/SIGINT finish the batch, commit and exit; SIGHUP reloads\n"
                 "rules, overrides, allowlists and the service map (kept if the new files are\n"
                 "wrong).\n"
                 "Exit status: 0 stopped by SIGTERM/SIGINT, 1 a failure, 2 a configuration error.\n");
}

static struct aw_decoder *input_decoder(const struct aw_config *cfg, const char *decoder, char *err,
                                        size_t errlen)
{
    struct aw_decode_options opts = {
        .source = AW_SOURCE_AUTO,
        .year = cfg->year,
        .timezone = cfg->timezone,
        .max_record = cfg->max_record,
        .strict = cfg->strict,
    };
    aw_source_kind_parse(decoder, &opts.source); /* (validated with the configuration) */
    return aw_decoder_new(&opts, err, errlen);
}

int aw_cli_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},     {"store", required_argument, NULL, 'S'},
        {"metrics", required_argument, NULL, 'M'},    {"log-format", required_argument, NULL, 'L'},
        {"quiet", no_argument, NULL, 'q'},            {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = "config/auditwatch.yaml", *store_spec = NULL, *metrics_addr = NULL;
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'S': store_spec = optarg; break;
        case 'M': metrics_addr = optarg; break;
        case 'L': {
            enum aw_log_format f;
            if (aw_log_parse_format(optarg, &f) < 0) {
                fprintf(stderr, "auditwatch run: --log-format must be text or json\n");
                return AW_EXIT_USAGE;
            }
            aw_log_set_format(f);
            break;
        }
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return AW_EXIT_OK;
        default: usage(stderr); return AW_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "auditwatch run: unexpected argument '%s' (inputs come from the configuration)\n",
                argv[optind]);
        return AW_EXIT_USAGE;
    }
    struct aw_config cfg;
    struct aw_diags diags = {0};
    struct aw_ruleset rules = {0};
    struct run r;
    memset(&r, 0, sizeof r);
    struct aw_status_server *http = NULL;
    rd_kafka_queue_t *cq = NULL;
    rd_kafka_message_t *slice[CONSUME_SLICE];
    int status = AW_EXIT_USAGE;
    char err[1024];
    aw_config_init_defaults(&cfg);
    r.start_cfg = &cfg;
    r.rules_cfg = &cfg;
    r.rules = &rules;
    if (aw_config_load(&cfg, config_path, &diags) || aw_config_load_rules(&cfg, &rules, &diags))
        goto diag_out;
    if (!cfg.kafka_brokers || !cfg.ninputs || !cfg.alerts_topic) {
        fprintf(stderr, "auditwatch run: the configuration needs kafka.brokers, kafka.inputs and "
                        "kafka.alerts_topic\n");
        goto out;
    }
    r.metrics = aw_metrics_new();
    aw_run_status_declare(r.metrics);
    atomic_store(&r.health.loop_at_ms, aw_mono_ms());
    http = aw_status_server_start(metrics_addr ? metrics_addr : cfg.metrics_address, r.metrics, aw_run_status_health, &r.health, err,
                                  sizeof err);
    if (!http && err[0]) {
        fprintf(stderr, "auditwatch run: %s\n", err);
        goto out;
    }
    struct aw_store_options so = {cfg.memory_cap, cfg.store_prefix, cfg.connect_timeout_ms,
                                  cfg.command_timeout_ms, cfg.reconnect_wait_ms, before_store_send, &r};
    status = AW_EXIT_FAILURE;
    r.store = aw_store_open(store_spec ? store_spec : cfg.store, &so, err, sizeof err);
    if (!r.store) {
        fprintf(stderr, "auditwatch run: %s\n", err);
        goto out;
    }
    struct aw_pipeline_options po = {&rules, &cfg, r.store, on_alert, &r, false, cfg.batch_events, NULL};
    r.pipeline = aw_pipeline_new(&po, err, sizeof err);
    if (!r.pipeline) {
        fprintf(stderr, "auditwatch run: %s\n", err);
        goto out;
    }
    aw_run_parts_init(&r.parts);
    r.alerts_topic = cfg.alerts_topic;
    r.dead_topic = cfg.dead_letter_topic;
    r.inputs = aw_xcalloc(cfg.ninputs, sizeof *r.inputs);
    r.ninputs = cfg.ninputs;
    for (size_t i = 0; i < cfg.ninputs; i++) {
        r.inputs[i].topic = cfg.inputs[i].topic;
        r.inputs[i].dec = input_decoder(&cfg, cfg.inputs[i].decoder, err, sizeof err);
        if (!r.inputs[i].dec) {
            fprintf(stderr, "auditwatch run: %s\n", err);
            goto out;
        }
    }
    /* producer: idempotent, acks=all */
    rd_kafka_conf_t *pc =
        aw_kafka_conf(&cfg, "auditwatch run", "enable.idempotence", "true", "acks", "all", (char *)NULL);
    if (!pc)
        goto out;
    r.outbox = aw_outbox_new(r.metrics, &stopping);
    rd_kafka_conf_set_opaque(pc, r.outbox);
    rd_kafka_conf_set_dr_msg_cb(pc, aw_outbox_on_delivery);
    r.producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
    if (!r.producer) {
        fprintf(stderr, "auditwatch run: %s\n", err);
        goto out;
    }
    /* Connect and learn the alerts topic now, not at the first alert
     * (which would otherwise wait a second for it). */
    rd_kafka_topic_t *at = rd_kafka_topic_new(r.producer, cfg.alerts_topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t me = at ? rd_kafka_metadata(r.producer, 0, at, &md, 10000) : RD_KAFKA_RESP_ERR__FAIL;
    if (me || !md || md->topic_cnt != 1 || md->topics[0].err)
        aw_log(AW_LOG_WARN, "run: alerts topic %s: %s (alerts wait until it is there)", cfg.alerts_topic,
               me ? rd_kafka_err2str(me) : md && md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "no metadata");
    if (md)
        rd_kafka_metadata_destroy(md);
    if (at)
        rd_kafka_topic_destroy(at);
    /* consumer: one group, cooperative-sticky, offsets stored by us */
    rd_kafka_conf_t *cc = aw_kafka_conf(
        &cfg, "auditwatch run", "group.id", cfg.kafka_group ? cfg.kafka_group : "auditwatch",
        "partition.assignment.strategy", "cooperative-sticky", "enable.auto.offset.store", "false",
        "enable.auto.commit", "false", "auto.offset.reset", "earliest", "enable.partition.eof", "true",
        "queued.min.messages", AW_KAFKA_QUEUED_MIN_MESSAGES, (char *)NULL);
    if (!cc)
        goto out;
    rd_kafka_conf_set_opaque(cc, &r);
    rd_kafka_conf_set_rebalance_cb(cc, on_rebalance);
    r.consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
    if (!r.consumer) {
        fprintf(stderr, "auditwatch run: %s\n", err);
        goto out;
    }
    rd_kafka_poll_set_consumer(r.consumer);
    aw_outbox_attach(r.outbox, r.producer, r.consumer);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new((int)cfg.ninputs);
    for (size_t i = 0; i < cfg.ninputs; i++)
        rd_kafka_topic_partition_list_add(topics, cfg.inputs[i].topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t se = rd_kafka_subscribe(r.consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (se) {
        fprintf(stderr, "auditwatch run: subscribe: %s\n", rd_kafka_err2str(se));
        goto out;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    if (http)
        aw_log(AW_LOG_INFO, "run: /metrics and /healthz on port %u", aw_status_server_port(http));
    aw_log(AW_LOG_INFO, "run: consuming %zu topic(s) from %s as group %s", cfg.ninputs, cfg.kafka_brokers,
           cfg.kafka_group ? cfg.kafka_group : "auditwatch");
    status = AW_EXIT_OK;
    cq = rd_kafka_queue_get_consumer(r.consumer);
    while (!stopping && !r.failed) {
        size_t n = 0;
        int64_t t0 = aw_mono_ms(), first_at = 0;
        atomic_store(&r.health.loop_at_ms, t0);
        if (reload_requested) {
            reload_requested = 0;
            reload(&r);
        }
        for (size_t i = 0; i < r.parts.n; i++) {
            struct aw_run_part *p = &r.parts.v[i];
            if (p->released_at && t0 - p->released_at > RELEASE_GRACE_MS) {
                p->released_at = 0;
                if (p->stream >= 0)
                    aw_pipeline_stream_close(r.pipeline, p->stream);
                p->stream = -1;
            }
        }
        while (n < cfg.batch_events && !stopping && !r.failed) {
            /* a batch ends when full or BATCH_WAIT_MS after it started:
             * at low rates alerts then wait at most that long.  Records
             * come in slices (one library call each; rebalance callbacks
             * are served inside it). */
            int64_t left = BATCH_WAIT_MS - (aw_mono_ms() - t0);
            if (left <= 0)
                break;
            size_t want = cfg.batch_events - n < CONSUME_SLICE ? cfg.batch_events - n : CONSUME_SLICE;
            /* what is there now; only when nothing is, wait (for one) -
             * a batch call would wait until the whole slice is there */
            ssize_t got = rd_kafka_consume_batch_queue(cq, 0, slice, want);
            if (got == 0) {
                slice[0] = rd_kafka_consumer_poll(r.consumer, (int)left);
                got = slice[0] ? 1 : 0;
            }
            for (ssize_t k = 0; k < got; k++) {
                rd_kafka_message_t *m = slice[k];
                if (!m->err && !r.failed) {
                    if (!first_at)
                        first_at = aw_mono_ms();
                    if (handle(&r, m) < 0)
                        r.failed = true;
                    n++;
                } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    /* caught up with a partition that gave nothing: it no
                     * longer holds event time back (a record later reopens it) */
                    struct aw_run_part *p = part_for(&r, rd_kafka_topic_name(m->rkt), m->partition, false);
                    if (p && !p->seen && p->stream >= 0) {
                        aw_pipeline_stream_close(r.pipeline, p->stream);
                        p->stream = -1;
                    }
                } else if (m->err) {
                    aw_log(AW_LOG_WARN, "consumer: %s", rd_kafka_message_errstr(m));
                }
                rd_kafka_message_destroy(m);
            }
        }
        if (r.failed || finish_batch(&r, first_at ? first_at : t0, stopping) < 0) {
            r.failed = true;
            break;
        }
    }
    if (r.failed) {
        aw_log(AW_LOG_ERROR, "run: %s; stopping without committing the batch",
               stopping ? "deliveries kept failing" : "the state store failed");
        status = AW_EXIT_FAILURE;
    }
    rd_kafka_queue_destroy(cq);
    rd_kafka_consumer_close(r.consumer);
    /* A shared store: tell the peers this instance has finished, so they
     * do not hold finalization back for it until it goes stale. */
    if (!r.failed && r.store->ops->sync && r.store->ops->set_clock) {
        r.store->ops->set_clock(r.store, INT64_MAX);
        if (r.store->ops->sync(r.store) < 0)
            aw_log(AW_LOG_WARN, "run: could not tell the store this instance has finished");
    }
    if (!quiet)
        aw_log(AW_LOG_INFO, "run: %llu records, %llu events, %llu rejected, %llu alerts",
               (unsigned long long)r.records, (unsigned long long)r.events, (unsigned long long)r.rejected,
               (unsigned long long)r.alerts);
    goto out;

diag_out:
    aw_diag_print(&diags, stderr);
    fprintf(stderr, "auditwatch run: %zu problem(s) in the configuration or rules\n", diags.n);
out:
    aw_status_server_stop(http);
    if (r.consumer)
        rd_kafka_destroy(r.consumer);
    if (r.producer) {
        rd_kafka_flush(r.producer, 5000);
        rd_kafka_destroy(r.producer);
    }
    aw_outbox_free(r.outbox);
    for (size_t i = 0; i < r.ninputs; i++)
        aw_decoder_free(r.inputs[i].dec);
    free(r.inputs);
    aw_run_parts_free(&r.parts);
    aw_buf_free(&r.buf);
    aw_pipeline_free(r.pipeline);
    if (r.rules_cfg != &cfg) {
        aw_ruleset_free(r.rules);
        free(r.rules);
        aw_config_free(r.rules_cfg);
        free(r.rules_cfg);
    }
    aw_store_destroy(r.store);
    aw_metrics_free(r.metrics);
    aw_ruleset_free(&rules);
    aw_config_free(&cfg);
    aw_diags_free(&diags);
    return status;
}
