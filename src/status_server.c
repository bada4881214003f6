/*
 * status_server.c - /metrics and /healthz over libmicrohttpd (see
 * status_server.h).
 *
 * libmicrohttpd runs the listening socket and the connections on its own
 * polling thread; this file only parses the configured address, answers
 * the two paths (GET or HEAD; anything else is 404 or 405) and renders
 * each reply into a fresh buffer that the library copies.  Nothing here
 * touches the job's state except through the metrics registry (which has
 * its own lock) and the health callback.
 */
#include "auditwatch/status_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct aw_status_server {
    struct MHD_Daemon *daemon;
    struct aw_metrics *metrics;
    aw_health_fn health;
    void *ctx;
    unsigned port;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type, const char *body,
                             size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **state)
{
    (void)version;
    (void)upload;
    struct aw_status_server *s = cls;
    if (!*state) { /* first call: headers only; answer on the second */
        *state = s;
        return MHD_YES;
    }
    if (*upload_size) { /* a body we do not want */
        *upload_size = 0;
        return MHD_YES;
    }
    bool is_metrics = !strcmp(url, "/metrics"), is_health = !strcmp(url, "/healthz");
    if (!is_metrics && !is_health) {
        static const char nf[] = "not found: try /metrics or /healthz\n";
        return reply(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", nf, sizeof nf - 1);
    }
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        static const char na[] = "method not allowed\n";
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", na, sizeof na - 1);
    }
    struct aw_buf body = {0};
    unsigned status = MHD_HTTP_OK;
    const char *type = "text/plain; charset=utf-8";
    if (is_metrics) {
        aw_metrics_render(s->metrics, &body);
        type = "text/plain; version=0.0.4; charset=utf-8";
    } else {
        int h = s->health ? s->health(s->ctx, &body) : 200;
        if (!body.len)
            aw_buf_append_str(&body, h == 200 ? "ok" : "unhealthy");
        aw_buf_append_char(&body, '\n');
        status = h == 200 ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    enum MHD_Result ok = reply(c, status, type, body.data ? body.data : "", body.len);
    aw_buf_free(&body);
    return ok;
}

/* "host:port" or "[v6]:port" into a socket address. */
static int parse_address(const char *address, struct sockaddr_storage *sa, socklen_t *salen, char *err,
                         size_t errlen)
{
    char host[256];
    const char *port;
    if (address[0] == '[') {
        const char *close = strchr(address, ']');
        if (!close || close[1] != ':' || (size_t)(close - address - 1) >= sizeof host)
            goto bad;
        memcpy(host, address + 1, (size_t)(close - address - 1));
        host[close - address - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(address, ':');
        if (!colon || (size_t)(colon - address) >= sizeof host)
            goto bad;
        memcpy(host, address, (size_t)(colon - address));
        host[colon - address] = '\0';
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535)
        goto bad;
    struct addrinfo hints = {.ai_flags = AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (rc || !res) {
        snprintf(err, errlen, "metrics address %s: %s", address, gai_strerror(rc));
        return -1;
    }
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *salen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
bad:
    snprintf(err, errlen, "metrics address %s: expected host:port or [ipv6]:port", address);
    return -1;
}

struct aw_status_server *aw_status_server_start(const char *address, struct aw_metrics *metrics,
                                                aw_health_fn health, void *ctx, char *err, size_t errlen)
{
    err[0] = '\0';
    if (!address || !*address || !strcmp(address, "off"))
        return NULL;
    struct sockaddr_storage sa;
    socklen_t salen = 0;
    if (parse_address(address, &sa, &salen, err, errlen) < 0)
        return NULL;
    struct aw_status_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->metrics = metrics;
    s->health = health;
    s->ctx = ctx;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)10, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, errlen, "metrics address %s: cannot listen there (in use or not a local address?)",
                 address);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    return s;
}

unsigned aw_status_server_port(const struct aw_status_server *s) { return s ? s->port : 0; }

void aw_status_server_stop(struct aw_status_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon);
    free(s);
}
