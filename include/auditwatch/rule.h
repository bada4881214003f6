/*
 * rule.h - compiled rules: Sigma-shaped detections and correlations.
 *
 * Rule files are YAML in the shape of Sigma 2 (DESIGN section 5).  Loading
 * turns each document into a struct aw_rule: metadata, a logsource, and
 * either a compiled detection (evaluated against one event, allocation
 * free) or a correlation (a window over the matches of other rules,
 * evaluated by a detector kind from detectors/).  Linking resolves the
 * names a correlation refers to and decides which rules alert by
 * themselves: a rule referenced by a correlation does not, unless a
 * correlation that references it says `generate: true`.
 *
 * Field names in rules resolve once, at load time, to an aw_field_ref:
 * an ECS field of the event model (event.h), else - for Kubernetes audit
 * events - a path into the original audit JSON ("objectRef.resource",
 * "requestObject.spec.type").  Unknown modifiers, aggregation pipes in
 * conditions and logsources auditwatch never produces are load errors that
 * name the feature; nothing is skipped silently.
 */
#ifndef AUDITWATCH_RULE_H
#define AUDITWATCH_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auditwatch/diag.h"
#include "auditwatch/event.h"

enum aw_level { AW_LEVEL_INFORMATIONAL, AW_LEVEL_LOW, AW_LEVEL_MEDIUM, AW_LEVEL_HIGH, AW_LEVEL_CRITICAL };

/* "informational" .. "critical"; and the numeric event.severity of the
 * alert on Elastic's risk-score scale: informational 10, low 21, medium 47,
 * high 73, critical 99 (see rules.c). */
const char *aw_level_name(enum aw_level l);
int aw_level_severity(enum aw_level l);

#define AW_FIELD_PATH_MAX 16

/* A field as a rule names it. */
struct aw_field_ref {
    char *name;     /* as written in the rule, e.g. "source.ip", "objectRef.resource" */
    int ecs;        /* enum aw_field, or -1 when resolved as a raw path */
    char **path;    /* raw JSON path segments (ecs == -1) */
    size_t depth;
};

/* Resolve `name` (ECS name, else a dotted raw path of at most
 * AW_FIELD_PATH_MAX segments).  Returns false with a message in err for an
 * empty name, an empty segment or a too deep path.  The ref owns copies of
 * the name; release it with aw_field_ref_fini. */
bool aw_field_ref_init(struct aw_field_ref *ref, const char *name, char *err, size_t errlen);
void aw_field_ref_fini(struct aw_field_ref *ref);

/* The value(s) of a field on an event, as text.  For a field holding a
 * list (user.groups, a raw JSON array) fn is called once per element; a
 * scalar calls it once; an absent field not at all.  Numbers and booleans
 * of raw JSON are given in their JSON text ("403", "true").  `scratch` is
 * caller-owned space (>= 32 bytes) for number formatting.  Returns the
 * number of values visited; stops early when fn returns true. */
typedef bool (*aw_value_fn)(void *ctx, const char *text, size_t len);
size_t aw_field_ref_visit(const struct aw_field_ref *ref, const struct aw_event *ev, aw_value_fn fn,
                          void *ctx, char *scratch);
/* The first value of the field, or false when absent. */
bool aw_field_ref_first(const struct aw_field_ref *ref, const struct aw_event *ev, struct aw_str *out,
                        char *scratch);

enum aw_corr_type {
    AW_CORR_EVENT_COUNT,
    AW_CORR_VALUE_COUNT,
    AW_CORR_TEMPORAL,
    AW_CORR_TEMPORAL_ORDERED
};
enum aw_cmp { AW_CMP_GT, AW_CMP_GTE, AW_CMP_LT, AW_CMP_LTE, AW_CMP_EQ };
bool aw_cmp_holds(enum aw_cmp cmp, int64_t value, int64_t threshold);

struct aw_rule;

/* One group-by field: its alias name (the name in the alert) and, per
 * referenced rule, the field to read (aliases let rules name it
 * differently). */
struct aw_group_field {
    char *name;
    struct aw_field_ref *per_rule; /* [nrules] */
};

struct aw_correlation {
    enum aw_corr_type type;
    char **rule_refs;        /* names or ids as written */
    struct aw_rule **rules;  /* resolved by aw_ruleset_link */
    size_t nrules;
    struct aw_group_field *group_by;
    size_t ngroup;
    int64_t timespan_ms;
    enum aw_cmp cmp;
    int64_t threshold;       /* temporal: number of distinct rules needed (default all) */
    struct aw_field_ref *value_field; /* value_count: [nrules], per rule (aliases apply) */
    char *value_field_name;
    bool generate;
};

struct aw_detection; /* compiled selections + condition (match.c) */

struct aw_rule {
    char *file;
    int line;
    size_t index; /* position in the rule set */

    char *title, *id, *name, *description, *status;
    enum aw_level level;
    char **tags;
    size_t ntags;
    char **techniques; /* "T1110.001" from attack.t1110.001 tags, upper-cased */
    size_t ntechniques;
    char *product, *service, *category; /* logsource (NULL when absent) */
    unsigned datasets; /* AW_DATASET_* bits the logsource admits */
    const char *program; /* linux services sshd/sudo/su/login: the process.name required */

    struct aw_detection *detection;     /* detection rules */
    struct aw_correlation *correlation; /* correlation rules */

    /* auditwatch: extensions */
    int64_t suppress_ms;   /* -1: the timespan */
    int64_t lateness_ms;   /* -1: the configured default */
    char *allowlist;       /* name of a principal allowlist in the config, or NULL */
    bool disabled;         /* turned off by the configuration (still linkable) */

    /* Set by linking */
    bool referenced; /* some correlation uses this rule */
    bool alerts;     /* this rule's own matches are alerts */
    struct aw_rule **consumers; /* correlations fed by this rule */
    size_t nconsumers;
};

#define AW_DATASET_AUTH 1u
#define AW_DATASET_K8S 2u
/* AW_DATASET_* bit of an event (from event.dataset). */
unsigned aw_event_dataset_bit(const struct aw_event *ev);

struct aw_ruleset {
    struct aw_rule **rules;
    size_t n, cap;
};

/* Load one rule file or every *.yml / *.yaml below a folder (sorted by
 * path, so load order is stable).  Problems go to diags with file:line;
 * returns the number of problems added. */
size_t aw_ruleset_load_path(struct aw_ruleset *set, const char *path, struct aw_diags *diags);
/* The same for rule text in memory; `name` stands for the file in
 * messages (tests, rules embedded in a config). */
size_t aw_ruleset_load_string(struct aw_ruleset *set, const char *name, const char *text,
                              size_t len, struct aw_diags *diags);
/* Resolve correlation references (by name or id), check group-by and
 * alias consistency, detect cycles, fill referenced/alerts/consumers.
 * Returns the number of problems added. */
size_t aw_ruleset_link(struct aw_ruleset *set, struct aw_diags *diags);
struct aw_rule *aw_ruleset_find(const struct aw_ruleset *set, const char *name_or_id);
void aw_ruleset_free(struct aw_ruleset *set);

/* Per-thread scratch for matching (PCRE2 match data, number buffers);
 * create once, reuse for every event. */
struct aw_match_ctx;
struct aw_match_ctx *aw_match_ctx_new(void);
void aw_match_ctx_free(struct aw_match_ctx *m);

/* Whether the rule's logsource admits the event (dataset, and for linux
 * services sshd/sudo/su the program). */
bool aw_rule_logsource_admits(const struct aw_rule *r, const struct aw_event *ev);
/* The event.action values (for Kubernetes rules: the verb) a detection
 * rule can match at all, lower-case, into out[0..max); returns how many,
 * or 0 when the rule's condition does not pin them.  A pre-filter: an
 * event whose action is not in a non-empty set cannot match the rule. */
size_t aw_rule_action_gate(const struct aw_rule *r, const char **out, size_t max);

/* Evaluate a detection rule on one event.  Allocates nothing. */
bool aw_rule_matches(const struct aw_rule *r, const struct aw_event *ev, struct aw_match_ctx *m);

#endif
