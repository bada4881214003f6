/*
 * pipeline.c - events through rules and detectors (see pipeline.h).
 *
 * Set-up builds, per detection rule, the list of its consumers: its own
 * single_event detector when it alerts, and every correlation detector that
 * references it with the rule's position in that correlation.  Rules are
 * bucketed by dataset so an auth event never touches Kubernetes rules, and
 * within a bucket by the actions their conditions pin (gate_index.c), so
 * an event is matched only against rules that can hold for its action.
 * Correlation detectors are kept in dependency order (upstream first), and
 * a chained correlation's lateness includes its upstreams' lateness: an
 * upstream alert for time t is only known once event time passed t by the
 * upstream's lateness, and must not count as late downstream.
 *
 * Evaluating rules allocates nothing; detectors allocate only when a window
 * or an alert needs it.
 */
#include "auditwatch/pipeline.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditwatch/hash.h"
#include "gate_index.h"

struct consumer {
    struct aw_detector *det;
    size_t input;
};

#define MAX_GATE 16

struct rule_slot {
    struct aw_rule *rule;
    const char *gate[MAX_GATE]; /* event.action values it can match (aw_rule_action_gate) */
    size_t ngate;               /* 0: try it on every event */
    struct consumer *consumers;
    size_t nconsumers;
    const struct aw_allowlist *allowlist;
    uint64_t matches;
};

struct aw_pipeline {
    struct aw_pipeline_options opt;
    struct aw_detector_env env;
    struct aw_match_ctx *match;
    struct rule_slot *slots; /* detection rules */
    size_t nslots;
    struct aw_gate_index *gates; /* slot indexes per dataset bit (auth, k8s) and action */
    struct aw_detector **dets; /* all detectors; correlations in dependency order */
    size_t ndets;
    struct aw_detector **watchers; /* detectors that see every event (on_event) */
    size_t nwatchers;
    struct aw_detector **rule_det; /* by rule index: the detector running that rule, or NULL */
    struct aw_buf evidence, fields; /* of the event being processed */
    int64_t watermark; /* min over open streams of their newest event time */
    int64_t advanced_to; /* watermark of the last advance */
    struct stream {
        int64_t newest; /* AW_TIME_NONE until the first event */
        int64_t first_hint;
        bool open;
    } *streams;
    size_t nstreams;
    uint64_t alerts;
    int failed;
    /* batching (opt.batch_events > 0): finalization once per batch */
    size_t batch_fill;
    int64_t propagated; /* watermark last handed to the detectors */
};

static struct aw_detector *new_detector(struct aw_pipeline *p, const struct aw_detector_kind *kind,
                                        struct aw_rule *rule, const char *name)
{
    struct aw_detector *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->kind = kind;
    d->rule = rule;
    d->name = name;
    d->lateness_ms = -1;
    d->watermark_ms = AW_TIME_NONE;
    p->dets[p->ndets++] = d;
    return d;
}

/* Depth of a correlation in its chain (1 = fed by detection rules only). */
static int chain_depth(const struct aw_rule *r, int guard)
{
    if (!r->correlation || guard > 32)
        return 0;
    int depth = 0;
    for (size_t i = 0; i < r->correlation->nrules; i++) {
        int d = chain_depth(r->correlation->rules[i], guard + 1);
        if (d > depth)
            depth = d;
    }
    return depth + 1;
}

static int64_t rule_lateness(const struct aw_pipeline *p, const struct aw_rule *r)
{
    return r->lateness_ms >= 0 ? r->lateness_ms : p->env.default_lateness_ms;
}

/* Lateness of a correlation including what its upstream chain adds. */
static int64_t effective_lateness(const struct aw_pipeline *p, const struct aw_rule *r, int guard)
{
    int64_t own = rule_lateness(p, r), up = 0;
    if (r->correlation && guard < 32)
        for (size_t i = 0; i < r->correlation->nrules; i++) {
            const struct aw_rule *u = r->correlation->rules[i];
            if (u->correlation) {
                int64_t l = effective_lateness(p, u, guard + 1);
                if (l > up)
                    up = l;
            }
        }
    return own + up;
}

static int emit_from_detector(void *ctx, struct aw_detector *from, const struct aw_alert *a);

struct aw_pipeline *aw_pipeline_new(const struct aw_pipeline_options *o, char *err, size_t errlen)
{
    struct aw_pipeline *p = calloc(1, sizeof *p);
    struct aw_ruleset *set = o->rules;
    size_t nrules = set ? set->n : 0;
    if (!p)
        goto oom;
    p->opt = *o;
    p->watermark = AW_TIME_NONE;
    p->advanced_to = AW_TIME_NONE;
    p->propagated = AW_TIME_NONE;
    p->match = aw_match_ctx_new();
    p->slots = calloc(nrules + 1, sizeof *p->slots);
    p->rule_det = calloc(nrules + 1, sizeof *p->rule_det);
    p->dets = calloc(nrules + 2 + (o->config ? o->config->nfirst_seen : 0), sizeof *p->dets);
    p->gates = aw_gate_index_new();
    if (!p->match || !p->slots || !p->rule_det || !p->dets || !p->gates)
        goto oom;
    p->env.store = o->store;
    p->env.config = o->config;
    p->env.match = p->match;
    p->env.emit = emit_from_detector;
    p->env.emit_ctx = p;
    p->env.default_lateness_ms = o->config ? o->config->lateness_ms : AW_DEFAULT_LATENESS_MS;

    /* Correlations first, sorted by chain depth so upstreams come first. */
    int max_depth = 0;
    for (size_t i = 0; i < nrules; i++) {
        int dd = chain_depth(set->rules[i], 0);
        if (dd > max_depth)
            max_depth = dd;
    }
    for (int depth = 1; depth <= max_depth; depth++)
        for (size_t i = 0; i < nrules; i++) {
            struct aw_rule *r = set->rules[i];
            if (!r->correlation || chain_depth(r, 0) != depth || r->disabled)
                continue;
            struct aw_detector *d = new_detector(p, aw_detector_kind_for_rule(r), r, r->name);
            if (!d)
                goto oom;
            d->lateness_ms = effective_lateness(p, r, 0);
            if (d->kind->init(d, &p->env, err, errlen) < 0)
                goto fail;
            p->rule_det[r->index] = d;
        }
    /* A rule that feeds a first_seen detector is its building block, as a
     * rule referenced by a correlation is: it alerts by itself only when
     * the entry says generate: true. */
    size_t nfirst_seen = o->config && !o->rules_only ? o->config->nfirst_seen : 0;
    for (size_t i = 0; i < nfirst_seen; i++) {
        const struct aw_first_seen_cfg *fc = &o->config->first_seen[i];
        struct aw_rule *r = fc->rule ? aw_ruleset_find(set, fc->rule) : NULL;
        if (!r || r->correlation || r->disabled) {
            snprintf(err, errlen, "%s:%d: first_seen %s: rule '%s' is not a loaded, enabled detection rule",
                     o->config->path ? o->config->path : "configuration", fc->line,
                     fc->name ? fc->name : "?", fc->rule ? fc->rule : "");
            goto fail;
        }
        if (!fc->generate && !r->referenced)
            r->alerts = false;
    }
    /* Detection rules: their own alerts, and their consumers. */
    for (size_t i = 0; i < nrules; i++) {
        struct aw_rule *r = set->rules[i];
        if (r->correlation || r->disabled)
            continue;
        struct rule_slot *slot = &p->slots[p->nslots];
        slot->rule = r;
        slot->consumers = calloc(r->nconsumers + 1, sizeof *slot->consumers);
        if (!slot->consumers)
            goto oom;
        if (r->alerts) {
            struct aw_detector *d = new_detector(p, &aw_detector_single_event, r, r->name);
            if (!d || d->kind->init(d, &p->env, err, errlen) < 0)
                goto fail;
            p->rule_det[r->index] = d;
            slot->consumers[slot->nconsumers++] = (struct consumer){d, 0};
        }
        if (r->allowlist && o->config) {
            slot->allowlist = aw_config_allowlist(o->config, r->allowlist);
            if (!slot->allowlist) {
                snprintf(err, errlen, "%s:%d: rule %s names allowlist '%s', which the configuration "
                         "does not define", r->file, r->line, r->name, r->allowlist);
                goto fail;
            }
        }
        slot->ngate = aw_rule_action_gate(r, slot->gate, MAX_GATE);
        size_t idx = p->nslots++;
        for (int b = 0; b < 2; b++)
            if ((r->datasets & (1u << b)) && !aw_gate_index_add(p->gates, b, idx, slot->gate, slot->ngate))
                goto oom;
    }
    if (!aw_gate_index_build(p->gates))
        goto oom;
    /* Wire consumers now that every correlation has its detector. */
    for (size_t s = 0; s < p->nslots; s++) {
        struct rule_slot *slot = &p->slots[s];
        for (size_t c = 0; c < slot->rule->nconsumers; c++) {
            struct aw_rule *corr = slot->rule->consumers[c];
            struct aw_detector *d = p->rule_det[corr->index];
            if (!d)
                continue;
            for (size_t k = 0; k < corr->correlation->nrules; k++)
                if (corr->correlation->rules[k] == slot->rule)
                    slot->consumers[slot->nconsumers++] = (struct consumer){d, k};
        }
    }
    /* Config-driven detectors (service map, first_seen). */
    if (o->config && o->config->service_map_path && !o->rules_only) {
        struct aw_detector *d = new_detector(p, &aw_detector_service_map, NULL, "k8s.unmapped_service");
        if (!d || d->kind->init(d, &p->env, err, errlen) < 0)
            goto fail;
    }
    for (size_t i = 0; i < nfirst_seen; i++) {
        const struct aw_first_seen_cfg *fc = &o->config->first_seen[i];
        struct aw_detector *d = new_detector(p, &aw_detector_first_seen, NULL, fc->name);
        if (!d)
            goto oom;
        d->state = (void *)fc; /* the kind's init replaces it */
        if (d->kind->init(d, &p->env, err, errlen) < 0)
            goto fail;
        /* Feed it the matches of its rule. */
        struct aw_rule *r = aw_ruleset_find(set, fc->rule);
        for (size_t s = 0; s < p->nslots; s++) {
            struct rule_slot *slot = &p->slots[s];
            if (slot->rule != r)
                continue;
            struct consumer *nc = realloc(slot->consumers, (slot->nconsumers + 1) * sizeof *nc);
            if (!nc)
                goto oom;
            slot->consumers = nc;
            slot->consumers[slot->nconsumers++] = (struct consumer){d, 0};
        }
    }
    p->watchers = calloc(p->ndets + 1, sizeof *p->watchers);
    if (!p->watchers)
        goto oom;
    for (size_t i = 0; i < p->ndets; i++)
        if (p->dets[i]->kind->on_event)
            p->watchers[p->nwatchers++] = p->dets[i];
    return p;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    aw_pipeline_free(p);
    return NULL;
}

void aw_pipeline_free(struct aw_pipeline *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->ndets; i++) {
        if (p->dets[i]->kind->fini)
            p->dets[i]->kind->fini(p->dets[i]);
        free(p->dets[i]);
    }
    for (size_t s = 0; p->slots && s < p->nslots; s++)
        free(p->slots[s].consumers);
    free(p->slots);
    free(p->streams);
    free(p->dets);
    free(p->watchers);
    free(p->rule_det);
    aw_gate_index_free(p->gates);
    aw_match_ctx_free(p->match);
    aw_buf_free(&p->evidence);
    aw_buf_free(&p->fields);
    free(p);
}

static bool allowlisted(const struct aw_allowlist *al, const struct aw_event *ev)
{
    const struct aw_str *u = &ev->fields[AW_F_USER_NAME];
    if (!al || !u->ptr)
        return false;
    char name[512];
    if (u->len >= sizeof name)
        return false;
    memcpy(name, u->ptr, u->len);
    name[u->len] = '\0';
    for (size_t i = 0; i < al->patterns.n; i++)
        if (fnmatch(al->patterns.items[i], name, 0) == 0)
            return true;
    return false;
}

/* Hand an alert of a correlation to the correlations that consume it. */
static int chain(struct aw_pipeline *p, struct aw_detector *from, const struct aw_alert *a)
{
    const struct aw_rule *r = from->rule;
    for (size_t c = 0; r && c < r->nconsumers; c++) {
        struct aw_rule *corr = r->consumers[c];
        struct aw_detector *d = p->rule_det[corr->index];
        if (!d)
            continue;
        for (size_t k = 0; k < corr->correlation->nrules; k++) {
            if (corr->correlation->rules[k] != r)
                continue;
            struct aw_hit hit = {a->time_ms, k, NULL, a, 0, NULL, NULL, 0, 0};
            if (d->kind->on_hit(d, &p->env, &hit) < 0)
                return -1;
        }
    }
    return 0;
}

static int emit_from_detector(void *ctx, struct aw_detector *from, const struct aw_alert *a)
{
    struct aw_pipeline *p = ctx;
    if (from->rule && from->rule->correlation && chain(p, from, a) < 0)
        return -1;
    /* Config-driven detectors always alert; rules only when they alert. */
    if (from->rule && !from->rule->alerts)
        return 0;
    p->alerts++;
    return p->opt.on_alert ? p->opt.on_alert(p->opt.ctx, a) : 0;
}

static int store_sync(struct aw_pipeline *p)
{
    struct aw_store *s = p->env.store;
    return s && s->ops->sync ? s->ops->sync(s) : 0;
}

/* Batched store: the detectors' questions for the coming advance go out
 * with the batch's writes, then the batch is synced. */
/* A store other instances share (Redis): how far a group is final also
 * depends on their event time, which moves without ours moving. */
static bool shared_store(const struct aw_pipeline *p)
{
    return p->env.store && p->env.store->ops->pending_limit;
}

static int prefetch_and_sync(struct aw_pipeline *p, bool flush)
{
    struct aw_store *s = p->env.store;
    if (!s || !s->ops->sync)
        return 0;
    /* The watermark a shared store publishes for the peers (who finalize
     * up to the slowest one) is the one the last pass finalized, set at
     * its end: what that pass wrote - a chained rule's upstream alerts
     * among it - goes with this sync, ahead of the watermark.  Publishing
     * the newer one now would let a peer finalize a downstream window
     * before this instance has added the upstream alerts it is about to
     * raise.  ("finished" is likewise published only after the final
     * pass.) */
    bool will_advance = flush || p->watermark != p->advanced_to || shared_store(p); /* as advance_all decides */
    for (size_t i = 0; will_advance && i < p->ndets; i++) {
        struct aw_detector *d = p->dets[i];
        if (d->kind->prefetch && d->kind->prefetch(d, &p->env, p->watermark, flush) < 0)
            return -1;
    }
    return s->ops->sync(s);
}

static int advance_all(struct aw_pipeline *p, bool flush)
{
    /* Called after every event: only when event time moved (or on flush)
     * can anything become final - or, with a shared store, when a peer
     * that held finalization back caught up or went stale. */
    if (!flush && p->watermark == p->advanced_to && !shared_store(p))
        return 0;
    p->advanced_to = p->watermark;
    for (size_t i = 0; i < p->ndets; i++) {
        struct aw_detector *d = p->dets[i];
        if (d->kind->advance && d->kind->advance(d, &p->env, p->watermark, flush) < 0)
            return -1;
    }
    /* The store's clock (what its windows expire by) moves only after the
     * pass: when event time jumps past a window's TTL (a partition
     * catching up, a quiet stream), the window must still be there for
     * what this pass adds to it - a chained rule's window gets its
     * upstream's alerts only as the upstream is finalized. */
    if (p->watermark != AW_TIME_NONE && p->env.store->ops->set_clock)
        p->env.store->ops->set_clock(p->env.store, p->watermark);
    return 0;
}

/* The pipeline watermark: the newest time every open stream has reached.
 * A registered stream that has not given an event yet counts with its
 * first-record hint (or holds nothing back when it has none).  It never
 * moves backwards. */
static void recompute_watermark(struct aw_pipeline *p)
{
    int64_t w = AW_TIME_NONE;
    bool any = false;
    for (size_t i = 0; i < p->nstreams; i++) {
        const struct stream *st = &p->streams[i];
        if (!st->open)
            continue;
        int64_t t = st->newest != AW_TIME_NONE ? st->newest : st->first_hint;
        if (t == AW_TIME_NONE)
            continue;
        if (!any || t < w)
            w = t;
        any = true;
    }
    if (any && (p->watermark == AW_TIME_NONE || w > p->watermark))
        p->watermark = w;
}

int aw_pipeline_stream_open(struct aw_pipeline *p, int64_t first_time_ms)
{
    struct stream *ns = realloc(p->streams, (p->nstreams + 1) * sizeof *ns);
    if (!ns)
        return -1;
    p->streams = ns;
    p->streams[p->nstreams] = (struct stream){AW_TIME_NONE, first_time_ms, true};
    return (int)p->nstreams++;
}

int aw_pipeline_stream_close(struct aw_pipeline *p, int stream)
{
    if (stream < 0 || (size_t)stream >= p->nstreams)
        return -1;
    p->streams[stream].open = false;
    recompute_watermark(p);
    return aw_pipeline_end_batch(p);
}

static int batch_done(struct aw_pipeline *p)
{
    return p->opt.on_batch ? p->opt.on_batch(p->opt.ctx) : 0;
}

int aw_pipeline_end_batch(struct aw_pipeline *p)
{
    p->batch_fill = 0;
    if (prefetch_and_sync(p, false) < 0 || advance_all(p, false) < 0)
        return -1;
    return batch_done(p);
}

int aw_pipeline_process(struct aw_pipeline *p, const struct aw_event *ev)
{
    if (p->nstreams == 0 && aw_pipeline_stream_open(p, AW_TIME_NONE) < 0)
        return -1;
    return aw_pipeline_process_stream(p, 0, ev);
}

int aw_pipeline_process_stream(struct aw_pipeline *p, int stream, const struct aw_event *ev)
{
    unsigned bit = aw_event_dataset_bit(ev);
    int b = bit == AW_DATASET_K8S ? 1 : 0;
    bool rendered = false;
    uint64_t id_hash = 0;
    if (bit) {
        /* Only the rules whose action gate admits the event's action
         * (values compared without case, as the matcher would). */
        const struct aw_str *action = &ev->fields[AW_F_EVENT_ACTION];
        size_t ncand;
        const size_t *cand = aw_gate_index_candidates(p->gates, b, action->ptr, action->len, &ncand);
        for (size_t i = 0; i < ncand; i++) {
            struct rule_slot *slot = &p->slots[cand[i]];
            if (!aw_rule_logsource_admits(slot->rule, ev) || !aw_rule_matches(slot->rule, ev, p->match))
                continue;
            if (slot->allowlist && allowlisted(slot->allowlist, ev))
                continue;
            slot->matches++;
            if (!rendered) { /* once per event, whichever rules match */
                aw_buf_reset(&p->evidence);
                aw_buf_reset(&p->fields);
                aw_event_pack_summary(ev, &p->evidence);
                const struct aw_str *id = &ev->fields[AW_F_AUDITWATCH_ID];
                id_hash = aw_hash64(id->ptr ? id->ptr : "", id->ptr ? id->len : 0, 0);
                rendered = true;
            }
            for (size_t c = 0; c < slot->nconsumers; c++) {
                struct aw_detector *d = slot->consumers[c].det;
                struct aw_hit hit = {ev->timestamp_ms, slot->consumers[c].input, ev, NULL,
                                     id_hash, p->evidence.data, p->fields.data ? p->fields.data : "",
                                     p->evidence.len, p->fields.len};
                if (d->kind->on_hit(d, &p->env, &hit) < 0)
                    return -1;
            }
        }
    }
    for (size_t i = 0; i < p->nwatchers; i++) {
        struct aw_detector *d = p->watchers[i];
        if (d->kind->on_event(d, &p->env, ev) < 0)
            return -1;
    }
    struct stream *st = &p->streams[stream];
    if (st->newest == AW_TIME_NONE || ev->timestamp_ms > st->newest) {
        st->newest = ev->timestamp_ms;
        recompute_watermark(p);
    }
    if (!p->opt.batch_events) /* (a shared store re-checks its peers per batch only) */
        return p->watermark == p->advanced_to ? 0 : advance_all(p, false);
    /* Batched: detectors see the new watermark now (their late checks
     * stay per event), finalization waits for the end of the batch. */
    if (p->watermark != p->propagated) {
        p->propagated = p->watermark;
        for (size_t i = 0; i < p->ndets; i++) {
            struct aw_detector *d = p->dets[i];
            if (p->watermark != AW_TIME_NONE && (d->watermark_ms == AW_TIME_NONE || p->watermark > d->watermark_ms))
                d->watermark_ms = p->watermark;
        }
    }
    /* (However far event time moves within a batch, an upstream alert
     * finalized at its end is not late downstream: window_on_hit judges
     * such hits against what the downstream rule itself has finalized,
     * and every rule finalizes in dependency order in one pass.) */
    if (++p->batch_fill >= p->opt.batch_events || (p->watermark != AW_TIME_NONE && p->advanced_to == AW_TIME_NONE))
        return aw_pipeline_end_batch(p);
    return 0;
}

int aw_pipeline_flush(struct aw_pipeline *p)
{
    p->batch_fill = 0;
    if (prefetch_and_sync(p, true) < 0 || advance_all(p, true) < 0 || store_sync(p) < 0)
        return -1;
    struct aw_store *s = p->env.store;
    if (s && s->ops->sync && s->ops->set_clock) { /* finished: peers need not wait for us */
        s->ops->set_clock(s, INT64_MAX);
        if (store_sync(p) < 0)
            return -1;
    }
    return batch_done(p);
}

uint64_t aw_pipeline_alert_count(const struct aw_pipeline *p) { return p->alerts; }

size_t aw_pipeline_stats(const struct aw_pipeline *p, struct aw_rule_stats *out, size_t max)
{
    size_t n = 0;
    for (size_t s = 0; s < p->nslots && n < max; s++) {
        const struct rule_slot *slot = &p->slots[s];
        const struct aw_detector *d = p->rule_det[slot->rule->index];
        out[n++] = (struct aw_rule_stats){slot->rule->name, slot->matches, d ? d->stats.alerts : 0, 0, 0,
                                          !slot->rule->alerts};
    }
    for (size_t i = 0; i < p->ndets && n < max; i++) {
        const struct aw_detector *d = p->dets[i];
        if (d->rule && !d->rule->correlation)
            continue; /* reported with its rule above */
        out[n++] = (struct aw_rule_stats){d->name, d->stats.hits, d->stats.alerts, d->stats.late,
                                          d->stats.duplicates, d->rule && !d->rule->alerts};
    }
    return n;
}

int aw_pipeline_adopt_streams(struct aw_pipeline *to, const struct aw_pipeline *from)
{
    struct stream *copy = malloc((from->nstreams ? from->nstreams : 1) * sizeof *copy);
    if (!copy)
        return -1;
    memcpy(copy, from->streams, from->nstreams * sizeof *copy);
    free(to->streams);
    to->streams = copy;
    to->nstreams = from->nstreams;
    to->watermark = from->watermark;
    return 0;
}

int64_t aw_pipeline_watermark(const struct aw_pipeline *p) { return p->watermark; }
