/*
 * yaml_tree.h - YAML documents as a small tree with line numbers.
 *
 * Configuration files, rule files and the service map are read with libyaml
 * into this tree first, so that every later check can report file:line of
 * the offending node.  Scalars keep whether they were quoted (a quoted
 * "123" is a string, a plain 123 may be a number).  Anchors, aliases and
 * tags other than the standard ones are rejected: none of our formats
 * needs them and they make error positions ambiguous.
 */
#ifndef AUDITWATCH_YAML_TREE_H
#define AUDITWATCH_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum aw_ynode_type { AW_Y_SCALAR, AW_Y_SEQ, AW_Y_MAP };

struct aw_ynode {
    enum aw_ynode_type type;
    int line, column;    /* 1-based position of the node's start */
    char *scalar;        /* AW_Y_SCALAR: the text (NUL-terminated) */
    size_t scalar_len;
    bool quoted;         /* AW_Y_SCALAR: written in quotes or as a block */
    /* AW_Y_SEQ: items[n]; AW_Y_MAP: keys[n] (scalars) and items[n] values */
    struct aw_ynode **items;
    struct aw_ynode **keys;
    size_t n;
};

/* One file may hold several documents ("---"). */
struct aw_ydoc_list {
    struct aw_ynode **docs;
    size_t n;
    char *file; /* path as given, for messages */
};

/* Parse `path`.  On error returns false and writes "file:line:col: msg"
 * into err. */
bool aw_yaml_load_file(const char *path, struct aw_ydoc_list *out, char *err, size_t errlen);
bool aw_yaml_load_string(const char *name, const char *text, size_t len, struct aw_ydoc_list *out,
                         char *err, size_t errlen);
void aw_ydoc_list_free(struct aw_ydoc_list *docs);

/* Value of key in a map node, or NULL. */
struct aw_ynode *aw_ymap_get(const struct aw_ynode *map, const char *key);
bool aw_yscalar_is(const struct aw_ynode *n, const char *text);
/* A plain (unquoted) scalar that YAML 1.1/1.2 reads as null: "", "~", "null". */
bool aw_yscalar_is_null(const struct aw_ynode *n);

/* Parse a duration such as "30s", "10m", "2h", "1d", "500ms" (also a bare
 * number of seconds).  Returns false when it is not one. */
bool aw_parse_duration_ms(const char *text, int64_t *ms_out);

#endif
