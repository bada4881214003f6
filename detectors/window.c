/*
 * window.c - the correlation window engine (see window.h).
 *
 * on_hit turns a hit into a window entry of its group: the group text is
 * canonical JSON of the group-by values in rule order (absent -> null), and
 * its hash names the window in the store.  The entry carries what the alert
 * will need later (evidence and the event's main fields), because the
 * event itself is gone by the time the window is finalized.
 *
 * advance pops the groups whose pending entries are now final, reads their
 * entries after the group's cursor, and judges each entry's window in
 * order.  The cursor and the suppression go back to the store in the
 * group's meta, so a restart (Redis) resumes where it stopped.
 */
#include "window.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditwatch/hash.h"
#include "auditwatch/hashmap.h"
#include "xalloc.h"

static int64_t sat_sub(int64_t a, int64_t b)
{
    if (a == AW_TIME_NONE)
        return AW_TIME_NONE;
    return a < INT64_MIN + b ? INT64_MIN + 1 : a - b;
}

void window_format_duration(int64_t ms, struct aw_buf *out)
{
    if (ms % 1000) {
        aw_buf_append_i64(out, ms);
        aw_buf_append_str(out, "ms");
        return;
    }
    int64_t s = ms / 1000;
    if (s >= 86400 && s % 86400 == 0) {
        aw_buf_append_i64(out, s / 86400);
        aw_buf_append_char(out, 'd');
    } else if (s >= 3600 && s % 3600 == 0) {
        aw_buf_append_i64(out, s / 3600);
        aw_buf_append_char(out, 'h');
    } else if (s >= 60 && s % 60 == 0) {
        aw_buf_append_i64(out, s / 60);
        aw_buf_append_char(out, 'm');
    } else {
        aw_buf_append_i64(out, s);
        aw_buf_append_char(out, 's');
    }
}

int window_init(struct aw_detector *d, const struct aw_detector_env *env, const struct window_kind *k,
                char *err, size_t errlen)
{
    struct window_state *ws = calloc(1, sizeof *ws);
    if (!ws) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ws->kind = k;
    ws->rule = d->rule;
    ws->corr = d->rule->correlation;
    ws->suppress_ms = d->rule->suppress_ms >= 0 ? d->rule->suppress_ms : ws->corr->timespan_ms;
    ws->rule_hash = aw_store_rule_hash(d->rule->name);
    /* Unknown rather than nothing: the store may hold groups queued before
     * this detector existed (a restart on Redis, a rule reload), so the
     * first advance looks at the queue once. */
    ws->next_due = INT64_MIN + 1;
    ws->finalized_to = AW_TIME_NONE;
    /* the fewest entries a window needs before its condition can hold */
    switch (ws->corr->cmp) {
    case AW_CMP_GTE:
    case AW_CMP_EQ: ws->min_entries = ws->corr->threshold > 0 ? (uint64_t)ws->corr->threshold : 0; break;
    case AW_CMP_GT: ws->min_entries = ws->corr->threshold >= 0 ? (uint64_t)ws->corr->threshold + 1 : 0; break;
    default: ws->min_entries = 0; /* lt, lte: an empty window may hold */
    }
    ws->env = env;
    ws->group_key_end = calloc(ws->corr->ngroup + 1, sizeof *ws->group_key_end);
    if (!ws->group_key_end) {
        free(ws);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < ws->corr->ngroup; i++) {
        aw_buf_append_char(&ws->group_keys, i ? ',' : '{');
        aw_buf_json_cstr(&ws->group_keys, ws->corr->group_by[i].name);
        aw_buf_append_char(&ws->group_keys, ':');
        ws->group_key_end[i] = ws->group_keys.len;
    }
    aw_hashmap_init(&ws->suppressed);
    if (d->lateness_ms < 0)
        d->lateness_ms = d->rule->lateness_ms >= 0 ? d->rule->lateness_ms : env->default_lateness_ms;
    d->watermark_ms = AW_TIME_NONE;
    d->state = ws;
    return 0;
}

void window_fini(struct aw_detector *d)
{
    struct window_state *ws = d->state;
    if (!ws)
        return;
    aw_buf_free(&ws->group_keys);
    free(ws->group_key_end);
    aw_buf_free(&ws->group);
    aw_buf_free(&ws->evidence);
    aw_buf_free(&ws->fields);
    aw_buf_free(&ws->message);
    aw_buf_free(&ws->tmp);
    for (size_t i = 0; i < AW_EVIDENCE_MAX; i++)
        aw_buf_free(&ws->rendered[i]);
    aw_buf_free(&ws->rendered_fields);
    aw_hashmap_free(&ws->suppressed);
    free(ws->pend);
    free(ws->seen);
    free(ws);
    d->state = NULL;
}

/* A member of a group text {"k":"v"|null,...}. */
struct group_member {
    const char *key, *val; /* val NULL: null */
    size_t key_len, val_len;
};

#define SIMPLE_GROUP_MAX 16

/* Split a group text into its members without a JSON parser, when the
 * text has the simple form this file writes and nothing that would need
 * one: no escapes, only ASCII, no repeated key, at most SIMPLE_GROUP_MAX
 * members.  False otherwise; the caller then reads it with jansson, whose
 * reading defines the result. */
static bool split_simple_group(const char *s, size_t n, struct group_member *out, size_t *count)
{
    const char *p = s, *end = s + n;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\\' || (unsigned char)s[i] >= 0x80 || (unsigned char)s[i] < 0x20)
            return false;
    if (p == end || *p++ != '{')
        return false;
    if (p < end && *p == '}')
        return (*count = 0, p + 1 == end);
    for (;;) {
        if (k == SIMPLE_GROUP_MAX || p == end || *p++ != '"')
            return false;
        const char *key = p, *q = memchr(p, '"', (size_t)(end - p));
        if (!q || q + 1 >= end || q[1] != ':')
            return false;
        struct group_member m = {key, NULL, (size_t)(q - key), 0};
        p = q + 2;
        if (end - p >= 4 && !memcmp(p, "null", 4)) {
            p += 4;
        } else if (p < end && *p == '"') {
            m.val = ++p;
            q = memchr(p, '"', (size_t)(end - p));
            if (!q)
                return false;
            m.val_len = (size_t)(q - p);
            p = q + 1;
        } else {
            return false;
        }
        for (size_t j = 0; j < k; j++)
            if (out[j].key_len == m.key_len && !memcmp(out[j].key, m.key, m.key_len))
                return false;
        out[k++] = m;
        if (p == end)
            return false;
        if (*p == '}') {
            *count = k;
            return p + 1 == end;
        }
        if (*p++ != ',')
            return false;
    }
}

/* Canonical group text of a hit into ws->group. */
static void build_group(struct window_state *ws, const struct aw_hit *hit)
{
    struct aw_buf *g = &ws->group;
    aw_buf_reset(g);
    json_t *up = NULL;
    struct group_member upm[SIMPLE_GROUP_MAX];
    size_t nupm = 0;
    bool simple = false;
    if (!hit->event && hit->upstream && hit->upstream->group_json) {
        simple = split_simple_group(hit->upstream->group_json, hit->upstream->group_json_len, upm, &nupm);
        if (!simple)
            up = json_loadb(hit->upstream->group_json, hit->upstream->group_json_len, 0, NULL);
    }
    if (!ws->corr->ngroup)
        aw_buf_append_char(g, '{');
    for (size_t i = 0; i < ws->corr->ngroup; i++) {
        const struct aw_group_field *gf = &ws->corr->group_by[i];
        size_t from = i ? ws->group_key_end[i - 1] : 0;
        aw_buf_append(g, ws->group_keys.data + from, ws->group_key_end[i] - from); /* {"name": */
        struct aw_str v;
        const struct group_member *um = NULL;
        for (size_t j = 0; simple && j < nupm && !um; j++)
            if (upm[j].key_len == strlen(gf->name) && !memcmp(upm[j].key, gf->name, upm[j].key_len))
                um = &upm[j];
        if (hit->event && aw_field_ref_first(&gf->per_rule[hit->input], hit->event, &v, ws->scratch)) {
            aw_buf_json_string(g, v.ptr, v.len);
        } else if (um && um->val) {
            aw_buf_json_string(g, um->val, um->val_len);
        } else if (up && json_is_string(json_object_get(up, gf->name))) {
            json_t *s = json_object_get(up, gf->name);
            aw_buf_json_string(g, json_string_value(s), json_string_length(s));
        } else {
            aw_buf_append_str(g, "null");
        }
    }
    aw_buf_append_char(g, '}');
    json_decref(up);
}

static int64_t entry_ttl(const struct aw_detector *d, const struct window_state *ws)
{
    int64_t span = ws->corr->timespan_ms;
    int64_t keep = span > ws->suppress_ms ? span : ws->suppress_ms;
    return keep + d->lateness_ms + 1000;
}

/* Evidence of the last AW_EVIDENCE_MAX entries of a window, in time order. */
struct evidence_ring {
    /* The last AW_EVIDENCE_MAX entries of the scan (the store keeps what a
     * scan hands out valid until its next call); rendered only after the
     * scan, so a window of thousands of entries costs neither a copy nor
     * a render per entry. */
    struct aw_window_entry last[AW_EVIDENCE_MAX];
    size_t count;
    struct aw_window_entry completing;
    bool have_completing;
    uint64_t completing_id;
};

static int collect_evidence(void *ctx, const struct aw_window_entry *e)
{
    struct evidence_ring *r = ctx;
    r->last[r->count % AW_EVIDENCE_MAX] = *e;
    r->count++;
    if (e->id_hash == r->completing_id) {
        r->completing = *e;
        r->have_completing = true;
    }
    return 0;
}

/* Entries hold either an event summary (aw_event_pack_summary) or, for
 * hits from an upstream correlation, JSON: render or copy accordingly. */
static void render_evidence(const char *p, size_t n, int64_t time_ms, struct aw_buf *out)
{
    if (n && p[0] == AW_SUMMARY_TAG)
        aw_summary_render_evidence(p, n, time_ms, out);
    else
        aw_buf_append(out, p, n);
}

static void render_fields(const struct evidence_ring *r, struct aw_buf *out)
{
    const struct aw_window_entry *c = &r->completing;
    if (!r->have_completing)
        return;
    if (c->evidence_len && c->evidence[0] == AW_SUMMARY_TAG)
        aw_summary_render_fields(c->evidence, c->evidence_len, out);
    else
        aw_buf_append(out, c->fields, c->fields_len);
}

static void describe(struct window_state *ws, const struct window_verdict *v, const char *group,
                     size_t group_len)
{
    struct aw_buf *m = &ws->message;
    aw_buf_reset(m);
    aw_buf_append_str(m, ws->rule->title ? ws->rule->title : ws->rule->name);
    aw_buf_append_str(m, ": ");
    switch (ws->corr->type) {
    case AW_CORR_EVENT_COUNT:
        aw_buf_append_u64(m, v->count);
        aw_buf_append_str(m, " matching events");
        break;
    case AW_CORR_VALUE_COUNT:
        aw_buf_append_i64(m, v->distinct);
        aw_buf_append_str(m, " distinct ");
        aw_buf_append_str(m, ws->corr->value_field_name ? ws->corr->value_field_name : "values");
        aw_buf_append_str(m, " in ");
        aw_buf_append_u64(m, v->count);
        aw_buf_append_str(m, " events");
        break;
    default:
        aw_buf_append_str(m, ws->corr->type == AW_CORR_TEMPORAL_ORDERED ? "in order: " : "all of: ");
        for (size_t i = 0; i < ws->corr->nrules; i++) {
            if (i)
                aw_buf_append_str(m, ", ");
            aw_buf_append_str(m, ws->corr->rule_refs[i]);
        }
    }
    if (group_len > 2) {
        aw_buf_append_str(m, " for ");
        /* {"a":"x","b":"y"} -> a=x b=y, readable and still unambiguous enough */
        struct group_member gm[SIMPLE_GROUP_MAX];
        size_t ngm;
        if (split_simple_group(group, group_len, gm, &ngm)) {
            for (size_t i = 0; i < ngm; i++) {
                if (i)
                    aw_buf_append_char(m, ' ');
                aw_buf_append(m, gm[i].key, gm[i].key_len);
                aw_buf_append_char(m, '=');
                if (gm[i].val)
                    aw_buf_append(m, gm[i].val, gm[i].val_len);
                else
                    aw_buf_append_str(m, "(none)");
            }
            group_len = 0; /* done: skip the general reading below */
        }
        json_t *g = group_len ? json_loadb(group, group_len, 0, NULL) : NULL;
        const char *k;
        json_t *val;
        bool first = true;
        json_object_foreach(g, k, val)
        {
            if (!first)
                aw_buf_append_char(m, ' ');
            first = false;
            aw_buf_append_str(m, k);
            aw_buf_append_char(m, '=');
            if (json_is_string(val))
                aw_buf_append(m, json_string_value(val), json_string_length(val));
            else
                aw_buf_append_str(m, "(none)");
        }
        json_decref(g);
    }
    aw_buf_append_str(m, " within ");
    window_format_duration(ws->corr->timespan_ms, m);
    aw_buf_append_char(m, '\0');
}

/* Build and emit the alert whose window ends at (t, id). */
static int emit_alert(struct aw_detector *d, const struct aw_detector_env *env, const struct aw_wkey *key,
                      const char *group, size_t group_len, int64_t t, uint64_t id,
                      const struct window_verdict *v, char alert_id[AW_ALERT_ID_LEN + 1])
{
    struct window_state *ws = d->state;
    int64_t from = t - ws->corr->timespan_ms;
    struct evidence_ring ring;
    memset(&ring, 0, sizeof ring);
    ring.completing_id = id;
    if (env->store->ops->window_scan(env->store, key, from, t, collect_evidence, &ring) < 0)
        return -1;
    struct aw_alert a;
    memset(&a, 0, sizeof a);
    a.rule_name = ws->rule->name;
    a.rule_id = ws->rule->id;
    a.rule_title = ws->rule->title;
    a.description = ws->rule->description;
    a.level = ws->rule->level;
    a.techniques = ws->rule->techniques;
    a.ntechniques = ws->rule->ntechniques;
    a.time_ms = t;
    aw_alert_make_id_hashed(a.alert_id, ws->rule->name, group, group_len, id);
    memcpy(alert_id, a.alert_id, sizeof a.alert_id);
    describe(ws, v, group, group_len);
    a.message = ws->message.data;
    a.group_json = group;
    a.group_json_len = group_len;
    a.has_window = true;
    a.window_start_ms = from;
    a.window_end_ms = t;
    a.count = v->count;
    a.distinct = v->distinct;
    size_t n = ring.count < AW_EVIDENCE_MAX ? ring.count : AW_EVIDENCE_MAX;
    struct aw_buf *rendered = ws->rendered, *fields = &ws->rendered_fields;
    for (size_t i = 0; i < n; i++) {
        aw_buf_reset(&rendered[i]);
        const struct aw_window_entry *x = &ring.last[(ring.count - n + i) % AW_EVIDENCE_MAX];
        render_evidence(x->evidence, x->evidence_len, x->time_ms, &rendered[i]);
        a.evidence[i] = rendered[i].data;
        a.evidence_len[i] = rendered[i].len;
    }
    a.nevidence = n;
    aw_buf_reset(fields);
    render_fields(&ring, fields);
    a.fields = fields->data;
    a.fields_len = fields->len;
    d->stats.alerts++;
    int rc = env->emit(env->emit_ctx, d, &a);
    return rc;
}

/* Queue a group for finalization at time t (the store keeps the earliest). */
static int queue(struct window_state *ws, struct aw_store *s, const struct aw_wkey *key, int64_t t)
{
    if (ws->next_due == AW_TIME_NONE || t < ws->next_due)
        ws->next_due = t;
    return s->ops->pending_push(s, key, t);
}

/* A redelivered event that completed the alert suppressing its group:
 * emit that alert again, same id (consumers deduplicate). */
static int reemit(struct aw_detector *d, const struct aw_detector_env *env, const struct aw_wkey *key,
                  int64_t t, uint64_t id)
{
    struct window_state *ws = d->state;
    struct aw_window_meta meta;
    bool found;
    if (env->store->ops->meta_get(env->store, key, &meta, &found) < 0)
        return -1;
    if (!found || !meta.alert_id[0] || meta.suppress_entry != id)
        return 0;
    aw_buf_reset(&ws->tmp);
    aw_buf_append(&ws->tmp, meta.group_json, meta.group_json_len);
    struct window_verdict v = {0};
    v.distinct = -1;
    if (ws->kind->judge(ws, env, key, t - ws->corr->timespan_ms, t, &v) < 0)
        return -1;
    char alert_id[AW_ALERT_ID_LEN + 1];
    return emit_alert(d, env, key, ws->tmp.data, ws->tmp.len, t, id, &v, alert_id);
}

/* Outcome of a batched hit (see store.h window_hit). */
static int hit_done(void *ctx, const struct aw_wkey *key, int64_t t, uint64_t id, bool completed)
{
    struct aw_detector *d = ctx;
    struct window_state *ws = d->state;
    d->stats.duplicates++;
    return completed ? reemit(d, ws->env, key, t, id) : 0;
}

int window_on_hit(struct aw_detector *d, const struct aw_detector_env *env, const struct aw_hit *hit)
{
    struct window_state *ws = d->state;
    d->stats.hits++;
    /* An event older than the watermark minus the lateness is late.  A
     * hit from an upstream correlation is not: it exists only once the
     * upstream has finalized its time, and a jump in event time (a
     * partition catching up, a quiet stream, a restart) can leave that far
     * behind the watermark the pipeline already gave every detector.  The
     * upstream is finalized first (dependency order), so such a hit is
     * late only behind what this rule itself has finalized. */
    int64_t late_before = hit->event ? sat_sub(d->watermark_ms, d->lateness_ms) : ws->finalized_to;
    /* With a shared store, event time is the slowest instance's: the
     * records of a partition that moved here (after a crash or a
     * rebalance) are behind this instance's own. */
    if (hit->event && env->store->ops->peer_bound) {
        struct aw_wkey rk = {ws->rule->name, 0, ws->rule_hash};
        int64_t peers = env->store->ops->peer_bound(env->store, &rk);
        if (peers < late_before)
            late_before = peers;
    }
    if (d->watermark_ms != AW_TIME_NONE && late_before != AW_TIME_NONE && hit->time_ms < late_before) {
        d->stats.late++;
        return 0;
    }
    struct aw_window_entry e;
    memset(&e, 0, sizeof e);
    e.time_ms = hit->time_ms;
    if (!ws->kind->prepare(ws, hit, &e))
        return 0;
    build_group(ws, hit);
    struct aw_wkey key = {ws->rule->name, aw_hash64(ws->group.data, ws->group.len, 0), ws->rule_hash};

    if (hit->event && hit->evidence) {
        /* Rendered once per event by the pipeline, shared by every window
         * (the store copies what it keeps). */
        e.id_hash = hit->id_hash;
        e.evidence = hit->evidence;
        e.evidence_len = hit->evidence_len;
        e.fields = hit->fields;
        e.fields_len = hit->fields_len;
    } else {
        aw_buf_reset(&ws->evidence);
        aw_buf_reset(&ws->fields);
        if (hit->event) {
            const struct aw_str *id = &hit->event->fields[AW_F_AUDITWATCH_ID];
            e.id_hash = aw_hash64(id->ptr ? id->ptr : "", id->ptr ? id->len : 0, 0);
            aw_event_pack_summary(hit->event, &ws->evidence);
        } else {
            e.id_hash = aw_hash64(hit->upstream->alert_id, AW_ALERT_ID_LEN, 0);
            aw_buf_append_str(&ws->evidence, "{\"alert_id\":\"");
            aw_buf_append_str(&ws->evidence, hit->upstream->alert_id);
            aw_buf_append_str(&ws->evidence, "\",\"rule\":");
            aw_buf_json_cstr(&ws->evidence, hit->upstream->rule_name);
            aw_buf_append_char(&ws->evidence, '}');
            if (hit->upstream->fields)
                aw_buf_append(&ws->fields, hit->upstream->fields, hit->upstream->fields_len);
        }
        e.evidence = ws->evidence.data;
        e.evidence_len = ws->evidence.len;
        e.fields = ws->fields.data;
        e.fields_len = ws->fields.len;
    }

    /* Entries older than one timespan before what has been finalized can
     * no longer matter.  (Not before the current watermark's bound: with
     * batching, finalization of the bound may still be pending, and an
     * entry it judges needs its whole window.) */
    int64_t trim = AW_TIME_NONE;
    if (ws->finalized_to != AW_TIME_NONE && ws->finalized_to != INT64_MAX)
        trim = sat_sub(ws->finalized_to, ws->corr->timespan_ms);
    struct aw_store *s = env->store;
    if (s->ops->window_hit) {
        /* Batched store: the outcome (a duplicate?) arrives at the batch's
         * sync; queueing a suppressed entry only costs a wasted look. */
        if (s->ops->window_hit(s, &key, &e, trim, entry_ttl(d, ws), ws->group.data, ws->group.len,
                               hit_done, d) < 0)
            return -1;
        uintptr_t until = (uintptr_t)aw_hashmap_get(&ws->suppressed, aw_hashmap_key(key.group_hash));
        if (until && e.time_ms <= (int64_t)(until - 1))
            return 0; /* as below: nothing to judge inside a suppression */
        return queue(ws, s, &key, e.time_ms);
    }
    bool added;
    struct aw_window_meta meta;
    bool found;
    if (s->ops->window_add(s, &key, &e, trim, entry_ttl(d, ws), &added, &meta, &found) < 0)
        return -1;
    if (!added) {
        d->stats.duplicates++;
        /* A redelivered event that completed an alert: emit it again. */
        if (found && meta.alert_id[0] && meta.suppress_entry == e.id_hash)
            return reemit(d, env, &key, e.time_ms, e.id_hash);
        return 0;
    }
    uint64_t entries = meta.entries;
    if (!found) {
        memset(&meta, 0, sizeof meta);
        meta.group_json = ws->group.data;
        meta.group_json_len = ws->group.len;
        meta.cursor_time = AW_TIME_NONE;
        meta.suppress_until = AW_TIME_NONE;
        if (s->ops->meta_put(s, &key, &meta, entry_ttl(d, ws)) < 0)
            return -1;
    }
    /* An entry inside the group's suppression needs no judgement of its
     * own (it still counts in later windows): nothing to queue.  Likewise
     * one at or before the cursor (a late arrival into a finalized span). */
    if (found && meta.suppress_until != AW_TIME_NONE && e.time_ms <= meta.suppress_until)
        return 0;
    /* No window of this group can hold the condition yet (every kind
     * counts at most one per entry): nothing to judge.  Once an add
     * brings the group to enough entries it is queued at that entry's
     * time, and finalization then judges every entry since the cursor, so
     * the earlier ones are judged too - the outcome is the same. */
    if (entries < ws->min_entries)
        return 0;
    /* Likewise when the entries, enough in number, do not hold enough
     * distinct values (value_count) or rules (temporal) between them: no
     * window of them can hold, so nothing needs judging; a later add
     * that supplies them queues the group, and finalization then judges
     * every entry since the cursor as above. */
    if (ws->kind->may_hold && ws->min_entries > 0) {
        int may = ws->kind->may_hold(ws, env, &key);
        if (may <= 0)
            return may;
    }
    return queue(ws, s, &key, e.time_ms);
}

static int collect_pending(void *ctx, const struct aw_window_entry *e)
{
    struct window_state *ws = ctx;
    if (e->time_ms > ws->scan_limit) {
        ws->after_final = e->time_ms; /* not final yet: stop here */
        return 1;
    }
    if (ws->npend == ws->pend_cap) {
        ws->pend_cap = ws->pend_cap ? ws->pend_cap * 2 : 64;
        ws->pend = aw_xrealloc(ws->pend, ws->pend_cap * sizeof *ws->pend);
    }
    ws->pend[ws->npend].time = e->time_ms;
    ws->pend[ws->npend].id = e->id_hash;
    ws->npend++;
    return 0;
}

/* Finalize one group up to `final`. */
static int finalize_group(struct aw_detector *d, const struct aw_detector_env *env,
                          const struct aw_wkey *key, int64_t final)
{
    struct window_state *ws = d->state;
    struct aw_store *s = env->store;
    struct aw_window_meta meta;
    bool found;
    if (s->ops->meta_get(s, key, &meta, &found) < 0)
        return -1;
    if (!found) /* expired meanwhile */
        return s->ops->pending_done ? s->ops->pending_done(s, key) : 0;
    /* Keep our own copy of the group text: store strings are only valid
     * until the next store call. */
    aw_buf_reset(&ws->tmp);
    aw_buf_append(&ws->tmp, meta.group_json, meta.group_json_len);
    meta.group_json = NULL;
    ws->npend = 0;
    int64_t from = meta.cursor_time == AW_TIME_NONE ? AW_TIME_NONE : meta.cursor_time - 1;
    /* One scan: entries up to `final` are judged now; the first after it
     * (if any) is where the group is queued again. */
    ws->scan_limit = final;
    ws->after_final = AW_TIME_NONE;
    if (s->ops->window_scan(s, key, from, INT64_MAX, collect_pending, ws) < 0)
        return -1;
    bool changed = false;
    for (size_t i = 0; i < ws->npend; i++) {
        int64_t t = ws->pend[i].time;
        uint64_t id = ws->pend[i].id;
        if (meta.cursor_time != AW_TIME_NONE &&
            (t < meta.cursor_time || (t == meta.cursor_time && id <= meta.cursor_id)))
            continue; /* finalized before */
        meta.cursor_time = t;
        meta.cursor_id = id;
        changed = true;
        if (meta.suppress_until != AW_TIME_NONE && t <= meta.suppress_until)
            continue;
        struct window_verdict v = {0};
        v.distinct = -1;
        if (ws->kind->judge(ws, env, key, t - ws->corr->timespan_ms, t, &v) < 0)
            return -1;
        if (!v.holds)
            continue;
        if (emit_alert(d, env, key, ws->tmp.data, ws->tmp.len, t, id, &v, meta.alert_id) < 0)
            return -1;
        meta.suppress_until = t + ws->suppress_ms;
        meta.suppress_entry = id;
    }
    if (ws->after_final != AW_TIME_NONE && queue(ws, s, key, ws->after_final) < 0)
        return -1;
    if (s->ops->window_hit && meta.suppress_until != AW_TIME_NONE)
        aw_hashmap_put(&ws->suppressed, aw_hashmap_key(key->group_hash), (void *)(uintptr_t)(meta.suppress_until + 1));
    if (changed) {
        meta.group_json = ws->tmp.data;
        meta.group_json_len = ws->tmp.len;
        if (s->ops->meta_put(s, key, &meta, entry_ttl(d, ws)) < 0)
            return -1;
    }
    return s->ops->pending_done ? s->ops->pending_done(s, key) : 0;
}

/* Forget suppressions that ended before `final` (batched stores), when
 * the map has grown enough to be worth a sweep. */
static void prune_suppressed(struct window_state *ws, int64_t final)
{
    if (ws->suppressed.n < 2 * ws->suppressed_swept + 1024)
        return;
    for (size_t i = 0; i < ws->suppressed.cap;) {
        uintptr_t until = ws->suppressed.keys[i] ? (uintptr_t)ws->suppressed.values[i] : 0;
        if (until && (int64_t)(until - 1) < final)
            aw_hashmap_remove(&ws->suppressed, ws->suppressed.keys[i]); /* shifts a later key here */
        else
            i++;
    }
    ws->suppressed_swept = ws->suppressed.n;
}

int window_prefetch(struct aw_detector *d, const struct aw_detector_env *env, int64_t watermark_ms, bool flush)
{
    struct window_state *ws = d->state;
    struct aw_store *s = env->store;
    if (!s->ops->pending_prefetch)
        return 0;
    int64_t wm = d->watermark_ms;
    if (watermark_ms != AW_TIME_NONE && (wm == AW_TIME_NONE || watermark_ms > wm))
        wm = watermark_ms;
    int64_t final = flush ? INT64_MAX : sat_sub(wm, d->lateness_ms);
    /* A shared store's queue holds other instances' groups too: at the
     * end, look even when this process queued nothing. */
    if (final == AW_TIME_NONE || (!flush && (ws->next_due == AW_TIME_NONE || ws->next_due > final)))
        return 0; /* advance will not ask */
    struct aw_wkey rule_key = {ws->rule->name, 0, ws->rule_hash};
    return s->ops->pending_prefetch(s, &rule_key, final, d->lateness_ms);
}

int window_advance(struct aw_detector *d, const struct aw_detector_env *env, int64_t watermark_ms,
                   bool flush)
{
    struct window_state *ws = d->state;
    if (watermark_ms != AW_TIME_NONE && (d->watermark_ms == AW_TIME_NONE || watermark_ms > d->watermark_ms))
        d->watermark_ms = watermark_ms;
    int64_t final = flush ? INT64_MAX : sat_sub(d->watermark_ms, d->lateness_ms);
    if (final == AW_TIME_NONE)
        return 0;
    if (ws->finalized_to == AW_TIME_NONE || final > ws->finalized_to)
        ws->finalized_to = final; /* (set before the work: nothing below it stays queued) */
    /* A shared store: never past the slowest peer's bound as last seen
     * (bounds only grow, so the last one is safe; the pop below updates it). */
    if (env->store->ops->pending_limit) {
        struct aw_wkey rk = {ws->rule->name, 0, ws->rule_hash};
        int64_t seen = env->store->ops->pending_limit(env->store, &rk);
        if (seen < ws->finalized_to)
            ws->finalized_to = seen;
    }
    /* Nothing this process queued is due yet: no store call needed.  (With
     * a shared store, the other instances' groups are looked for at each
     * of their own advances and at the end.) */
    if (!(flush && env->store->ops->sync) && (ws->next_due == AW_TIME_NONE || ws->next_due > final))
        return 0;
    prune_suppressed(ws, final);
    struct aw_wkey rule_key = {ws->rule->name, 0, ws->rule_hash};
    struct aw_store *s = env->store;
    /* A shared store learns the rule's lateness here too (a chained rule
     * may not have been prefetched). */
    if (s->ops->pending_prefetch && s->ops->pending_prefetch(s, &rule_key, final, d->lateness_ms) < 0)
        return -1;
    for (;;) {
        uint64_t gh;
        int64_t t;
        bool found;
        if (s->ops->pending_pop(s, &rule_key, final, &gh, &t, &found) < 0)
            return -1;
        /* A peer behind in event time limits how far a shared group is
         * final - and how much of any window may be trimmed: an entry a
         * lagging (or stale) peer's events still need must stay, whether
         * or not this pass finalized anything. */
        int64_t limit = s->ops->pending_limit ? s->ops->pending_limit(s, &rule_key) : final;
        if (limit < ws->finalized_to)
            ws->finalized_to = limit;
        if (!found) {
            /* Everything due is done; t is the earliest still queued.  A
             * shared store may also hold groups other instances claimed;
             * those of an instance that died come back to the queue at a
             * later pop, so with one the queue is looked at every time. */
            ws->next_due = t == AW_TIME_NONE && s->ops->pending_limit ? INT64_MIN + 1 : t;
            return 0;
        }
        struct aw_wkey key = {ws->rule->name, gh, ws->rule_hash};
        if (finalize_group(d, env, &key, limit < final ? limit : final) < 0)
            return -1;
    }
}
