/*
 * config.c - the main configuration file (see config.h).
 *
 * Each section is a map whose allowed keys are listed next to the code
 * that reads them; anything else is reported as an unknown key with its
 * line.  Values are checked for type and range where they are read, and
 * problems are collected rather than stopping at the first, so
 * `auditwatch check` can show them all.
 */
#include "auditwatch/config.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditwatch/decode.h"
#include "auditwatch/yaml_tree.h"
#include "xalloc.h"

struct cfg_ctx {
    struct aw_config *cfg;
    struct aw_diags *diags;
    const char *file;
    size_t problems;
};

static void problem(struct cfg_ctx *c, const struct aw_ynode *n, const char *fmt, const char *a,
                    const char *b)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
    aw_diag_add(c->diags, c->file, n ? n->line : 0, n ? n->column : 0, "%s", msg);
    c->problems++;
}


static void strlist_add(struct aw_strlist *l, const char *s)
{
    char **items = realloc(l->items, (l->n + 1) * sizeof *items);
    if (!items)
        abort();
    l->items = items;
    l->items[l->n++] = aw_xstrdup(s);
}

static void strlist_free(struct aw_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* Report keys of map `n` that are not in the NULL-terminated list. */
static void check_keys(struct cfg_ctx *c, const struct aw_ynode *n, const char *section,
                       const char *const *allowed)
{
    for (size_t i = 0; i < n->n; i++) {
        const char *k = n->keys[i]->scalar;
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (!strcmp(*a, k))
                ok = true;
        if (!ok)
            problem(c, n->keys[i], "unknown key '%s' in %s", k, section);
    }
}

static bool want_map(struct cfg_ctx *c, const struct aw_ynode *n, const char *what)
{
    if (n && n->type == AW_Y_MAP)
        return true;
    if (n)
        problem(c, n, "%s must be a map", what, NULL);
    return false;
}

static bool get_string(struct cfg_ctx *c, const struct aw_ynode *map, const char *key, char **out)
{
    const struct aw_ynode *n = aw_ymap_get(map, key);
    if (!n)
        return false;
    if (n->type != AW_Y_SCALAR) {
        problem(c, n, "'%s' must be a string", key, NULL);
        return false;
    }
    free(*out);
    *out = aw_xstrdup(n->scalar);
    return true;
}

static void get_bool(struct cfg_ctx *c, const struct aw_ynode *map, const char *key, bool *out)
{
    const struct aw_ynode *n = aw_ymap_get(map, key);
    if (!n)
        return;
    if (n->type == AW_Y_SCALAR && !n->quoted && (!strcmp(n->scalar, "true") || !strcmp(n->scalar, "false"))) {
        *out = !strcmp(n->scalar, "true");
        return;
    }
    problem(c, n, "'%s' must be true or false", key, NULL);
}

static bool parse_int(const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static void get_duration(struct cfg_ctx *c, const struct aw_ynode *map, const char *key, int64_t *out)
{
    const struct aw_ynode *n = aw_ymap_get(map, key);
    if (!n)
        return;
    if (n->type != AW_Y_SCALAR || !aw_parse_duration_ms(n->scalar, out) || *out < 0)
        problem(c, n, "'%s' must be a duration such as 30s, 10m, 2h or 7d", key, NULL);
}

/* "512MiB", "1GiB", "65536" -> bytes */
static bool parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return false;
    static const struct {
        const char *suffix;
        unsigned long long mult;
    } units[] = {{"", 1},           {"B", 1},          {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20},
                 {"GiB", 1ULL << 30}, {"KB", 1000},     {"MB", 1000000},     {"GB", 1000000000}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(end, units[i].suffix)) {
            if (v > (unsigned long long)SIZE_MAX / units[i].mult)
                return false;
            *out = (size_t)(v * units[i].mult);
            return true;
        }
    return false;
}

static void get_size(struct cfg_ctx *c, const struct aw_ynode *map, const char *key, size_t *out)
{
    const struct aw_ynode *n = aw_ymap_get(map, key);
    if (!n)
        return;
    if (n->type != AW_Y_SCALAR || !parse_size(n->scalar, out))
        problem(c, n, "'%s' must be a size such as 65536, 512MiB or 1GiB", key, NULL);
}

static void get_strlist(struct cfg_ctx *c, const struct aw_ynode *map, const char *key, struct aw_strlist *out)
{
    const struct aw_ynode *n = aw_ymap_get(map, key);
    if (!n)
        return;
    strlist_free(out);
    if (n->type == AW_Y_SCALAR) {
        strlist_add(out, n->scalar);
        return;
    }
    if (n->type != AW_Y_SEQ) {
        problem(c, n, "'%s' must be a list of strings", key, NULL);
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        if (n->items[i]->type != AW_Y_SCALAR)
            problem(c, n->items[i], "'%s' must be a list of strings", key, NULL);
        else
            strlist_add(out, n->items[i]->scalar);
    }
}

static int level_from(const char *s)
{
    static const char *const names[] = {"informational", "low", "medium", "high", "critical"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

static void get_level(struct cfg_ctx *c, const struct aw_ynode *map, const char *key, int *out)
{
    const struct aw_ynode *n = aw_ymap_get(map, key);
    if (!n)
        return;
    int l = n->type == AW_Y_SCALAR ? level_from(n->scalar) : -1;
    if (l < 0)
        problem(c, n, "'%s' must be informational, low, medium, high or critical", key, NULL);
    else
        *out = l;
}

/* ------------------------------------------------------------ sections */

static void read_rules(struct cfg_ctx *c, const struct aw_ynode *n)
{
    static const char *const keys[] = {"paths", "overrides", NULL};
    if (!want_map(c, n, "rules"))
        return;
    check_keys(c, n, "rules", keys);
    get_strlist(c, n, "paths", &c->cfg->rule_paths);
    const struct aw_ynode *ov = aw_ymap_get(n, "overrides");
    if (!ov || !want_map(c, ov, "rules.overrides"))
        return;
    c->cfg->overrides = calloc(ov->n, sizeof *c->cfg->overrides);
    for (size_t i = 0; i < ov->n; i++) {
        static const char *const okeys[] = {"disabled", "threshold", "timespan", "suppress",
                                            "lateness", "level", NULL};
        const struct aw_ynode *o = ov->items[i];
        struct aw_rule_override *r = &c->cfg->overrides[c->cfg->noverrides++];
        r->rule = aw_xstrdup(ov->keys[i]->scalar);
        r->line = ov->keys[i]->line;
        r->threshold = INT64_MIN;
        r->timespan_ms = r->suppress_ms = r->lateness_ms = -1;
        r->level = -1;
        if (!want_map(c, o, "a rule override"))
            continue;
        check_keys(c, o, "a rule override", okeys);
        get_bool(c, o, "disabled", &r->disabled);
        const struct aw_ynode *t = aw_ymap_get(o, "threshold");
        long long v;
        if (t) {
            if (t->type != AW_Y_SCALAR || !parse_int(t->scalar, 0, INT32_MAX, &v))
                problem(c, t, "'threshold' must be a whole number", NULL, NULL);
            else
                r->threshold = v;
        }
        get_duration(c, o, "timespan", &r->timespan_ms);
        get_duration(c, o, "suppress", &r->suppress_ms);
        get_duration(c, o, "lateness", &r->lateness_ms);
        get_level(c, o, "level", &r->level);
    }
}

static void read_store(struct cfg_ctx *c, const struct aw_ynode *n)
{
    static const char *const keys[] = {"backend",         "memory_cap",      "prefix",
                                       "replay_prefix",   "connect_timeout", "command_timeout",
                                       "reconnect_wait",  "batch_events",    NULL};
    if (!want_map(c, n, "store"))
        return;
    check_keys(c, n, "store", keys);
    get_string(c, n, "backend", &c->cfg->store);
    get_size(c, n, "memory_cap", &c->cfg->memory_cap);
    get_string(c, n, "prefix", &c->cfg->store_prefix);
    get_string(c, n, "replay_prefix", &c->cfg->replay_prefix);
    get_duration(c, n, "connect_timeout", &c->cfg->connect_timeout_ms);
    get_duration(c, n, "command_timeout", &c->cfg->command_timeout_ms);
    get_duration(c, n, "reconnect_wait", &c->cfg->reconnect_wait_ms);
    get_size(c, n, "batch_events", &c->cfg->batch_events);
    if (c->cfg->batch_events < 1 || c->cfg->batch_events > 1000000)
        problem(c, aw_ymap_get(n, "batch_events"), "'batch_events' must be from 1 to 1000000", NULL, NULL);
    const char *b = c->cfg->store;
    if (strcmp(b, "memory") && strncmp(b, "redis://", 8) && strncmp(b, "unix://", 7))
        problem(c, aw_ymap_get(n, "backend"), "store backend '%s' is not memory, redis://... or unix://...", b, NULL);
}

static void read_decode(struct cfg_ctx *c, const struct aw_ynode *n)
{
    static const char *const keys[] = {"year", "timezone", "envelope_fields", "max_record", "strict", NULL};
    if (!want_map(c, n, "decode"))
        return;
    check_keys(c, n, "decode", keys);
    const struct aw_ynode *y = aw_ymap_get(n, "year");
    long long v;
    if (y) {
        if (y->type != AW_Y_SCALAR || !parse_int(y->scalar, 0, 9999, &v) || (v && v < 1970))
            problem(c, y, "'year' must be 0 (infer) or a year from 1970 to 9999", NULL, NULL);
        else
            c->cfg->year = (int)v;
    }
    get_string(c, n, "timezone", &c->cfg->timezone);
    get_strlist(c, n, "envelope_fields", &c->cfg->envelope_fields);
    get_size(c, n, "max_record", &c->cfg->max_record);
    get_bool(c, n, "strict", &c->cfg->strict);
}

static void read_allowlists(struct cfg_ctx *c, const struct aw_ynode *n)
{
    if (!want_map(c, n, "allowlists"))
        return;
    c->cfg->allowlists = calloc(n->n + 1, sizeof *c->cfg->allowlists);
    for (size_t i = 0; i < n->n; i++) {
        struct aw_allowlist *al = &c->cfg->allowlists[c->cfg->nallowlists++];
        al->name = aw_xstrdup(n->keys[i]->scalar);
        const struct aw_ynode *list = n->items[i];
        if (list->type != AW_Y_SEQ) {
            problem(c, list, "allowlist '%s' must be a list of principal patterns", al->name, NULL);
            continue;
        }
        for (size_t k = 0; k < list->n; k++) {
            if (list->items[k]->type != AW_Y_SCALAR)
                problem(c, list->items[k], "allowlist '%s' must be a list of strings", al->name, NULL);
            else
                strlist_add(&al->patterns, list->items[k]->scalar);
        }
    }
}

static void read_service_map(struct cfg_ctx *c, const struct aw_ynode *n)
{
    static const char *const keys[] = {"path", "required_labels", "level", NULL};
    if (!want_map(c, n, "service_map"))
        return;
    check_keys(c, n, "service_map", keys);
    get_string(c, n, "path", &c->cfg->service_map_path);
    get_strlist(c, n, "required_labels", &c->cfg->required_labels);
    int level = (int)c->cfg->service_map_level;
    get_level(c, n, "level", &level);
    c->cfg->service_map_level = (enum aw_level)level;
}

static void read_first_seen(struct cfg_ctx *c, const struct aw_ynode *n)
{
    static const char *const keys[] = {"name", "title", "description", "level", "tags", "rule",
                                       "entity", "value", "learning", "retention", "generate", NULL};
    if (n->type != AW_Y_SEQ) {
        problem(c, n, "first_seen must be a list", NULL, NULL);
        return;
    }
    c->cfg->first_seen = calloc(n->n + 1, sizeof *c->cfg->first_seen);
    for (size_t i = 0; i < n->n; i++) {
        const struct aw_ynode *e = n->items[i];
        if (!want_map(c, e, "a first_seen entry"))
            continue;
        check_keys(c, e, "a first_seen entry", keys);
        struct aw_first_seen_cfg *f = &c->cfg->first_seen[c->cfg->nfirst_seen++];
        f->line = e->line;
        f->level = AW_LEVEL_MEDIUM;
        f->learning_ms = 7LL * 86400000;
        static const char *const required[] = {"name", "rule", "entity", "value"};
        for (size_t r = 0; r < 4; r++)
            if (!aw_ymap_get(e, required[r]))
                problem(c, e, "a first_seen entry needs '%s'", required[r], NULL);
        get_string(c, e, "name", &f->name);
        get_string(c, e, "title", &f->title);
        get_string(c, e, "description", &f->description);
        int level = (int)f->level;
        get_level(c, e, "level", &level);
        f->level = (enum aw_level)level;
        get_strlist(c, e, "tags", &f->techniques);
        get_string(c, e, "rule", &f->rule);
        get_string(c, e, "entity", &f->entity_field);
        get_string(c, e, "value", &f->value_field);
        get_duration(c, e, "learning", &f->learning_ms);
        get_duration(c, e, "retention", &f->retention_ms);
        get_bool(c, e, "generate", &f->generate);
        const char *names[2] = {f->entity_field, f->value_field};
        for (int k = 0; k < 2; k++)
            if (names[k] && aw_field_lookup(names[k], strlen(names[k])) < 0)
                problem(c, aw_ymap_get(e, k ? "value" : "entity"),
                        "first_seen field '%s' is not an ECS field of the event model", names[k], NULL);
    }
}

static void read_kafka(struct cfg_ctx *c, const struct aw_ynode *n)
{
    static const char *const keys[] = {"brokers", "group", "inputs", "alerts_topic",
                                       "dead_letter_topic", "properties", NULL};
    if (!want_map(c, n, "kafka"))
        return;
    check_keys(c, n, "kafka", keys);
    get_string(c, n, "brokers", &c->cfg->kafka_brokers);
    get_string(c, n, "group", &c->cfg->kafka_group);
    get_string(c, n, "alerts_topic", &c->cfg->alerts_topic);
    get_string(c, n, "dead_letter_topic", &c->cfg->dead_letter_topic);
    const struct aw_ynode *in = aw_ymap_get(n, "inputs");
    if (in) {
        if (in->type != AW_Y_SEQ) {
            problem(c, in, "kafka.inputs must be a list of {topic, decoder}", NULL, NULL);
        } else {
            c->cfg->inputs = calloc(in->n + 1, sizeof *c->cfg->inputs);
            for (size_t i = 0; i < in->n; i++) {
                static const char *const ikeys[] = {"topic", "decoder", NULL};
                const struct aw_ynode *e = in->items[i];
                if (!want_map(c, e, "a kafka input"))
                    continue;
                check_keys(c, e, "a kafka input", ikeys);
                struct aw_kafka_input *k = &c->cfg->inputs[c->cfg->ninputs++];
                if (!get_string(c, e, "topic", &k->topic))
                    problem(c, e, "a kafka input needs 'topic'", NULL, NULL);
                k->decoder = aw_xstrdup("auto");
                get_string(c, e, "decoder", &k->decoder);
                enum aw_source_kind kind;
                if (!aw_source_kind_parse(k->decoder, &kind))
                    problem(c, aw_ymap_get(e, "decoder"), "decoder '%s' must be k8s, auth or auto", k->decoder, NULL);
            }
        }
    }
    const struct aw_ynode *props = aw_ymap_get(n, "properties");
    if (props && want_map(c, props, "kafka.properties"))
        for (size_t i = 0; i < props->n; i++) {
            if (props->items[i]->type != AW_Y_SCALAR) {
                problem(c, props->items[i], "kafka property '%s' must be a string", props->keys[i]->scalar, NULL);
                continue;
            }
            size_t len = strlen(props->keys[i]->scalar) + strlen(props->items[i]->scalar) + 2;
            char *kv = malloc(len);
            snprintf(kv, len, "%s=%s", props->keys[i]->scalar, props->items[i]->scalar);
            strlist_add(&c->cfg->kafka_properties, kv);
            free(kv);
        }
}

void aw_config_init_defaults(struct aw_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->base_dir = aw_xstrdup(".");
    cfg->store = aw_xstrdup("memory");
    cfg->memory_cap = (size_t)1 << 30;
    cfg->store_prefix = aw_xstrdup("auditwatch");
    cfg->replay_prefix = aw_xstrdup("auditwatch-replay");
    cfg->connect_timeout_ms = 2000;
    cfg->command_timeout_ms = 5000;
    cfg->reconnect_wait_ms = 60000;
    cfg->batch_events = 1024;
    cfg->lateness_ms = AW_DEFAULT_LATENESS_MS;
    cfg->timezone = aw_xstrdup("UTC");
    cfg->max_record = 1024 * 1024;
    cfg->service_map_level = AW_LEVEL_HIGH;
    cfg->kafka_brokers = aw_xstrdup("localhost:9092");
    cfg->kafka_group = aw_xstrdup("auditwatch");
    cfg->alerts_topic = aw_xstrdup("auditwatch-alerts");
    cfg->dead_letter_topic = aw_xstrdup("auditwatch-dead-letter");
    cfg->metrics_address = aw_xstrdup("127.0.0.1:9464");
}

size_t aw_config_load(struct aw_config *cfg, const char *path, struct aw_diags *diags)
{
    struct aw_ydoc_list docs = {0};
    char err[512];
    struct cfg_ctx c = {cfg, diags, path, 0};
    free(cfg->path);
    cfg->path = aw_xstrdup(path);
    char *copy = aw_xstrdup(path);
    free(cfg->base_dir);
    cfg->base_dir = aw_xstrdup(dirname(copy));
    free(copy);
    if (!aw_yaml_load_file(path, &docs, err, sizeof err)) {
        /* err is "file:line:col: message" already: keep its position. */
        int line = 0, col = 0;
        const char *msg = err;
        size_t plen = strlen(path);
        if (!strncmp(err, path, plen) && err[plen] == ':' &&
            sscanf(err + plen, ":%d:%d:", &line, &col) == 2) {
            const char *p = strchr(err + plen + 1, ':');
            p = p ? strchr(p + 1, ':') : NULL;
            if (p)
                msg = p + 1 + (p[1] == ' ');
        }
        aw_diag_add(diags, path, line, col, "%s", msg);
        return 1;
    }
    if (docs.n != 1 || docs.docs[0]->type != AW_Y_MAP) {
        aw_diag_add(diags, path, docs.n ? docs.docs[0]->line : 1, 1,
                    "the configuration must be one YAML map");
        aw_ydoc_list_free(&docs);
        return 1;
    }
    const struct aw_ynode *root = docs.docs[0];
    static const char *const keys[] = {"rules", "store", "windows", "decode", "allowlists",
                                       "service_map", "first_seen", "kafka", "metrics", NULL};
    check_keys(&c, root, "the configuration", keys);
    const struct aw_ynode *n;
    if ((n = aw_ymap_get(root, "rules")))
        read_rules(&c, n);
    if ((n = aw_ymap_get(root, "store")))
        read_store(&c, n);
    if ((n = aw_ymap_get(root, "windows")) && want_map(&c, n, "windows")) {
        static const char *const wkeys[] = {"lateness", NULL};
        check_keys(&c, n, "windows", wkeys);
        get_duration(&c, n, "lateness", &cfg->lateness_ms);
    }
    if ((n = aw_ymap_get(root, "decode")))
        read_decode(&c, n);
    if ((n = aw_ymap_get(root, "allowlists")))
        read_allowlists(&c, n);
    if ((n = aw_ymap_get(root, "service_map")))
        read_service_map(&c, n);
    if ((n = aw_ymap_get(root, "first_seen")))
        read_first_seen(&c, n);
    if ((n = aw_ymap_get(root, "kafka")))
        read_kafka(&c, n);
    if ((n = aw_ymap_get(root, "metrics")) && want_map(&c, n, "metrics")) {
        static const char *const mkeys[] = {"address", NULL};
        check_keys(&c, n, "metrics", mkeys);
        get_string(&c, n, "address", &cfg->metrics_address);
    }
    aw_ydoc_list_free(&docs);
    return c.problems;
}

void aw_config_free(struct aw_config *cfg)
{
    free(cfg->path);
    free(cfg->base_dir);
    strlist_free(&cfg->rule_paths);
    for (size_t i = 0; i < cfg->noverrides; i++)
        free(cfg->overrides[i].rule);
    free(cfg->overrides);
    free(cfg->store);
    free(cfg->store_prefix);
    free(cfg->replay_prefix);
    free(cfg->timezone);
    strlist_free(&cfg->envelope_fields);
    for (size_t i = 0; i < cfg->nallowlists; i++) {
        free(cfg->allowlists[i].name);
        strlist_free(&cfg->allowlists[i].patterns);
    }
    free(cfg->allowlists);
    free(cfg->service_map_path);
    strlist_free(&cfg->required_labels);
    for (size_t i = 0; i < cfg->nfirst_seen; i++) {
        struct aw_first_seen_cfg *f = &cfg->first_seen[i];
        free(f->name);
        free(f->title);
        free(f->description);
        strlist_free(&f->techniques);
        free(f->rule);
        free(f->entity_field);
        free(f->value_field);
    }
    free(cfg->first_seen);
    free(cfg->kafka_brokers);
    free(cfg->kafka_group);
    for (size_t i = 0; i < cfg->ninputs; i++) {
        free(cfg->inputs[i].topic);
        free(cfg->inputs[i].decoder);
    }
    free(cfg->inputs);
    free(cfg->alerts_topic);
    free(cfg->dead_letter_topic);
    strlist_free(&cfg->kafka_properties);
    free(cfg->metrics_address);
    memset(cfg, 0, sizeof *cfg);
}

const struct aw_allowlist *aw_config_allowlist(const struct aw_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nallowlists; i++)
        if (!strcmp(cfg->allowlists[i].name, name))
            return &cfg->allowlists[i];
    return NULL;
}

char *aw_config_resolve_path(const struct aw_config *cfg, const char *path)
{
    if (path[0] == '/' || !cfg->base_dir || !strcmp(cfg->base_dir, "."))
        return aw_xstrdup(path);
    size_t len = strlen(cfg->base_dir) + strlen(path) + 2;
    char *out = malloc(len);
    if (!out)
        abort();
    snprintf(out, len, "%s/%s", cfg->base_dir, path);
    return out;
}

size_t aw_config_apply_overrides(const struct aw_config *cfg, struct aw_ruleset *set,
                                 struct aw_diags *diags)
{
    size_t problems = 0;
    for (size_t i = 0; i < cfg->noverrides; i++) {
        const struct aw_rule_override *o = &cfg->overrides[i];
        struct aw_rule *r = aw_ruleset_find(set, o->rule);
        if (!r) {
            aw_diag_add(diags, cfg->path, o->line, 1, "override for rule '%s', which is not loaded", o->rule);
            problems++;
            continue;
        }
        r->disabled = o->disabled;
        if (o->level >= 0)
            r->level = (enum aw_level)o->level;
        if (o->suppress_ms >= 0)
            r->suppress_ms = o->suppress_ms;
        if (o->lateness_ms >= 0)
            r->lateness_ms = o->lateness_ms;
        if (o->timespan_ms >= 0 || o->threshold != INT64_MIN) {
            if (!r->correlation) {
                aw_diag_add(diags, cfg->path, o->line, 1,
                            "rule '%s' is not a correlation: threshold and timespan do not apply", o->rule);
                problems++;
                continue;
            }
            if (o->timespan_ms > 0)
                r->correlation->timespan_ms = o->timespan_ms;
            if (o->threshold != INT64_MIN)
                r->correlation->threshold = o->threshold;
        }
    }
    return problems;
}

size_t aw_config_load_rules(const struct aw_config *cfg, struct aw_ruleset *set, struct aw_diags *diags)
{
    size_t before = diags->n;
    for (size_t i = 0; i < cfg->rule_paths.n; i++) {
        char *p = aw_config_resolve_path(cfg, cfg->rule_paths.items[i]);
        aw_ruleset_load_path(set, p, diags);
        free(p);
    }
    if (diags->n == before && !aw_ruleset_link(set, diags))
        aw_config_apply_overrides(cfg, set, diags);
    return diags->n - before;
}
