/*
 * rules_correlation.c - Sigma correlation rules: reading and linking.
 *
 * Reading (aw_correlation_parse) checks one `correlation:` map against the
 * Sigma correlation specification: `type` (event_count, value_count,
 * temporal, temporal_ordered), `rules` (names or ids), `group-by`
 * (optional: no group-by means one global group), `timespan`, `condition`
 * (one of gt/gte/lt/lte/eq, plus `field` for value_count; temporal
 * defaults to "all referenced rules"), `aliases` and `generate` (accepted
 * inside the map, as pySigma reads it, or at the top level, as the JSON
 * schema places it).  A range condition (two criteria) and the newer
 * metric types (value_sum, value_avg, ...) are not supported and are
 * reported as such.
 *
 * Linking (aw_ruleset_link) runs once the whole set is loaded, because a
 * correlation may name rules of other files.  It checks that names and
 * ids are unique, resolves references by name first and id second,
 * records who consumes whom, rejects cycles, and resolves the fields:
 * for each group-by name and each referenced rule the field to read is
 * the alias's field for that rule, else the group-by name itself.  When a
 * correlation consumes another correlation (chaining), its group-by names
 * must be group-by names of the upstream correlation, since those are the
 * only values an upstream alert carries; the per-rule field then names
 * that upstream group value.
 *
 * Which rules alert: a rule alerts unless some correlation references it,
 * and then only when a correlation referencing it says `generate: true`.
 * That holds for correlations too, so the top of a chain always alerts.
 *
 * Positions of references, aliases and group-by names are kept in a
 * private extension of struct aw_correlation (corr_full) so link errors
 * point at the exact line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules_internal.h"

struct pos {
    int line, column;
};

struct alias_entry {
    char *rule_ref;
    char *field;
    struct pos at;
};

struct alias {
    char *name;
    struct alias_entry *entries;
    size_t n;
};

struct corr_full {
    struct aw_correlation c; /* first: the public part */
    struct pos at;           /* the correlation map */
    struct pos *ref_at;      /* [nrules] */
    struct pos *group_at;    /* [ngroup] */
    struct pos field_at;
    struct alias *aliases;
    size_t naliases;
    bool linked; /* references resolved by aw_ruleset_link */
};

static struct corr_full *full(struct aw_correlation *c)
{
    return (struct corr_full *)c;
}

static struct pos pos_of(const struct aw_ynode *n)
{
    return (struct pos){n->line, n->column};
}

/* ------------------------------------------------------------ reading */

static const char *const type_names[] = {
    [AW_CORR_EVENT_COUNT] = "event_count",
    [AW_CORR_VALUE_COUNT] = "value_count",
    [AW_CORR_TEMPORAL] = "temporal",
    [AW_CORR_TEMPORAL_ORDERED] = "temporal_ordered",
};

static const char *const cmp_names[] = {
    [AW_CMP_GT] = "gt", [AW_CMP_GTE] = "gte", [AW_CMP_LT] = "lt", [AW_CMP_LTE] = "lte",
    [AW_CMP_EQ] = "eq",
};

/* A scalar or a list of scalars as an array of copies; NULL after a
 * problem.  Duplicates are an error. */
static char **string_list(struct aw_rule_loader *L, const struct aw_ynode *n, const char *what,
                          size_t *count, struct pos **positions)
{
    const struct aw_ynode *const *items = &n;
    size_t k = 1;
    if (n->type == AW_Y_SEQ) {
        items = (const struct aw_ynode *const *)n->items;
        k = n->n;
    } else if (n->type != AW_Y_SCALAR || aw_yscalar_is_null(n)) {
        aw_rl_problem(L, n, "'%s' must be a list of strings", what);
        return NULL;
    }
    char **out = aw_rl_alloc((k ? k : 1) * sizeof *out);
    *positions = aw_rl_alloc((k ? k : 1) * sizeof **positions);
    *count = 0;
    for (size_t i = 0; i < k; i++) {
        if (items[i]->type != AW_Y_SCALAR || items[i]->scalar_len == 0) {
            aw_rl_problem(L, items[i], "'%s' must be a list of strings", what);
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < *count && !dup; j++)
            dup = !strcmp(out[j], items[i]->scalar);
        if (dup) {
            aw_rl_problem(L, items[i], "'%s' lists '%s' twice", what, items[i]->scalar);
            continue;
        }
        (*positions)[*count] = pos_of(items[i]);
        out[(*count)++] = aw_rl_strdup(items[i]->scalar);
    }
    return out;
}

static bool parse_bool(const struct aw_ynode *n, bool *out)
{
    if (aw_yscalar_is(n, "true") || aw_yscalar_is(n, "True") || aw_yscalar_is(n, "TRUE"))
        return *out = true, true;
    if (aw_yscalar_is(n, "false") || aw_yscalar_is(n, "False") || aw_yscalar_is(n, "FALSE"))
        return *out = false, true;
    return false;
}

static void read_condition(struct aw_rule_loader *L, const struct aw_ynode *cond,
                           struct corr_full *cf)
{
    struct aw_correlation *c = &cf->c;
    if (cond->type != AW_Y_MAP) {
        aw_rl_problem(L, cond, "correlation condition must be a map such as {gte: 5}");
        return;
    }
    size_t ncmp = 0;
    for (size_t i = 0; i < cond->n; i++) {
        const struct aw_ynode *k = cond->keys[i], *v = cond->items[i];
        if (!strcmp(k->scalar, "field")) {
            if (c->type != AW_CORR_VALUE_COUNT)
                aw_rl_problem(L, k, "condition 'field' applies to value_count only");
            else if (v->type == AW_Y_SEQ && v->n == 1 && v->items[0]->type == AW_Y_SCALAR)
                v = v->items[0];
            if (v->type != AW_Y_SCALAR || v->scalar_len == 0) {
                aw_rl_problem(L, v, "value_count over several fields is not supported; "
                                    "'field' must name one field");
                continue;
            }
            cf->field_at = pos_of(v);
            free(c->value_field_name);
            c->value_field_name = aw_rl_strdup(v->scalar);
            continue;
        }
        size_t which = sizeof cmp_names / sizeof cmp_names[0];
        for (size_t j = 0; j < sizeof cmp_names / sizeof cmp_names[0]; j++)
            if (!strcmp(k->scalar, cmp_names[j]))
                which = j;
        if (which == sizeof cmp_names / sizeof cmp_names[0]) {
            aw_rl_problem(L, k, "unknown correlation condition '%s' (gt, gte, lt, lte, eq, field)",
                          k->scalar);
            continue;
        }
        if (++ncmp > 1) {
            aw_rl_problem(L, k, "a range condition (several of gt, gte, lt, lte, eq) is not "
                                "supported by auditwatch");
            continue;
        }
        char *end = NULL;
        long long t = v->type == AW_Y_SCALAR ? strtoll(v->scalar, &end, 10) : -1;
        if (v->type != AW_Y_SCALAR || v->scalar_len == 0 || *end || t < 0) {
            aw_rl_problem(L, v, "correlation condition '%s' needs a non-negative integer",
                          k->scalar);
            continue;
        }
        c->cmp = (enum aw_cmp)which;
        c->threshold = t;
    }
    if (ncmp == 0)
        aw_rl_problem(L, cond, "correlation condition needs one of gt, gte, lt, lte, eq");
}

static void read_aliases(struct aw_rule_loader *L, const struct aw_ynode *al, struct corr_full *cf)
{
    if (al->type != AW_Y_MAP) {
        aw_rl_problem(L, al, "aliases must map an alias to {rule: field}");
        return;
    }
    cf->aliases = aw_rl_alloc((al->n ? al->n : 1) * sizeof *cf->aliases);
    for (size_t i = 0; i < al->n; i++) {
        const struct aw_ynode *m = al->items[i];
        if (m->type != AW_Y_MAP || m->n == 0) {
            aw_rl_problem(L, m, "alias '%s' must map rule names to fields", al->keys[i]->scalar);
            continue;
        }
        struct alias *a = &cf->aliases[cf->naliases++];
        a->name = aw_rl_strdup(al->keys[i]->scalar);
        a->entries = aw_rl_alloc(m->n * sizeof *a->entries);
        a->n = 0;
        for (size_t j = 0; j < m->n; j++) {
            const struct aw_ynode *f = m->items[j];
            if (f->type != AW_Y_SCALAR || f->scalar_len == 0) {
                aw_rl_problem(L, f, "alias '%s': the field for rule '%s' must be a string",
                              a->name, m->keys[j]->scalar);
                continue;
            }
            a->entries[a->n++] = (struct alias_entry){aw_rl_strdup(m->keys[j]->scalar),
                                                      aw_rl_strdup(f->scalar),
                                                      pos_of(m->keys[j])};
        }
    }
}

struct aw_correlation *aw_correlation_parse(struct aw_rule_loader *L, const struct aw_ynode *node,
                                            const struct aw_ynode *top_generate)
{
    if (node->type != AW_Y_MAP) {
        aw_rl_problem(L, node, "correlation must be a map");
        return NULL;
    }
    size_t before = L->problems;
    struct corr_full *cf = aw_rl_alloc(sizeof *cf);
    memset(cf, 0, sizeof *cf);
    struct aw_correlation *c = &cf->c;
    cf->at = pos_of(node);
    c->cmp = AW_CMP_GTE;

    static const char *const keys[] = {"type", "rules", "aliases", "group-by", "timespan",
                                       "condition", "generate"};
    for (size_t i = 0; i < node->n; i++) {
        bool known = false;
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            known |= !strcmp(node->keys[i]->scalar, keys[k]);
        if (!known)
            aw_rl_problem(L, node->keys[i], "unknown correlation key '%s'", node->keys[i]->scalar);
    }

    const struct aw_ynode *n = aw_ymap_get(node, "type");
    size_t type = sizeof type_names / sizeof type_names[0];
    if (!n)
        aw_rl_problem(L, node, "correlation has no type");
    else
        for (size_t t = 0; t < sizeof type_names / sizeof type_names[0]; t++)
            if (aw_yscalar_is(n, type_names[t]))
                type = t;
    if (n && type == sizeof type_names / sizeof type_names[0])
        aw_rl_problem(L, n, "correlation type '%s' is not supported by auditwatch (event_count, "
                            "value_count, temporal, temporal_ordered)",
                      n->type == AW_Y_SCALAR ? n->scalar : "?");
    c->type = type < sizeof type_names / sizeof type_names[0] ? (enum aw_corr_type)type
                                                              : AW_CORR_EVENT_COUNT;
    bool type_ok = n && type < sizeof type_names / sizeof type_names[0];

    if ((n = aw_ymap_get(node, "rules")) != NULL)
        c->rule_refs = string_list(L, n, "rules", &c->nrules, &cf->ref_at);
    if (!n)
        aw_rl_problem(L, node, "correlation has no rules");
    else if (c->rule_refs && c->nrules == 0)
        aw_rl_problem(L, n, "correlation rules must name at least one rule");

    if ((n = aw_ymap_get(node, "group-by")) != NULL && !aw_yscalar_is_null(n)) {
        size_t count = 0;
        char **names = string_list(L, n, "group-by", &count, &cf->group_at);
        if (names) {
            c->group_by = aw_rl_alloc((count ? count : 1) * sizeof *c->group_by);
            for (size_t i = 0; i < count; i++)
                c->group_by[i] = (struct aw_group_field){names[i], NULL};
            c->ngroup = count;
            free(names);
        }
    }

    if ((n = aw_ymap_get(node, "timespan")) == NULL)
        aw_rl_problem(L, node, "correlation has no timespan");
    else if (n->type != AW_Y_SCALAR || !aw_parse_duration_ms(n->scalar, &c->timespan_ms) ||
             c->timespan_ms <= 0)
        aw_rl_problem(L, n, "invalid timespan '%s' (a duration such as 30s, 10m, 2h, 1d)",
                      n->type == AW_Y_SCALAR ? n->scalar : "?");

    if ((n = aw_ymap_get(node, "condition")) != NULL)
        read_condition(L, n, cf);
    else if (type_ok && (c->type == AW_CORR_EVENT_COUNT || c->type == AW_CORR_VALUE_COUNT))
        aw_rl_problem(L, node, "%s correlation has no condition", type_names[c->type]);
    else
        c->threshold = (int64_t)c->nrules; /* temporal: every rule */
    if (type_ok && c->type == AW_CORR_VALUE_COUNT && !c->value_field_name)
        aw_rl_problem(L, n ? n : node, "value_count correlation needs condition 'field'");

    if ((n = aw_ymap_get(node, "aliases")) != NULL)
        read_aliases(L, n, cf);

    const struct aw_ynode *gen = aw_ymap_get(node, "generate");
    if (gen && top_generate)
        aw_rl_problem(L, top_generate, "'generate' given twice (top level and in correlation)");
    if (!gen)
        gen = top_generate;
    if (gen && !parse_bool(gen, &c->generate))
        aw_rl_problem(L, gen, "'generate' must be true or false");

    if (L->problems != before) {
        aw_correlation_free(c);
        return NULL;
    }
    return c;
}

void aw_correlation_free(struct aw_correlation *c)
{
    if (!c)
        return;
    struct corr_full *cf = full(c);
    for (size_t i = 0; i < c->nrules; i++)
        free(c->rule_refs[i]);
    free(c->rule_refs);
    for (size_t g = 0; g < c->ngroup; g++) {
        if (c->group_by[g].per_rule)
            for (size_t i = 0; i < c->nrules; i++)
                aw_field_ref_fini(&c->group_by[g].per_rule[i]);
        free(c->group_by[g].per_rule);
        free(c->group_by[g].name);
    }
    free(c->group_by);
    if (c->value_field)
        for (size_t i = 0; i < c->nrules; i++)
            aw_field_ref_fini(&c->value_field[i]);
    free(c->value_field);
    free(c->value_field_name);
    free(c->rules);
    for (size_t a = 0; a < cf->naliases; a++) {
        for (size_t e = 0; e < cf->aliases[a].n; e++) {
            free(cf->aliases[a].entries[e].rule_ref);
            free(cf->aliases[a].entries[e].field);
        }
        free(cf->aliases[a].entries);
        free(cf->aliases[a].name);
    }
    free(cf->aliases);
    free(cf->ref_at);
    free(cf->group_at);
    free(cf);
}

/* ------------------------------------------------------------ linking */

struct linker {
    struct aw_ruleset *set;
    struct aw_diags *diags;
    size_t problems;
};

static void link_problem(struct linker *k, const struct aw_rule *r, struct pos at,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void link_problem(struct linker *k, const struct aw_rule *r, struct pos at,
                         const char *fmt, ...)
{
    char msg[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    aw_diag_add(k->diags, r->file, at.line, at.column, "%s", msg);
    k->problems++;
}

static void check_unique(struct linker *k)
{
    struct aw_ruleset *set = k->set;
    for (size_t i = 0; i < set->n; i++) {
        struct aw_rule *r = set->rules[i];
        /* The keys a reference may use: the name, and the id when it differs. */
        const char *mine[2] = {r->name, r->id && strcmp(r->id, r->name) ? r->id : NULL};
        for (size_t j = 0; j < i; j++) {
            const struct aw_rule *o = set->rules[j];
            const char *theirs[2] = {o->name, o->id};
            for (size_t a = 0; a < 2; a++) {
                bool clash = false;
                for (size_t b = 0; b < 2 && mine[a] && !clash; b++)
                    clash = theirs[b] && !strcmp(mine[a], theirs[b]);
                if (!clash)
                    continue;
                link_problem(k, r, (struct pos){r->line, 1},
                             "duplicate rule %s '%s' (also used by the rule at %s:%d)",
                             a == 0 && strcmp(r->name, r->id ? r->id : "") ? "name" : "id",
                             mine[a], o->file, o->line);
                mine[a] = NULL; /* report each key once */
            }
        }
    }
}

static void resolve_refs(struct linker *k, struct aw_rule *r)
{
    struct aw_correlation *c = r->correlation;
    c->rules = aw_rl_alloc((c->nrules ? c->nrules : 1) * sizeof *c->rules);
    for (size_t i = 0; i < c->nrules; i++) {
        struct aw_rule *t = aw_ruleset_find(k->set, c->rule_refs[i]);
        c->rules[i] = t;
        if (!t) {
            link_problem(k, r, full(c)->ref_at[i], "correlation refers to unknown rule '%s'",
                         c->rule_refs[i]);
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (c->rules[j] == t)
                link_problem(k, r, full(c)->ref_at[i],
                             "correlation refers to rule '%s' twice (as '%s' and '%s')", t->name,
                             c->rule_refs[j], c->rule_refs[i]);
        t->referenced = true;
        t->consumers = aw_rl_realloc(t->consumers, (t->nconsumers + 1) * sizeof *t->consumers);
        t->consumers[t->nconsumers++] = r;
    }
}

/* Depth-first search over correlation -> referenced rule edges.
 * state: 0 new, 1 on the current path, 2 done. */
static bool find_cycle(struct linker *k, struct aw_rule *r, unsigned char *state,
                       struct aw_rule **path, size_t depth)
{
    if (!r->correlation || state[r->index] == 2)
        return false;
    path[depth] = r;
    if (state[r->index] == 1) {
        size_t start = 0;
        while (path[start] != r)
            start++;
        char chain[600] = "";
        size_t used = 0;
        for (size_t i = start; i <= depth && used < sizeof chain; i++)
            used += (size_t)snprintf(chain + used, sizeof chain - used, "%s%s",
                                     i > start ? " -> " : "", path[i]->name);
        link_problem(k, r, full(r->correlation)->at, "correlation cycle: %s", chain);
        return true;
    }
    state[r->index] = 1;
    bool found = false;
    for (size_t i = 0; i < r->correlation->nrules && !found; i++)
        if (r->correlation->rules[i])
            found = find_cycle(k, r->correlation->rules[i], state, path, depth + 1);
    state[r->index] = 2;
    return found;
}

static bool upstream_groups_by(const struct aw_rule *up, const char *name)
{
    for (size_t g = 0; g < up->correlation->ngroup; g++)
        if (!strcmp(up->correlation->group_by[g].name, name))
            return true;
    return false;
}

/* The field correlation `r` reads for `name` on events of its i-th rule. */
static void resolve_field(struct linker *k, struct aw_rule *r, size_t i, const char *name,
                          struct pos at, struct aw_field_ref *out)
{
    struct corr_full *cf = full(r->correlation);
    struct aw_rule *t = r->correlation->rules[i];
    const char *field = name;
    struct pos field_at = at;
    if (t && t->correlation) {
        if (!upstream_groups_by(t, name))
            link_problem(k, r, at,
                         "'%s' is not a group-by field of the correlation '%s' it consumes",
                         name, t->name);
    } else if (t) {
        for (size_t a = 0; a < cf->naliases; a++) {
            if (strcmp(cf->aliases[a].name, name) != 0)
                continue;
            for (size_t e = 0; e < cf->aliases[a].n; e++)
                if (aw_ruleset_find(k->set, cf->aliases[a].entries[e].rule_ref) == t) {
                    field = cf->aliases[a].entries[e].field;
                    field_at = cf->aliases[a].entries[e].at;
                }
        }
    }
    char err[200];
    if (!aw_field_ref_init(out, field, err, sizeof err)) {
        link_problem(k, r, field_at, "%s", err);
        aw_field_ref_init(out, "message", err, sizeof err); /* keep the ref usable */
    }
}

static void link_fields(struct linker *k, struct aw_rule *r)
{
    struct aw_correlation *c = r->correlation;
    struct corr_full *cf = full(c);
    /* Every alias entry must name a rule this correlation consumes. */
    for (size_t a = 0; a < cf->naliases; a++)
        for (size_t e = 0; e < cf->aliases[a].n; e++) {
            struct aw_rule *t = aw_ruleset_find(k->set, cf->aliases[a].entries[e].rule_ref);
            bool consumed = false;
            for (size_t i = 0; i < c->nrules && t; i++)
                consumed |= c->rules[i] == t;
            if (!consumed)
                link_problem(k, r, cf->aliases[a].entries[e].at,
                             "alias '%s' names rule '%s', which the correlation does not use",
                             cf->aliases[a].name, cf->aliases[a].entries[e].rule_ref);
        }
    for (size_t g = 0; g < c->ngroup; g++) {
        size_t bytes = (c->nrules ? c->nrules : 1) * sizeof(struct aw_field_ref);
        c->group_by[g].per_rule = aw_rl_alloc(bytes);
        for (size_t i = 0; i < c->nrules; i++)
            resolve_field(k, r, i, c->group_by[g].name, cf->group_at[g],
                          &c->group_by[g].per_rule[i]);
    }
    if (c->value_field_name) {
        c->value_field = aw_rl_alloc((c->nrules ? c->nrules : 1) * sizeof *c->value_field);
        for (size_t i = 0; i < c->nrules; i++)
            resolve_field(k, r, i, c->value_field_name, cf->field_at, &c->value_field[i]);
    }
}

size_t aw_ruleset_link(struct aw_ruleset *set, struct aw_diags *diags)
{
    struct linker k = {set, diags, 0};
    check_unique(&k);
    /* Rules added since an earlier link (none in the usual single call). */
    bool *fresh = aw_rl_alloc((set->n ? set->n : 1) * sizeof *fresh);
    for (size_t i = 0; i < set->n; i++) {
        struct aw_correlation *c = set->rules[i]->correlation;
        fresh[i] = c && !full(c)->linked;
        if (fresh[i]) {
            resolve_refs(&k, set->rules[i]);
            full(c)->linked = true;
        }
    }

    unsigned char *state = aw_rl_alloc(set->n ? set->n : 1);
    struct aw_rule **path = aw_rl_alloc((set->n + 1) * sizeof *path);
    memset(state, 0, set->n);
    for (size_t i = 0; i < set->n; i++)
        find_cycle(&k, set->rules[i], state, path, 0);
    free(path);
    free(state);

    for (size_t i = 0; i < set->n; i++)
        if (fresh[i])
            link_fields(&k, set->rules[i]);
    free(fresh);

    for (size_t i = 0; i < set->n; i++) {
        struct aw_rule *r = set->rules[i];
        r->alerts = !r->referenced;
        for (size_t j = 0; j < r->nconsumers; j++)
            r->alerts |= r->consumers[j]->correlation->generate;
    }
    return k.problems;
}
