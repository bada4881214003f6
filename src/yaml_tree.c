/*
 * yaml_tree.c - libyaml's event stream folded into a tree with positions.
 *
 * libyaml offers two interfaces: a document loader that builds its own node
 * graph, and a low-level event parser.  We use the event parser and build
 * our own small tree (aw_ynode) because we want three things the loader
 * does not give: the 1-based line and column of every node for messages,
 * a hard "no" to anchors, aliases and application tags (our formats need
 * none of them, and an alias would make one node appear at two places),
 * and a check for duplicate mapping keys, which YAML forbids but libyaml
 * accepts silently - in a rule file a second `condition:` would otherwise
 * quietly replace the first.
 *
 * The builder keeps an explicit stack of open collections (bounded by
 * MAX_DEPTH, so hostile input cannot exhaust memory through nesting) and a
 * pending key per open mapping.  Children are appended to arrays that grow
 * by doubling; a node's capacity is implied by its count (the next power of
 * two), so the node needs no capacity field.
 *
 * Errors are fatal for the file: a YAML syntax error leaves no trustworthy
 * structure to check further.  The message is "file:line:col: text".
 */
#include "auditwatch/yaml_tree.h"
#include "xalloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64
#define MAX_FILE_SIZE (16u * 1024 * 1024)
#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

/* ------------------------------------------------------------ allocation */


static struct aw_ynode *node_new(enum aw_ynode_type type, const yaml_mark_t *mark)
{
    struct aw_ynode *n = aw_xrealloc(NULL, sizeof *n);
    memset(n, 0, sizeof *n);
    n->type = type;
    n->line = (int)mark->line + 1;
    n->column = (int)mark->column + 1;
    return n;
}

static void node_free(struct aw_ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        node_free(n->items[i]);
        if (n->keys)
            node_free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->scalar);
    free(n);
}

/* Grow an array whose capacity is the next power of two above count. */
static void *grow_for(void *arr, size_t count, size_t elem)
{
    if (count == 0 || (count & (count - 1)) == 0)
        return aw_xrealloc(arr, (count ? count * 2 : 1) * elem);
    return arr;
}

/* ---------------------------------------------------------------- builder */

struct frame {
    struct aw_ynode *node;
    struct aw_ynode *key; /* mapping: key waiting for its value */
};

struct builder {
    const char *name;
    char *err;
    size_t errlen;
    struct frame stack[MAX_DEPTH];
    size_t depth;
    struct aw_ynode *root;
    struct aw_ydoc_list *out;
};

static bool fail_at(struct builder *b, size_t line0, size_t col0, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool fail_at(struct builder *b, size_t line0, size_t col0, const char *fmt, ...)
{
    int n = snprintf(b->err, b->errlen, "%s:%zu:%zu: ", b->name, line0 + 1, col0 + 1);
    if (n >= 0 && (size_t)n < b->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->err + n, b->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* Tags: none, the non-specific "!", or a standard yaml.org tag.  Sets
 * *is_str when the tag forces a string. */
static bool tag_ok(const yaml_char_t *tag, bool *is_str)
{
    *is_str = false;
    if (!tag || !strcmp((const char *)tag, "!"))
        return true;
    const char *t = (const char *)tag;
    size_t plen = strlen(YAML_TAG_PREFIX);
    if (strncmp(t, YAML_TAG_PREFIX, plen) != 0)
        return false;
    static const char *const known[] = {"str", "int", "float", "bool", "null", "map", "seq"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(t + plen, known[i])) {
            *is_str = i == 0;
            return true;
        }
    return false;
}

/* Attach a finished node to the open collection (or make it the root). */
static bool attach(struct builder *b, struct aw_ynode *n)
{
    if (b->depth == 0) {
        b->root = n;
        return true;
    }
    struct frame *f = &b->stack[b->depth - 1];
    struct aw_ynode *parent = f->node;
    if (parent->type == AW_Y_SEQ) {
        parent->items = grow_for(parent->items, parent->n, sizeof *parent->items);
        parent->items[parent->n++] = n;
        return true;
    }
    if (!f->key) {
        if (n->type != AW_Y_SCALAR) {
            bool ok = fail_at(b, (size_t)n->line - 1, (size_t)n->column - 1,
                              "a mapping key must be a plain string");
            node_free(n);
            return ok;
        }
        for (size_t i = 0; i < parent->n; i++)
            if (parent->keys[i]->scalar_len == n->scalar_len &&
                !memcmp(parent->keys[i]->scalar, n->scalar, n->scalar_len)) {
                bool ok = fail_at(b, (size_t)n->line - 1, (size_t)n->column - 1,
                                  "duplicate key '%s' (first at line %d)", n->scalar,
                                  parent->keys[i]->line);
                node_free(n);
                return ok;
            }
        f->key = n;
        return true;
    }
    parent->items = grow_for(parent->items, parent->n, sizeof *parent->items);
    parent->keys = grow_for(parent->keys, parent->n, sizeof *parent->keys);
    parent->keys[parent->n] = f->key;
    parent->items[parent->n++] = n;
    f->key = NULL;
    return true;
}

static bool open_collection(struct builder *b, const yaml_event_t *ev, enum aw_ynode_type type,
                            const yaml_char_t *anchor, const yaml_char_t *tag)
{
    bool is_str;
    if (anchor)
        return fail_at(b, ev->start_mark.line, ev->start_mark.column,
                       "anchors ('&%s') are not supported", (const char *)anchor);
    if (!tag_ok(tag, &is_str) || is_str)
        return fail_at(b, ev->start_mark.line, ev->start_mark.column,
                       "tag '%s' is not supported", (const char *)tag);
    if (b->depth == MAX_DEPTH)
        return fail_at(b, ev->start_mark.line, ev->start_mark.column,
                       "nesting deeper than %d levels", MAX_DEPTH);
    b->stack[b->depth].node = node_new(type, &ev->start_mark);
    b->stack[b->depth].key = NULL;
    b->depth++;
    return true;
}

static bool close_collection(struct builder *b)
{
    struct frame *f = &b->stack[--b->depth];
    node_free(f->key); /* cannot happen with a well-formed stream */
    return attach(b, f->node);
}

static bool add_scalar(struct builder *b, const yaml_event_t *ev)
{
    bool is_str;
    const yaml_char_t *tag = ev->data.scalar.tag;
    if (ev->data.scalar.anchor)
        return fail_at(b, ev->start_mark.line, ev->start_mark.column,
                       "anchors ('&%s') are not supported", (const char *)ev->data.scalar.anchor);
    if (!tag_ok(tag, &is_str))
        return fail_at(b, ev->start_mark.line, ev->start_mark.column, "tag '%s' is not supported",
                       (const char *)tag);
    const char *value = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (memchr(value, '\0', len))
        return fail_at(b, ev->start_mark.line, ev->start_mark.column, "NUL byte in a string");
    struct aw_ynode *n = node_new(AW_Y_SCALAR, &ev->start_mark);
    n->scalar = aw_xrealloc(NULL, len + 1);
    memcpy(n->scalar, value, len);
    n->scalar[len] = '\0';
    n->scalar_len = len;
    n->quoted = is_str || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    return attach(b, n);
}

static void push_doc(struct aw_ydoc_list *out, struct aw_ynode *root)
{
    out->docs = grow_for(out->docs, out->n, sizeof *out->docs);
    out->docs[out->n++] = root;
}

/* One event; false on error (message in b->err). */
static bool handle_event(struct builder *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        b->root = NULL;
        return true;
    case YAML_DOCUMENT_END_EVENT:
        if (b->root)
            push_doc(b->out, b->root);
        b->root = NULL;
        return true;
    case YAML_ALIAS_EVENT:
        return fail_at(b, ev->start_mark.line, ev->start_mark.column,
                       "aliases ('*%s') are not supported", (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        return add_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return open_collection(b, ev, AW_Y_SEQ, ev->data.sequence_start.anchor,
                               ev->data.sequence_start.tag);
    case YAML_MAPPING_START_EVENT:
        return open_collection(b, ev, AW_Y_MAP, ev->data.mapping_start.anchor,
                               ev->data.mapping_start.tag);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return close_collection(b);
    default: /* stream start/end, no event */
        return true;
    }
}

bool aw_yaml_load_string(const char *name, const char *text, size_t len, struct aw_ydoc_list *out,
                         char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->file = strdup(name ? name : "-");
    if (!out->file)
        abort();
    struct builder b = {.name = out->file, .err = err, .errlen = errlen, .out = out};
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "%s: cannot initialize the YAML parser", out->file);
        return false;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    bool ok = true, done = false;
    while (ok && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            const yaml_mark_t *m = &parser.problem_mark;
            if (parser.context)
                fail_at(&b, m->line, m->column, "%s: %s", parser.context,
                        parser.problem ? parser.problem : "YAML error");
            else
                fail_at(&b, m->line, m->column, "%s",
                        parser.problem ? parser.problem : "YAML error");
            ok = false;
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        ok = handle_event(&b, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (!ok) {
        while (b.depth > 0) {
            struct frame *f = &b.stack[--b.depth];
            node_free(f->key);
            node_free(f->node);
        }
        node_free(b.root);
        aw_ydoc_list_free(out);
    }
    return ok;
}

bool aw_yaml_load_file(const char *path, struct aw_ydoc_list *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s:0:0: cannot open: %s", path, strerror(errno));
        return false;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    bool ok = true;
    for (;;) {
        if (cap - len < 65536) {
            cap = cap ? cap * 2 : 65536;
            text = aw_xrealloc(text, cap);
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (len > MAX_FILE_SIZE) {
            snprintf(err, errlen, "%s:0:0: larger than %u bytes", path, MAX_FILE_SIZE);
            ok = false;
            break;
        }
        if (got == 0) {
            if (ferror(f)) {
                snprintf(err, errlen, "%s:0:0: cannot read: %s", path, strerror(errno));
                ok = false;
            }
            break;
        }
    }
    fclose(f);
    if (ok)
        ok = aw_yaml_load_string(path, text, len, out, err, errlen);
    free(text);
    return ok;
}

void aw_ydoc_list_free(struct aw_ydoc_list *docs)
{
    for (size_t i = 0; i < docs->n; i++)
        node_free(docs->docs[i]);
    free(docs->docs);
    free(docs->file);
    memset(docs, 0, sizeof *docs);
}

/* ---------------------------------------------------------------- queries */

struct aw_ynode *aw_ymap_get(const struct aw_ynode *map, const char *key)
{
    if (!map || map->type != AW_Y_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (!strcmp(map->keys[i]->scalar, key))
            return map->items[i];
    return NULL;
}

bool aw_yscalar_is(const struct aw_ynode *n, const char *text)
{
    return n && n->type == AW_Y_SCALAR && !strcmp(n->scalar, text);
}

bool aw_yscalar_is_null(const struct aw_ynode *n)
{
    if (!n || n->type != AW_Y_SCALAR || n->quoted)
        return false;
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (!strcmp(n->scalar, nulls[i]))
            return true;
    return false;
}

/* ---------------------------------------------------------------- durations */

bool aw_parse_duration_ms(const char *text, int64_t *ms_out)
{
    if (!text)
        return false;
    const char *p = text;
    int64_t v = 0;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (INT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (*p - '0');
    }
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {"", 1000},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(p, units[i].unit) != 0)
            continue;
        if (v > INT64_MAX / units[i].ms)
            return false;
        *ms_out = v * units[i].ms;
        return true;
    }
    return false;
}
