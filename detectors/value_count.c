/*
 * value_count.c - Sigma `value_count` correlation: alert when the number of
 * distinct values of a field among a group's matching events within the
 * timespan meets the condition (e.g. >= 5 distinct user.name failing from
 * one source.ip: password spraying).
 *
 * Entries carry a 64-bit hash of the value; judging scans the window into
 * a small open-addressing set and stops early once a "greater than"
 * condition is met.  Events without the field are not counted.
 */
#include <stdlib.h>
#include <string.h>

#include "auditwatch/hash.h"
#include "window.h"

static bool value_prepare(struct window_state *ws, const struct aw_hit *hit, struct aw_window_entry *e)
{
    e->tag = (uint32_t)hit->input;
    struct aw_str v;
    if (!hit->event || !aw_field_ref_first(&ws->corr->value_field[hit->input], hit->event, &v, ws->scratch))
        return false;
    e->value_hash = aw_hash64(v.ptr, v.len, 0x56414c);
    return true;
}

struct distinct_scan {
    struct window_state *ws;
    size_t cap, n;
    uint64_t count;
    int64_t stop_at; /* distinct count at which the verdict cannot change; -1 never */
};

static int add_value(void *ctx, const struct aw_window_entry *e)
{
    struct distinct_scan *sc = ctx;
    struct window_state *ws = sc->ws;
    sc->count++;
    if ((sc->n + 1) * 2 > sc->cap) { /* grow and rehash */
        size_t ncap = sc->cap ? sc->cap * 2 : 64;
        uint64_t *ns = calloc(ncap, sizeof *ns);
        if (!ns)
            abort();
        for (size_t i = 0; i < sc->cap; i++)
            if (ws->seen[i])
                for (size_t j = ws->seen[i] & (ncap - 1);; j = (j + 1) & (ncap - 1))
                    if (!ns[j]) {
                        ns[j] = ws->seen[i];
                        break;
                    }
        free(ws->seen);
        ws->seen = ns;
        ws->seen_cap = sc->cap = ncap;
    }
    uint64_t h = e->value_hash ? e->value_hash : 1;
    for (size_t j = h & (sc->cap - 1);; j = (j + 1) & (sc->cap - 1)) {
        if (ws->seen[j] == h)
            break;
        if (!ws->seen[j]) {
            ws->seen[j] = h;
            sc->n++;
            break;
        }
    }
    return sc->stop_at >= 0 && (int64_t)sc->n >= sc->stop_at;
}

static int value_judge(struct window_state *ws, const struct aw_detector_env *env,
                       const struct aw_wkey *key, int64_t from_excl, int64_t to_incl,
                       struct window_verdict *v)
{
    struct distinct_scan sc = {ws, ws->seen_cap, 0, 0, -1};
    if (ws->seen)
        memset(ws->seen, 0, ws->seen_cap * sizeof *ws->seen);
    const struct aw_correlation *c = ws->corr;
    if (c->cmp == AW_CMP_GT)
        sc.stop_at = c->threshold + 1;
    else if (c->cmp == AW_CMP_GTE)
        sc.stop_at = c->threshold;
    if (env->store->ops->window_scan(env->store, key, from_excl, to_incl, add_value, &sc) < 0)
        return -1;
    /* An early stop leaves count short; a complete count is only needed
     * for the message, so finish counting cheaply. */
    uint64_t total;
    if (env->store->ops->window_count(env->store, key, from_excl, to_incl, &total) < 0)
        return -1;
    v->count = total;
    v->distinct = (int64_t)sc.n;
    v->holds = aw_cmp_holds(c->cmp, (int64_t)sc.n, c->threshold);
    return 0;
}

/* Whether the group's entries hold enough distinct values at all. */
static int value_may_hold(struct window_state *ws, const struct aw_detector_env *env, const struct aw_wkey *key)
{
    struct distinct_scan sc = {ws, ws->seen_cap, 0, 0, (int64_t)ws->min_entries};
    if (ws->seen)
        memset(ws->seen, 0, ws->seen_cap * sizeof *ws->seen);
    if (env->store->ops->window_scan(env->store, key, AW_TIME_NONE, INT64_MAX, add_value, &sc) < 0)
        return -1;
    return sc.n >= ws->min_entries;
}

static const struct window_kind value_kind = {value_prepare, value_judge, value_may_hold};

static int value_count_init(struct aw_detector *d, const struct aw_detector_env *env, char *err,
                            size_t errlen)
{
    return window_init(d, env, &value_kind, err, errlen);
}

const struct aw_detector_kind aw_detector_value_count = {
    .name = "value_count",
    .init = value_count_init,
    .on_hit = window_on_hit,
    .advance = window_advance,
    .prefetch = window_prefetch,
    .fini = window_fini,
};
