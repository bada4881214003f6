/*
 * match.c - evaluate a compiled detection against one event.
 *
 * This is the hot path: every event meets every rule whose logsource
 * admits it.  Everything that can be prepared is prepared at load time
 * (rules_detection.c): literals are lower-cased, wildcards are turned into
 * a token program, regexes are compiled with JIT, networks and numbers are
 * parsed.  At match time nothing is allocated: event text is folded one
 * byte at a time while comparing, the regex engine uses the match data and
 * JIT stack of the per-thread aw_match_ctx, and raw JSON numbers are
 * formatted into the context's scratch space.
 *
 * Field values.  A rule field resolves (aw_field_ref_init) to an ECS field
 * of the event model or, failing that, to a path into the original audit
 * JSON.  aw_field_ref_visit() hands each value of the field to a callback:
 * one for a scalar, one per element for a list (user.groups, JSON arrays,
 * including arrays met half-way along a path, as in
 * `requestObject.spec.containers.image`).  A path segment that does not
 * exist as a key is retried joined with the following segments, so keys
 * that contain dots (`annotations.authorization.k8s.io/decision`) resolve
 * too; the shortest key that exists wins.  A numeric segment indexes an
 * array (`containers.0.image`).  Objects and JSON null are not values; `exists` sees them.
 *
 * Semantics of one field item (DESIGN section 5, Sigma 2): the item holds
 * when some value of the field matches some rule value (with `all`: every
 * rule value matches some value of the field).  A null rule value holds
 * when the field has no value at all.  `neq` inverts the item.
 *
 * Wildcards.  The glob program is a sequence of literals, `*` and `?`
 * (one UTF-8 character).  The matcher is the classic greedy scan that
 * remembers the last `*` and retries one character further on a
 * mismatch; it runs in O(len(text) * len(pattern)) at worst and without
 * recursion, so a hostile value cannot blow the stack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditwatch/event.h"
#include "auditwatch/ipaddr.h"
#include "auditwatch/rule.h"
#include "rules_internal.h"

#define SCRATCH_SIZE 64
#define REGEX_MATCH_LIMIT 1000000
#define REGEX_HEAP_LIMIT_KIB (16 * 1024)
#define JIT_STACK_MIN (32 * 1024)
#define JIT_STACK_MAX (512 * 1024)

struct aw_match_ctx {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack;
    char scratch[SCRATCH_SIZE]; /* raw JSON numbers as text */
};

/* ------------------------------------------------------------ small utils */

bool aw_cmp_holds(enum aw_cmp cmp, int64_t value, int64_t threshold)
{
    switch (cmp) {
    case AW_CMP_GT:
        return value > threshold;
    case AW_CMP_GTE:
        return value >= threshold;
    case AW_CMP_LT:
        return value < threshold;
    case AW_CMP_LTE:
        return value <= threshold;
    case AW_CMP_EQ:
        return value == threshold;
    }
    return false;
}

static bool str_is(const struct aw_str *s, const char *text)
{
    size_t n = strlen(text);
    return s->ptr && s->len == n && !memcmp(s->ptr, text, n);
}

unsigned aw_event_dataset_bit(const struct aw_event *ev)
{
    const struct aw_str *ds = &ev->fields[AW_F_EVENT_DATASET];
    if (str_is(ds, "system.auth"))
        return AW_DATASET_AUTH;
    if (str_is(ds, "kubernetes.audit"))
        return AW_DATASET_K8S;
    return 0;
}

bool aw_parse_decimal(const char *s, size_t n, double *out)
{
    char buf[SCRATCH_SIZE];
    if (n == 0 || n >= sizeof buf)
        return false;
    size_t i = 0, digits = 0;
    if (s[i] == '-' || s[i] == '+')
        i++;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    if (!digits)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t exp_digits = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            exp_digits++;
        if (!exp_digits)
            return false;
    }
    if (i != n)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return true;
}

/* ------------------------------------------------------------ field refs */

bool aw_field_ref_init(struct aw_field_ref *ref, const char *name, char *err, size_t errlen)
{
    memset(ref, 0, sizeof *ref);
    size_t len = strlen(name);
    if (len == 0) {
        snprintf(err, errlen, "empty field name");
        return false;
    }
    ref->ecs = aw_field_lookup(name, len);
    if (ref->ecs < 0) {
        size_t depth = 1;
        for (const char *p = name; *p; p++)
            depth += *p == '.';
        if (depth > AW_FIELD_PATH_MAX) {
            snprintf(err, errlen, "field path '%s' has more than %d segments", name,
                     AW_FIELD_PATH_MAX);
            return false;
        }
        const char *start = name;
        for (size_t i = 0; i < depth; i++) {
            const char *dot = strchr(start, '.');
            size_t seg = dot ? (size_t)(dot - start) : strlen(start);
            if (seg == 0) {
                snprintf(err, errlen, "field name '%s' has an empty path segment", name);
                aw_field_ref_fini(ref);
                return false;
            }
            if (!ref->path)
                ref->path = aw_rl_alloc(depth * sizeof *ref->path);
            ref->path[i] = aw_rl_alloc(seg + 1);
            memcpy(ref->path[i], start, seg);
            ref->path[i][seg] = '\0';
            ref->depth = i + 1;
            start += seg + 1;
        }
    }
    ref->name = aw_rl_strdup(name);
    return true;
}

void aw_field_ref_fini(struct aw_field_ref *ref)
{
    for (size_t i = 0; i < ref->depth; i++)
        free(ref->path[i]);
    free(ref->path);
    free(ref->name);
    memset(ref, 0, sizeof *ref);
}

struct raw_walk {
    const struct aw_field_ref *ref;
    size_t off[AW_FIELD_PATH_MAX + 1]; /* segment i starts at name + off[i] */
    aw_value_fn fn;
    void *ctx;
    char *scratch;
    size_t count;
    bool stop;
    bool presence; /* only find out whether the path resolves */
};

static void emit(struct raw_walk *w, const char *text, size_t len)
{
    w->count++;
    if (w->fn(w->ctx, text, len))
        w->stop = true;
}

/* Visit a JSON value found at the end of the path. */
static void walk_value(struct raw_walk *w, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        emit(w, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER: {
        int n = snprintf(w->scratch, SCRATCH_SIZE, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        emit(w, w->scratch, (size_t)n);
        break;
    }
    case JSON_REAL: {
        /* The shortest text that reads back as the same double. */
        double d = json_real_value(v);
        int n = 0;
        for (int prec = 15; prec <= 17; prec++) {
            n = snprintf(w->scratch, SCRATCH_SIZE, "%.*g", prec, d);
            if (strtod(w->scratch, NULL) == d)
                break;
        }
        emit(w, w->scratch, (size_t)n);
        break;
    }
    case JSON_TRUE:
        emit(w, "true", 4);
        break;
    case JSON_FALSE:
        emit(w, "false", 5);
        break;
    case JSON_ARRAY:
        for (size_t i = 0; i < json_array_size(v) && !w->stop; i++)
            walk_value(w, json_array_get(v, i));
        break;
    default: /* objects and null are no values */
        break;
    }
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static void walk_path(struct raw_walk *w, const json_t *node, size_t seg)
{
    if (w->stop)
        return;
    const struct aw_field_ref *ref = w->ref;
    if (seg == ref->depth) {
        if (w->presence) {
            w->count++;
            w->stop = true;
        } else {
            walk_value(w, node);
        }
        return;
    }
    if (json_is_object(node)) {
        /* The segment alone, else joined with the next ones ("a.b"). */
        for (size_t last = seg; last < ref->depth; last++) {
            const char *key = ref->name + w->off[seg];
            size_t key_len = w->off[last + 1] - 1 - w->off[seg];
            const json_t *child = json_object_getn(node, key, key_len);
            if (child) {
                walk_path(w, child, last + 1);
                break;
            }
        }
    } else if (json_is_array(node)) {
        if (all_digits(ref->path[seg])) {
            const json_t *child = json_array_get(node, strtoul(ref->path[seg], NULL, 10));
            if (child)
                walk_path(w, child, seg + 1);
        } else {
            for (size_t i = 0; i < json_array_size(node) && !w->stop; i++)
                walk_path(w, json_array_get(node, i), seg);
        }
    }
}

static size_t raw_walk(const struct aw_field_ref *ref, const json_t *raw, aw_value_fn fn,
                       void *ctx, char *scratch, bool presence)
{
    struct raw_walk w = {.ref = ref, .fn = fn, .ctx = ctx, .scratch = scratch,
                         .presence = presence};
    size_t off = 0;
    for (size_t i = 0; i < ref->depth; i++) {
        w.off[i] = off;
        off += strlen(ref->path[i]) + 1;
    }
    w.off[ref->depth] = off;
    walk_path(&w, raw, 0);
    return w.count;
}

size_t aw_field_ref_visit(const struct aw_field_ref *ref, const struct aw_event *ev, aw_value_fn fn,
                          void *ctx, char *scratch)
{
    if (ref->ecs < 0)
        return ev->raw ? raw_walk(ref, ev->raw, fn, ctx, scratch, false) : 0;
    int f = ref->ecs;
    switch (aw_field_defs[f].kind) {
    case AW_KIND_STRING_LIST: {
        const json_t *list = ev->lists[f];
        if (!list)
            break;
        size_t n = 0;
        for (size_t i = 0; i < json_array_size(list); i++) {
            const json_t *item = json_array_get(list, i);
            if (!json_is_string(item))
                continue;
            n++;
            if (fn(ctx, json_string_value(item), json_string_length(item)))
                return n;
        }
        return n;
    }
    case AW_KIND_ORIGIN:
        return 0;
    default:
        break;
    }
    if (!ev->fields[f].ptr)
        return 0;
    fn(ctx, ev->fields[f].ptr, ev->fields[f].len);
    return 1;
}

struct first_value {
    struct aw_str *out;
};

static bool take_first(void *ctx, const char *text, size_t len)
{
    struct first_value *fv = ctx;
    fv->out->ptr = text;
    fv->out->len = len;
    return true;
}

bool aw_field_ref_first(const struct aw_field_ref *ref, const struct aw_event *ev,
                        struct aw_str *out, char *scratch)
{
    struct first_value fv = {out};
    out->ptr = NULL;
    out->len = 0;
    return aw_field_ref_visit(ref, ev, take_first, &fv, scratch) > 0;
}

static bool ignore_value(void *ctx, const char *text, size_t len)
{
    (void)ctx, (void)text, (void)len;
    return true;
}

bool aw_field_ref_present(const struct aw_field_ref *ref, const struct aw_event *ev)
{
    char scratch[SCRATCH_SIZE];
    if (ref->ecs < 0)
        return ev->raw && raw_walk(ref, ev->raw, ignore_value, NULL, scratch, true) > 0;
    if (aw_field_defs[ref->ecs].kind == AW_KIND_ORIGIN)
        return ev->origin.kind != AW_ORIGIN_NONE;
    return ev->fields[ref->ecs].ptr != NULL || ev->lists[ref->ecs] != NULL;
}

/* ------------------------------------------------------------ match ctx */

struct aw_match_ctx *aw_match_ctx_new(void)
{
    struct aw_match_ctx *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    /* Rules only ask whether a regex matches, so one ovector pair is
     * enough for every pattern (pcre2_match returns 0, still a match, when
     * the ovector is too small for the captures). */
    m->md = pcre2_match_data_create(1, NULL);
    m->mctx = pcre2_match_context_create(NULL);
    m->jit_stack = pcre2_jit_stack_create(JIT_STACK_MIN, JIT_STACK_MAX, NULL);
    if (!m->md || !m->mctx || !m->jit_stack) {
        aw_match_ctx_free(m);
        return NULL;
    }
    pcre2_set_match_limit(m->mctx, REGEX_MATCH_LIMIT);
    pcre2_set_heap_limit(m->mctx, REGEX_HEAP_LIMIT_KIB);
    pcre2_jit_stack_assign(m->mctx, NULL, m->jit_stack);
    return m;
}

void aw_match_ctx_free(struct aw_match_ctx *m)
{
    if (!m)
        return;
    pcre2_jit_stack_free(m->jit_stack);
    pcre2_match_context_free(m->mctx);
    pcre2_match_data_free(m->md);
    free(m);
}

/* ------------------------------------------------------------ literals */

static inline unsigned char fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* text[0..n) equals lit[0..n); lit is already folded unless cased. */
static bool lit_eq(const char *text, const char *lit, size_t n, bool cased)
{
    if (cased)
        return memcmp(text, lit, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (fold((unsigned char)text[i]) != (unsigned char)lit[i])
            return false;
    return true;
}

static bool lit_contains(const char *text, size_t len, const char *lit, size_t n, bool cased)
{
    if (n == 0)
        return true;
    if (n > len)
        return false;
    if (cased)
        return memmem(text, len, lit, n) != NULL;
    unsigned char first = (unsigned char)lit[0];
    for (size_t i = 0; i + n <= len; i++)
        if (fold((unsigned char)text[i]) == first && lit_eq(text + i + 1, lit + 1, n - 1, false))
            return true;
    return false;
}

/* Bytes of the UTF-8 character at s (1 for a stray byte). */
static size_t char_len(const char *s, size_t avail)
{
    unsigned char c = (unsigned char)s[0];
    size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return n <= avail ? n : avail;
}

static bool glob_match(const struct det_value *v, const char *s, size_t n, bool cased)
{
    size_t p = 0, i = 0;
    size_t star_p = SIZE_MAX, star_i = 0;
    while (i < n) {
        if (p < v->ntoks) {
            const struct det_glob_tok *t = &v->toks[p];
            if (t->kind == GT_STAR) {
                star_p = ++p;
                star_i = i;
                continue;
            }
            if (t->kind == GT_ONE) {
                i += char_len(s + i, n - i);
                p++;
                continue;
            }
            if (t->len <= n - i && lit_eq(s + i, v->text + t->off, t->len, cased)) {
                i += t->len;
                p++;
                continue;
            }
        }
        if (star_p == SIZE_MAX)
            return false;
        star_i += char_len(s + star_i, n - star_i);
        i = star_i;
        p = star_p;
    }
    while (p < v->ntoks && v->toks[p].kind == GT_STAR)
        p++;
    return p == v->ntoks;
}

/* ------------------------------------------------------------ one value */

static bool value_matches(const struct det_item *it, const struct det_value *v, const char *s,
                          size_t n, struct aw_match_ctx *m)
{
    switch (v->kind) {
    case DV_EXACT:
        return n == v->len && lit_eq(s, v->text, n, it->cased);
    case DV_PREFIX:
        return n >= v->len && lit_eq(s, v->text, v->len, it->cased);
    case DV_SUFFIX:
        return n >= v->len && lit_eq(s + n - v->len, v->text, v->len, it->cased);
    case DV_CONTAINS:
        return lit_contains(s, n, v->text, v->len, it->cased);
    case DV_ANY:
        return true;
    case DV_GLOB:
        return glob_match(v, s, n, it->cased);
    case DV_NULL:
        return false; /* decided by the absence of values */
    case DV_RE:
        return pcre2_match(v->re, (PCRE2_SPTR)s, n, 0, 0, m->md, m->mctx) >= 0;
    case DV_CIDR: {
        struct aw_ip ip;
        return aw_ip_parse(s, n, &ip) && aw_cidr_contains(&v->net, v->prefix_bits, &ip);
    }
    case DV_NUM: {
        double x;
        if (!aw_parse_decimal(s, n, &x))
            return false;
        switch (it->num_cmp) {
        case NUM_GT:
            return x > v->num;
        case NUM_GTE:
            return x >= v->num;
        case NUM_LT:
            return x < v->num;
        case NUM_LTE:
            return x <= v->num;
        }
        return false;
    }
    }
    return false;
}

struct item_visit {
    const struct det_item *item;
    const struct det_value *only; /* with `all`: the one rule value tested */
    struct aw_match_ctx *m;
    bool hit;
};

static bool on_field_value(void *ctx, const char *s, size_t n)
{
    struct item_visit *iv = ctx;
    if (iv->only) {
        iv->hit = value_matches(iv->item, iv->only, s, n, iv->m);
        return iv->hit;
    }
    for (size_t i = 0; i < iv->item->nvalues; i++)
        if (value_matches(iv->item, &iv->item->values[i], s, n, iv->m)) {
            iv->hit = true;
            return true;
        }
    return false;
}

static bool item_holds(const struct det_item *it, const struct aw_event *ev,
                       struct aw_match_ctx *m)
{
    if (it->exists >= 0)
        return aw_field_ref_present(&it->field, ev) == (it->exists == 1);
    bool result;
    int f = it->field.ecs;
    if (!it->all && f >= 0 && aw_field_defs[f].kind != AW_KIND_STRING_LIST && aw_field_defs[f].kind != AW_KIND_ORIGIN) {
        /* A scalar ECS field: what aw_field_ref_visit would hand to
         * on_field_value, without the callback. */
        const struct aw_str *v = &ev->fields[f];
        result = v->ptr ? false : it->has_null;
        for (size_t i = 0; v->ptr && i < it->nvalues && !result; i++)
            result = value_matches(it, &it->values[i], v->ptr, v->len, m);
    } else if (!it->all) {
        struct item_visit iv = {it, NULL, m, false};
        size_t seen = aw_field_ref_visit(&it->field, ev, on_field_value, &iv, m->scratch);
        result = iv.hit || (seen == 0 && it->has_null);
    } else {
        result = true;
        for (size_t i = 0; i < it->nvalues && result; i++) {
            struct item_visit iv = {it, &it->values[i], m, false};
            size_t seen = aw_field_ref_visit(&it->field, ev, on_field_value, &iv, m->scratch);
            result = it->values[i].kind == DV_NULL ? seen == 0 : iv.hit;
        }
    }
    return it->neq ? !result : result;
}

static bool selection_holds(const struct det_selection *sel, const struct aw_event *ev,
                            struct aw_match_ctx *m)
{
    for (size_t g = 0; g < sel->ngroups; g++) {
        const struct det_group *grp = &sel->groups[g];
        size_t i = 0;
        while (i < grp->nitems && item_holds(&grp->items[i], ev, m))
            i++;
        if (i == grp->nitems)
            return true;
    }
    return false;
}

/* Recursion depth is bounded by AW_CONDITION_MAX_DEPTH at compile time. */
static bool node_holds(const struct aw_detection *d, uint32_t i, const struct aw_event *ev,
                       struct aw_match_ctx *m)
{
    const struct cnode *nd = &d->nodes[i];
    switch (nd->kind) {
    case CN_SEL:
        return selection_holds(&d->sels[nd->a], ev, m);
    case CN_NOT:
        return !node_holds(d, nd->a, ev, m);
    case CN_AND:
        for (uint32_t k = 0; k < nd->n; k++)
            if (!node_holds(d, d->kids[nd->a + k], ev, m))
                return false;
        return true;
    case CN_OR:
        for (uint32_t k = 0; k < nd->n; k++)
            if (node_holds(d, d->kids[nd->a + k], ev, m))
                return true;
        return false;
    }
    return false;
}

/* ------------------------------------------------------------ rules */

bool aw_rule_logsource_admits(const struct aw_rule *r, const struct aw_event *ev)
{
    unsigned bit = aw_event_dataset_bit(ev);
    if (!(r->datasets & bit))
        return false;
    if (r->program)
        return str_is(&ev->fields[AW_F_PROCESS_NAME], r->program);
    return true;
}

bool aw_rule_matches(const struct aw_rule *r, const struct aw_event *ev, struct aw_match_ctx *m)
{
    if (!r->detection)
        return false;
    return node_holds(r->detection, r->detection->root, ev, m);
}
