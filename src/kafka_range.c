/*
 * kafka_range.c - a fixed range of Kafka topics for `replay --kafka` (see
 * kafka_range.h).
 *
 * Opening asks the cluster for the partitions of every topic (metadata),
 * their watermarks, and, for --from/--to, the offsets by timestamp; then
 * assigns the consumer each partition that has records in its range at
 * the range's first offset.  Reading stops a partition at its end offset:
 * records at or past it (written after the replay started, or after
 * --to) are not returned, and the partition is paused.
 */
#include "kafka_range.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka_conf.h"

#define TIMEOUT_MS 15000

struct range_part {
    char *topic;
    int32_t partition;
    int64_t start, end; /* [start, end) */
    bool done;
};

struct aw_kafka_range {
    rd_kafka_t *rk;
    struct range_part *parts;
    size_t nparts, ndone;
};

static int add_partitions(struct aw_kafka_range *r, const char *topic, char *err, size_t errlen)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rkt ? rd_kafka_metadata(r->rk, 0, rkt, &md, TIMEOUT_MS) : RD_KAFKA_RESP_ERR__FAIL;
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (e || !md || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
        snprintf(err, errlen, "topic %s: %s", topic,
                 e ? rd_kafka_err2str(e)
                   : md && md->topic_cnt == 1 && md->topics[0].err ? rd_kafka_err2str(md->topics[0].err)
                                                                   : "no partitions");
        if (md)
            rd_kafka_metadata_destroy(md);
        return -1;
    }
    int n = md->topics[0].partition_cnt;
    struct range_part *np = realloc(r->parts, (r->nparts + (size_t)n) * sizeof *np);
    if (!np) {
        rd_kafka_metadata_destroy(md);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->parts = np;
    for (int i = 0; i < n; i++) {
        struct range_part *p = &r->parts[r->nparts++];
        memset(p, 0, sizeof *p);
        p->topic = strdup(topic);
        p->partition = md->topics[0].partitions[i].id;
        if (!p->topic) {
            rd_kafka_metadata_destroy(md);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* Offsets of the first record at or after each time (-1: none: the end). */
static int offsets_at(struct aw_kafka_range *r, int64_t t, int64_t *out, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)r->nparts);
    for (size_t i = 0; i < r->nparts; i++)
        rd_kafka_topic_partition_list_add(l, r->parts[i].topic, r->parts[i].partition)->offset = t;
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(r->rk, l, TIMEOUT_MS);
    for (size_t i = 0; !e && i < r->nparts; i++) {
        if (l->elems[i].err) {
            e = l->elems[i].err;
            break;
        }
        out[i] = l->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        snprintf(err, errlen, "offsets by timestamp: %s", rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

struct aw_kafka_range *aw_kafka_range_open(const struct aw_config *cfg, const char *const *topics, size_t ntopics,
                                           int64_t from_ms, int64_t to_ms, char *err, size_t errlen)
{
    struct aw_kafka_range *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char group[64];
    snprintf(group, sizeof group, "auditwatch-replay-%ld", (long)getpid());
    /* a group id only because librdkafka wants one: no subscribe, no commit */
    rd_kafka_conf_t *c = aw_kafka_conf(cfg, "auditwatch replay", "group.id", group, "enable.auto.commit", "false",
                                       "enable.auto.offset.store", "false", "enable.partition.eof", "true",
                                       "queued.min.messages", AW_KAFKA_QUEUED_MIN_MESSAGES, (char *)NULL);
    if (!c) {
        snprintf(err, errlen, "bad Kafka settings in the configuration");
        goto fail;
    }
    r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, errlen);
    if (!r->rk)
        goto fail;
    rd_kafka_poll_set_consumer(r->rk);
    for (size_t i = 0; i < ntopics; i++)
        if (add_partitions(r, topics[i], err, errlen) < 0)
            goto fail;
    int64_t *from = calloc(r->nparts, sizeof *from), *to = calloc(r->nparts, sizeof *to);
    int rc = from && to ? 0 : -1;
    for (size_t i = 0; !rc && i < r->nparts; i++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(r->rk, r->parts[i].topic, r->parts[i].partition, &lo, &hi, TIMEOUT_MS);
        if (e) {
            snprintf(err, errlen, "%s [%d]: watermarks: %s", r->parts[i].topic, (int)r->parts[i].partition,
                     rd_kafka_err2str(e));
            rc = -1;
            break;
        }
        r->parts[i].start = lo;
        r->parts[i].end = hi;
    }
    if (!rc && from_ms != INT64_MIN && !(rc = offsets_at(r, from_ms, from, err, errlen)))
        for (size_t i = 0; i < r->nparts; i++)
            r->parts[i].start = from[i] < 0 ? r->parts[i].end : from[i];
    if (!rc && to_ms != INT64_MIN && to_ms < INT64_MAX && !(rc = offsets_at(r, to_ms + 1, to, err, errlen)))
        for (size_t i = 0; i < r->nparts; i++)
            if (to[i] >= 0 && to[i] < r->parts[i].end)
                r->parts[i].end = to[i];
    free(from);
    free(to);
    if (rc)
        goto fail;
    rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new((int)r->nparts);
    for (size_t i = 0; i < r->nparts; i++) {
        struct range_part *p = &r->parts[i];
        if (p->start >= p->end) {
            p->done = true;
            r->ndone++;
        } else {
            rd_kafka_topic_partition_list_add(assign, p->topic, p->partition)->offset = p->start;
        }
    }
    rd_kafka_resp_err_t e = assign->cnt ? rd_kafka_assign(r->rk, assign) : RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_destroy(assign);
    if (e) {
        snprintf(err, errlen, "assign: %s", rd_kafka_err2str(e));
        goto fail;
    }
    return r;
fail:
    aw_kafka_range_close(r);
    return NULL;
}

size_t aw_kafka_range_count(const struct aw_kafka_range *r) { return r->nparts; }

int aw_kafka_range_index(const struct aw_kafka_range *r, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < r->nparts; i++)
        if (r->parts[i].partition == partition && !strcmp(r->parts[i].topic, topic))
            return (int)i;
    return -1;
}

uint64_t aw_kafka_range_total(const struct aw_kafka_range *r)
{
    uint64_t n = 0;
    for (size_t i = 0; i < r->nparts; i++)
        if (r->parts[i].end > r->parts[i].start)
            n += (uint64_t)(r->parts[i].end - r->parts[i].start);
    return n;
}

static void finish(struct aw_kafka_range *r, int i, int *finished)
{
    struct range_part *p = &r->parts[i];
    if (p->done)
        return;
    p->done = true;
    r->ndone++;
    *finished = i;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
    rd_kafka_pause_partitions(r->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

int aw_kafka_range_next(struct aw_kafka_range *r, rd_kafka_message_t **out, int *finished, char *err, size_t errlen)
{
    *finished = -1;
    *out = NULL;
    int idle_ms = 0;
    while (r->ndone < r->nparts) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 200);
        if (!m) {
            if ((idle_ms += 200) >= 60000) {
                snprintf(err, errlen, "no record from the cluster for 60 s with %zu partition(s) unfinished",
                         r->nparts - r->ndone);
                return -1;
            }
            continue;
        }
        idle_ms = 0;
        int i = m->rkt ? aw_kafka_range_index(r, rd_kafka_topic_name(m->rkt), m->partition) : -1;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            if (i >= 0 && !r->parts[i].done) {
                finish(r, i, finished);
                return r->ndone < r->nparts ? 2 : 0;
            }
            continue;
        }
        if (m->err) {
            snprintf(err, errlen, "%s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            if (rd_kafka_fatal_error(r->rk, NULL, 0))
                return -1;
            continue; /* transient: librdkafka retries */
        }
        if (i < 0 || r->parts[i].done || m->offset >= r->parts[i].end) {
            if (i >= 0 && !r->parts[i].done)
                finish(r, i, finished);
            rd_kafka_message_destroy(m);
            if (*finished >= 0)
                return r->ndone < r->nparts ? 2 : 0;
            continue;
        }
        if (m->offset + 1 >= r->parts[i].end)
            finish(r, i, finished);
        *out = m;
        return 1;
    }
    return 0;
}

void aw_kafka_range_close(struct aw_kafka_range *r)
{
    if (!r)
        return;
    if (r->rk) {
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
    }
    for (size_t i = 0; i < r->nparts; i++)
        free(r->parts[i].topic);
    free(r->parts);
    free(r);
}
