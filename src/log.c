/*
 * log.c - diagnostics on stderr (see log.h).
 */
#include "auditwatch/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "auditwatch/buf.h"

void aw_log(enum aw_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info"};
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    struct aw_buf b = {0};
    aw_buf_append_str(&b, "auditwatch: ");
    aw_buf_append_str(&b, names[level]);
    aw_buf_append_str(&b, ": ");
    aw_buf_append_printable(&b, line, strlen(line), sizeof line);
    aw_buf_append_char(&b, '\n');
    fwrite(b.data, 1, b.len, stderr);
    aw_buf_free(&b);
}
