/*
 * diag.c - a list of problems with positions, printed one per line.
 *
 * Loaders append problems here instead of stopping at the first one, so a
 * user fixing a rule folder sees every mistake in one run of `auditwatch
 * check`.  Each item owns copies of its file name and message.
 *
 * Messages quote input (rule keys, modifier names, condition text), and an
 * input may hold anything: a newline would forge a second "problem" line,
 * an escape sequence would repaint the terminal.  Printing therefore
 * escapes control characters and bytes that are not UTF-8 as \n, \t, \r
 * or \xNN; valid UTF-8 and backslashes are kept, so Windows paths in Sigma
 * values stay readable.  Line 0 means "the file as a whole" and column 0
 * "the line as a whole"; such parts are left out of the position.
 */
#include "auditwatch/diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "auditwatch/buf.h"
#include "xalloc.h"


void aw_diag_add(struct aw_diags *d, const char *file, int line, int column, const char *fmt, ...)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        d->items = aw_xrealloc(d->items, cap * sizeof *d->items);
        d->cap = cap;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct aw_diag_item *it = &d->items[d->n++];
    it->file = aw_xstrdup(file);
    it->line = line;
    it->column = column;
    it->message = aw_xstrdup(msg);
}

/* Append s with control characters and invalid UTF-8 escaped. */
static void append_escaped(struct aw_buf *b, const char *s)
{
    size_t len = strlen(s);
    size_t i = 0;
    while (i < len) {
        size_t ok = aw_utf8_valid_prefix(s + i, len - i);
        /* Copy the valid run, escaping control characters in it. */
        for (size_t j = i; j < i + ok; j++) {
            unsigned char c = (unsigned char)s[j];
            if (c == '\n')
                aw_buf_append_str(b, "\\n");
            else if (c == '\t')
                aw_buf_append_str(b, "\\t");
            else if (c == '\r')
                aw_buf_append_str(b, "\\r");
            else if (c < 0x20 || c == 0x7f) {
                char hex[5];
                snprintf(hex, sizeof hex, "\\x%02x", c);
                aw_buf_append_str(b, hex);
            } else
                aw_buf_append_char(b, (char)c);
        }
        i += ok;
        if (i < len) { /* one byte that does not start valid UTF-8 */
            char hex[5];
            snprintf(hex, sizeof hex, "\\x%02x", (unsigned char)s[i]);
            aw_buf_append_str(b, hex);
            i++;
        }
    }
}

size_t aw_diag_print(const struct aw_diags *d, FILE *out)
{
    struct aw_buf b = {0};
    for (size_t i = 0; i < d->n; i++) {
        const struct aw_diag_item *it = &d->items[i];
        aw_buf_reset(&b);
        append_escaped(&b, it->file);
        char pos[32];
        if (it->line > 0 && it->column > 0)
            snprintf(pos, sizeof pos, ":%d:%d: ", it->line, it->column);
        else if (it->line > 0)
            snprintf(pos, sizeof pos, ":%d: ", it->line);
        else
            snprintf(pos, sizeof pos, ": ");
        aw_buf_append_str(&b, pos);
        append_escaped(&b, it->message);
        aw_buf_append_char(&b, '\n');
        fwrite(b.data, 1, b.len, out);
    }
    aw_buf_free(&b);
    return d->n;
}

void aw_diags_free(struct aw_diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].file);
        free(d->items[i].message);
    }
    free(d->items);
    memset(d, 0, sizeof *d);
}
