/*
 * log.h - diagnostics on stderr.
 *
 * One line per message, prefixed with the program name and level.  Text
 * that may come from input (file names, record excerpts) is escaped by the
 * callers that print it as JSON; plain log lines pass it through
 * aw_log_escaped() which replaces control characters, so a hostile record
 * cannot forge extra log lines.
 */
#ifndef AUDITWATCH_LOG_H
#define AUDITWATCH_LOG_H

#include <stddef.h>

enum aw_log_level { AW_LOG_ERROR, AW_LOG_WARN, AW_LOG_INFO, AW_LOG_DEBUG };

void aw_log_set_level(enum aw_log_level level);
void aw_log(enum aw_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copy `s` into out (size outlen), replacing control bytes with '?'. */
void aw_log_escaped(char *out, size_t outlen, const char *s, size_t len);

#endif
