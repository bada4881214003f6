/*
 * xalloc.h - allocation that does not return NULL (internal).
 *
 * auditwatch treats running out of memory as fatal: a half-built window or
 * alert is worse than a clear stop (the supervisor restarts the job, and
 * the uncommitted records are read again).  These wrappers print one line
 * and abort instead of returning NULL, so callers need no error path for
 * it.  A zero size asks for one byte, so the result is never NULL either.
 */
#ifndef AUDITWATCH_XALLOC_H
#define AUDITWATCH_XALLOC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void *aw_xnonnull(void *p)
{
    if (!p) {
        fputs("auditwatch: out of memory\n", stderr);
        abort();
    }
    return p;
}

static inline void *aw_xmalloc(size_t size) { return aw_xnonnull(malloc(size ? size : 1)); }

static inline void *aw_xcalloc(size_t n, size_t size) { return aw_xnonnull(calloc(n ? n : 1, size ? size : 1)); }

static inline void *aw_xrealloc(void *p, size_t size) { return aw_xnonnull(realloc(p, size ? size : 1)); }

/* A NUL-terminated copy of n bytes. */
static inline char *aw_xmemdup(const char *p, size_t n)
{
    char *d = aw_xmalloc(n + 1);
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

/* A copy of s ("" for NULL). */
static inline char *aw_xstrdup(const char *s) { return s ? aw_xmemdup(s, strlen(s)) : aw_xmemdup("", 0); }

#endif
