/*
 * status_server.h - the stream job's HTTP endpoints: GET /metrics (the
 * registry in the Prometheus text format) and GET /healthz (200 "ok" or
 * 503 with the reason), served by libmicrohttpd on its own thread.
 *
 * The address is "host:port" or "[v6addr]:port" (port 0: any free port;
 * the bound one is reported); "off" or "" disables the server.
 */
#ifndef AUDITWATCH_STATUS_SERVER_H
#define AUDITWATCH_STATUS_SERVER_H

#include <stddef.h>

#include "auditwatch/buf.h"
#include "auditwatch/metrics.h"

/* Called on the server thread: write a one-line reason into `why` and
 * return 200 when healthy, 503 when not. */
typedef int (*aw_health_fn)(void *ctx, struct aw_buf *why);

struct aw_status_server;

/* NULL with `err` set when the address is bad or cannot be bound; NULL
 * with `err` empty when the address disables the server. */
struct aw_status_server *aw_status_server_start(const char *address, struct aw_metrics *metrics,
                                                aw_health_fn health, void *ctx, char *err, size_t errlen);
/* The port actually bound (useful with port 0). */
unsigned aw_status_server_port(const struct aw_status_server *s);
void aw_status_server_stop(struct aw_status_server *s);

#endif
