/*
 * single_event.c - a detection rule that alerts on each matching event.
 *
 * No window and no store: the alert is built from the event at once, so it
 * carries the event as its only evidence.  Its id is the hash of the rule
 * name and the event's identity, so a redelivered event yields the same
 * alert id (consumers deduplicate by auditwatch.alert_id).
 */
#include <stdlib.h>
#include <string.h>

#include "auditwatch/detector.h"

struct single_state {
    struct aw_buf evidence, fields, message;
};

static int single_init(struct aw_detector *d, const struct aw_detector_env *env, char *err, size_t errlen)
{
    (void)env;
    (void)err;
    (void)errlen;
    d->state = calloc(1, sizeof(struct single_state));
    return d->state ? 0 : -1;
}

/* "Title: user alice from 10.0.0.1 on host web-01" - whatever of the main
 * fields the event has, so the sentence says who and where. */
static void describe(struct aw_buf *m, const struct aw_rule *r, const struct aw_event *ev)
{
    static const struct {
        enum aw_field f;
        const char *label;
    } parts[] = {
        {AW_F_USER_NAME, "user"},
        {AW_F_USER_TARGET_NAME, "account"},
        {AW_F_GROUP_NAME, "group"},
        {AW_F_USER_EFFECTIVE_NAME, "as"},
        {AW_F_SOURCE_IP, "from"},
        {AW_F_HOST_HOSTNAME, "on host"},
        {AW_F_ORCHESTRATOR_RESOURCE_TYPE, "resource"},
        {AW_F_ORCHESTRATOR_RESOURCE_NAME, "named"},
        {AW_F_ORCHESTRATOR_NAMESPACE, "in namespace"},
    };
    aw_buf_reset(m);
    aw_buf_append_str(m, r->title ? r->title : r->name);
    const char *sep = ": ";
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        const struct aw_str *v = &ev->fields[parts[i].f];
        if (!v->ptr)
            continue;
        aw_buf_append_str(m, sep);
        aw_buf_append_str(m, parts[i].label);
        aw_buf_append_char(m, ' ');
        aw_buf_append_printable(m, v->ptr, v->len, 200);
        sep = " ";
    }
    aw_buf_append_char(m, '\0');
}

static int single_on_hit(struct aw_detector *d, const struct aw_detector_env *env, const struct aw_hit *hit)
{
    struct single_state *st = d->state;
    const struct aw_rule *r = d->rule;
    d->stats.hits++;
    if (!hit->event)
        return 0;
    describe(&st->message, r, hit->event);
    struct aw_alert a;
    memset(&a, 0, sizeof a);
    a.rule_name = r->name;
    a.rule_id = r->id;
    a.rule_title = r->title;
    a.description = r->description;
    a.level = r->level;
    a.techniques = r->techniques;
    a.ntechniques = r->ntechniques;
    aw_alert_about_event(&a, hit->event, hit->time_ms, NULL, 0, NULL, 0, &st->evidence, &st->fields);
    a.message = st->message.data;
    d->stats.alerts++;
    return env->emit(env->emit_ctx, d, &a);
}

static void single_fini(struct aw_detector *d)
{
    struct single_state *st = d->state;
    if (!st)
        return;
    aw_buf_free(&st->evidence);
    aw_buf_free(&st->fields);
    aw_buf_free(&st->message);
    free(st);
    d->state = NULL;
}

const struct aw_detector_kind aw_detector_single_event = {
    .name = "single_event",
    .init = single_init,
    .on_hit = single_on_hit,
    .fini = single_fini,
};
