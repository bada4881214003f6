/*
 * redis_spec.h - the parts of a Redis store address.
 */
#ifndef AUDITWATCH_REDIS_SPEC_H
#define AUDITWATCH_REDIS_SPEC_H

#include <stddef.h>

struct aw_redis_spec {
    char *host;      /* NULL for a unix socket */
    char *unix_path; /* NULL for TCP */
    char *user, *password; /* NULL when not given */
    int port, db;
};

/* Parse redis://... or unix://...; -1 with a message (the address
 * redacted) in err.  Free with aw_redis_spec_free either way. */
int aw_redis_spec_parse(struct aw_redis_spec *s, const char *spec, char *err, size_t errlen);
void aw_redis_spec_free(struct aw_redis_spec *s);

#endif
