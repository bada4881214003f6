/*
 * log.c - diagnostics on stderr (see log.h).
 *
 * Text lines read "auditwatch: LEVEL: message"; JSON lines are one object
 * {"time","level","msg"} per line with the message JSON-escaped.  Either
 * way one call writes one whole line with one fwrite, so lines of
 * different threads do not interleave.
 */
#include "auditwatch/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auditwatch/buf.h"

static enum aw_log_format log_format = AW_LOG_TEXT;

void aw_log_set_format(enum aw_log_format f) { log_format = f; }

int aw_log_parse_format(const char *name, enum aw_log_format *out)
{
    if (!strcmp(name, "text"))
        *out = AW_LOG_TEXT;
    else if (!strcmp(name, "json"))
        *out = AW_LOG_JSON;
    else
        return -1;
    return 0;
}

void aw_log(enum aw_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info"};
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    struct aw_buf b = {0};
    if (log_format == AW_LOG_JSON) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        struct tm tm;
        gmtime_r(&now.tv_sec, &tm);
        char when[64];
        size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(when + n, sizeof when - n, ".%03ldZ", now.tv_nsec / 1000000);
        aw_buf_append_str(&b, "{\"time\":\"");
        aw_buf_append_str(&b, when);
        aw_buf_append_str(&b, "\",\"level\":\"");
        aw_buf_append_str(&b, names[level]);
        aw_buf_append_str(&b, "\",\"msg\":");
        /* bytes that are not UTF-8 (from input, or a message cut by the
         * buffer) become '?' so the line stays valid JSON */
        size_t len = strlen(line);
        for (size_t i = 0; i < len;) {
            size_t ok = aw_utf8_valid_prefix(line + i, len - i);
            i += ok;
            if (i < len)
                line[i++] = '?';
        }
        aw_buf_json_string(&b, line, len);
        aw_buf_append_str(&b, "}\n");
    } else {
        aw_buf_append_str(&b, "auditwatch: ");
        aw_buf_append_str(&b, names[level]);
        aw_buf_append_str(&b, ": ");
        aw_buf_append_printable(&b, line, strlen(line), sizeof line);
        aw_buf_append_char(&b, '\n');
    }
    fwrite(b.data, 1, b.len, stderr);
    aw_buf_free(&b);
}
