/*
 * rules.c - rule files in, struct aw_rule out; the rule set.
 *
 * A rule file holds one or more YAML documents, each a Sigma 2 rule: a
 * detection rule (`logsource:` + `detection:`) or a correlation rule
 * (`correlation:`).  This file reads what every rule has - metadata,
 * level, tags, logsource, our `auditwatch:` extensions - and hands the
 * `detection:` and `correlation:` maps to rules_detection.c and
 * rules_correlation.c.  Problems are collected, not fatal: a document with
 * any problem is left out of the set, every problem is reported with the
 * file:line:col of the node at fault, and loading goes on with the next
 * document, so `auditwatch check` shows all of them in one run.
 *
 * Strictness.  The Sigma specification lets rules carry arbitrary custom
 * top-level keys; we do not, because a key we ignore could be a feature
 * the author relies on.  The accepted keys are those of the Sigma 2 rules
 * and correlation specifications (title id name related taxonomy status
 * description license references author date modified logsource detection
 * correlation fields falsepositives level tags scope generate) plus our
 * `auditwatch:`.  Likewise a logsource that auditwatch never produces
 * (product windows, category process_creation, service auditd, ...) is an
 * error naming it rather than a rule that silently never fires.
 *
 * Logsources we produce:
 *   product kubernetes, service audit or none, category application or none
 *     -> Kubernetes audit events;
 *   product linux, service none, auth, syslog, sshd, sudo, su or login
 *     -> auth-log events; sshd/sudo/su/login also require process.name to
 *        be that program (match.c checks it per event).
 *
 * Severity.  `event.severity` of an alert follows Elastic's risk-score
 * scale, so alerts sort next to those of Elastic rules: informational 10,
 * low 21, medium 47, high 73, critical 99.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rules_internal.h"
#include "xalloc.h"

#define MAX_DIR_DEPTH 16

/* ------------------------------------------------------------ helpers */


void *aw_rl_alloc(size_t n) { return aw_xmalloc(n); }

void *aw_rl_realloc(void *p, size_t n) { return aw_xrealloc(p, n); }

char *aw_rl_strdup(const char *s) { return aw_xstrdup(s); }

static void problem_v(struct aw_rule_loader *L, int line, int column, const char *fmt,
                      va_list ap)
{
    char msg[800];
    vsnprintf(msg, sizeof msg, fmt, ap);
    aw_diag_add(L->diags, L->file, line, column, "%s", msg);
    L->problems++;
}

void aw_rl_problem(struct aw_rule_loader *L, const struct aw_ynode *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    problem_v(L, at ? at->line : 0, at ? at->column : 0, fmt, ap);
    va_end(ap);
}

void aw_rl_problem_at(struct aw_rule_loader *L, int line, int column, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    problem_v(L, line, column, fmt, ap);
    va_end(ap);
}

static const struct {
    const char *name;
    int severity;
} levels[] = {
    [AW_LEVEL_INFORMATIONAL] = {"informational", 10},
    [AW_LEVEL_LOW] = {"low", 21},
    [AW_LEVEL_MEDIUM] = {"medium", 47},
    [AW_LEVEL_HIGH] = {"high", 73},
    [AW_LEVEL_CRITICAL] = {"critical", 99},
};

const char *aw_level_name(enum aw_level l)
{
    return (unsigned)l < sizeof levels / sizeof levels[0] ? levels[l].name : "medium";
}

int aw_level_severity(enum aw_level l)
{
    return (unsigned)l < sizeof levels / sizeof levels[0] ? levels[l].severity : 47;
}

/* A non-empty scalar, copied; NULL after a problem (or when absent). */
static char *take_scalar(struct aw_rule_loader *L, const struct aw_ynode *map, const char *key)
{
    const struct aw_ynode *n = aw_ymap_get(map, key);
    if (!n)
        return NULL;
    if (n->type != AW_Y_SCALAR || n->scalar_len == 0 || aw_yscalar_is_null(n)) {
        aw_rl_problem(L, n, "'%s' must be a non-empty string", key);
        return NULL;
    }
    return aw_rl_strdup(n->scalar);
}

/* A list of scalars (or, with allow_scalar, one scalar). */
static void check_string_list(struct aw_rule_loader *L, const struct aw_ynode *map,
                              const char *key, bool allow_scalar)
{
    const struct aw_ynode *n = aw_ymap_get(map, key);
    if (!n || (allow_scalar && n->type == AW_Y_SCALAR))
        return;
    bool ok = n->type == AW_Y_SEQ;
    for (size_t i = 0; ok && i < n->n; i++)
        ok = n->items[i]->type == AW_Y_SCALAR;
    if (!ok)
        aw_rl_problem(L, n, "'%s' must be a list of strings", key);
}

/* ------------------------------------------------------------ parts */

static const char *const top_keys[] = {
    "title", "id", "name", "related", "taxonomy", "status", "description", "license",
    "references", "author", "date", "modified", "logsource", "detection", "correlation",
    "fields", "falsepositives", "level", "tags", "scope", "generate", "auditwatch",
};

static void check_top_keys(struct aw_rule_loader *L, const struct aw_ynode *doc)
{
    for (size_t i = 0; i < doc->n; i++) {
        bool known = false;
        for (size_t k = 0; k < sizeof top_keys / sizeof top_keys[0] && !known; k++)
            known = !strcmp(doc->keys[i]->scalar, top_keys[k]);
        if (!known)
            aw_rl_problem(L, doc->keys[i], "unknown top-level key '%s'", doc->keys[i]->scalar);
    }
}

static void read_level(struct aw_rule_loader *L, const struct aw_ynode *doc, struct aw_rule *r)
{
    r->level = AW_LEVEL_MEDIUM;
    const struct aw_ynode *n = aw_ymap_get(doc, "level");
    if (!n)
        return;
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (aw_yscalar_is(n, levels[i].name)) {
            r->level = (enum aw_level)i;
            return;
        }
    aw_rl_problem(L, n, "unknown level '%s' (informational, low, medium, high, critical)",
                  n->type == AW_Y_SCALAR ? n->scalar : "?");
}

/* tags, and ATT&CK technique ids from attack.tNNNN[.NNN] tags. */
static void read_tags(struct aw_rule_loader *L, const struct aw_ynode *doc, struct aw_rule *r)
{
    check_string_list(L, doc, "tags", false);
    const struct aw_ynode *n = aw_ymap_get(doc, "tags");
    if (!n || n->type != AW_Y_SEQ || n->n == 0)
        return;
    r->tags = aw_rl_alloc(n->n * sizeof *r->tags);
    r->techniques = aw_rl_alloc(n->n * sizeof *r->techniques);
    for (size_t i = 0; i < n->n; i++) {
        if (n->items[i]->type != AW_Y_SCALAR)
            continue;
        const char *tag = n->items[i]->scalar;
        r->tags[r->ntags++] = aw_rl_strdup(tag);
        if (strncmp(tag, "attack.t", 8) != 0 || tag[8] < '0' || tag[8] > '9')
            continue;
        char *t = aw_rl_strdup(tag + 7);
        for (char *c = t; *c; c++)
            if (*c >= 'a' && *c <= 'z')
                *c = (char)(*c - 32);
        r->techniques[r->ntechniques++] = t;
    }
}

static bool one_of(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (!strcmp(s, *set))
            return true;
    return false;
}

static void read_logsource(struct aw_rule_loader *L, const struct aw_ynode *ls, struct aw_rule *r)
{
    if (ls->type != AW_Y_MAP) {
        aw_rl_problem(L, ls, "logsource must be a map (product, service, category)");
        return;
    }
    static const char *const keys[] = {"product", "service", "category", "definition", NULL};
    for (size_t i = 0; i < ls->n; i++)
        if (!one_of(ls->keys[i]->scalar, keys))
            aw_rl_problem(L, ls->keys[i], "unknown logsource key '%s'", ls->keys[i]->scalar);
    r->product = take_scalar(L, ls, "product");
    r->service = take_scalar(L, ls, "service");
    r->category = take_scalar(L, ls, "category");
    const struct aw_ynode *pn = aw_ymap_get(ls, "product");
    const struct aw_ynode *sn = aw_ymap_get(ls, "service");
    const struct aw_ynode *cn = aw_ymap_get(ls, "category");

    static const char *const k8s_services[] = {"audit", NULL};
    static const char *const k8s_categories[] = {"application", NULL};
    static const char *const linux_services[] = {"auth", "syslog", "sshd", "sudo", "su",
                                                 "login", NULL};
    static const char *const none[] = {NULL};
    const char *const *services = none, *const *categories = none;
    if (!r->product) {
        if (r->category)
            aw_rl_problem(L, cn, "logsource category '%s' is not produced by auditwatch",
                          r->category);
        else if (!pn)
            aw_rl_problem(L, ls, "logsource names no product (kubernetes or linux)");
        return;
    }
    if (!strcmp(r->product, "kubernetes")) {
        services = k8s_services;
        categories = k8s_categories;
        r->datasets = AW_DATASET_K8S;
    } else if (!strcmp(r->product, "linux")) {
        services = linux_services;
        r->datasets = AW_DATASET_AUTH;
    } else {
        aw_rl_problem(L, pn, "logsource product '%s' is not produced by auditwatch", r->product);
        return;
    }
    if (r->service && !one_of(r->service, services))
        aw_rl_problem(L, sn, "logsource service '%s' of product '%s' is not produced by auditwatch",
                      r->service, r->product);
    /* Linux services named after a program admit only that program's
     * lines; resolved once here so matching does no string compares. */
    static const char *const programs[] = {"sshd", "sudo", "su", "login"};
    for (size_t i = 0; r->service && r->datasets == AW_DATASET_AUTH && i < 4; i++)
        if (!strcmp(r->service, programs[i]))
            r->program = programs[i];
    if (r->category && !one_of(r->category, categories))
        aw_rl_problem(L, cn, "logsource category '%s' is not produced by auditwatch",
                      r->category);
}

static void read_extensions(struct aw_rule_loader *L, const struct aw_ynode *ext,
                            struct aw_rule *r)
{
    if (ext->type != AW_Y_MAP) {
        aw_rl_problem(L, ext, "'auditwatch' must be a map (suppress, lateness, allowlist)");
        return;
    }
    for (size_t i = 0; i < ext->n; i++) {
        const struct aw_ynode *k = ext->keys[i], *v = ext->items[i];
        bool is_suppress = !strcmp(k->scalar, "suppress");
        if (is_suppress || !strcmp(k->scalar, "lateness")) {
            int64_t ms;
            if (v->type != AW_Y_SCALAR || !aw_parse_duration_ms(v->scalar, &ms) ||
                (is_suppress && ms == 0)) {
                aw_rl_problem(L, v, "auditwatch.%s must be a duration such as 30s, 10m, 2h",
                              k->scalar);
                continue;
            }
            *(is_suppress ? &r->suppress_ms : &r->lateness_ms) = ms;
        } else if (!strcmp(k->scalar, "allowlist")) {
            free(r->allowlist);
            r->allowlist = take_scalar(L, ext, "allowlist");
        } else {
            aw_rl_problem(L, k, "unknown key 'auditwatch.%s' (suppress, lateness, allowlist)",
                          k->scalar);
        }
    }
}

/* ------------------------------------------------------------ one rule */

static void rule_free(struct aw_rule *r)
{
    if (!r)
        return;
    free(r->file);
    free(r->title);
    free(r->id);
    free(r->name);
    free(r->description);
    free(r->status);
    for (size_t i = 0; i < r->ntags; i++)
        free(r->tags[i]);
    free(r->tags);
    for (size_t i = 0; i < r->ntechniques; i++)
        free(r->techniques[i]);
    free(r->techniques);
    free(r->product);
    free(r->service);
    free(r->category);
    aw_detection_free(r->detection);
    aw_correlation_free(r->correlation);
    free(r->allowlist);
    free(r->consumers);
    free(r);
}

static void add_rule(struct aw_ruleset *set, struct aw_rule *r)
{
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 16;
        set->rules = aw_rl_realloc(set->rules, set->cap * sizeof *set->rules);
    }
    r->index = set->n;
    set->rules[set->n++] = r;
}

static void load_document(struct aw_rule_loader *L, const struct aw_ynode *doc,
                          struct aw_ruleset *set)
{
    if (aw_yscalar_is_null(doc))
        return; /* an empty document, e.g. after a trailing "---" */
    if (doc->type != AW_Y_MAP) {
        aw_rl_problem(L, doc, "a rule document must be a map");
        return;
    }
    L->problems = 0;
    struct aw_rule *r = aw_rl_alloc(sizeof *r);
    memset(r, 0, sizeof *r);
    r->file = aw_rl_strdup(L->file);
    r->line = doc->line;
    r->suppress_ms = -1;
    r->lateness_ms = -1;

    check_top_keys(L, doc);
    r->title = take_scalar(L, doc, "title");
    if (!aw_ymap_get(doc, "title"))
        aw_rl_problem(L, doc, "rule has no title");
    r->id = take_scalar(L, doc, "id");
    r->name = take_scalar(L, doc, "name");
    if (!r->name && r->id)
        r->name = aw_rl_strdup(r->id);
    if (!aw_ymap_get(doc, "name") && !aw_ymap_get(doc, "id"))
        aw_rl_problem(L, doc, "rule needs a name or an id");
    r->description = take_scalar(L, doc, "description");
    r->status = take_scalar(L, doc, "status");
    static const char *const scalars[] = {"author", "date", "modified", "license", "taxonomy"};
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++)
        free(take_scalar(L, doc, scalars[i]));
    check_string_list(L, doc, "references", false);
    check_string_list(L, doc, "fields", false);
    check_string_list(L, doc, "scope", false);
    check_string_list(L, doc, "falsepositives", true);
    const struct aw_ynode *related = aw_ymap_get(doc, "related");
    if (related && related->type != AW_Y_SEQ)
        aw_rl_problem(L, related, "'related' must be a list of {id, type} maps");
    read_level(L, doc, r);
    read_tags(L, doc, r);
    const struct aw_ynode *ext = aw_ymap_get(doc, "auditwatch");
    if (ext)
        read_extensions(L, ext, r);

    const struct aw_ynode *det = aw_ymap_get(doc, "detection");
    const struct aw_ynode *corr = aw_ymap_get(doc, "correlation");
    const struct aw_ynode *ls = aw_ymap_get(doc, "logsource");
    const struct aw_ynode *gen = aw_ymap_get(doc, "generate");
    if (det && corr) {
        aw_rl_problem(L, corr, "a rule has either a detection or a correlation, not both");
    } else if (det) {
        if (ls)
            read_logsource(L, ls, r);
        else
            aw_rl_problem(L, doc, "rule has no logsource");
        if (gen)
            aw_rl_problem(L, gen, "'generate' belongs to correlation rules");
        r->detection = aw_detection_compile(L, det);
    } else if (corr) {
        if (ls)
            aw_rl_problem(L, ls, "a correlation rule takes no logsource");
        r->correlation = aw_correlation_parse(L, corr, gen);
    } else {
        aw_rl_problem(L, doc, "rule has neither a detection nor a correlation");
    }

    if (L->problems) {
        rule_free(r);
        return;
    }
    add_rule(set, r);
}

/* Turn aw_yaml_load_*'s "file:line:col: message" into a diag item. */
static void yaml_error_to_diag(struct aw_diags *diags, const char *file, const char *err)
{
    size_t flen = strlen(file);
    int line = 0, col = 0, used = 0;
    const char *msg = err;
    if (!strncmp(err, file, flen) && err[flen] == ':' &&
        sscanf(err + flen, ":%d:%d: %n", &line, &col, &used) == 2 && used > 0)
        msg = err + flen + used;
    aw_diag_add(diags, file, line, col, "%s", msg);
}

static size_t load_docs(struct aw_ruleset *set, struct aw_ydoc_list *docs,
                        struct aw_diags *diags)
{
    size_t before = diags->n;
    struct aw_rule_loader L = {.file = docs->file, .diags = diags};
    for (size_t i = 0; i < docs->n; i++)
        load_document(&L, docs->docs[i], set);
    return diags->n - before;
}

size_t aw_ruleset_load_string(struct aw_ruleset *set, const char *name, const char *text,
                              size_t len, struct aw_diags *diags)
{
    struct aw_ydoc_list docs;
    char err[512];
    if (!aw_yaml_load_string(name, text, len, &docs, err, sizeof err)) {
        yaml_error_to_diag(diags, name, err);
        return 1;
    }
    size_t n = load_docs(set, &docs, diags);
    aw_ydoc_list_free(&docs);
    return n;
}

static size_t load_file(struct aw_ruleset *set, const char *path, struct aw_diags *diags)
{
    struct aw_ydoc_list docs;
    char err[512];
    if (!aw_yaml_load_file(path, &docs, err, sizeof err)) {
        yaml_error_to_diag(diags, path, err);
        return 1;
    }
    size_t n = load_docs(set, &docs, diags);
    aw_ydoc_list_free(&docs);
    return n;
}

/* ------------------------------------------------------------ folders */

struct path_list {
    char **v;
    size_t n, cap;
};

static bool has_rule_suffix(const char *name)
{
    size_t n = strlen(name);
    return (n > 4 && !strcmp(name + n - 4, ".yml")) || (n > 5 && !strcmp(name + n - 5, ".yaml"));
}

/* Collect rule files below dir; hidden entries are skipped. */
static void collect(const char *dir, int depth, struct path_list *out, struct aw_diags *diags)
{
    DIR *d = opendir(dir);
    if (!d) {
        aw_diag_add(diags, dir, 0, 0, "cannot open folder: %s", strerror(errno));
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = aw_rl_alloc(len);
        snprintf(path, len, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (depth < MAX_DIR_DEPTH)
                collect(path, depth + 1, out, diags);
            else
                aw_diag_add(diags, path, 0, 0, "folders nested deeper than %d levels",
                            MAX_DIR_DEPTH);
            free(path);
        } else if (has_rule_suffix(e->d_name)) {
            if (out->n == out->cap) {
                out->cap = out->cap ? out->cap * 2 : 32;
                out->v = aw_rl_realloc(out->v, out->cap * sizeof *out->v);
            }
            out->v[out->n++] = path;
        } else {
            free(path);
        }
    }
    closedir(d);
}

static int cmp_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t aw_ruleset_load_path(struct aw_ruleset *set, const char *path, struct aw_diags *diags)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        aw_diag_add(diags, path, 0, 0, "cannot open: %s", strerror(errno));
        return 1;
    }
    if (!S_ISDIR(st.st_mode))
        return load_file(set, path, diags);
    size_t before = diags->n;
    struct path_list files = {0};
    collect(path, 0, &files, diags);
    qsort(files.v, files.n, sizeof *files.v, cmp_paths);
    for (size_t i = 0; i < files.n; i++) {
        load_file(set, files.v[i], diags);
        free(files.v[i]);
    }
    free(files.v);
    if (files.n == 0 && diags->n == before)
        aw_diag_add(diags, path, 0, 0, "no rule files (*.yml, *.yaml) in this folder");
    return diags->n - before;
}

/* ------------------------------------------------------------ the set */

struct aw_rule *aw_ruleset_find(const struct aw_ruleset *set, const char *name_or_id)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->rules[i]->name && !strcmp(set->rules[i]->name, name_or_id))
            return set->rules[i];
    for (size_t i = 0; i < set->n; i++)
        if (set->rules[i]->id && !strcmp(set->rules[i]->id, name_or_id))
            return set->rules[i];
    return NULL;
}

void aw_ruleset_free(struct aw_ruleset *set)
{
    for (size_t i = 0; i < set->n; i++)
        rule_free(set->rules[i]);
    free(set->rules);
    memset(set, 0, sizeof *set);
}
