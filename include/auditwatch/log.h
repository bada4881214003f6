/*
 * log.h - diagnostics on stderr.
 *
 * One line per message, prefixed with the program name and level.  The
 * formatted line has its control characters replaced, so a file name or a
 * detail taken from input cannot forge extra log lines; records themselves
 * are reported as escaped JSON by the callers that print them.
 */
#ifndef AUDITWATCH_LOG_H
#define AUDITWATCH_LOG_H

enum aw_log_level { AW_LOG_ERROR, AW_LOG_WARN, AW_LOG_INFO };

void aw_log(enum aw_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
