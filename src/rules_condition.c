/*
 * rules_condition.c - compile a Sigma condition into a node array.
 *
 * Grammar (Sigma 2), lowest precedence first:
 *
 *   or_expr   := and_expr ("or" and_expr)*
 *   and_expr  := not_expr ("and" not_expr)*
 *   not_expr  := "not" not_expr | primary
 *   primary   := "(" or_expr ")" | quant "of" (PATTERN | "them") | IDENT
 *   quant     := "1" | "any" | "all"
 *
 * PATTERN is an identifier with `*` wildcards; `them` is every search
 * identifier except those starting with "_" (pySigma's convention for
 * helper selections).  `1 of P` becomes an OR and `all of P` an AND over
 * the matching selections.  A list of condition strings is their OR.
 * Operators are recognised in any letter case; identifiers are compared
 * exactly.
 *
 * Sigma 1 aggregations (`| count() by x > 5`) and `near` have moved to
 * correlation rules in Sigma 2; meeting them is a load error that says so,
 * as is an identifier that the detection does not define.
 *
 * Chains of the same operator are flattened into one n-ary node, and the
 * nesting depth is bounded (AW_CONDITION_MAX_DEPTH), so the evaluator in
 * match.c may recurse without a stack check.  One problem is reported
 * per condition string: after the first error the rest is not trusted.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules_internal.h"

enum tok_kind { T_END, T_LP, T_RP, T_AND, T_OR, T_NOT, T_OF, T_THEM, T_ONE, T_ANY, T_ALL,
                T_IDENT, T_PIPE, T_BAD };

struct parser {
    struct aw_rule_loader *L;
    const struct aw_ynode *at;
    struct aw_detection *d;
    size_t nodes_cap, kids_cap;
    const char *s;
    size_t pos;
    enum tok_kind tok;
    const char *tok_text;
    size_t tok_len;
    const char *err_at; /* where an error points, when not at the current token */
    bool failed;
};

static bool ident_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '*' || c == '-' || c == '.' || c >= 0x80;
}

static void next(struct parser *p)
{
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
           p->s[p->pos] == '\r')
        p->pos++;
    p->tok_text = p->s + p->pos;
    p->tok_len = 1;
    char c = p->s[p->pos];
    if (!c) {
        p->tok = T_END;
        p->tok_len = 0;
        return;
    }
    p->pos++;
    if (c == '(' || c == ')' || c == '|') {
        p->tok = c == '(' ? T_LP : c == ')' ? T_RP : T_PIPE;
        return;
    }
    if (!ident_char((unsigned char)c)) {
        p->tok = T_BAD;
        return;
    }
    while (ident_char((unsigned char)p->s[p->pos]))
        p->pos++;
    p->tok_len = (size_t)(p->s + p->pos - p->tok_text);
    static const struct {
        const char *word;
        enum tok_kind kind;
    } words[] = {{"and", T_AND}, {"or", T_OR},   {"not", T_NOT}, {"of", T_OF},
                 {"them", T_THEM}, {"1", T_ONE}, {"any", T_ANY}, {"all", T_ALL}};
    p->tok = T_IDENT;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i].word) == p->tok_len &&
            !strncasecmp(words[i].word, p->tok_text, p->tok_len))
            p->tok = words[i].kind;
}

/* Report at the current token (or err_at).  In a plain one-line scalar
 * the column is exact; otherwise it is the scalar's start. */
static uint32_t fail(struct parser *p, const char *fmt, const char *arg, size_t arglen)
{
    if (!p->failed) {
        char what[160];
        snprintf(what, sizeof what, "%.*s", (int)(arglen < 120 ? arglen : 120), arg);
        char msg[400];
        snprintf(msg, sizeof msg, fmt, what);
        const char *where = p->err_at ? p->err_at : p->tok_text;
        int column = p->at->column;
        if (!p->at->quoted && !strchr(p->s, '\n') && where >= p->s)
            column += (int)(where - p->s);
        aw_rl_problem_at(p->L, p->at->line, column, "%s", msg);
    }
    p->failed = true;
    return 0;
}

static uint32_t add_node(struct parser *p, uint8_t kind, uint32_t a, uint32_t n)
{
    struct aw_detection *d = p->d;
    if (d->nnodes == p->nodes_cap) {
        p->nodes_cap = p->nodes_cap ? p->nodes_cap * 2 : 16;
        d->nodes = aw_rl_realloc(d->nodes, p->nodes_cap * sizeof *d->nodes);
    }
    d->nodes[d->nnodes] = (struct cnode){kind, a, n};
    return (uint32_t)d->nnodes++;
}

/* An AND/OR node over children[0..n) (a single child stands for itself). */
static uint32_t add_nary(struct parser *p, uint8_t kind, const uint32_t *children, size_t n)
{
    if (n == 1)
        return children[0];
    struct aw_detection *d = p->d;
    if (d->nkids + n > p->kids_cap) {
        while (d->nkids + n > p->kids_cap)
            p->kids_cap = p->kids_cap ? p->kids_cap * 2 : 16;
        d->kids = aw_rl_realloc(d->kids, p->kids_cap * sizeof *d->kids);
    }
    uint32_t first = (uint32_t)d->nkids;
    memcpy(d->kids + d->nkids, children, n * sizeof *children);
    d->nkids += n;
    return add_node(p, kind, first, (uint32_t)n);
}

/* Growable list of child node indices. */
struct kids {
    uint32_t *v;
    size_t n, cap;
};

static void kids_push(struct kids *k, uint32_t x)
{
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 8;
        k->v = aw_rl_realloc(k->v, k->cap * sizeof *k->v);
    }
    k->v[k->n++] = x;
}

/* `*` wildcards only; greedy with one backtrack point, so no blow-up. */
static bool name_matches(const char *pat, size_t plen, const char *name)
{
    size_t p = 0, i = 0, n = strlen(name), star = SIZE_MAX, mark = 0;
    while (i < n) {
        if (p < plen && pat[p] == '*') {
            star = ++p;
            mark = i;
        } else if (p < plen && pat[p] == name[i]) {
            p++;
            i++;
        } else if (star != SIZE_MAX) {
            p = star;
            i = ++mark;
        } else {
            return false;
        }
    }
    while (p < plen && pat[p] == '*')
        p++;
    return p == plen;
}

/* The current token cannot continue the condition. */
static uint32_t unexpected(struct parser *p)
{
    if (p->tok == T_PIPE)
        return fail(p, "aggregation in condition is Sigma 1; use a correlation rule%s", "", 0);
    if (p->tok == T_END)
        return fail(p, "condition ends too early%s", "", 0);
    if (p->tok == T_IDENT && p->tok_len == 4 && !strncasecmp(p->tok_text, "near", 4))
        return fail(p, "'%s' is Sigma 1; use a temporal correlation rule", p->tok_text, 4);
    return fail(p, "unexpected '%s' in condition", p->tok_text, p->tok_len);
}

static uint32_t parse_or(struct parser *p, unsigned depth);

static uint32_t parse_quantified(struct parser *p)
{
    bool all = p->tok == T_ALL;
    next(p);
    if (p->tok != T_OF)
        return fail(p, "expected 'of' after '%s' in condition", all ? "all" : "1", all ? 3 : 1);
    next(p);
    bool them = p->tok == T_THEM;
    if (!them && p->tok != T_IDENT)
        return fail(p, "expected a search identifier pattern or 'them' at '%s'", p->tok_text,
                    p->tok_len);
    struct kids k = {0};
    for (size_t i = 0; i < p->d->nsels; i++) {
        const char *name = p->d->sels[i].name;
        if (them ? name[0] != '_' : name_matches(p->tok_text, p->tok_len, name))
            kids_push(&k, add_node(p, CN_SEL, (uint32_t)i, 0));
    }
    uint32_t r;
    if (k.n == 0)
        r = fail(p, "'%s' in condition matches no search identifier", p->tok_text, p->tok_len);
    else
        r = add_nary(p, all ? CN_AND : CN_OR, k.v, k.n);
    free(k.v);
    next(p);
    return r;
}

static uint32_t parse_primary(struct parser *p, unsigned depth)
{
    if (depth > AW_CONDITION_MAX_DEPTH)
        return fail(p, "condition is nested too deeply%s", "", 0);
    switch (p->tok) {
    case T_LP: {
        next(p);
        uint32_t r = parse_or(p, depth);
        if (p->failed)
            return 0;
        if (p->tok == T_END)
            return fail(p, "missing ')' at the end of the condition%s", "", 0);
        if (p->tok != T_RP)
            return fail(p, "missing ')' in condition before '%s'", p->tok_text, p->tok_len);
        next(p);
        return r;
    }
    case T_ONE:
    case T_ANY:
    case T_ALL:
        return parse_quantified(p);
    case T_IDENT: {
        const char *name = p->tok_text;
        size_t len = p->tok_len;
        next(p);
        p->err_at = name;
        if (p->tok == T_OF)
            return fail(p, "'%s of' is not supported; use '1 of', 'any of' or 'all of'", name,
                        len);
        for (size_t i = 0; i < p->d->nsels; i++)
            if (strlen(p->d->sels[i].name) == len && !memcmp(p->d->sels[i].name, name, len)) {
                p->err_at = NULL;
                return add_node(p, CN_SEL, (uint32_t)i, 0);
            }
        return fail(p, "condition names '%s', which is not a search identifier of the detection",
                    name, len);
    }
    default:
        return unexpected(p);
    }
}

static uint32_t parse_not(struct parser *p, unsigned depth)
{
    if (p->tok != T_NOT)
        return parse_primary(p, depth);
    if (depth > AW_CONDITION_MAX_DEPTH)
        return fail(p, "condition is nested too deeply%s", "", 0);
    next(p);
    uint32_t child = parse_not(p, depth + 1);
    return p->failed ? 0 : add_node(p, CN_NOT, child, 0);
}

/* A chain of one binary operator: AND over parse_not, or OR over and-chains. */
static uint32_t parse_chain(struct parser *p, unsigned depth, enum tok_kind op)
{
    struct kids k = {0};
    do {
        if (k.n)
            next(p);
        uint32_t child = op == T_OR ? parse_chain(p, depth + 1, T_AND) : parse_not(p, depth + 1);
        if (p->failed)
            break;
        kids_push(&k, child);
    } while (p->tok == op);
    uint32_t r = p->failed ? 0 : add_nary(p, op == T_OR ? CN_OR : CN_AND, k.v, k.n);
    free(k.v);
    return r;
}

static uint32_t parse_or(struct parser *p, unsigned depth)
{
    return parse_chain(p, depth, T_OR);
}

/* Compile one condition string; false after reporting. */
static bool compile_one(struct parser *p, const struct aw_ynode *at, uint32_t *root)
{
    p->at = at;
    p->s = at->scalar;
    p->pos = 0;
    p->err_at = NULL;
    p->failed = false;
    next(p);
    if (p->tok == T_END) {
        fail(p, "empty condition%s", "", 0);
        return false;
    }
    *root = parse_or(p, 1);
    if (!p->failed && p->tok != T_END)
        unexpected(p);
    return !p->failed;
}

bool aw_condition_compile(struct aw_rule_loader *L, const struct aw_ynode *cond,
                          struct aw_detection *d)
{
    struct parser p = {.L = L, .d = d};
    if (cond->type == AW_Y_SCALAR)
        return compile_one(&p, cond, &d->root);
    if (cond->type != AW_Y_SEQ || cond->n == 0) {
        aw_rl_problem(L, cond, "condition must be a string or a list of strings");
        return false;
    }
    struct kids roots = {0};
    bool ok = true;
    for (size_t i = 0; i < cond->n; i++) {
        uint32_t r;
        if (cond->items[i]->type != AW_Y_SCALAR) {
            aw_rl_problem(L, cond->items[i], "condition must be a string or a list of strings");
            ok = false;
        } else if (compile_one(&p, cond->items[i], &r)) {
            kids_push(&roots, r);
        } else {
            ok = false;
        }
    }
    if (ok)
        d->root = add_nary(&p, CN_OR, roots.v, roots.n);
    free(roots.v);
    return ok;
}
