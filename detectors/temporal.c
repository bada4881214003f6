/*
 * temporal.c - Sigma `temporal` and `temporal_ordered` correlations: alert
 * when the referenced rules all matched (or at least `condition` of them)
 * for one group within the timespan; with temporal_ordered, in the order
 * the correlation lists them (e.g. >= 5 failures, then a success).
 *
 * Entries are tagged with the index of the rule that matched.  Unordered:
 * a bit set of the tags seen in the window.  Ordered: one pass in time
 * order that advances through the rule list whenever the next expected
 * rule appears (greedy earliest match, which finds an ordered occurrence
 * whenever one exists).
 */
#include <stdio.h>

#include "window.h"

static bool temporal_prepare(struct window_state *ws, const struct aw_hit *hit, struct aw_window_entry *e)
{
    (void)ws;
    e->tag = (uint32_t)hit->input;
    return true;
}

struct temporal_scan {
    const struct aw_correlation *corr;
    uint64_t seen_mask;
    size_t next; /* ordered: index of the rule expected next */
    uint64_t count;
};

static int see_entry(void *ctx, const struct aw_window_entry *e)
{
    struct temporal_scan *sc = ctx;
    sc->count++;
    if (e->tag < 64)
        sc->seen_mask |= 1ULL << e->tag;
    if (sc->corr->type == AW_CORR_TEMPORAL_ORDERED && sc->next < sc->corr->nrules && e->tag == sc->next)
        sc->next++;
    return 0;
}

static int popcount64(uint64_t x)
{
    int n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

static int temporal_judge(struct window_state *ws, const struct aw_detector_env *env,
                          const struct aw_wkey *key, int64_t from_excl, int64_t to_incl,
                          struct window_verdict *v)
{
    struct temporal_scan sc = {ws->corr, 0, 0, 0};
    if (env->store->ops->window_scan(env->store, key, from_excl, to_incl, see_entry, &sc) < 0)
        return -1;
    v->count = sc.count;
    v->distinct = -1;
    int64_t have = ws->corr->type == AW_CORR_TEMPORAL_ORDERED ? (int64_t)sc.next : popcount64(sc.seen_mask);
    v->holds = aw_cmp_holds(ws->corr->cmp, have, ws->corr->threshold);
    return 0;
}

/* Whether the group's entries come from enough distinct rules at all. */
static int temporal_may_hold(struct window_state *ws, const struct aw_detector_env *env, const struct aw_wkey *key)
{
    struct temporal_scan sc = {ws->corr, 0, 0, 0};
    if (env->store->ops->window_scan(env->store, key, AW_TIME_NONE, INT64_MAX, see_entry, &sc) < 0)
        return -1;
    return (uint64_t)popcount64(sc.seen_mask) >= ws->min_entries;
}

static const struct window_kind temporal_kind = {temporal_prepare, temporal_judge, temporal_may_hold};

static int temporal_init(struct aw_detector *d, const struct aw_detector_env *env, char *err,
                         size_t errlen)
{
    if (d->rule->correlation->nrules > 64) {
        snprintf(err, errlen, "%s: a temporal correlation may reference at most 64 rules", d->rule->name);
        return -1;
    }
    return window_init(d, env, &temporal_kind, err, errlen);
}

const struct aw_detector_kind aw_detector_temporal = {
    .name = "temporal",
    .init = temporal_init,
    .on_hit = window_on_hit,
    .advance = window_advance,
    .prefetch = window_prefetch,
    .fini = window_fini,
};
