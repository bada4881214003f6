/*
 * test_util.h - small helpers shared by the Criterion test programs.
 *
 * Tests run from the repository root (tests/run_tests.sh changes there), so
 * data paths are relative to it.  The shared corpus is looked up at
 * AW_CORPUS, else ../shared/corpus; tests that need it skip cleanly when it
 * is absent.
 */
#ifndef AUDITWATCH_TEST_UTIL_H
#define AUDITWATCH_TEST_UTIL_H

#include <jansson.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auditwatch/buf.h"

/* The corpus folder, or NULL when it does not exist. */
static inline const char *test_corpus_dir(void)
{
    const char *env = getenv("AW_CORPUS");
    const char *dir = env && *env ? env : "../shared/corpus";
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? dir : NULL;
}

/* Run a shell command (printf-style); its exit status, -1 when it did not exit. */
static inline int test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int test_sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Whole file into a malloc'd NUL-terminated buffer (NULL when unreadable). */
static inline char *test_read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct aw_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        aw_buf_append(&b, chunk, n);
    fclose(f);
    aw_buf_append_char(&b, '\0');
    if (len_out)
        *len_out = b.len - 1;
    return b.data;
}

/* Value at a dotted path of a nested JSON object ("source.ip"); a key that
 * itself contains dots ("@timestamp" has none) is tried whole first. */
static inline json_t *test_json_path(json_t *obj, const char *path)
{
    json_t *v = json_object_get(obj, path);
    if (v)
        return v;
    const char *dot = strchr(path, '.');
    if (!dot)
        return NULL;
    /* Try every split point, so keys with dots still resolve. */
    for (; dot; dot = strchr(dot + 1, '.')) {
        char head[256];
        size_t n = (size_t)(dot - path);
        if (n >= sizeof head)
            return NULL;
        memcpy(head, path, n);
        head[n] = '\0';
        json_t *child = json_object_get(obj, head);
        if (json_is_object(child)) {
            json_t *r = test_json_path(child, dot + 1);
            if (r)
                return r;
        }
    }
    return NULL;
}

/* Text form of a scalar or array for comparisons: strings as they are,
 * numbers in decimal, arrays of strings joined with ",".  Returns a
 * malloc'd string. */
static inline char *test_json_text(json_t *v)
{
    struct aw_buf b = {0};
    char tmp[64];
    if (json_is_string(v)) {
        aw_buf_append(&b, json_string_value(v), json_string_length(v));
    } else if (json_is_integer(v)) {
        snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(v));
        aw_buf_append_str(&b, tmp);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            char *t = test_json_text(item);
            if (i)
                aw_buf_append_char(&b, ',');
            aw_buf_append_str(&b, t);
            free(t);
        }
    } else {
        char *dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        aw_buf_append_str(&b, dump ? dump : "?");
        free(dump);
    }
    aw_buf_append_char(&b, '\0');
    return b.data;
}

#endif
