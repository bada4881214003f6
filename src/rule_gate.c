/*
 * rule_gate.c - which event.action values a detection rule can match at all.
 *
 * Most detection rules pin the event's action: `event.action: ssh_login`
 * in an auth rule, `verb: [create, update, patch]` in a Kubernetes rule.
 * The pipeline asks for that set once per rule and skips a rule whose set
 * does not hold the event's action, without running the matcher: a cheap
 * pre-filter that never changes a verdict, because the set is derived as
 * a necessary condition of the rule's condition tree:
 *
 *   a selection   every OR'ed group must hold an item that compares the
 *                 action (event.action, or raw `verb` of an audit event,
 *                 which is the same value) with exact values only;
 *   and           the set of any child that has one;
 *   or            the union of the children's sets, if every child has one;
 *   not           none.
 * "None" means the rule is tried on every event of its dataset.
 */
#include <string.h>

#include "auditwatch/rule.h"
#include "rules_internal.h"

struct gate {
    const char **values;
    size_t n, max;
    bool overflow;
};

/* Whether the item compares the action with exact values only. */
static bool is_action_item(const struct det_item *it)
{
    bool is_action = it->field.ecs == AW_F_EVENT_ACTION ||
                     (it->field.ecs < 0 && it->field.depth == 1 && !strcmp(it->field.path[0], "verb"));
    if (!is_action || it->neq || it->all || it->keyword || it->has_null || it->exists >= 0 || it->cased)
        return false;
    for (size_t v = 0; v < it->nvalues; v++)
        if (it->values[v].kind != DV_EXACT)
            return false;
    return it->nvalues > 0;
}

static void add_values(struct gate *g, const struct det_item *it)
{
    for (size_t v = 0; v < it->nvalues; v++) {
        if (g->n == g->max) {
            g->overflow = true;
            return;
        }
        g->values[g->n++] = it->values[v].text;
    }
}

/* Collect the node's gate into g; false when the node has none. */
static bool node_gate(const struct aw_detection *d, uint32_t node, struct gate *g, int depth)
{
    if (depth > AW_CONDITION_MAX_DEPTH)
        return false;
    const struct cnode *c = &d->nodes[node];
    switch (c->kind) {
    case CN_SEL: {
        const struct det_selection *s = &d->sels[c->a];
        if (s->ngroups == 0)
            return false;
        size_t mark = g->n;
        for (size_t gi = 0; gi < s->ngroups; gi++) {
            const struct det_item *found = NULL;
            for (size_t i = 0; i < s->groups[gi].nitems && !found; i++)
                if (is_action_item(&s->groups[gi].items[i]))
                    found = &s->groups[gi].items[i];
            if (!found) {
                g->n = mark;
                return false;
            }
            add_values(g, found);
        }
        return true;
    }
    case CN_AND:
        for (uint32_t k = 0; k < c->n; k++) {
            size_t mark = g->n;
            if (node_gate(d, d->kids[c->a + k], g, depth + 1))
                return true;
            g->n = mark;
        }
        return false;
    case CN_OR: {
        size_t mark = g->n;
        for (uint32_t k = 0; k < c->n; k++)
            if (!node_gate(d, d->kids[c->a + k], g, depth + 1)) {
                g->n = mark;
                return false;
            }
        return true;
    }
    default: return false;
    }
}

size_t aw_rule_action_gate(const struct aw_rule *r, const char **out, size_t max)
{
    if (!r->detection || max == 0)
        return 0;
    struct gate g = {out, 0, max, false};
    if (!node_gate(r->detection, r->detection->root, &g, 0) || g.overflow)
        return 0;
    return g.n;
}
