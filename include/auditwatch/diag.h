/*
 * diag.h - problems found in configuration and rule files.
 *
 * Loaders do not stop at the first problem: they append every problem to
 * a diag list with its file and line, so `auditwatch check` can report all
 * of them at once.  Messages are plain text; file names and quoted input
 * are escaped when printed.
 */
#ifndef AUDITWATCH_DIAG_H
#define AUDITWATCH_DIAG_H

#include <stddef.h>
#include <stdio.h>

struct aw_diag_item {
    char *file;
    int line, column;
    char *message;
};

struct aw_diags {
    struct aw_diag_item *items;
    size_t n, cap;
};

void aw_diag_add(struct aw_diags *d, const char *file, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Print "file:line:col: message" lines; returns the number printed. */
size_t aw_diag_print(const struct aw_diags *d, FILE *out);
void aw_diags_free(struct aw_diags *d);

#endif
