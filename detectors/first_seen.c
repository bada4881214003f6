/*
 * first_seen.c - alert on a value never seen before for an entity (a new
 * source.ip for a user.name, a new user_agent for a service account),
 * after a learning period.
 *
 * Config-driven: one instance per `first_seen` entry of the configuration
 * (struct aw_first_seen_cfg).  The pipeline hands init the entry through
 * d->state; init replaces it with the detector's own state.  The entry's
 * `rule` is a detection rule whose matches are fed to on_hit (the pipeline
 * wires that rule to this detector like a correlation input), so the rule
 * decides which events count (e.g. successful SSH logins) and this file
 * only remembers pairs.
 *
 * Fields.  entity_field and value_field must be ECS fields of the event
 * model (event.h), checked at init: a misspelt name would otherwise
 * silently never match, and raw audit paths mean nothing for auth events.
 * The entity is the field's first value; a list-valued value field
 * (user.groups) counts each element as a value.  An event without either
 * field is skipped.
 *
 * State, all in the store (so two instances sharing Redis agree, and a
 * restart resumes):
 *   {name, H(entity, epoch)}      set of the entity's known values;
 *   {name, H("learning")}         meta: cursor_time = the start of learning;
 *   {name, H(entity, value)}      set of the event ids that introduced the
 *                                 pair (at most one, barring a race).
 *
 * Time is event time.  Learning starts at the earliest event time seen
 * (an older event moves it back) and lasts learning_ms; during it pairs
 * are only learned.  With retention_ms set, known values are kept in
 * epochs of retention_ms of event time: a value is known when it is in the
 * current or the previous epoch, and seeing it again copies it into the
 * current one, so a pair unseen for between one and two retention periods
 * is forgotten and alerts again.  This is event-time based, so replay and
 * live runs, and both stores, give the same alerts; the store's TTL
 * (twice the retention) only reclaims memory.
 *
 * Redelivery (DESIGN section 6).  The alert id is the hash of the name,
 * the pair and the id of the event that introduced it.  The introducing
 * event's id is recorded before the pair is added, so when that same event
 * comes again (a redelivery after a crash that may have lost the alert),
 * the alert is emitted again with the same id and consumers deduplicate
 * it; any other event with a known pair is silent.  If two instances race
 * on the same new pair, the loser's id stays recorded: only a redelivery
 * of the loser's event would then repeat an alert (under its own id).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auditwatch/config.h"
#include "auditwatch/detector.h"
#include "auditwatch/hash.h"

#define MAX_TEXT 200

struct fs_state {
    const struct aw_first_seen_cfg *cfg;
    struct aw_field_ref entity, value;
    bool have_start;
    int64_t start; /* learning start, as last read from or written to the store */
    char scratch[64];
    char **techniques; /* "T1078.004" from the entry's attack.tNNNN tags */
    size_t ntechniques;
    struct aw_buf group, message, evidence, fields;
    /* Batched stores: alerts prepared at hit time, emitted when the
     * store's answer arrives at the end of the batch (the event is gone
     * by then).  Reused once every answer is in. */
    struct fs_prepared {
        struct aw_alert a;
        struct aw_buf group, message, evidence, fields;
    } *prep;
    size_t nprep, prep_cap, answers_due;
    const struct aw_detector_env *env;
};

/* One hit being processed (for the value visitor). */
struct fs_hit {
    struct aw_detector *d;
    const struct aw_detector_env *env;
    const struct aw_hit *hit;
    struct aw_str entity;
    struct aw_str event_id;
    bool learning;
    int rc;
};

/* ============================================================ keys */

static uint64_t entity_epoch_hash(const struct aw_str *entity, int64_t epoch)
{
    uint64_t h = aw_hash64("first_seen:values", 17, (uint64_t)epoch);
    return aw_hash64(entity->ptr, entity->len, h);
}

static uint64_t pair_hash(const struct aw_str *entity, const char *value, size_t len)
{
    uint64_t h = aw_hash64("first_seen:intro", 16, 0);
    h = aw_hash64(entity->ptr, entity->len, h);
    h = aw_hash64("\0", 1, h); /* keep ("ab","c") apart from ("a","bc") */
    return aw_hash64(value, len, h);
}

static uint64_t learning_hash(void) { return aw_hash64("first_seen:learning", 19, 0); }

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ============================================================ learning */

/* Whether time t is still inside the learning period; keeps the start in
 * the store (the earliest event time seen).  Returns -1 on store failure. */
static int in_learning(struct fs_state *st, const struct aw_detector_env *env, int64_t t, bool *learning)
{
    const struct aw_first_seen_cfg *cfg = st->cfg;
    if (st->have_start && t >= st->start && t - st->start >= cfg->learning_ms) {
        *learning = false; /* the start only moves back: learning stays over */
        return 0;
    }
    struct aw_wkey key = {cfg->name, learning_hash(), 0};
    struct aw_window_meta m;
    bool found;
    if (env->store->ops->meta_get(env->store, &key, &m, &found) < 0)
        return -1;
    int64_t start = found && m.cursor_time != AW_TIME_NONE ? m.cursor_time : t;
    if (!found || t < start) {
        if (t < start)
            start = t;
        memset(&m, 0, sizeof m);
        m.group_json = "";
        m.cursor_time = start;
        m.suppress_until = AW_TIME_NONE;
        if (env->store->ops->meta_put(env->store, &key, &m, 0) < 0)
            return -1;
    }
    st->have_start = true;
    st->start = start;
    *learning = t < start || t - start < cfg->learning_ms;
    return 0;
}

/* ============================================================ the alert */

/* The alert about value for h's entity, into a's buffers. */
static void prepare_alert(struct fs_hit *h, const char *value, size_t len, struct aw_alert *out,
                          struct aw_buf *group, struct aw_buf *message, struct aw_buf *evidence,
                          struct aw_buf *fields)
{
    struct fs_state *st = h->d->state;
    const struct aw_first_seen_cfg *cfg = st->cfg;
    const struct aw_event *ev = h->hit->event;

    aw_buf_reset(group);
    aw_buf_append_char(group, '{');
    aw_buf_json_cstr(group, cfg->entity_field);
    aw_buf_append_char(group, ':');
    aw_buf_json_string(group, h->entity.ptr, h->entity.len);
    aw_buf_append_char(group, ',');
    aw_buf_json_cstr(group, cfg->value_field);
    aw_buf_append_char(group, ':');
    aw_buf_json_string(group, value, len);
    aw_buf_append_char(group, '}');

    aw_buf_reset(message);
    if (cfg->title) {
        aw_buf_append_str(message, cfg->title);
        aw_buf_append_str(message, ": ");
    }
    aw_buf_append_str(message, "new ");
    aw_buf_append_str(message, cfg->value_field);
    aw_buf_append_char(message, ' ');
    aw_buf_append_printable(message, value, len, MAX_TEXT);
    aw_buf_append_str(message, " for ");
    aw_buf_append_str(message, cfg->entity_field);
    aw_buf_append_char(message, ' ');
    aw_buf_append_printable(message, h->entity.ptr, h->entity.len, MAX_TEXT);
    aw_buf_append_char(message, '\0');

    struct aw_alert a;
    memset(&a, 0, sizeof a);
    a.rule_name = cfg->name;
    a.rule_title = cfg->title;
    a.description = cfg->description;
    a.level = cfg->level;
    a.techniques = st->techniques;
    a.ntechniques = st->ntechniques;
    aw_alert_about_event(&a, ev, h->hit->time_ms, group->data, group->len, h->event_id.ptr,
                         h->event_id.len, evidence, fields);
    a.message = message->data;
    *out = a;
}

static int emit_alert(struct fs_hit *h, const char *value, size_t len)
{
    struct fs_state *st = h->d->state;
    struct aw_alert a;
    prepare_alert(h, value, len, &a, &st->group, &st->message, &st->evidence, &st->fields);
    h->d->stats.alerts++;
    return h->env->emit(h->env->emit_ctx, h->d, &a);
}

/* ============================================================ one pair */

/* The retention period in force (0: none) and the epoch time t falls in. */
static void retention_epoch(const struct aw_first_seen_cfg *cfg, int64_t t, int64_t *retention, int64_t *epoch)
{
    *retention = cfg->retention_ms > 0 ? cfg->retention_ms : 0;
    *epoch = *retention ? floor_div(t, *retention) : 0;
}

/* The store's answer for prepared alert `token` (batched stores). */
static int answer(void *ctx, size_t token, int outcome)
{
    struct aw_detector *d = ctx;
    struct fs_state *st = d->state;
    int rc = 0;
    if (outcome && token < st->nprep) {
        if (outcome == 2)
            d->stats.duplicates++;
        d->stats.alerts++;
        rc = st->env->emit(st->env->emit_ctx, d, &st->prep[token].a);
    }
    if (st->answers_due && --st->answers_due == 0)
        st->nprep = 0; /* every answer is in: the slots are free again */
    return rc;
}

/* Batched store: prepare the alert, ask the store in one call. */
static int see_pair_batched(struct fs_hit *h, const char *value, size_t len)
{
    struct fs_state *st = h->d->state;
    const struct aw_first_seen_cfg *cfg = st->cfg;
    struct aw_store *s = h->env->store;
    int64_t t = h->hit->time_ms, retention, epoch;
    retention_epoch(cfg, t, &retention, &epoch);
    if (st->nprep == st->prep_cap) {
        size_t ncap = st->prep_cap ? st->prep_cap * 2 : 16;
        struct fs_prepared *np = realloc(st->prep, ncap * sizeof *np);
        if (!np)
            return -1;
        memset(np + st->prep_cap, 0, (ncap - st->prep_cap) * sizeof *np);
        st->prep = np;
        st->prep_cap = ncap;
    }
    struct fs_prepared *p = &st->prep[st->nprep];
    prepare_alert(h, value, len, &p->a, &p->group, &p->message, &p->evidence, &p->fields);
    struct aw_first_seen_op op = {
        .name = cfg->name,
        .learning_key = learning_hash(),
        .values_key = entity_epoch_hash(&h->entity, epoch),
        .prev_values_key = retention ? entity_epoch_hash(&h->entity, epoch - 1) : 0,
        .intro_key = pair_hash(&h->entity, value, len),
        .time_ms = t,
        .learning_ms = cfg->learning_ms,
        .ttl_ms = retention ? 2 * retention : 0,
        .value = value,
        .value_len = len,
        .event_id = h->event_id.ptr,
        .event_id_len = h->event_id.len,
    };
    if (s->ops->first_seen(s, &op, answer, h->d, st->nprep) < 0)
        return -1;
    st->nprep++;
    st->answers_due++;
    return 0;
}

static int see_pair(struct fs_hit *h, const char *value, size_t len)
{
    if (h->env->store->ops->first_seen)
        return see_pair_batched(h, value, len);
    struct fs_state *st = h->d->state;
    const struct aw_first_seen_cfg *cfg = st->cfg;
    struct aw_store *s = h->env->store;
    int64_t t = h->hit->time_ms, retention, epoch;
    retention_epoch(cfg, t, &retention, &epoch);
    int64_t ttl = retention ? 2 * retention : 0;
    struct aw_wkey cur = {cfg->name, entity_epoch_hash(&h->entity, epoch), 0};
    bool added, found = false;

    if (h->learning)
        return s->ops->set_add(s, &cur, value, len, t, ttl, &added);

    if (s->ops->set_contains(s, &cur, value, len, &found) < 0)
        return -1;
    if (!found && retention) {
        struct aw_wkey prev = {cfg->name, entity_epoch_hash(&h->entity, epoch - 1), 0};
        if (s->ops->set_contains(s, &prev, value, len, &found) < 0)
            return -1;
        if (found && s->ops->set_add(s, &cur, value, len, t, ttl, &added) < 0)
            return -1; /* carry the value into this epoch */
    }
    struct aw_wkey intro = {cfg->name, pair_hash(&h->entity, value, len), 0};
    if (found) {
        bool ours = false;
        if (s->ops->set_contains(s, &intro, h->event_id.ptr, h->event_id.len, &ours) < 0)
            return -1;
        if (ours)
            h->d->stats.duplicates++;
        return ours ? emit_alert(h, value, len) : 0;
    }
    /* Record the introducer first: a crash after this and before the alert
     * went out is repaired by the redelivery. */
    if (s->ops->set_add(s, &intro, h->event_id.ptr, h->event_id.len, t, ttl, &added) < 0 ||
        s->ops->set_add(s, &cur, value, len, t, ttl, &added) < 0)
        return -1;
    return added ? emit_alert(h, value, len) : 0;
}

static bool visit_value(void *ctx, const char *text, size_t len)
{
    struct fs_hit *h = ctx;
    if (len == 0)
        return false; /* an empty value names nothing */
    h->rc = see_pair(h, text, len);
    return h->rc < 0; /* stop at the first failure */
}

/* ============================================================ callbacks */

static void fs_fini(struct aw_detector *d)
{
    struct fs_state *st = d->state;
    if (!st)
        return;
    aw_field_ref_fini(&st->entity);
    aw_field_ref_fini(&st->value);
    for (size_t i = 0; i < st->ntechniques; i++)
        free(st->techniques[i]);
    free(st->techniques);
    aw_buf_free(&st->group);
    aw_buf_free(&st->message);
    aw_buf_free(&st->evidence);
    aw_buf_free(&st->fields);
    for (size_t i = 0; i < st->prep_cap; i++) {
        aw_buf_free(&st->prep[i].group);
        aw_buf_free(&st->prep[i].message);
        aw_buf_free(&st->prep[i].evidence);
        aw_buf_free(&st->prep[i].fields);
    }
    free(st->prep);
    free(st);
    d->state = NULL;
}

/* An ECS field for first_seen: known, and holding text (not the origin). */
static bool field_ok(const char *what, const char *name, struct aw_field_ref *ref, const char *entry,
                     char *err, size_t errlen)
{
    int f = name ? aw_field_lookup(name, strlen(name)) : -1;
    if (!name || f < 0 || aw_field_defs[f].kind == AW_KIND_ORIGIN) {
        snprintf(err, errlen, "first_seen %s: %s '%s' is not an ECS field of the event model "
                 "(only ECS fields are supported)", entry, what, name ? name : "(none)");
        return false;
    }
    char ferr[128];
    if (!aw_field_ref_init(ref, name, ferr, sizeof ferr)) {
        snprintf(err, errlen, "first_seen %s: %s: %s", entry, what, ferr);
        return false;
    }
    return true;
}

/* The entry's tags as rules write them (attack.t1078.004) to technique ids
 * (T1078.004); other tags (attack.initial_access) name no technique. */
static bool take_techniques(struct fs_state *st, const struct aw_strlist *tags)
{
    st->techniques = calloc(tags->n + 1, sizeof *st->techniques);
    if (!st->techniques)
        return false;
    for (size_t i = 0; i < tags->n; i++) {
        const char *t = tags->items[i];
        if (strncasecmp(t, "attack.t", 8) != 0 || t[8] < '0' || t[8] > '9')
            continue;
        char *id = strdup(t + 7);
        if (!id)
            return false;
        for (char *p = id; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        st->techniques[st->ntechniques++] = id;
    }
    return true;
}

static int fs_init(struct aw_detector *d, const struct aw_detector_env *env, char *err, size_t errlen)
{
    const struct aw_first_seen_cfg *cfg = d->state;
    d->state = NULL;
    if (!cfg || !cfg->name) {
        snprintf(err, errlen, "first_seen: no configuration entry");
        return -1;
    }
    if (!env->store) {
        snprintf(err, errlen, "first_seen %s: no state store", cfg->name);
        return -1;
    }
    if (cfg->learning_ms < 0 || cfg->retention_ms < 0) {
        snprintf(err, errlen, "first_seen %s: learning and retention must not be negative", cfg->name);
        return -1;
    }
    struct fs_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->cfg = cfg;
    d->state = st;
    if (!take_techniques(st, &cfg->techniques)) {
        snprintf(err, errlen, "out of memory");
        fs_fini(d);
        return -1;
    }
    if (!field_ok("entity_field", cfg->entity_field, &st->entity, cfg->name, err, errlen) ||
        !field_ok("value_field", cfg->value_field, &st->value, cfg->name, err, errlen)) {
        fs_fini(d);
        return -1;
    }
    return 0;
}

static int fs_on_hit(struct aw_detector *d, const struct aw_detector_env *env, const struct aw_hit *hit)
{
    struct fs_state *st = d->state;
    if (!hit->event)
        return 0; /* fed by a detection rule only */
    d->stats.hits++;
    struct fs_hit h = {.d = d, .env = env, .hit = hit};
    if (!aw_field_ref_first(&st->entity, hit->event, &h.entity, st->scratch) || !h.entity.len)
        return 0;
    h.event_id = hit->event->fields[AW_F_AUDITWATCH_ID];
    if (!h.event_id.ptr)
        h.event_id = (struct aw_str){"", 0};
    st->env = env;
    if (!env->store->ops->first_seen && in_learning(st, env, hit->time_ms, &h.learning) < 0)
        return -1;
    /* The entity points into the event or into st->scratch; the value
     * visitor formats numbers into its own scratch so both stay valid. */
    char scratch[64];
    aw_field_ref_visit(&st->value, hit->event, visit_value, &h, scratch);
    return h.rc;
}

const struct aw_detector_kind aw_detector_first_seen = {
    .name = "first_seen",
    .init = fs_init,
    .on_hit = fs_on_hit,
    .fini = fs_fini,
};
