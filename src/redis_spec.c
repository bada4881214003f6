/*
 * redis_spec.c - parse a Redis store address (see redis_spec.h).
 *
 * Forms: redis://[user[:password]@]host[:port][/db] with the host a name,
 * an IPv4 address or [an IPv6 address], and unix:///path.sock[?db=N].
 * Userinfo and paths may be percent-encoded.  A password left out of the
 * address comes from AUDITWATCH_REDIS_PASSWORD (and, for unix sockets, the
 * user from AUDITWATCH_REDIS_USER), which keeps it out of `ps` and of
 * configuration files.  Error messages name the address redacted.
 */
#include "redis_spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditwatch/store.h"
#include "xalloc.h"



static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode [p, p+n) into a new string. */
static char *pct_decode(const char *p, size_t n)
{
    char *out = aw_xcalloc(n + 1, 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%' && i + 2 < n && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
            out[o++] = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
            i += 2;
        } else
            out[o++] = p[i];
    }
    out[o] = '\0';
    return out;
}

int aw_redis_spec_parse(struct aw_redis_spec *s, const char *spec, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    char shown_buf[512];
    aw_store_spec_redact(spec, shown_buf, sizeof shown_buf);
    const char *shown = shown_buf;
    if (!strncmp(spec, "unix://", 7)) {
        const char *path = spec + 7;
        const char *q = strchr(path, '?');
        size_t n = q ? (size_t)(q - path) : strlen(path);
        if (!n || path[0] != '/') {
            snprintf(err, errlen, "store '%s': unix:// needs an absolute socket path", shown);
            return -1;
        }
        s->unix_path = pct_decode(path, n);
        if (getenv("AUDITWATCH_REDIS_PASSWORD"))
            s->password = aw_xstrdup(getenv("AUDITWATCH_REDIS_PASSWORD"));
        if (getenv("AUDITWATCH_REDIS_USER"))
            s->user = aw_xstrdup(getenv("AUDITWATCH_REDIS_USER"));
        if (q) {
            if (strncmp(q, "?db=", 4) || !q[4]) {
                snprintf(err, errlen, "store '%s': the only unix:// option is ?db=N", shown);
                return -1;
            }
            char *end;
            long db = strtol(q + 4, &end, 10);
            if (*end || db < 0 || db > 1000000) {
                snprintf(err, errlen, "store '%s': bad database number", shown);
                return -1;
            }
            s->db = (int)db;
        }
        return 0;
    }
    if (strncmp(spec, "redis://", 8)) {
        snprintf(err, errlen, "store '%s' is not redis://... or unix://...", shown);
        return -1;
    }
    const char *p = spec + 8; /* after redis:// */
    const char *at = strrchr(p, '@'); /* the last: a password may hold '@' or '/' */
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            if (colon > p)
                s->user = pct_decode(p, (size_t)(colon - p));
            s->password = pct_decode(colon + 1, (size_t)(at - colon - 1));
        } else {
            s->user = pct_decode(p, (size_t)(at - p)); /* the password comes from the environment */
        }
        p = at + 1;
    }
    /* A password kept out of the spec (and so out of `ps` and config
     * files) comes from the environment. */
    if (!s->password && getenv("AUDITWATCH_REDIS_PASSWORD"))
        s->password = aw_xstrdup(getenv("AUDITWATCH_REDIS_PASSWORD"));
    const char *slash = strchr(p, '/');
    size_t hostport = slash ? (size_t)(slash - p) : strlen(p);
    const char *hp_end = p + hostport;
    const char *colon = NULL;
    if (*p == '[') { /* [IPv6]:port */
        const char *close = memchr(p, ']', hostport);
        if (!close) {
            snprintf(err, errlen, "store '%s': unterminated [IPv6 address]", shown);
            return -1;
        }
        s->host = pct_decode(p + 1, (size_t)(close - p - 1));
        colon = close + 1 < hp_end && close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = memchr(p, ':', hostport);
        size_t hl = colon ? (size_t)(colon - p) : hostport;
        s->host = hl ? pct_decode(p, hl) : aw_xstrdup("127.0.0.1");
    }
    s->port = 6379;
    if (colon) {
        char tmp[16];
        size_t pl = (size_t)(hp_end - colon - 1);
        if (!pl || pl >= sizeof tmp) {
            snprintf(err, errlen, "store '%s': bad port", shown);
            return -1;
        }
        memcpy(tmp, colon + 1, pl);
        tmp[pl] = '\0';
        char *end;
        long port = strtol(tmp, &end, 10);
        if (*end || port < 1 || port > 65535) {
            snprintf(err, errlen, "store '%s': bad port", shown);
            return -1;
        }
        s->port = (int)port;
    }
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end || db < 0 || db > 1000000) {
            snprintf(err, errlen, "store '%s': the path must be a database number", shown);
            return -1;
        }
        s->db = (int)db;
    }
    return 0;
}

void aw_redis_spec_free(struct aw_redis_spec *s)
{
    free(s->host);
    free(s->unix_path);
    free(s->user);
    if (s->password) {
        memset(s->password, 0, strlen(s->password));
        free(s->password);
    }
    memset(s, 0, sizeof *s);
}
