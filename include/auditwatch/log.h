/*
 * log.h - diagnostics on stderr.
 *
 * One line per message, prefixed with the program name and level.  The
 * formatted line has its control characters replaced, so a file name or a
 * detail taken from input cannot forge extra log lines; records themselves
 * are reported as escaped JSON by the callers that print them.  With the
 * JSON format each line is an object {"time", "level", "msg"} instead.
 */
#ifndef AUDITWATCH_LOG_H
#define AUDITWATCH_LOG_H

enum aw_log_level { AW_LOG_ERROR, AW_LOG_WARN, AW_LOG_INFO };
enum aw_log_format { AW_LOG_TEXT, AW_LOG_JSON };

void aw_log_set_format(enum aw_log_format f);
/* "text" or "json"; -1 for anything else. */
int aw_log_parse_format(const char *name, enum aw_log_format *out);

void aw_log(enum aw_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
