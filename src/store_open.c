/*
 * store_open.c - pick a store backend from its spec ("memory",
 * "redis://...", "unix://..."), and redact specs for messages.
 *
 * A Redis spec may carry a password (redis://user:password@host); every
 * message that names a store goes through aw_store_spec_redact so the
 * password never reaches a log line or a terminal.
 */
#include <stdio.h>
#include <string.h>

#include "auditwatch/store.h"

void aw_store_spec_redact(const char *spec, char *out, size_t outlen)
{
    if (!outlen)
        return;
    /* The userinfo ends at the last '@': a password may hold an unescaped
     * '@' or '/', and must not show either way. */
    const char *scheme = strstr(spec, "://");
    const char *at = scheme ? strrchr(scheme + 3, '@') : NULL;
    if (!at) {
        snprintf(out, outlen, "%s", spec);
        return;
    }
    const char *colon = memchr(scheme + 3, ':', (size_t)(at - (scheme + 3)));
    if (!colon) { /* user@host: a user name, no password */
        snprintf(out, outlen, "%s", spec);
        return;
    }
    snprintf(out, outlen, "%.*s***%s", (int)(colon + 1 - spec), spec, at);
}

struct aw_store *aw_store_open(const char *spec, const struct aw_store_options *opts, char *err,
                               size_t errlen)
{
    if (!spec || !strcmp(spec, "memory"))
        return aw_store_memory_new(opts);
    if (!strncmp(spec, "redis://", 8) || !strncmp(spec, "unix://", 7))
        return aw_store_redis_new(spec, opts, err, errlen);
    char shown[512];
    aw_store_spec_redact(spec, shown, sizeof shown);
    snprintf(err, errlen, "store '%s' is not memory, redis://... or unix://...", shown);
    return NULL;
}
