/*
 * event_count.c - Sigma `event_count` correlation: alert when the number of
 * matching events of a group within the timespan meets the condition
 * (e.g. >= 5 SSH failures from one source.ip in 10m).
 *
 * The window engine (window.c) does grouping, lateness, suppression and
 * the alert; this kind only counts, with the store's range count, so a
 * busy group costs O(log n) per judgement rather than a scan.
 */
#include "window.h"

static bool count_prepare(struct window_state *ws, const struct aw_hit *hit, struct aw_window_entry *e)
{
    (void)ws;
    e->tag = (uint32_t)hit->input;
    return true;
}

static int count_judge(struct window_state *ws, const struct aw_detector_env *env,
                       const struct aw_wkey *key, int64_t from_excl, int64_t to_incl,
                       struct window_verdict *v)
{
    uint64_t n;
    if (env->store->ops->window_count(env->store, key, from_excl, to_incl, &n) < 0)
        return -1;
    v->count = n;
    v->distinct = -1;
    v->holds = aw_cmp_holds(ws->corr->cmp, (int64_t)n, ws->corr->threshold);
    return 0;
}

static const struct window_kind count_kind = {count_prepare, count_judge, NULL};

static int event_count_init(struct aw_detector *d, const struct aw_detector_env *env, char *err,
                            size_t errlen)
{
    return window_init(d, env, &count_kind, err, errlen);
}

const struct aw_detector_kind aw_detector_event_count = {
    .name = "event_count",
    .init = event_count_init,
    .on_hit = window_on_hit,
    .advance = window_advance,
    .prefetch = window_prefetch,
    .fini = window_fini,
};
