/*
 * run_outbox.c - the stream job's deliveries and in-order commits (see
 * run_outbox.h).
 *
 * A batch owns copies of its messages; once sealed its message array no
 * longer moves, so each message's address is the opaque of its delivery
 * report.  Batches in flight form a FIFO: only its head is ever committed,
 * so a later batch delivered first waits for the earlier ones.
 */
#include "run_outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auditwatch/log.h"
#include "auditwatch/timeparse.h"
#include "xalloc.h"

/* Batches whose deliveries may be awaited while the next ones are read.  At
 * full speed a batch takes ~3 ms to process and its alerts' delivery
 * reports ~10-20 ms (linger.ms, acks=all, a broker sharing the CPUs), so
 * with 4 the job waited for reports 6-9% of its time in bench-kafka; 16
 * cover a round trip.  Each holds only its messages' copies and offsets. */
#define MAX_FLYING 16
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 10000

struct out_msg {
    char *topic, *key, *value;
    size_t klen, vlen;
    rd_kafka_headers_t *headers; /* kept to produce again */
    int state;                   /* -1 to produce, 0 in flight, 1 delivered */
    struct out_batch *batch;
};

struct out_offset {
    char *topic;
    int32_t partition;
    int64_t offset;
};

struct out_batch {
    struct out_msg *msgs;
    size_t nmsgs, msg_cap;
    struct out_offset *offs;
    size_t noffs, off_cap;
    size_t undelivered;
    int64_t retry_at, backoff;
};

struct aw_outbox {
    rd_kafka_t *producer, *consumer;
    struct aw_metrics *metrics;
    struct out_batch *open;
    struct out_batch *flying[MAX_FLYING];
    size_t nflying;
    bool busy, paused;
    int64_t failing_since;
    const volatile sig_atomic_t *stop_flag; /* set by a stop signal */
};




static struct out_batch *new_batch(void)
{
    struct out_batch *b = aw_xrealloc(NULL, sizeof *b);
    memset(b, 0, sizeof *b);
    b->backoff = BACKOFF_FIRST_MS;
    return b;
}

static void free_batch(struct out_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nmsgs; i++) {
        free(b->msgs[i].topic);
        free(b->msgs[i].key);
        free(b->msgs[i].value);
        if (b->msgs[i].headers)
            rd_kafka_headers_destroy(b->msgs[i].headers);
    }
    for (size_t i = 0; i < b->noffs; i++)
        free(b->offs[i].topic);
    free(b->msgs);
    free(b->offs);
    free(b);
}

struct aw_outbox *aw_outbox_new(struct aw_metrics *metrics, const volatile sig_atomic_t *stop_flag)
{
    struct aw_outbox *o = aw_xrealloc(NULL, sizeof *o);
    memset(o, 0, sizeof *o);
    o->metrics = metrics;
    o->stop_flag = stop_flag;
    o->open = new_batch();
    return o;
}

void aw_outbox_attach(struct aw_outbox *o, rd_kafka_t *producer, rd_kafka_t *consumer)
{
    o->producer = producer;
    o->consumer = consumer;
}

void aw_outbox_free(struct aw_outbox *o)
{
    if (!o)
        return;
    free_batch(o->open);
    for (size_t i = 0; i < o->nflying; i++)
        free_batch(o->flying[i]);
    free(o);
}

void aw_outbox_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct aw_outbox *o = opaque;
    struct out_msg *om = m->_private;
    if (!om)
        return;
    if (m->err) {
        om->state = -1;
        aw_metrics_add(o->metrics, "auditwatch_delivery_errors_total", NULL, 1);
        aw_log(AW_LOG_WARN, "delivery to %s failed: %s", rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
    } else if (om->state != 1) {
        om->state = 1;
        om->batch->undelivered--;
    }
}

void aw_outbox_message(struct aw_outbox *o, const char *topic, const char *key, size_t klen, const char *value,
                       size_t vlen, rd_kafka_headers_t *headers)
{
    struct out_batch *b = o->open;
    if (b->nmsgs == b->msg_cap) {
        b->msg_cap = b->msg_cap ? b->msg_cap * 2 : 64;
        b->msgs = aw_xrealloc(b->msgs, b->msg_cap * sizeof *b->msgs);
    }
    struct out_msg *m = &b->msgs[b->nmsgs++];
    m->topic = aw_xmemdup(topic, strlen(topic));
    m->key = aw_xmemdup(key, klen);
    m->klen = klen;
    m->value = aw_xmemdup(value, vlen);
    m->vlen = vlen;
    m->headers = headers;
    m->state = -1;
    m->batch = NULL; /* set at seal, when the array stops moving */
}

void aw_outbox_offset(struct aw_outbox *o, const char *topic, int32_t partition, int64_t next_offset)
{
    struct out_batch *b = o->open;
    for (size_t i = 0; i < b->noffs; i++)
        if (b->offs[i].partition == partition && !strcmp(b->offs[i].topic, topic)) {
            b->offs[i].offset = next_offset;
            return;
        }
    if (b->noffs == b->off_cap) {
        b->off_cap = b->off_cap ? b->off_cap * 2 : 8;
        b->offs = aw_xrealloc(b->offs, b->off_cap * sizeof *b->offs);
    }
    b->offs[b->noffs++] = (struct out_offset){aw_xmemdup(topic, strlen(topic)), partition, next_offset};
}

static void forget_in(struct out_batch *b, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < b->noffs; i++)
        if (b->offs[i].partition == partition && !strcmp(b->offs[i].topic, topic)) {
            free(b->offs[i].topic);
            b->offs[i--] = b->offs[--b->noffs];
        }
}

void aw_outbox_forget(struct aw_outbox *o, const char *topic, int32_t partition)
{
    forget_in(o->open, topic, partition);
    for (size_t i = 0; i < o->nflying; i++)
        forget_in(o->flying[i], topic, partition);
}

bool aw_outbox_busy(const struct aw_outbox *o) { return o->busy; }

int64_t aw_outbox_failing_since(const struct aw_outbox *o) { return o->failing_since; }

/* Produce the batch's messages that are not delivered or in flight. */
static size_t produce(struct aw_outbox *o, struct out_batch *b)
{
    size_t failed = 0;
    for (size_t i = 0; i < b->nmsgs; i++) {
        struct out_msg *m = &b->msgs[i];
        if (m->state != -1)
            continue;
        rd_kafka_headers_t *h = m->headers ? rd_kafka_headers_copy(m->headers) : NULL;
        rd_kafka_resp_err_t e;
        if (h) /* (the producer owns the copy once the call succeeded) */
            e = rd_kafka_producev(o->producer, RD_KAFKA_V_TOPIC(m->topic), RD_KAFKA_V_KEY(m->key, m->klen),
                                  RD_KAFKA_V_VALUE(m->value, m->vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_OPAQUE(m), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        else
            e = rd_kafka_producev(o->producer, RD_KAFKA_V_TOPIC(m->topic), RD_KAFKA_V_KEY(m->key, m->klen),
                                  RD_KAFKA_V_VALUE(m->value, m->vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_OPAQUE(m), RD_KAFKA_V_END);
        if (e) {
            if (h)
                rd_kafka_headers_destroy(h);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                aw_log(AW_LOG_WARN, "producing to %s: %s", m->topic, rd_kafka_err2str(e));
            failed++;
            continue; /* tried again at the batch's next retry */
        }
        m->state = 0;
    }
    return failed;
}

/* Commit the head batches that are wholly delivered, in order. */
static void retire(struct aw_outbox *o, bool sync)
{
    while (o->nflying && o->flying[0]->undelivered == 0) {
        struct out_batch *b = o->flying[0];
        if (b->noffs && o->consumer) {
            rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)b->noffs);
            for (size_t i = 0; i < b->noffs; i++)
                rd_kafka_topic_partition_list_add(l, b->offs[i].topic, b->offs[i].partition)->offset =
                    b->offs[i].offset;
            rd_kafka_offsets_store(o->consumer, l);
            /* Asynchronous in steady state (a lost commit only means
             * records read again, as at least once allows); synchronous
             * when giving partitions up or stopping. */
            rd_kafka_resp_err_t e = rd_kafka_commit(o->consumer, l, sync ? 0 : 1);
            if (e)
                aw_log(AW_LOG_WARN, "commit: %s (the next commit covers these offsets)", rd_kafka_err2str(e));
            rd_kafka_topic_partition_list_destroy(l);
        }
        free_batch(b);
        memmove(o->flying, o->flying + 1, (o->nflying - 1) * sizeof *o->flying);
        o->nflying--;
    }
}

static void pause_consumer(struct aw_outbox *o, bool pause)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    if (!o->consumer || pause == o->paused || rd_kafka_assignment(o->consumer, &a) || !a)
        return;
    if (pause)
        rd_kafka_pause_partitions(o->consumer, a);
    else
        rd_kafka_resume_partitions(o->consumer, a);
    rd_kafka_topic_partition_list_destroy(a);
    o->paused = pause;
}

/* How far settle goes: room for another batch with nothing failing;
 * every batch delivered (commits stay asynchronous); every batch
 * delivered and committed synchronously. */
enum settle_goal { SETTLE_ROOM, SETTLE_DELIVERED, SETTLE_COMMITTED };

/* Deliver and commit until the goal is reached. */
static int settle(struct aw_outbox *o, enum settle_goal goal, int64_t stop_wait_ms)
{
    int64_t stop_at = 0;
    int rc = 0;
    for (;;) {
        rd_kafka_poll(o->producer, 0);
        retire(o, goal == SETTLE_COMMITTED);
        int64_t now = aw_mono_ms();
        size_t failing = 0;
        for (size_t i = 0; i < o->nflying; i++) {
            struct out_batch *b = o->flying[i];
            size_t failed = 0;
            for (size_t k = 0; k < b->nmsgs; k++)
                failed += b->msgs[k].state == -1;
            if (!failed)
                continue;
            failing += failed;
            if (now >= b->retry_at) {
                aw_log(AW_LOG_WARN, "%zu alert or dead-letter deliveries failed; retrying in %lldms", failed,
                       (long long)b->backoff);
                b->retry_at = now + b->backoff;
                b->backoff = b->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b->backoff * 2;
                produce(o, b);
            }
        }
        if (failing && !o->failing_since)
            o->failing_since = now;
        else if (!failing)
            o->failing_since = 0;
        pause_consumer(o, failing > 0); /* lag grows, nothing is read past the failure */
        if (!o->nflying || (goal == SETTLE_ROOM && !failing && o->nflying < MAX_FLYING))
            break;
        if (o->stop_flag && *o->stop_flag) { /* (a stop may come while we wait) */
            if (!stop_at)
                stop_at = now + stop_wait_ms;
            else if (now > stop_at) {
                aw_log(AW_LOG_ERROR, "stopping with %zu batch(es) not delivered: they are not committed (a restart "
                                     "processes them again)", o->nflying);
                rc = -1;
                break;
            }
        }
        if (failing && o->consumer) {
            /* stay in the group; paused, so no record comes (one fetched
             * before the pause is fetched again after the resume) */
            rd_kafka_message_t *m = rd_kafka_consumer_poll(o->consumer, 100);
            if (m)
                rd_kafka_message_destroy(m);
        } else if (goal == SETTLE_ROOM) {
            rd_kafka_poll(o->producer, 20);
        } else {
            rd_kafka_flush(o->producer, 20); /* (sends at once, not after linger.ms) */
        }
    }
    return rc;
}

/* Move the open batch into the FIFO and produce it; false when there is
 * no room (gave up while stopping). */
static bool seal_open(struct aw_outbox *o, int64_t stop_wait_ms)
{
    struct out_batch *b = o->open;
    if (!b->nmsgs && !b->noffs)
        return true;
    /* room for it first (back-pressure), then into the FIFO */
    int rc = 0;
    while (o->nflying == MAX_FLYING && !rc)
        rc = settle(o, SETTLE_ROOM, stop_wait_ms);
    if (o->nflying == MAX_FLYING)
        return false;
    for (size_t i = 0; i < b->nmsgs; i++)
        b->msgs[i].batch = b;
    b->undelivered = b->nmsgs;
    o->flying[o->nflying++] = b;
    o->open = new_batch();
    produce(o, b);
    return true;
}

int aw_outbox_seal(struct aw_outbox *o, bool wait_all, int64_t stop_wait_ms)
{
    o->busy = true;
    int rc = seal_open(o, stop_wait_ms) ? settle(o, wait_all ? SETTLE_COMMITTED : SETTLE_ROOM, stop_wait_ms) : -1;
    o->busy = false;
    return rc;
}

bool aw_outbox_undelivered(const struct aw_outbox *o) { return o->open->nmsgs || o->nflying; }

int aw_outbox_deliver_all(struct aw_outbox *o, int64_t stop_wait_ms)
{
    if (o->busy)
        return 0; /* (not reached: nothing the outbox calls writes state) */
    o->busy = true;
    /* The open batch's messages so far become a batch of their own, with
     * no offsets: the batch's offsets, added at its end, go with a later
     * one, committed only after this one (in order). */
    int rc = seal_open(o, stop_wait_ms) ? settle(o, SETTLE_DELIVERED, stop_wait_ms) : -1;
    o->busy = false;
    return rc;
}

void aw_outbox_poll(struct aw_outbox *o)
{
    rd_kafka_poll(o->producer, 0);
    retire(o, false);
}
