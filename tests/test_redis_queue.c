/*
 * test_redis_queue.c - the Redis store's pending queue, through the store
 * interface, against a real redis-server (tests/redis_server.h).
 *
 * While an instance is solo under its prefix it answers pops from a local
 * copy of the queue (src/redis_queue.c).  These tests check that:
 *   - groups another instance left queued are loaded (once) and handed
 *     out in (time, group) order, with later pushes merged in, and that
 *     the pops that follow ask Redis nothing (INFO commandstats);
 *   - the queue in Redis follows: finished groups leave it, queued ones
 *     stay (a restart finds them);
 *   - once a second instance appears, pops go to Redis again and no
 *     group is handed out by both instances.
 */
#include <criterion/criterion.h>

#include "auditwatch/store.h"
#include "redis_server.h"

#define RULE "r.queue"

static struct aw_store *open_store(const struct test_redis *r, const char *prefix)
{
    struct aw_store_options o = {0};
    o.prefix = prefix;
    char err[256] = "";
    struct aw_store *s = aw_store_redis_new(r->url, &o, err, sizeof err);
    cr_assert(s, "store: %s", err);
    return s;
}

static long long command_calls(const struct test_redis *r, const char *command)
{
    redisContext *c = test_redis_connect(r);
    cr_assert(c);
    redisReply *rep = redisCommand(c, "INFO commandstats");
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    char key[64];
    snprintf(key, sizeof key, "cmdstat_%s:calls=", command);
    const char *at = strstr(rep->str, key);
    long long n = at ? atoll(at + strlen(key)) : 0;
    freeReplyObject(rep);
    redisFree(c);
    return n;
}

static void redis_do(const struct test_redis *r, const char *command)
{
    redisContext *c = test_redis_connect(r);
    cr_assert(c);
    redisReply *rep = redisCommand(c, command);
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "%s: %s", command, rep ? rep->str : "no reply");
    freeReplyObject(rep);
    redisFree(c);
}

/* The queue's members in Redis, in order, as group numbers. */
static size_t queued_in_redis(const struct test_redis *r, const char *prefix, uint64_t *out, size_t max)
{
    redisContext *c = test_redis_connect(r);
    cr_assert(c);
    redisReply *rep = redisCommand(c, "ZRANGE %s:{" RULE "}:pending 0 -1", prefix);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY);
    size_t n = 0;
    for (size_t i = 0; i < rep->elements && n < max; i++)
        out[n++] = strtoull(rep->element[i]->str, NULL, 16);
    freeReplyObject(rep);
    redisFree(c);
    return n;
}

static void push(struct aw_store *s, uint64_t group, int64_t t)
{
    struct aw_wkey k = {RULE, group, 0};
    cr_assert_eq(s->ops->pending_push(s, &k, t), 0);
}

/* Event time moves on: two syncs, after which peers see the clock. */
static void publish(struct aw_store *s, int64_t clock)
{
    s->ops->set_clock(s, clock);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(s->ops->sync(s), 0);
}

/* A new server and a first instance on it, its event time published. */
static struct aw_store *start_with_instance(struct test_redis *r, const char *prefix)
{
    cr_assert_eq(test_redis_start(r, ""), 0, "redis-server did not start");
    struct aw_store *s = open_store(r, prefix);
    publish(s, 100000);
    return s;
}

/* The instance that queued is gone for good (as if silent past the
 * stale time): a successor on the same prefix is solo. */
static struct aw_store *successor(struct test_redis *r, struct aw_store *gone, const char *prefix)
{
    cr_assert_eq(gone->ops->sync(gone), 0);
    aw_store_destroy(gone);
    char del[128];
    snprintf(del, sizeof del, "DEL %s:members %s:writers", prefix, prefix);
    redis_do(r, del);
    struct aw_store *s = open_store(r, prefix);
    publish(s, 100000);
    return s;
}

/* One finalization pass up to up_to: the groups handed out, in order,
 * each finished; returns how many (and the earliest left in *next). */
static size_t pass(struct aw_store *s, int64_t up_to, uint64_t *groups, int64_t *times, size_t max, int64_t *next)
{
    struct aw_wkey rule = {RULE, 0, 0};
    cr_assert_eq(s->ops->pending_prefetch(s, &rule, up_to, 0), 0);
    cr_assert_eq(s->ops->sync(s), 0);
    size_t n = 0;
    for (;;) {
        uint64_t g;
        int64_t t;
        bool found;
        cr_assert_eq(s->ops->pending_pop(s, &rule, up_to, &g, &t, &found), 0);
        if (!found) {
            if (next)
                *next = t;
            break;
        }
        cr_assert_lt(n, max, "more groups handed out than were queued");
        groups[n] = g;
        times[n++] = t;
        struct aw_wkey k = {RULE, g, 0};
        cr_assert_eq(s->ops->pending_done(s, &k), 0);
    }
    return n;
}

Test(redis_queue, leftover_groups_load_once_and_pop_in_order)
{
    struct test_redis r;
    struct aw_store *a = start_with_instance(&r, "q1");
    push(a, 5, 5000);
    push(a, 3, 3000);
    push(a, 1, 1000);
    push(a, 4, 3000); /* same time as 3: the group decides the order */
    push(a, 2, 2000);
    struct aw_store *b = successor(&r, a, "q1");
    uint64_t g[16];
    int64_t t[16], next = 0;
    size_t n = pass(b, 3000, g, t, 16, &next);
    cr_assert_eq(n, 4, "groups due up to 3000: %zu", n);
    uint64_t want_g[] = {1, 2, 3, 4};
    int64_t want_t[] = {1000, 2000, 3000, 3000};
    for (size_t i = 0; i < 4; i++) {
        cr_expect_eq(g[i], want_g[i], "group %zu: %llu", i, (unsigned long long)g[i]);
        cr_expect_eq(t[i], want_t[i]);
    }
    cr_expect_eq(next, 5000, "earliest left: %lld", (long long)next);

    /* Local from now on: a push merges in, and nothing asks Redis. */
    long long zr0 = command_calls(&r, "zrangebyscore"), zrange0 = command_calls(&r, "zrange");
    push(b, 7, 4000);
    n = pass(b, 4500, g, t, 16, &next);
    cr_assert_eq(n, 1);
    cr_expect_eq(g[0], 7);
    cr_expect_eq(next, 5000);
    push(b, 8, 6000);
    cr_assert_eq(b->ops->sync(b), 0);
    cr_expect_eq(command_calls(&r, "zrangebyscore"), zr0, "a pop asked Redis for due groups");
    cr_expect_eq(command_calls(&r, "zrange"), zrange0, "the queue was listed again");

    /* Redis's queue: the finished groups left it, the others are there. */
    uint64_t q[16];
    size_t nq = queued_in_redis(&r, "q1", q, 16);
    cr_assert_eq(nq, 2, "queued in redis: %zu", nq);
    cr_expect_eq(q[0], 5);
    cr_expect_eq(q[1], 8);
    aw_store_destroy(b);
    test_redis_stop(&r);
}

Test(redis_queue, second_instance_sends_pops_back_to_redis)
{
    struct test_redis r;
    struct aw_store *b = start_with_instance(&r, "q2");
    uint64_t g[16];
    int64_t t[16];
    cr_assert_eq(pass(b, 1000, g, t, 16, NULL), 0); /* (the queue is loaded: empty) */
    for (uint64_t i = 1; i <= 6; i++)
        push(b, i, (int64_t)(1000 * i));
    cr_assert_eq(b->ops->sync(b), 0);

    struct aw_store *c = open_store(&r, "q2");
    publish(c, 100000);
    publish(b, 100000); /* b learns it is no longer solo */

    uint64_t gc[16], gb[16];
    size_t nc = pass(c, 10000, gc, t, 16, NULL);
    size_t nb = pass(b, 10000, gb, t, 16, NULL);
    cr_expect_eq(nb + nc, 6, "handed out: %zu by b, %zu by c", nb, nc);
    for (size_t i = 0; i < nb; i++)
        for (size_t j = 0; j < nc; j++)
            cr_expect_neq(gb[i], gc[j], "group %llu handed out twice", (unsigned long long)gb[i]);
    aw_store_destroy(c);
    aw_store_destroy(b);
    test_redis_stop(&r);
}

/* A rule asked during the pass without a prefetch before the sync (a
 * chained rule whose upstream just alerted): the pop that loads the queue
 * answers from it at once. */
Test(redis_queue, pop_without_prefetch_answers_from_the_loaded_queue)
{
    struct test_redis r;
    struct aw_store *s = start_with_instance(&r, "q3");
    push(s, 2, 2000);
    push(s, 1, 1000);
    cr_assert_eq(s->ops->sync(s), 0);
    struct aw_wkey rule = {RULE, 0, 0};
    uint64_t g = 0;
    int64_t t = 0;
    bool found = false;
    cr_assert_eq(s->ops->pending_pop(s, &rule, 1500, &g, &t, &found), 0);
    cr_expect(found, "the due group was not handed out");
    cr_expect_eq(g, 1);
    cr_expect_eq(t, 1000);
    struct aw_wkey k = {RULE, g, 0};
    cr_assert_eq(s->ops->pending_done(s, &k), 0);
    cr_assert_eq(s->ops->pending_pop(s, &rule, 1500, &g, &t, &found), 0);
    cr_expect(!found);
    cr_expect_eq(t, 2000, "earliest left: %lld", (long long)t);
    aw_store_destroy(s);
    test_redis_stop(&r);
}

/* A group whose hash is 0 (kept as 1 in the store's maps) is loaded and
 * handed out as itself, and leaves Redis's queue when finished. */
Test(redis_queue, group_hash_zero_survives_a_load)
{
    struct test_redis r;
    struct aw_store *a = start_with_instance(&r, "q4");
    push(a, 0, 1000);
    struct aw_store *b = successor(&r, a, "q4");
    uint64_t g[16];
    int64_t t[16];
    size_t n = pass(b, 2000, g, t, 16, NULL);
    cr_assert_eq(n, 1);
    cr_expect_eq(g[0], 0, "handed out as %llu", (unsigned long long)g[0]);
    cr_assert_eq(b->ops->sync(b), 0);
    uint64_t q[16];
    cr_expect_eq(queued_in_redis(&r, "q4", q, 16), 0, "still queued in redis");
    cr_expect_eq(pass(b, 2000, g, t, 16, NULL), 0, "handed out again");
    aw_store_destroy(b);
    test_redis_stop(&r);
}

/* A read that needs Redis (a window not in the mirror) runs into a lost
 * connection; the server meanwhile lost its data.  The queue this
 * process kept goes to Redis again, and every group is still handed out
 * once. */
Test(redis_queue, reconnect_after_redis_lost_its_data_loses_no_group)
{
    struct test_redis r;
    struct aw_store *s = start_with_instance(&r, "q5");
    uint64_t g[16];
    int64_t t[16];
    cr_assert_eq(pass(s, 1000, g, t, 16, NULL), 0); /* (loaded, empty: local) */
    push(s, 1, 5000);
    push(s, 2, 6000);
    push(s, 3, 7000);
    cr_assert_eq(s->ops->sync(s), 0);
    redis_do(&r, "FLUSHALL");
    redis_do(&r, "CLIENT KILL TYPE normal SKIPME yes");
    struct aw_wkey missing = {RULE, 99, 0};
    struct aw_window_meta m;
    bool found;
    cr_assert_eq(s->ops->meta_get(s, &missing, &m, &found), 0);
    size_t n = pass(s, 10000, g, t, 16, NULL);
    n += pass(s, 10000, g + n, t + n, 16 - n, NULL);
    cr_expect_eq(n, 3, "handed out after the reconnect: %zu", n);
    aw_store_destroy(s);
    test_redis_stop(&r);
}
