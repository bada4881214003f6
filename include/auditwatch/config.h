/*
 * config.h - the main configuration file (config/auditwatch.yaml).
 *
 * Read with libyaml into a tree first (yaml_tree.h), then checked key by
 * key against a table: unknown keys, wrong types and bad values are all
 * reported with file:line, not just the first one.  Paths in the file are
 * relative to the file's folder.  Every key has a default, so an empty
 * file is a valid configuration (memory store, the shipped rules next to
 * the config file).
 */
#ifndef AUDITWATCH_CONFIG_H
#define AUDITWATCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auditwatch/diag.h"
#include "auditwatch/rule.h"

#define AW_DEFAULT_LATENESS_MS (2 * 60 * 1000)

struct aw_strlist {
    char **items;
    size_t n;
};

/* A named list of principal patterns (glob: * and ?), e.g. automation. */
struct aw_allowlist {
    char *name;
    struct aw_strlist patterns;
};

/* Per-rule tuning of shipped rules without editing their files. */
struct aw_rule_override {
    char *rule;
    bool disabled;
    int64_t threshold;   /* INT64_MIN: keep */
    int64_t timespan_ms; /* -1: keep */
    int64_t suppress_ms; /* -1: keep */
    int64_t lateness_ms; /* -1: keep */
    int level;           /* -1: keep, else enum aw_level */
    int line;
};

/* first_seen detector entries: alert on a new `value` for an `entity`
 * (e.g. a new source.ip for a user.name) after a learning period. */
struct aw_first_seen_cfg {
    char *name, *title, *description;
    enum aw_level level;
    struct aw_strlist techniques;
    char *rule;               /* a detection rule whose matches feed it */
    char *entity_field, *value_field;
    int64_t learning_ms;      /* no alerts until this much event time has passed */
    int64_t retention_ms;     /* forget pairs not seen for this long (0: never) */
    bool generate;            /* the feeding rule also alerts by itself (as in Sigma) */
    int line;
};

struct aw_kafka_input {
    char *topic;
    char *decoder; /* "k8s" or "auth" */
};

struct aw_config {
    char *path;     /* the file, or NULL for built-in defaults */
    char *base_dir; /* folder for relative paths */

    struct aw_strlist rule_paths;
    struct aw_rule_override *overrides;
    size_t noverrides;

    char *store;            /* "memory" or "redis://..." */
    size_t memory_cap;      /* bytes */
    char *store_prefix;     /* live state */
    char *replay_prefix;    /* investigations */
    int64_t connect_timeout_ms, command_timeout_ms, reconnect_wait_ms; /* Redis */
    size_t batch_events;    /* events per batch: one store round trip each */
    int64_t lateness_ms;

    int year;
    char *timezone;
    struct aw_strlist envelope_fields;
    size_t max_record;
    bool strict;

    struct aw_allowlist *allowlists;
    size_t nallowlists;

    char *service_map_path; /* NULL: service map detector off */
    struct aw_strlist required_labels;
    enum aw_level service_map_level;

    struct aw_first_seen_cfg *first_seen;
    size_t nfirst_seen;

    /* stream job (auditwatch run) */
    char *kafka_brokers;
    char *kafka_group;
    struct aw_kafka_input *inputs;
    size_t ninputs;
    char *alerts_topic;
    char *dead_letter_topic;
    struct aw_strlist kafka_properties; /* "key=value" */
    char *metrics_address;
};

void aw_config_init_defaults(struct aw_config *cfg);
/* Load and check a config file.  Problems go to diags; returns the number
 * added (0: cfg is usable). */
size_t aw_config_load(struct aw_config *cfg, const char *path, struct aw_diags *diags);
void aw_config_free(struct aw_config *cfg);

/* Apply the config's rule overrides (and disabled rules) to a loaded set;
 * an override naming no loaded rule is a problem.  Returns problems added. */
size_t aw_config_apply_overrides(const struct aw_config *cfg, struct aw_ruleset *set,
                                 struct aw_diags *diags);
/* The configured rule set: every rules.paths entry loaded, linked, and
 * the overrides applied.  Returns the problems added (0: `set` is ready). */
size_t aw_config_load_rules(const struct aw_config *cfg, struct aw_ruleset *set, struct aw_diags *diags);
const struct aw_allowlist *aw_config_allowlist(const struct aw_config *cfg, const char *name);
/* A path from the config resolved against its folder (malloc'd). */
char *aw_config_resolve_path(const struct aw_config *cfg, const char *path);

#endif
