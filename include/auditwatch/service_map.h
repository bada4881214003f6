/*
 * service_map.h - who owns which Kubernetes Service, and how far it may be
 * exposed (DESIGN section 9).
 *
 * The service map is a YAML file (example: config/service-map.yaml) with
 * one top-level key, `entries`, a list of entries in priority order:
 *
 *   entries:
 *     - namespace: payments         # exact namespace, or a glob (* and ?)
 *       owner: team-payments        # required: who answers for these
 *       contact: "#payments-oncall" # optional: shown in alerts
 *       services:                   # required: name patterns (glob)
 *         - payments-api
 *         - "payments-worker-*"
 *       expose:                     # optional; every key has a default
 *         types: [ClusterIP]        # ClusterIP NodePort LoadBalancer ExternalName
 *         external_ips: false       # spec.externalIPs may be set
 *         host_ports: false         # pod templates may use hostPort/hostNetwork
 *         ingress_hosts: []         # hosts an Ingress may serve them on (glob)
 *
 * Names.  `services` patterns are matched against the name of a Service,
 * against the name of a Deployment/StatefulSet/DaemonSet whose pods expose
 * ports (the workload behind a Service usually shares its name), and
 * against the backend Service names of an Ingress.  Kubernetes names are
 * lower case, so a pattern may only hold a-z, 0-9, '-', '.', '*' and '?';
 * anything else could never match and is an error.
 *
 * Exposure.  `types` names the most a Service may use, and a type allows
 * every less exposed one: every mapped Service may be ClusterIP (headless
 * included), LoadBalancer includes NodePort (a load balancer sends its
 * traffic to node ports).  ExternalName (a DNS alias that can redirect
 * in-cluster clients to any outside host) is allowed only when listed.
 * `ingress_hosts` lists the host patterns an Ingress may route to these
 * services; an Ingress rule without a host (or a default backend) serves
 * every host and counts as the host "*", which only the pattern "*"
 * allows.  An empty list (the default) means no Ingress may route to them.
 *
 * Lookup.  An object (namespace, name) is judged by the first entry whose
 * namespace pattern and one of whose service patterns match.  When some
 * entry's namespace matches but none names the object, the namespace is
 * mapped and the service is not (the first such entry's owner is reported
 * as the namespace's owner); when no namespace pattern matches, the
 * namespace is not in the map at all.
 *
 * Loading reports every problem with file:line:column, never just the
 * first: unknown keys (at every level), wrong types (a list where a
 * string belongs, a quoted "true" for a boolean), unknown service types
 * (with a hint for a mis-cased one), patterns that can never match, a
 * missing namespace/owner/services, and an exact (namespace, service
 * pattern) pair that an earlier entry already maps (it would never be
 * used).  `entries: []` is a valid, empty map (everything is unmapped); an
 * empty file is an error, because it is almost always a mistake.
 *
 * Store mirror.  So that every instance of a consumer group can tell which
 * map judged the shared stream, the map is written into the state store as
 * sets: the members of set {AW_SERVICE_MAP_STORE_KEY, version} are the
 * canonical text of every entry, and set {AW_SERVICE_MAP_STORE_KEY, 0}
 * lists the versions (16 hex digits) ever loaded.  The version is a hash of
 * the canonical texts in order, so two instances with the same file agree
 * on it and `auditwatch check` can verify a store against a file.
 */
#ifndef AUDITWATCH_SERVICE_MAP_H
#define AUDITWATCH_SERVICE_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auditwatch/buf.h"
#include "auditwatch/diag.h"
#include "auditwatch/store.h"

/* Service types, as bits of aw_service_entry.types. */
#define AW_SVC_CLUSTER_IP 0x1u
#define AW_SVC_NODE_PORT 0x2u
#define AW_SVC_LOAD_BALANCER 0x4u
#define AW_SVC_EXTERNAL_NAME 0x8u

#define AW_SERVICE_MAP_STORE_KEY "k8s.unmapped_service:map"

struct aw_service_entry {
    char *namespace_pattern;
    char **services; /* name patterns, at least one */
    size_t nservices;
    char *owner;
    char *contact;         /* NULL when not given */
    unsigned types;        /* AW_SVC_* bits as listed (ClusterIP when none) */
    bool external_ips;     /* spec.externalIPs allowed */
    bool host_ports;       /* hostPort / hostNetwork allowed in pod templates */
    char **ingress_hosts;  /* host patterns an Ingress may use; none: no Ingress */
    size_t ningress_hosts;
    int line;              /* of the entry in the file */
};

struct aw_service_map {
    char *file;
    struct aw_service_entry *entries;
    size_t n;
    uint64_t version; /* hash of the canonical entries, in order */
};

/*
 * Load and check a service map file into *map (which need not be
 * initialized; it is always left in a state aw_service_map_free accepts).
 * Every problem goes to diags with file:line:column; returns the number of
 * problems added (0: the map is usable).
 */
size_t aw_service_map_load(const char *path, struct aw_service_map *map, struct aw_diags *diags);
/* The same for YAML text in memory; `name` stands for the file in messages. */
size_t aw_service_map_load_string(const char *name, const char *text, size_t len,
                                  struct aw_service_map *map, struct aw_diags *diags);
void aw_service_map_free(struct aw_service_map *map);

enum aw_service_match {
    AW_SVC_NAMESPACE_UNMAPPED, /* no entry's namespace pattern matches */
    AW_SVC_NAME_UNMAPPED,      /* the namespace is mapped, the name is not */
    AW_SVC_MAPPED
};

/*
 * Judge (namespace, name), both NUL-terminated.  *entry is set to the
 * matching entry (MAPPED), to the first entry of the namespace
 * (NAME_UNMAPPED: its owner owns the namespace), or to NULL.  A NULL or
 * empty name only finds the namespace (NAME_UNMAPPED at best).
 */
enum aw_service_match aw_service_map_lookup(const struct aw_service_map *map, const char *ns,
                                            const char *name,
                                            const struct aw_service_entry **entry);

/* Whether some entry of namespace ns allows an Ingress at all. */
bool aw_service_map_namespace_allows_ingress(const struct aw_service_map *map, const char *ns);

/* The AW_SVC_* bit of a spec.type text (exact, case-sensitive, as the API
 * server accepts it), or 0 when it is none of the four. */
unsigned aw_service_type_parse(const char *text);
/* "ClusterIP" ... for one bit; NULL for anything else. */
const char *aw_service_type_name(unsigned bit);

/* Whether the entry allows a Service of type `type_bit` (see the ladder in
 * the design comment).  An unknown type (0) is never allowed. */
bool aw_service_entry_allows_type(const struct aw_service_entry *e, unsigned type_bit);
/* Whether an Ingress may serve the entry's services on `host` ("*" for a
 * rule without host). */
bool aw_service_entry_allows_ingress_host(const struct aw_service_entry *e, const char *host);

/* Append the entry's canonical text: one JSON object with a fixed key
 * order and the types in AW_SVC_* order, so equal entries give equal text
 * whatever their layout in the file. */
void aw_service_entry_canonical(const struct aw_service_entry *e, struct aw_buf *out);

/*
 * Write the map into the store (see "Store mirror" above).  Idempotent:
 * loading the same map again adds nothing.  Returns 0, or -1 when the
 * store failed.
 */
int aw_service_map_mirror(const struct aw_service_map *map, struct aw_store *store);
/* Count the entries of map whose canonical text is missing from the
 * store's mirror of the map's version (0: the store holds this map).
 * Returns 0, or -1 when the store failed. */
int aw_service_map_mirror_verify(const struct aw_service_map *map, struct aw_store *store,
                                 size_t *missing);

#endif
