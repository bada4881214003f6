/*
 * service_map.c - loading, checking and querying the service map (see
 * service_map.h for the file format and the matching rules).
 *
 * The file is read into a YAML tree first (yaml_tree.h), so every check
 * can name the line and column of the node it is about.  Checking never
 * stops at the first problem: each key is checked against a small table
 * per level, a bad value is reported and skipped, and the entry is still
 * read as far as possible, so `auditwatch check` shows everything that is
 * wrong in one run.  A map with problems is never used (the loader
 * returns the count and the caller refuses to start).
 *
 * The map is small (tens to hundreds of entries) and judged once per
 * created Service, so lookup is a plain scan with fnmatch in file order;
 * first match wins, which is also what makes the order in the file
 * meaningful to its readers.
 */
#include "auditwatch/service_map.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auditwatch/hash.h"
#include "auditwatch/yaml_tree.h"
#include "xalloc.h"

#define TABLE_LEN(t) (sizeof(t) / sizeof((t)[0]))

/* ================================================================ types */

static const struct {
    unsigned bit;
    const char *name;
    int rank; /* exposure ladder; -1: not on it (allowed only when listed) */
} service_types[] = {
    {AW_SVC_CLUSTER_IP, "ClusterIP", 0},
    {AW_SVC_NODE_PORT, "NodePort", 1},
    {AW_SVC_LOAD_BALANCER, "LoadBalancer", 2},
    {AW_SVC_EXTERNAL_NAME, "ExternalName", -1},
};

unsigned aw_service_type_parse(const char *text)
{
    for (size_t i = 0; text && i < TABLE_LEN(service_types); i++)
        if (!strcmp(text, service_types[i].name))
            return service_types[i].bit;
    return 0;
}

const char *aw_service_type_name(unsigned bit)
{
    for (size_t i = 0; i < TABLE_LEN(service_types); i++)
        if (service_types[i].bit == bit)
            return service_types[i].name;
    return NULL;
}

bool aw_service_entry_allows_type(const struct aw_service_entry *e, unsigned type_bit)
{
    int want = -2, most = 0; /* ClusterIP (rank 0) is always allowed */
    for (size_t i = 0; i < TABLE_LEN(service_types); i++) {
        if (service_types[i].bit == type_bit)
            want = service_types[i].rank;
        if ((e->types & service_types[i].bit) && service_types[i].rank > most)
            most = service_types[i].rank;
    }
    if (want == -2)
        return false; /* not a type at all */
    if (want == -1)
        return (e->types & type_bit) != 0;
    return want <= most;
}

bool aw_service_entry_allows_ingress_host(const struct aw_service_entry *e, const char *host)
{
    for (size_t i = 0; i < e->ningress_hosts; i++)
        if (fnmatch(e->ingress_hosts[i], host, 0) == 0)
            return true;
    return false;
}

/* =============================================================== lookup */

static bool any_matches(char *const *patterns, size_t n, const char *text)
{
    for (size_t i = 0; i < n; i++)
        if (fnmatch(patterns[i], text, 0) == 0)
            return true;
    return false;
}

enum aw_service_match aw_service_map_lookup(const struct aw_service_map *map, const char *ns,
                                            const char *name,
                                            const struct aw_service_entry **entry)
{
    const struct aw_service_entry *ns_owner = NULL;
    *entry = NULL;
    for (size_t i = 0; i < map->n; i++) {
        const struct aw_service_entry *e = &map->entries[i];
        if (fnmatch(e->namespace_pattern, ns ? ns : "", 0) != 0)
            continue;
        if (!ns_owner)
            ns_owner = e;
        if (name && *name && any_matches(e->services, e->nservices, name)) {
            *entry = e;
            return AW_SVC_MAPPED;
        }
    }
    *entry = ns_owner;
    return ns_owner ? AW_SVC_NAME_UNMAPPED : AW_SVC_NAMESPACE_UNMAPPED;
}

bool aw_service_map_namespace_allows_ingress(const struct aw_service_map *map, const char *ns)
{
    for (size_t i = 0; i < map->n; i++)
        if (map->entries[i].ningress_hosts && fnmatch(map->entries[i].namespace_pattern, ns, 0) == 0)
            return true;
    return false;
}

/* ============================================================ canonical */

static void append_string_list(struct aw_buf *out, char *const *items, size_t n)
{
    aw_buf_append_char(out, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            aw_buf_append_char(out, ',');
        aw_buf_json_cstr(out, items[i]);
    }
    aw_buf_append_char(out, ']');
}

void aw_service_entry_canonical(const struct aw_service_entry *e, struct aw_buf *out)
{
    aw_buf_append_str(out, "{\"namespace\":");
    aw_buf_json_cstr(out, e->namespace_pattern);
    aw_buf_append_str(out, ",\"services\":");
    append_string_list(out, e->services, e->nservices);
    aw_buf_append_str(out, ",\"owner\":");
    aw_buf_json_cstr(out, e->owner);
    aw_buf_append_str(out, ",\"contact\":");
    if (e->contact)
        aw_buf_json_cstr(out, e->contact);
    else
        aw_buf_append_str(out, "null");
    aw_buf_append_str(out, ",\"types\":[");
    const char *sep = "";
    for (size_t i = 0; i < TABLE_LEN(service_types); i++)
        if (e->types & service_types[i].bit) {
            aw_buf_append_str(out, sep);
            aw_buf_json_cstr(out, service_types[i].name);
            sep = ",";
        }
    aw_buf_append_str(out, "],\"external_ips\":");
    aw_buf_append_str(out, e->external_ips ? "true" : "false");
    aw_buf_append_str(out, ",\"host_ports\":");
    aw_buf_append_str(out, e->host_ports ? "true" : "false");
    aw_buf_append_str(out, ",\"ingress_hosts\":");
    append_string_list(out, e->ingress_hosts, e->ningress_hosts);
    aw_buf_append_char(out, '}');
}

static uint64_t map_version(const struct aw_service_map *map)
{
    struct aw_buf b = {0};
    uint64_t h = aw_hash64("service-map", 11, 0);
    for (size_t i = 0; i < map->n; i++) {
        aw_buf_reset(&b);
        aw_service_entry_canonical(&map->entries[i], &b);
        aw_buf_append_char(&b, '\n');
        h = aw_hash64(b.data, b.len, h);
    }
    aw_buf_free(&b);
    return h;
}

/* =============================================================== mirror */

int aw_service_map_mirror(const struct aw_service_map *map, struct aw_store *store)
{
    struct aw_wkey entries_key = {AW_SERVICE_MAP_STORE_KEY, map->version, 0};
    struct aw_wkey versions_key = {AW_SERVICE_MAP_STORE_KEY, 0, 0};
    struct aw_buf b = {0};
    bool added;
    int rc = 0;
    /* Entries first: a version listed in the store always has its entries. */
    for (size_t i = 0; i < map->n && rc == 0; i++) {
        aw_buf_reset(&b);
        aw_service_entry_canonical(&map->entries[i], &b);
        /* Time 0: the mirror is not event data; it must not depend on when
         * an instance happened to start. */
        rc = store->ops->set_add(store, &entries_key, b.data, b.len, 0, 0, &added);
    }
    if (rc == 0) {
        char hex[16];
        aw_hex64(map->version, hex);
        rc = store->ops->set_add(store, &versions_key, hex, sizeof hex, 0, 0, &added);
    }
    aw_buf_free(&b);
    return rc < 0 ? -1 : 0;
}

int aw_service_map_mirror_verify(const struct aw_service_map *map, struct aw_store *store,
                                 size_t *missing)
{
    struct aw_wkey entries_key = {AW_SERVICE_MAP_STORE_KEY, map->version, 0};
    struct aw_buf b = {0};
    int rc = 0;
    *missing = 0;
    for (size_t i = 0; i < map->n && rc == 0; i++) {
        bool found = false;
        aw_buf_reset(&b);
        aw_service_entry_canonical(&map->entries[i], &b);
        rc = store->ops->set_contains(store, &entries_key, b.data, b.len, &found);
        if (rc == 0 && !found)
            (*missing)++;
    }
    aw_buf_free(&b);
    return rc < 0 ? -1 : 0;
}

/* ============================================================== loading */

struct loader {
    const char *file;
    struct aw_diags *diags;
    size_t problems;
};

static void problem(struct loader *L, const struct aw_ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct loader *L, const struct aw_ynode *at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    aw_diag_add(L->diags, L->file, at ? at->line : 0, at ? at->column : 0, "%s", msg);
    L->problems++;
}


static const char *node_kind(const struct aw_ynode *n)
{
    switch (n->type) {
    case AW_Y_SEQ: return "a list";
    case AW_Y_MAP: return "a mapping";
    default: return "a scalar";
    }
}

/* Whether two keys differ only in case and '_' / '-' (externalIPs vs
 * external_ips): then the unknown one is surely a misspelling. */
static bool same_loosely(const char *a, const char *b)
{
    for (;;) {
        while (*a == '_' || *a == '-')
            a++;
        while (*b == '_' || *b == '-')
            b++;
        if (!*a || !*b)
            return !*a && !*b;
        if ((*a | 0x20) != (*b | 0x20))
            return false;
        a++, b++;
    }
}

/* Check a map's keys against the known ones; unknown keys are problems. */
static void check_keys(struct loader *L, const struct aw_ynode *map, const char *const *known,
                       size_t nknown, const char *where)
{
    for (size_t i = 0; i < map->n; i++) {
        bool ok = false;
        for (size_t k = 0; k < nknown && !ok; k++)
            ok = !strcmp(map->keys[i]->scalar, known[k]);
        if (ok)
            continue;
        const char *hint = NULL;
        for (size_t k = 0; k < nknown && !hint; k++)
            if (same_loosely(map->keys[i]->scalar, known[k]))
                hint = known[k];
        if (hint) {
            problem(L, map->keys[i], "unknown key '%s' in %s (did you mean '%s'?)",
                    map->keys[i]->scalar, where, hint);
            continue;
        }
        char list[256] = "";
        size_t used = 0;
        for (size_t k = 0; k < nknown; k++) {
            int w = snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", known[k]);
            if (w < 0 || (size_t)w >= sizeof list - used)
                break;
            used += (size_t)w;
        }
        problem(L, map->keys[i], "unknown key '%s' in %s (known keys: %s)", map->keys[i]->scalar,
                where, list);
    }
}

/* A non-empty string value; NULL (after a problem) otherwise. */
static const char *want_string(struct loader *L, const struct aw_ynode *n, const char *key)
{
    if (n->type != AW_Y_SCALAR) {
        problem(L, n, "'%s' must be a string, not %s", key, node_kind(n));
        return NULL;
    }
    if (aw_yscalar_is_null(n) || n->scalar_len == 0) {
        problem(L, n, "'%s' must not be empty", key);
        return NULL;
    }
    return n->scalar;
}

/* A plain YAML boolean; quoted "true" is a string and a problem. */
static bool want_bool(struct loader *L, const struct aw_ynode *n, const char *key, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE"};
    static const char *const no[] = {"false", "False", "FALSE"};
    if (n->type == AW_Y_SCALAR && !n->quoted)
        for (size_t i = 0; i < TABLE_LEN(yes); i++) {
            if (!strcmp(n->scalar, yes[i]))
                return *out = true;
            if (!strcmp(n->scalar, no[i])) {
                *out = false;
                return true;
            }
        }
    if (n->type == AW_Y_SCALAR)
        problem(L, n, "'%s' must be true or false, not %s'%s'", key, n->quoted ? "the string " : "",
                n->scalar);
    else
        problem(L, n, "'%s' must be true or false, not %s", key, node_kind(n));
    return false;
}

enum pattern_kind { PAT_NAME, PAT_HOST };

/* Whether a pattern can match a Kubernetes name (or an Ingress host):
 * lower-case letters, digits, '-', '.', and the glob characters * and ?. */
static bool pattern_ok(struct loader *L, const struct aw_ynode *n, const char *key,
                       enum pattern_kind kind)
{
    for (const char *p = n->scalar; *p; p++) {
        char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '*' ||
            c == '?')
            continue;
        if (c >= 'A' && c <= 'Z')
            problem(L, n, "%s pattern '%s' can never match: %s are lower case", key, n->scalar,
                    kind == PAT_HOST ? "Ingress hosts" : "Kubernetes names");
        else
            problem(L, n, "%s pattern '%s' has the character '%c', which %s never hold (only a-z, "
                    "0-9, '-', '.' and the wildcards * and ?)", key, n->scalar, c,
                    kind == PAT_HOST ? "Ingress hosts" : "Kubernetes names");
        return false;
    }
    return true;
}

/* A list of patterns into (*items, *count), owned by the caller. */
static void want_patterns(struct loader *L, const struct aw_ynode *n, const char *key,
                          enum pattern_kind kind, char ***items, size_t *count)
{
    if (n->type != AW_Y_SEQ) {
        if (!aw_yscalar_is_null(n))
            problem(L, n, "'%s' must be a list of patterns, not %s", key, node_kind(n));
        return;
    }
    *items = calloc(n->n ? n->n : 1, sizeof **items);
    if (!*items)
        abort();
    for (size_t i = 0; i < n->n; i++) {
        const struct aw_ynode *it = n->items[i];
        const char *text = want_string(L, it, key);
        if (text && pattern_ok(L, it, key, kind))
            (*items)[(*count)++] = aw_xstrdup(text);
    }
}

static void read_types(struct loader *L, const struct aw_ynode *n, unsigned *types)
{
    if (n->type != AW_Y_SEQ) {
        problem(L, n, "'types' must be a list of service types, not %s", node_kind(n));
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct aw_ynode *it = n->items[i];
        const char *text = want_string(L, it, "types");
        if (!text)
            continue;
        unsigned bit = aw_service_type_parse(text);
        if (bit) {
            *types |= bit;
            continue;
        }
        const char *hint = NULL;
        for (size_t k = 0; k < TABLE_LEN(service_types) && !hint; k++)
            if (!strcasecmp(text, service_types[k].name))
                hint = service_types[k].name;
        if (hint)
            problem(L, it, "unknown service type '%s' (did you mean %s? types are case-sensitive)",
                    text, hint);
        else
            problem(L, it, "unknown service type '%s' (expected ClusterIP, NodePort, LoadBalancer "
                    "or ExternalName)", text);
    }
}

static void read_expose(struct loader *L, const struct aw_ynode *n, struct aw_service_entry *e)
{
    static const char *const known[] = {"types", "external_ips", "host_ports", "ingress_hosts"};
    if (aw_yscalar_is_null(n))
        return;
    if (n->type != AW_Y_MAP) {
        problem(L, n, "'expose' must be a mapping, not %s", node_kind(n));
        return;
    }
    check_keys(L, n, known, TABLE_LEN(known), "'expose'");
    for (size_t i = 0; i < n->n; i++) {
        const char *key = n->keys[i]->scalar;
        const struct aw_ynode *v = n->items[i];
        if (!strcmp(key, "types"))
            read_types(L, v, &e->types);
        else if (!strcmp(key, "external_ips"))
            want_bool(L, v, key, &e->external_ips);
        else if (!strcmp(key, "host_ports"))
            want_bool(L, v, key, &e->host_ports);
        else if (!strcmp(key, "ingress_hosts"))
            want_patterns(L, v, key, PAT_HOST, &e->ingress_hosts, &e->ningress_hosts);
    }
}

static void entry_free(struct aw_service_entry *e)
{
    free(e->namespace_pattern);
    for (size_t i = 0; i < e->nservices; i++)
        free(e->services[i]);
    free(e->services);
    free(e->owner);
    free(e->contact);
    for (size_t i = 0; i < e->ningress_hosts; i++)
        free(e->ingress_hosts[i]);
    free(e->ingress_hosts);
    memset(e, 0, sizeof *e);
}

/* Read one entry into e; returns false when it is unusable (problems were
 * reported). */
static bool read_entry(struct loader *L, const struct aw_ynode *n, struct aw_service_entry *e)
{
    static const char *const known[] = {"namespace", "owner", "contact", "services", "expose"};
    size_t before = L->problems;
    memset(e, 0, sizeof *e);
    e->line = n->line;
    if (n->type != AW_Y_MAP) {
        problem(L, n, "a service map entry must be a mapping, not %s", node_kind(n));
        return false;
    }
    check_keys(L, n, known, TABLE_LEN(known), "a service map entry");
    const struct aw_ynode *v;
    if ((v = aw_ymap_get(n, "namespace")) != NULL) {
        const char *text = want_string(L, v, "namespace");
        if (text && pattern_ok(L, v, "namespace", PAT_NAME))
            e->namespace_pattern = aw_xstrdup(text);
    } else {
        problem(L, n, "entry has no 'namespace'");
    }
    if ((v = aw_ymap_get(n, "owner")) != NULL) {
        const char *text = want_string(L, v, "owner");
        if (text)
            e->owner = aw_xstrdup(text);
    } else {
        problem(L, n, "entry has no 'owner'");
    }
    if ((v = aw_ymap_get(n, "contact")) != NULL && !aw_yscalar_is_null(v)) {
        const char *text = want_string(L, v, "contact");
        if (text)
            e->contact = aw_xstrdup(text);
    }
    if ((v = aw_ymap_get(n, "services")) != NULL) {
        want_patterns(L, v, "services", PAT_NAME, &e->services, &e->nservices);
        if (v->type == AW_Y_SEQ && v->n == 0)
            problem(L, v, "'services' must list at least one name pattern (\"*\" for all)");
        else if (aw_yscalar_is_null(v))
            problem(L, v, "'services' must list at least one name pattern (\"*\" for all)");
    } else {
        problem(L, n, "entry has no 'services'");
    }
    if ((v = aw_ymap_get(n, "expose")) != NULL)
        read_expose(L, v, e);
    if (!e->types)
        e->types = AW_SVC_CLUSTER_IP;
    return L->problems == before;
}

/* An exact (namespace, service pattern) pair already mapped above is a
 * problem: the later entry could never be chosen for it. */
static void check_shadowed(struct loader *L, const struct aw_service_map *map,
                           const struct aw_service_entry *e, const struct aw_ynode *node)
{
    for (size_t i = 0; i < map->n; i++) {
        const struct aw_service_entry *o = &map->entries[i];
        if (strcmp(o->namespace_pattern, e->namespace_pattern) != 0)
            continue;
        for (size_t a = 0; a < e->nservices; a++)
            for (size_t b = 0; b < o->nservices; b++)
                if (!strcmp(e->services[a], o->services[b]))
                    problem(L, node, "namespace '%s' service '%s' is already mapped by the entry at "
                            "line %d", e->namespace_pattern, e->services[a], o->line);
    }
}

static void load_tree(struct loader *L, const struct aw_ydoc_list *docs, struct aw_service_map *map)
{
    static const char *const known[] = {"entries"};
    if (docs->n == 0) {
        problem(L, NULL, "the service map is empty (expected a mapping with 'entries')");
        return;
    }
    if (docs->n > 1)
        problem(L, docs->docs[1], "the service map must be one YAML document, not %zu", docs->n);
    const struct aw_ynode *root = docs->docs[0];
    if (root->type != AW_Y_MAP) {
        problem(L, root, "the service map must be a mapping with 'entries', not %s", node_kind(root));
        return;
    }
    check_keys(L, root, known, TABLE_LEN(known), "the service map");
    const struct aw_ynode *list = aw_ymap_get(root, "entries");
    if (!list) {
        problem(L, root, "the service map has no 'entries'");
        return;
    }
    if (list->type != AW_Y_SEQ) {
        if (!aw_yscalar_is_null(list))
            problem(L, list, "'entries' must be a list of entries, not %s", node_kind(list));
        return;
    }
    map->entries = calloc(list->n ? list->n : 1, sizeof *map->entries);
    if (!map->entries)
        abort();
    for (size_t i = 0; i < list->n; i++) {
        struct aw_service_entry e;
        if (!read_entry(L, list->items[i], &e)) {
            entry_free(&e);
            continue;
        }
        check_shadowed(L, map, &e, list->items[i]);
        map->entries[map->n++] = e;
    }
}

static void yaml_error_to_diag(struct loader *L, const char *err)
{
    size_t flen = strlen(L->file);
    int line = 0, col = 0, used = 0;
    const char *msg = err;
    if (!strncmp(err, L->file, flen) && err[flen] == ':' &&
        sscanf(err + flen, ":%d:%d: %n", &line, &col, &used) == 2 && used > 0)
        msg = err + flen + used;
    aw_diag_add(L->diags, L->file, line, col, "%s", msg);
    L->problems++;
}

static size_t finish(struct loader *L, struct aw_ydoc_list *docs, bool parsed, const char *err,
                     struct aw_service_map *map)
{
    if (!parsed)
        yaml_error_to_diag(L, err);
    else
        load_tree(L, docs, map);
    if (parsed)
        aw_ydoc_list_free(docs);
    map->version = map_version(map);
    return L->problems;
}

size_t aw_service_map_load_string(const char *name, const char *text, size_t len,
                                  struct aw_service_map *map, struct aw_diags *diags)
{
    memset(map, 0, sizeof *map);
    map->file = aw_xstrdup(name ? name : "-");
    struct loader L = {map->file, diags, 0};
    struct aw_ydoc_list docs;
    char err[512];
    bool parsed = aw_yaml_load_string(map->file, text, len, &docs, err, sizeof err);
    return finish(&L, &docs, parsed, err, map);
}

size_t aw_service_map_load(const char *path, struct aw_service_map *map, struct aw_diags *diags)
{
    memset(map, 0, sizeof *map);
    map->file = aw_xstrdup(path);
    struct loader L = {map->file, diags, 0};
    struct aw_ydoc_list docs;
    char err[512];
    bool parsed = aw_yaml_load_file(path, &docs, err, sizeof err);
    return finish(&L, &docs, parsed, err, map);
}

void aw_service_map_free(struct aw_service_map *map)
{
    if (!map)
        return;
    for (size_t i = 0; i < map->n; i++)
        entry_free(&map->entries[i]);
    free(map->entries);
    free(map->file);
    memset(map, 0, sizeof *map);
}
