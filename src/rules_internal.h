/*
 * rules_internal.h - what the rule loader's files share (internal).
 *
 * The rule engine is split by concept: rules.c reads a rule document
 * (metadata, logsource, extensions) and owns the rule set;
 * rules_detection.c compiles a `detection:` map into selections;
 * rules_condition.c compiles its `condition:`; rules_correlation.c reads
 * `correlation:` and links correlations to the rules they count; match.c
 * evaluates a compiled detection against an event.  This header holds the
 * compiled detection's layout, which the compiler writes and the matcher
 * reads, and the loader context through which every part reports problems
 * with the file:line:col of the YAML node at fault.
 *
 * Compiled form.  A detection is a list of selections (search
 * identifiers); a selection is an OR of groups; a group is an AND of
 * items; an item tests one field against a list of values (OR, or AND with
 * `all`).  The condition is a node array: SEL leaves point at selections,
 * NOT has one child, AND/OR have a run of children in `kids`.  Everything
 * a match needs - lower-cased literals, glob programs, compiled regexes,
 * parsed networks and numbers - is prepared at load time, so matching
 * allocates nothing.
 */
#ifndef AUDITWATCH_RULES_INTERNAL_H
#define AUDITWATCH_RULES_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auditwatch/diag.h"
#include "auditwatch/ipaddr.h"
#include "auditwatch/rule.h"
#include "auditwatch/yaml_tree.h"

/* ------------------------------------------------------- loader context */

struct aw_rule_loader {
    const char *file;
    struct aw_diags *diags;
    size_t problems; /* problems added while loading the current document */
};

/* Add a problem at the position of `at` (the whole file when NULL). */
void aw_rl_problem(struct aw_rule_loader *L, const struct aw_ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same at an explicit position (line 0: the whole file). */
void aw_rl_problem_at(struct aw_rule_loader *L, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Out-of-memory-safe helpers (abort on failure, like the rest of the
 * code base: a loader that cannot allocate a few bytes cannot go on). */
void *aw_rl_alloc(size_t n);
void *aw_rl_realloc(void *p, size_t n);
char *aw_rl_strdup(const char *s);

/* ------------------------------------------------------- compiled values */

enum det_vkind {
    DV_EXACT,    /* whole value equals text */
    DV_PREFIX,   /* text* */
    DV_SUFFIX,   /* *text */
    DV_CONTAINS, /* *text* */
    DV_ANY,      /* "*": any value, even empty */
    DV_GLOB,     /* general wildcard program (toks) */
    DV_NULL,     /* field absent or null */
    DV_RE,       /* PCRE2 */
    DV_CIDR,     /* network contains the field's address */
    DV_NUM       /* numeric comparison (item->num_cmp) */
};

enum det_tok_kind { GT_LIT, GT_STAR, GT_ONE };

struct det_glob_tok {
    uint8_t kind;      /* enum det_tok_kind */
    uint32_t off, len; /* GT_LIT: bytes text[off..off+len) */
};

struct det_value {
    enum det_vkind kind;
    char *text; /* literal bytes: lower-cased unless the item is cased */
    size_t len;
    struct det_glob_tok *toks; /* DV_GLOB */
    size_t ntoks;
    pcre2_code *re;       /* DV_RE */
    struct aw_ip net;     /* DV_CIDR */
    unsigned prefix_bits; /* DV_CIDR */
    double num;           /* DV_NUM */
};

enum det_num_cmp { NUM_GT, NUM_GTE, NUM_LT, NUM_LTE };

struct det_item {
    struct aw_field_ref field;
    bool all;     /* every value must match (else any) */
    bool cased;   /* literals compared case-sensitively */
    bool neq;     /* the item holds when the plain test does not */
    bool keyword; /* a keyword search of `message` (for messages only) */
    bool has_null; /* one of the values is null */
    int exists;   /* -1: not an exists test; else the wanted presence */
    enum det_num_cmp num_cmp;
    struct det_value *values;
    size_t nvalues;
};

struct det_group { /* AND */
    struct det_item *items;
    size_t nitems;
};

struct det_selection { /* OR of groups */
    char *name;
    struct det_group *groups;
    size_t ngroups;
};

enum cnode_kind { CN_SEL, CN_NOT, CN_AND, CN_OR };

struct cnode {
    uint8_t kind; /* enum cnode_kind */
    uint32_t a;   /* SEL: selection; NOT: child node; AND/OR: first index in kids */
    uint32_t n;   /* AND/OR: number of children */
};

/* Deepest condition nesting accepted; bounds the evaluator's recursion. */
#define AW_CONDITION_MAX_DEPTH 32

struct aw_detection {
    struct det_selection *sels;
    size_t nsels;
    struct cnode *nodes;
    size_t nnodes;
    uint32_t *kids;
    size_t nkids;
    uint32_t root;
};

/* rules_detection.c: compile a `detection:` map.  Returns NULL after
 * reporting problems. */
struct aw_detection *aw_detection_compile(struct aw_rule_loader *L, const struct aw_ynode *det);
void aw_detection_free(struct aw_detection *d);

/* rules_condition.c: compile the condition (a string or a list of
 * strings) over d->sels into d->nodes/kids/root.  False after reporting. */
bool aw_condition_compile(struct aw_rule_loader *L, const struct aw_ynode *cond,
                          struct aw_detection *d);

/* match.c: whether the field holds anything at all (for `exists`). */
bool aw_field_ref_present(const struct aw_field_ref *ref, const struct aw_event *ev);
/* match.c: s[0..n) as a plain decimal number (sign, digits, optional
 * fraction and exponent; no hex, inf or nan).  The same rule reads rule
 * values at load time and event values at match time. */
bool aw_parse_decimal(const char *s, size_t n, double *out);

/* rules_correlation.c: read a `correlation:` map; `top_generate` is a
 * top-level `generate:` (the JSON schema's place) or NULL.  Returns NULL
 * after reporting problems. */
struct aw_correlation *aw_correlation_parse(struct aw_rule_loader *L, const struct aw_ynode *node,
                                            const struct aw_ynode *top_generate);
void aw_correlation_free(struct aw_correlation *c);

#endif
