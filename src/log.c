/*
 * log.c - diagnostics on stderr (see log.h).
 */
#include "auditwatch/log.h"

#include <stdarg.h>
#include <stdio.h>

static enum aw_log_level current_level = AW_LOG_INFO;

void aw_log_set_level(enum aw_log_level level) { current_level = level; }

void aw_log(enum aw_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    if (level > current_level)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "auditwatch: %s: %s\n", names[level], line);
}

void aw_log_escaped(char *out, size_t outlen, const char *s, size_t len)
{
    if (outlen == 0)
        return;
    size_t n = len < outlen - 1 ? len : outlen - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    out[n] = '\0';
}
