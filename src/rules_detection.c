/*
 * rules_detection.c - compile a Sigma `detection:` map.
 *
 * Every key of the map except `condition` is a search identifier.  Its
 * value takes one of the Sigma shapes, each compiled into an OR of groups
 * (struct det_selection) where a group is an AND of field items:
 *
 *   map              one group: every `field|modifiers: values` must hold
 *   list of maps     one group per map (OR)
 *   list of scalars  keywords: one item searching `message` (OR)
 *   scalar           one keyword
 *
 * A field item is `field|mod|mod...`.  The modifiers fall into exclusive
 * families - a position (contains, startswith, endswith), `re` with its
 * flags i/m/s, `cidr`, `exists`, a numeric comparison (gt, gte, lt, lte) -
 * plus the combinable `all`, `cased` and `neq`.  Encoding modifiers
 * (base64, utf16, windash, ...), placeholders (`expand`), field references
 * and time parts describe data auditwatch never sees or features it does
 * not have: they are load errors that name the modifier, as is any name we
 * do not know.  Nothing is dropped silently.
 *
 * Plain values are turned into a wildcard program once: Sigma's escapes
 * (\* \? \\) are resolved, the literal is lower-cased unless `cased`, and
 * the common shapes are recognised (exact, prefix, suffix, contains, any)
 * so that the matcher can skip the general glob scan for them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules_internal.h"

enum mod_family { FAM_NONE, FAM_POS, FAM_RE, FAM_CIDR, FAM_EXISTS, FAM_NUM };

/* What the modifiers of one key ask for. */
struct mods {
    enum mod_family family;
    char family_name[64]; /* the modifier that set the family */
    bool contains, startswith, endswith;
    bool all, cased, neq;
    bool re_i, re_m, re_s;
    enum det_num_cmp num;
};

static const char *const unsupported_mods[] = {
    "windash", "base64", "base64offset", "utf16le", "utf16be", "utf16", "wide", "expand",
    "fieldref", "minute", "hour", "day", "week", "month", "year",
};

static bool set_family(struct aw_rule_loader *L, const struct aw_ynode *key, struct mods *m,
                       enum mod_family fam, const char *name)
{
    if (m->family != FAM_NONE) {
        aw_rl_problem(L, key, "modifiers '%s' and '%s' cannot be combined", m->family_name, name);
        return false;
    }
    m->family = fam;
    snprintf(m->family_name, sizeof m->family_name, "%s", name);
    return true;
}

/* Parse "mod|mod|..." (the part after the field name). */
static bool parse_mods(struct aw_rule_loader *L, const struct aw_ynode *key, const char *spec,
                       struct mods *m)
{
    memset(m, 0, sizeof *m);
    bool ok = true;
    bool seen_re = false;
    while (spec) {
        const char *bar = strchr(spec, '|');
        size_t n = bar ? (size_t)(bar - spec) : strlen(spec);
        char name[64];
        if (n == 0) {
            aw_rl_problem(L, key, "empty modifier in '%s'", key->scalar);
            return false;
        }
        if (n >= sizeof name) {
            aw_rl_problem(L, key, "unknown modifier '%.*s'", (int)n, spec);
            return false;
        }
        memcpy(name, spec, n);
        name[n] = '\0';
        spec = bar ? bar + 1 : NULL;

        if (!strcmp(name, "contains") || !strcmp(name, "startswith") ||
            !strcmp(name, "endswith")) {
            ok = set_family(L, key, m, FAM_POS, name) && ok;
            m->contains |= name[0] == 'c';
            m->startswith |= name[0] == 's';
            m->endswith |= name[0] == 'e';
        } else if (!strcmp(name, "re")) {
            ok = set_family(L, key, m, FAM_RE, "re") && ok;
            seen_re = true;
        } else if (!strcmp(name, "i") || !strcmp(name, "m") || !strcmp(name, "s")) {
            if (!seen_re) {
                aw_rl_problem(L, key, "modifier '%s' is only valid after 're'", name);
                ok = false;
            }
            m->re_i |= name[0] == 'i';
            m->re_m |= name[0] == 'm';
            m->re_s |= name[0] == 's';
        } else if (!strcmp(name, "cidr")) {
            ok = set_family(L, key, m, FAM_CIDR, "cidr") && ok;
        } else if (!strcmp(name, "exists")) {
            ok = set_family(L, key, m, FAM_EXISTS, "exists") && ok;
        } else if (!strcmp(name, "gt") || !strcmp(name, "gte") || !strcmp(name, "lt") ||
                   !strcmp(name, "lte")) {
            ok = set_family(L, key, m, FAM_NUM, name) && ok;
            m->num = name[0] == 'g' ? (name[2] ? NUM_GTE : NUM_GT) : (name[2] ? NUM_LTE : NUM_LT);
        } else if (!strcmp(name, "all")) {
            m->all = true;
        } else if (!strcmp(name, "cased")) {
            m->cased = true;
        } else if (!strcmp(name, "neq")) {
            m->neq = true;
        } else {
            bool unsupported = false;
            for (size_t i = 0; i < sizeof unsupported_mods / sizeof unsupported_mods[0]; i++)
                unsupported |= !strcmp(name, unsupported_mods[i]);
            if (unsupported)
                aw_rl_problem(L, key, "modifier '%s' is not supported by auditwatch", name);
            else
                aw_rl_problem(L, key, "unknown modifier '%s'", name);
            ok = false;
        }
    }
    if (!ok)
        return false;
    if (m->cased && m->family != FAM_NONE && m->family != FAM_POS) {
        aw_rl_problem(L, key, "modifier 'cased' does not apply to '%s'", m->family_name);
        return false;
    }
    if (m->family == FAM_EXISTS && (m->all || m->neq || m->cased)) {
        aw_rl_problem(L, key, "modifier 'exists' takes no other modifier");
        return false;
    }
    return true;
}

/* ------------------------------------------------------------ plain values */

static void push_tok(struct det_value *v, size_t *cap, uint8_t kind, uint32_t off)
{
    if (kind == GT_STAR && v->ntoks && v->toks[v->ntoks - 1].kind == GT_STAR)
        return; /* "**" is "*" */
    if (kind == GT_LIT && v->ntoks && v->toks[v->ntoks - 1].kind == GT_LIT) {
        v->toks[v->ntoks - 1].len++;
        return;
    }
    if (v->ntoks == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        v->toks = aw_rl_realloc(v->toks, *cap * sizeof *v->toks);
    }
    v->toks[v->ntoks++] = (struct det_glob_tok){kind, off, kind == GT_LIT ? 1 : 0};
}

/* Build the wildcard program of s and pick the cheapest matcher shape. */
static void compile_plain(struct det_value *v, const char *s, size_t n, bool lead_star,
                          bool trail_star, bool cased)
{
    size_t cap = 0;
    v->text = aw_rl_alloc(n + 1);
    v->len = 0;
    if (lead_star)
        push_tok(v, &cap, GT_STAR, 0);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n && (s[i + 1] == '*' || s[i + 1] == '?' || s[i + 1] == '\\')) {
            c = s[++i];
        } else if (c == '*') {
            push_tok(v, &cap, GT_STAR, 0);
            continue;
        } else if (c == '?') {
            push_tok(v, &cap, GT_ONE, 0);
            continue;
        }
        if (!cased && c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        push_tok(v, &cap, GT_LIT, (uint32_t)v->len);
        v->text[v->len++] = c;
    }
    v->text[v->len] = '\0';
    if (trail_star)
        push_tok(v, &cap, GT_STAR, 0);

    const struct det_glob_tok *t = v->toks;
    size_t nt = v->ntoks;
    bool simple = true;
    for (size_t i = 0; i < nt; i++)
        simple &= t[i].kind != GT_ONE;
    /* Shapes with at most one literal and stars only at the ends. */
    if (nt == 0 || (nt == 1 && t[0].kind == GT_LIT))
        v->kind = DV_EXACT;
    else if (nt == 1 && t[0].kind == GT_STAR)
        v->kind = DV_ANY;
    else if (simple && nt == 2 && t[0].kind == GT_LIT)
        v->kind = DV_PREFIX;
    else if (simple && nt == 2 && t[1].kind == GT_LIT)
        v->kind = DV_SUFFIX;
    else if (simple && nt == 3 && t[1].kind == GT_LIT && t[0].kind == GT_STAR &&
             t[2].kind == GT_STAR)
        v->kind = DV_CONTAINS;
    else {
        v->kind = DV_GLOB;
        return;
    }
    free(v->toks);
    v->toks = NULL;
    v->ntoks = 0;
}

static bool compile_regex(struct aw_rule_loader *L, const struct aw_ynode *at,
                          const struct mods *m, struct det_value *v)
{
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
    if (m->re_i)
        opts |= PCRE2_CASELESS;
    if (m->re_m)
        opts |= PCRE2_MULTILINE;
    if (m->re_s)
        opts |= PCRE2_DOTALL;
    int errcode;
    PCRE2_SIZE erroff;
    v->re = pcre2_compile((PCRE2_SPTR)at->scalar, at->scalar_len, opts, &errcode, &erroff, NULL);
    if (!v->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        aw_rl_problem(L, at, "invalid regular expression '%s': %s at offset %zu", at->scalar,
                      (const char *)msg, (size_t)erroff);
        return false;
    }
    /* Without JIT (unsupported CPU) pcre2_match interprets: slower, same result. */
    pcre2_jit_compile(v->re, PCRE2_JIT_COMPLETE);
    v->kind = DV_RE;
    return true;
}

/* One rule value of an item. */
static bool compile_value(struct aw_rule_loader *L, const struct aw_ynode *at,
                          const struct mods *m, bool keyword, struct det_item *it,
                          struct det_value *v)
{
    memset(v, 0, sizeof *v);
    if (aw_yscalar_is_null(at)) {
        if (m->family != FAM_NONE || keyword) {
            aw_rl_problem(L, at, "a null value cannot be used %s",
                          keyword ? "as a keyword" : "with modifiers");
            return false;
        }
        v->kind = DV_NULL;
        it->has_null = true;
        return true;
    }
    switch (m->family) {
    case FAM_RE:
        return compile_regex(L, at, m, v);
    case FAM_CIDR:
        if (!aw_cidr_parse(at->scalar, at->scalar_len, &v->net, &v->prefix_bits)) {
            aw_rl_problem(L, at, "invalid CIDR '%s'", at->scalar);
            return false;
        }
        v->kind = DV_CIDR;
        return true;
    case FAM_NUM:
        if (!aw_parse_decimal(at->scalar, at->scalar_len, &v->num)) {
            aw_rl_problem(L, at, "'%s' is not a number", at->scalar);
            return false;
        }
        v->kind = DV_NUM;
        return true;
    default:
        break;
    }
    bool contains = m->contains || (keyword && m->family == FAM_NONE);
    compile_plain(v, at->scalar, at->scalar_len, contains || m->endswith,
                  contains || m->startswith, m->cased);
    return true;
}

static void item_free(struct det_item *it)
{
    for (size_t i = 0; i < it->nvalues; i++) {
        free(it->values[i].text);
        free(it->values[i].toks);
        pcre2_code_free(it->values[i].re);
    }
    free(it->values);
    aw_field_ref_fini(&it->field);
}

/* Compile values (a scalar or a list of scalars) into it->values. */
static bool compile_values(struct aw_rule_loader *L, const struct aw_ynode *key,
                           const struct aw_ynode *val, const struct mods *m, struct det_item *it)
{
    const struct aw_ynode *const *list = &val;
    size_t n = 1;
    if (val->type == AW_Y_SEQ) {
        list = (const struct aw_ynode *const *)val->items;
        n = val->n;
        if (n == 0) {
            aw_rl_problem(L, val, "'%s' has an empty list of values", key->scalar);
            return false;
        }
    } else if (val->type == AW_Y_MAP) {
        aw_rl_problem(L, val, "the value of '%s' must be a string, a number or a list of them",
                      key->scalar);
        return false;
    }
    it->values = aw_rl_alloc(n * sizeof *it->values);
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        if (list[i]->type != AW_Y_SCALAR) {
            aw_rl_problem(L, list[i], "a list of values for '%s' may hold only scalars",
                          key->scalar);
            ok = false;
            continue;
        }
        if (compile_value(L, list[i], m, it->keyword, it, &it->values[it->nvalues]))
            it->nvalues++;
        else
            ok = false;
    }
    return ok;
}

/* `field|mods: values` into one item. */
static bool compile_item(struct aw_rule_loader *L, const struct aw_ynode *key,
                         const struct aw_ynode *val, struct det_item *it)
{
    memset(it, 0, sizeof *it);
    it->exists = -1;
    const char *bar = strchr(key->scalar, '|');
    size_t flen = bar ? (size_t)(bar - key->scalar) : key->scalar_len;
    struct mods m;
    if (!parse_mods(L, key, bar ? bar + 1 : NULL, &m))
        return false;
    char err[200];
    char *field = aw_rl_alloc(flen + 1);
    memcpy(field, key->scalar, flen);
    field[flen] = '\0';
    it->keyword = flen == 0; /* "|all: [...]": keywords with modifiers */
    bool ok = aw_field_ref_init(&it->field, it->keyword ? "message" : field, err, sizeof err);
    free(field);
    if (!ok) {
        aw_rl_problem(L, key, "%s", err);
        return false;
    }
    it->all = m.all;
    it->cased = m.cased;
    it->neq = m.neq;
    it->num_cmp = m.num;
    if (m.family == FAM_EXISTS) {
        if (val->type != AW_Y_SCALAR ||
            (strcasecmp(val->scalar, "true") != 0 && strcasecmp(val->scalar, "false") != 0)) {
            aw_rl_problem(L, val, "modifier 'exists' takes true or false");
            item_free(it);
            return false;
        }
        it->exists = strcasecmp(val->scalar, "true") == 0;
        return true;
    }
    if (!compile_values(L, key, val, &m, it)) {
        item_free(it);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------ selections */

static struct det_group *add_group(struct det_selection *sel)
{
    sel->groups = aw_rl_realloc(sel->groups, (sel->ngroups + 1) * sizeof *sel->groups);
    struct det_group *g = &sel->groups[sel->ngroups++];
    memset(g, 0, sizeof *g);
    return g;
}

static bool compile_map_group(struct aw_rule_loader *L, const struct aw_ynode *map,
                              struct det_selection *sel)
{
    if (map->n == 0) {
        aw_rl_problem(L, map, "search identifier '%s' holds an empty map", sel->name);
        return false;
    }
    struct det_group *g = add_group(sel);
    g->items = aw_rl_alloc(map->n * sizeof *g->items);
    bool ok = true;
    for (size_t i = 0; i < map->n; i++) {
        if (compile_item(L, map->keys[i], map->items[i], &g->items[g->nitems]))
            g->nitems++;
        else
            ok = false;
    }
    return ok;
}

/* Scalars given as keywords (a list of them, or one). */
static bool compile_keywords(struct aw_rule_loader *L, const struct aw_ynode *const *vals,
                             size_t n, struct det_selection *sel)
{
    struct det_group *g = add_group(sel);
    g->items = aw_rl_alloc(sizeof *g->items);
    struct det_item *it = &g->items[0];
    memset(it, 0, sizeof *it);
    it->exists = -1;
    it->keyword = true;
    char err[200];
    aw_field_ref_init(&it->field, "message", err, sizeof err);
    g->nitems = 1;
    it->values = aw_rl_alloc(n * sizeof *it->values);
    struct mods none;
    memset(&none, 0, sizeof none);
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        if (compile_value(L, vals[i], &none, true, it, &it->values[it->nvalues]))
            it->nvalues++;
        else
            ok = false;
    }
    return ok;
}

static bool compile_selection(struct aw_rule_loader *L, const struct aw_ynode *key,
                              const struct aw_ynode *val, struct det_selection *sel)
{
    memset(sel, 0, sizeof *sel);
    sel->name = aw_rl_strdup(key->scalar);
    if (val->type == AW_Y_MAP)
        return compile_map_group(L, val, sel);
    if (val->type == AW_Y_SCALAR) {
        if (aw_yscalar_is_null(val)) {
            aw_rl_problem(L, val, "search identifier '%s' has no value", sel->name);
            return false;
        }
        return compile_keywords(L, (const struct aw_ynode *const *)&val, 1, sel);
    }
    if (val->n == 0) {
        aw_rl_problem(L, val, "search identifier '%s' is an empty list", sel->name);
        return false;
    }
    /* A list: maps are alternatives, scalars are keywords (one group). */
    const struct aw_ynode **scalars = aw_rl_alloc(val->n * sizeof *scalars);
    size_t nscalars = 0;
    bool ok = true;
    for (size_t i = 0; i < val->n; i++) {
        const struct aw_ynode *item = val->items[i];
        if (item->type == AW_Y_MAP)
            ok = compile_map_group(L, item, sel) && ok;
        else if (item->type == AW_Y_SCALAR)
            scalars[nscalars++] = item;
        else {
            aw_rl_problem(L, item, "search identifier '%s' holds a list inside a list",
                          sel->name);
            ok = false;
        }
    }
    if (nscalars)
        ok = compile_keywords(L, scalars, nscalars, sel) && ok;
    free(scalars);
    return ok;
}

static void selection_free(struct det_selection *sel)
{
    for (size_t g = 0; g < sel->ngroups; g++) {
        for (size_t i = 0; i < sel->groups[g].nitems; i++)
            item_free(&sel->groups[g].items[i]);
        free(sel->groups[g].items);
    }
    free(sel->groups);
    free(sel->name);
}

void aw_detection_free(struct aw_detection *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nsels; i++)
        selection_free(&d->sels[i]);
    free(d->sels);
    free(d->nodes);
    free(d->kids);
    free(d);
}

struct aw_detection *aw_detection_compile(struct aw_rule_loader *L, const struct aw_ynode *det)
{
    if (det->type != AW_Y_MAP) {
        aw_rl_problem(L, det, "detection must be a map of search identifiers and a condition");
        return NULL;
    }
    size_t before = L->problems;
    struct aw_detection *d = aw_rl_alloc(sizeof *d);
    memset(d, 0, sizeof *d);
    d->sels = aw_rl_alloc((det->n ? det->n : 1) * sizeof *d->sels);
    const struct aw_ynode *cond = NULL;
    for (size_t i = 0; i < det->n; i++) {
        const struct aw_ynode *key = det->keys[i];
        if (!strcmp(key->scalar, "condition")) {
            cond = det->items[i];
            continue;
        }
        if (!strcmp(key->scalar, "timeframe")) {
            aw_rl_problem(L, key, "timeframe is Sigma 1 aggregation; use a correlation rule");
            continue;
        }
        /* Kept even when it fails, so the condition can still name it. */
        compile_selection(L, key, det->items[i], &d->sels[d->nsels++]);
    }
    if (d->nsels == 0)
        aw_rl_problem(L, det, "detection has no search identifier");
    if (!cond)
        aw_rl_problem(L, det, "detection has no condition");
    else if (d->nsels > 0)
        aw_condition_compile(L, cond, d);
    if (L->problems != before) {
        aw_detection_free(d);
        return NULL;
    }
    return d;
}
