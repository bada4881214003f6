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
 * dropped.  Offsets are committed after each batch.  Redelivered records
 * count once (window entries are keyed by event identity) and raise
 * alerts with the ids they had (consumers deduplicate by alert id).
 *
 * Event time is tracked per partition: each assigned partition is a
 * pipeline stream, so a partition that is behind holds finalization back.
 * SIGTERM/SIGINT: finish the batch, wait for deliveries, commit, close.
 * When the store fails for longer than its reconnect wait, the job exits
 * with status 1 without committing the batch (a restart redelivers it).
 */
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auditwatch/config.h"
#include "auditwatch/decode.h"
#include "auditwatch/log.h"
#include "auditwatch/pipeline.h"
#include "auditwatch/source.h"
#include "cli.h"

#define MAX_PARTITIONS 4096
#define HOLD_UNTIL_FIRST (INT64_MIN + 1) /* a stream's first-record hint: hold everything */

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

/* One produced message waiting for its delivery report. */
struct pending_msg {
    char *topic;
    char *key, *value;
    size_t key_len, value_len;
    rd_kafka_headers_t *headers; /* owned until produced */
    int state;                   /* 0 in flight, 1 delivered, -1 failed */
};

struct input {
    const char *topic;
    struct aw_decoder *dec;
};

struct run {
    rd_kafka_t *consumer, *producer;
    struct aw_pipeline *pipeline;
    struct input *inputs;
    size_t ninputs;
    const char *alerts_topic, *dead_topic;
    /* partition -> pipeline stream */
    struct part {
        char *topic;
        int32_t partition;
        int stream;
        int64_t next_offset; /* to store once the batch is done, -1 none */
        bool assigned;
        bool seen; /* has given a record since it was assigned */
    } *parts;
    size_t nparts;
    /* this batch's messages to deliver */
    struct pending_msg *msgs;
    size_t nmsgs, msg_cap;
    struct aw_buf buf;
    uint64_t records, events, rejected, alerts;
    const struct rd_kafka_message_s *current; /* the record being decoded */
    bool failed;
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fputs("auditwatch: out of memory\n", stderr);
        abort();
    }
    return p;
}

static char *dup_bytes(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) {
        fputs("auditwatch: out of memory\n", stderr);
        abort();
    }
    memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

static struct part *part_for(struct run *r, const char *topic, int32_t partition, bool create)
{
    for (size_t i = 0; i < r->nparts; i++)
        if (r->parts[i].partition == partition && !strcmp(r->parts[i].topic, topic))
            return &r->parts[i];
    if (!create || r->nparts == MAX_PARTITIONS)
        return NULL;
    struct part *p = &r->parts[r->nparts++];
    p->topic = dup_bytes(topic, strlen(topic));
    p->partition = partition;
    p->stream = -1; /* opened when assigned */
    p->next_offset = -1;
    return p;
}

/* ------------------------------------------------------------ producing */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    struct pending_msg *pm = m->_private;
    if (!pm)
        return;
    pm->state = m->err ? -1 : 1;
    if (m->err)
        aw_log(AW_LOG_WARN, "delivery to %s failed: %s", rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
}

static void queue_msg(struct run *r, const char *topic, const char *key, size_t klen, const char *value,
                      size_t vlen, rd_kafka_headers_t *headers)
{
    if (r->nmsgs == r->msg_cap) {
        r->msg_cap = r->msg_cap ? r->msg_cap * 2 : 64;
        r->msgs = realloc(r->msgs, r->msg_cap * sizeof *r->msgs);
        if (!r->msgs) {
            fputs("auditwatch: out of memory\n", stderr);
            abort();
        }
    }
    struct pending_msg *pm = &r->msgs[r->nmsgs++];
    memset(pm, 0, sizeof *pm);
    pm->topic = dup_bytes(topic, strlen(topic));
    pm->key = dup_bytes(key, klen);
    pm->key_len = klen;
    pm->value = dup_bytes(value, vlen);
    pm->value_len = vlen;
    pm->headers = headers;
    pm->state = -1; /* not produced yet */
}

/* Produce every message not delivered yet; the batch's array does not
 * move while deliveries are outstanding (nothing is queued then). */
static void produce_pending(struct run *r)
{
    for (size_t i = 0; i < r->nmsgs; i++) {
        struct pending_msg *pm = &r->msgs[i];
        if (pm->state != -1)
            continue;
        rd_kafka_resp_err_t e;
        if (pm->headers) {
            /* the producer takes the copy on success */
            rd_kafka_headers_t *h = rd_kafka_headers_copy(pm->headers);
            e = rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(pm->topic), RD_KAFKA_V_KEY(pm->key, pm->key_len),
                                  RD_KAFKA_V_VALUE(pm->value, pm->value_len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(pm),
                                  RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
            if (e)
                rd_kafka_headers_destroy(h);
        } else {
            e = rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(pm->topic), RD_KAFKA_V_KEY(pm->key, pm->key_len),
                                  RD_KAFKA_V_VALUE(pm->value, pm->value_len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(pm), RD_KAFKA_V_END);
        }
        if (e) {
            aw_log(AW_LOG_WARN, "producing to %s: %s", pm->topic, rd_kafka_err2str(e));
            continue; /* queue full or similar: tried again */
        }
        pm->state = 0;
    }
}

static void free_msgs(struct run *r)
{
    for (size_t i = 0; i < r->nmsgs; i++) {
        free(r->msgs[i].topic);
        free(r->msgs[i].key);
        free(r->msgs[i].value);
        if (r->msgs[i].headers)
            rd_kafka_headers_destroy(r->msgs[i].headers);
    }
    r->nmsgs = 0;
}

static void pause_all(struct run *r, bool pause)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(r->consumer, &a) || !a)
        return;
    if (pause)
        rd_kafka_pause_partitions(r->consumer, a);
    else
        rd_kafka_resume_partitions(r->consumer, a);
    rd_kafka_topic_partition_list_destroy(a);
}

/* Until every message of the batch is delivered: produce, wait, and
 * produce again what failed, with backoff, partitions paused meanwhile. */
static int deliver_all(struct run *r)
{
    int64_t backoff = 100;
    bool paused = false;
    for (;;) {
        produce_pending(r);
        rd_kafka_flush(r->producer, 10000);
        size_t failed = 0, flying = 0;
        for (size_t i = 0; i < r->nmsgs; i++) {
            failed += r->msgs[i].state == -1;
            flying += r->msgs[i].state == 0;
        }
        if (!failed && !flying)
            break;
        if (!paused) {
            pause_all(r, true);
            paused = true;
        }
        if (failed)
            aw_log(AW_LOG_WARN, "%zu alert or dead-letter deliveries failed; retrying in %lldms", failed,
                   (long long)backoff);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->consumer, (int)backoff); /* keep the group alive */
        if (m)
            rd_kafka_message_destroy(m); /* paused: nothing new is consumed */
        backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
    }
    if (paused)
        pause_all(r, false);
    free_msgs(r);
    return 0;
}

/* --------------------------------------------------------------- alerts */

static int on_alert(void *ctx, const struct aw_alert *a)
{
    struct run *r = ctx;
    aw_buf_reset(&r->buf);
    aw_alert_render_json(a, &r->buf);
    const char *key = a->group_json ? a->group_json : a->rule_name;
    size_t klen = a->group_json ? a->group_json_len : strlen(a->rule_name);
    queue_msg(r, r->alerts_topic, key, klen, r->buf.data, r->buf.len, NULL);
    r->alerts++;
    return 0;
}

static void dead_letter(struct run *r, const rd_kafka_message_t *m, const struct aw_reject *why)
{
    r->rejected++;
    if (!r->dead_topic)
        return;
    rd_kafka_headers_t *h = rd_kafka_headers_new(3);
    const char *reason = aw_reject_name(why->reason);
    rd_kafka_header_add(h, "auditwatch.reason", -1, reason, -1);
    rd_kafka_header_add(h, "auditwatch.detail", -1, why->detail, -1);
    char origin[512];
    snprintf(origin, sizeof origin, "{\"topic\":\"%s\",\"partition\":%d,\"offset\":%lld}",
             rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset);
    rd_kafka_header_add(h, "auditwatch.origin", -1, origin, -1);
    queue_msg(r, r->dead_topic, m->key ? m->key : "", m->key ? m->key_len : 0, m->payload ? m->payload : "",
              m->len, h);
}

static int on_event(void *ctx, struct aw_event *ev)
{
    struct run *r = ctx;
    const rd_kafka_message_t *m = r->current;
    struct part *p = part_for(r, rd_kafka_topic_name(m->rkt), m->partition, true);
    r->events++;
    if (p && p->stream < 0)
        p->stream = aw_pipeline_stream_open(r->pipeline, AW_TIME_NONE);
    return aw_pipeline_process_stream(r->pipeline, p ? p->stream : 0, ev) < 0 ? -1 : 0;
}

static int handle(struct run *r, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    struct input *in = NULL;
    for (size_t i = 0; i < r->ninputs; i++)
        if (!strcmp(r->inputs[i].topic, topic))
            in = &r->inputs[i];
    r->records++;
    struct part *p = part_for(r, topic, m->partition, true);
    if (p) {
        p->next_offset = m->offset + 1;
        p->seen = true;
    }
    if (!in)
        return 0;
    struct aw_record rec = {m->payload ? m->payload : "", m->len,
                            {AW_ORIGIN_KAFKA, NULL, 0, topic, m->partition, m->offset}};
    struct aw_reject why;
    r->current = m;
    int n = aw_decoder_decode(in->dec, &rec, on_event, r, &why);
    if (n == -1)
        dead_letter(r, m, &why);
    return n == -2 ? -1 : 0;
}

/* The batch is done in the store and delivered: store its offsets. */
static void store_offsets(struct run *r)
{
    rd_kafka_topic_partition_list_t *o = rd_kafka_topic_partition_list_new(4);
    for (size_t i = 0; i < r->nparts; i++)
        if (r->parts[i].next_offset >= 0) {
            rd_kafka_topic_partition_list_add(o, r->parts[i].topic, r->parts[i].partition)->offset =
                r->parts[i].next_offset;
            r->parts[i].next_offset = -1;
        }
    if (o->cnt) {
        rd_kafka_offsets_store(r->consumer, o);
        rd_kafka_commit(r->consumer, o, 1);
    }
    rd_kafka_topic_partition_list_destroy(o);
}

/* End the batch: windows, deliveries, offsets.  -1 when the store failed. */
static int finish_batch(struct run *r)
{
    if (aw_pipeline_end_batch(r->pipeline) < 0)
        return -1;
    deliver_all(r);
    store_offsets(r);
    return 0;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    struct run *r = opaque;
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        /* finish and commit the in-flight batch before giving anything up */
        if (!r->failed && finish_batch(r) < 0)
            r->failed = true;
        for (int i = 0; i < parts->cnt; i++) {
            struct part *p = part_for(r, parts->elems[i].topic, parts->elems[i].partition, false);
            if (p && p->assigned) {
                p->assigned = false;
                aw_pipeline_stream_close(r->pipeline, p->stream);
                p->stream = -1;
            }
        }
        rd_kafka_incremental_unassign(rk, parts);
    } else if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
            for (int i = 0; i < parts->cnt; i++) {
            struct part *p = part_for(r, parts->elems[i].topic, parts->elems[i].partition, true);
            if (p && !p->assigned) {
                /* An assigned partition holds event time back until it has
                 * given its first record (or proved empty): otherwise the
                 * first partition read would make every other one late. */
                if (p->stream < 0)
                    p->stream = aw_pipeline_stream_open(r->pipeline, HOLD_UNTIL_FIRST);
                p->assigned = true;
                p->seen = false;
            }
        }
        rd_kafka_incremental_assign(rk, parts);
    }
}

/* ------------------------------------------------------------ the job */

static void usage(FILE *out)
{
    fprintf(out, "usage: auditwatch run [-c CONFIG] [--store SPEC] [-q]\n\n"
                 "Consume the configured Kafka topics, detect, and produce alerts to the\n"
                 "alerts topic (see README: the stream job).\n\n"
                 "  -c, --config FILE   configuration (default config/auditwatch.yaml)\n"
                 "      --store SPEC    override store.backend (memory, redis://..., unix://...)\n"
                 "  -q, --quiet         no summary at exit\n"
                 "  -h, --help          this help\n\n"
                 "Exit status: 0 stopped by SIGTERM/SIGINT, 1 a failure, 2 a configuration error.\n");
}

static int set_conf(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[512];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "auditwatch run: kafka property %s: %s\n", k, err);
        return -1;
    }
    return 0;
}

static int apply_properties(rd_kafka_conf_t *c, const struct aw_config *cfg)
{
    for (size_t i = 0; i < cfg->kafka_properties.n; i++) {
        char *kv = dup_bytes(cfg->kafka_properties.items[i], strlen(cfg->kafka_properties.items[i]));
        char *eq = strchr(kv, '=');
        int rc = 0;
        if (eq) {
            *eq = '\0';
            rc = set_conf(c, kv, eq + 1);
        }
        free(kv);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int aw_cli_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"store", required_argument, NULL, 'S'},
        {"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = "config/auditwatch.yaml", *store_spec = NULL;
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'S': store_spec = optarg; break;
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return AW_EXIT_OK;
        default: usage(stderr); return AW_EXIT_USAGE;
        }
    }
    struct aw_config cfg;
    struct aw_diags diags = {0};
    struct aw_ruleset rules = {0};
    struct run r;
    memset(&r, 0, sizeof r);
    struct aw_store *store = NULL;
    int status = AW_EXIT_USAGE;
    char err[1024];
    aw_config_init_defaults(&cfg);
    if (aw_config_load(&cfg, config_path, &diags))
        goto diag_out;
    for (size_t i = 0; i < cfg.rule_paths.n; i++) {
        char *p = aw_config_resolve_path(&cfg, cfg.rule_paths.items[i]);
        aw_ruleset_load_path(&rules, p, &diags);
        free(p);
    }
    if (diags.n || aw_ruleset_link(&rules, &diags) || aw_config_apply_overrides(&cfg, &rules, &diags))
        goto diag_out;
    if (!cfg.kafka_brokers || !cfg.ninputs || !cfg.alerts_topic) {
        fprintf(stderr, "auditwatch run: the configuration needs kafka.brokers, kafka.inputs and "
                        "kafka.alerts_topic\n");
        goto out;
    }
    struct aw_store_options so = {cfg.memory_cap, cfg.store_prefix, cfg.connect_timeout_ms,
                                  cfg.command_timeout_ms, cfg.reconnect_wait_ms};
    status = AW_EXIT_FAILURE;
    store = aw_store_open(store_spec ? store_spec : cfg.store, &so, err, sizeof err);
    if (!store) {
        fprintf(stderr, "auditwatch run: %s\n", err);
        goto out;
    }
    struct aw_pipeline_options po = {&rules, &cfg, store, on_alert, &r, false, cfg.batch_events, NULL};
    r.pipeline = aw_pipeline_new(&po, err, sizeof err);
    if (!r.pipeline) {
        fprintf(stderr, "auditwatch run: %s\n", err);
        goto out;
    }
    r.parts = xcalloc(MAX_PARTITIONS, sizeof *r.parts);
    r.alerts_topic = cfg.alerts_topic;
    r.dead_topic = cfg.dead_letter_topic;
    r.inputs = xcalloc(cfg.ninputs, sizeof *r.inputs);
    r.ninputs = cfg.ninputs;
    for (size_t i = 0; i < cfg.ninputs; i++) {
        struct aw_decode_options opts = {
            .source = !strcmp(cfg.inputs[i].decoder, "k8s") ? AW_SOURCE_K8S : AW_SOURCE_AUTH,
            .year = cfg.year,
            .timezone = cfg.timezone,
            .max_record = cfg.max_record,
            .strict = cfg.strict,
        };
        r.inputs[i].topic = cfg.inputs[i].topic;
        r.inputs[i].dec = aw_decoder_new(&opts, err, sizeof err);
        if (!r.inputs[i].dec) {
            fprintf(stderr, "auditwatch run: %s\n", err);
            goto out;
        }
    }
    /* producer: idempotent, acks=all */
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    if (set_conf(pc, "bootstrap.servers", cfg.kafka_brokers) || set_conf(pc, "enable.idempotence", "true") ||
        set_conf(pc, "acks", "all") || apply_properties(pc, &cfg)) {
        rd_kafka_conf_destroy(pc);
        goto out;
    }
    rd_kafka_conf_set_dr_msg_cb(pc, on_delivery);
    r.producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
    if (!r.producer) {
        fprintf(stderr, "auditwatch run: %s\n", err);
        goto out;
    }
    /* consumer: one group, cooperative-sticky, offsets stored by us */
    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    if (set_conf(cc, "bootstrap.servers", cfg.kafka_brokers) ||
        set_conf(cc, "group.id", cfg.kafka_group ? cfg.kafka_group : "auditwatch") ||
        set_conf(cc, "partition.assignment.strategy", "cooperative-sticky") ||
        set_conf(cc, "enable.auto.offset.store", "false") || set_conf(cc, "enable.auto.commit", "false") ||
        set_conf(cc, "auto.offset.reset", "earliest") || set_conf(cc, "enable.partition.eof", "true") ||
        apply_properties(cc, &cfg)) {
        rd_kafka_conf_destroy(cc);
        goto out;
    }
    rd_kafka_conf_set_opaque(cc, &r);
    rd_kafka_conf_set_rebalance_cb(cc, on_rebalance);
    r.consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
    if (!r.consumer) {
        fprintf(stderr, "auditwatch run: %s\n", err);
        goto out;
    }
    rd_kafka_poll_set_consumer(r.consumer);
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
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    aw_log(AW_LOG_INFO, "run: consuming %zu topic(s) from %s as group %s", cfg.ninputs, cfg.kafka_brokers,
           cfg.kafka_group ? cfg.kafka_group : "auditwatch");
    status = AW_EXIT_OK;
    while (!stopping && !r.failed) {
        size_t n = 0;
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (n < cfg.batch_events && !stopping) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(r.consumer, 100);
            if (!m) {
                struct timespec t1;
                clock_gettime(CLOCK_MONOTONIC, &t1);
                if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 200)
                    break;
                continue;
            }
            if (!m->err) {
                if (handle(&r, m) < 0)
                    r.failed = true;
                n++;
            } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                /* caught up with a partition that gave nothing: it no
                 * longer holds event time back (a record later reopens it) */
                struct part *p = part_for(&r, rd_kafka_topic_name(m->rkt), m->partition, false);
                if (p && !p->seen && p->stream >= 0) {
                    aw_pipeline_stream_close(r.pipeline, p->stream);
                    p->stream = -1;
                }
            } else {
                aw_log(AW_LOG_WARN, "consumer: %s", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            if (r.failed)
                break;
        }
        if (r.failed || finish_batch(&r) < 0) {
            r.failed = true;
            break;
        }
    }
    if (r.failed) {
        aw_log(AW_LOG_ERROR, "run: the state store failed; stopping without committing the batch");
        status = AW_EXIT_FAILURE;
    }
    rd_kafka_consumer_close(r.consumer);
    if (!quiet)
        fprintf(stderr, "auditwatch run: %llu records, %llu events, %llu rejected, %llu alerts\n",
                (unsigned long long)r.records, (unsigned long long)r.events, (unsigned long long)r.rejected,
                (unsigned long long)r.alerts);
    goto out;

diag_out:
    aw_diag_print(&diags, stderr);
    fprintf(stderr, "auditwatch run: %zu problem(s) in the configuration or rules\n", diags.n);
out:
    if (r.consumer)
        rd_kafka_destroy(r.consumer);
    if (r.producer) {
        rd_kafka_flush(r.producer, 5000);
        rd_kafka_destroy(r.producer);
    }
    free_msgs(&r);
    free(r.msgs);
    for (size_t i = 0; i < r.ninputs; i++)
        aw_decoder_free(r.inputs[i].dec);
    free(r.inputs);
    for (size_t i = 0; i < r.nparts; i++)
        free(r.parts[i].topic);
    free(r.parts);
    aw_buf_free(&r.buf);
    aw_pipeline_free(r.pipeline);
    aw_store_destroy(store);
    aw_ruleset_free(&rules);
    aw_config_free(&cfg);
    aw_diags_free(&diags);
    return status;
}
