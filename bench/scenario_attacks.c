/*
 * scenario_attacks.c - the attacks of `gen scenario` (part of gen.c, after
 * scenario_background.c).
 *
 * One attack per alerting rule of config/rules/ and one for the service
 * map detector, each a function that writes the attack's records from its
 * start time and declares its labels.  An attack is built to raise its
 * rule and, where that cannot be avoided, the rules that the same
 * behaviour rightly raises too (a spray from one address is also a brute
 * force from it; a privileged patch of a system ClusterRole is also a
 * cluster RBAC change); those get labels of their own.  Everything else an
 * attack does stays below the other rules' thresholds:
 *
 *   - each correlation attack uses a group value (address, user) that
 *     nothing else in the run uses, and ends at or just past its
 *     threshold, so that no second alert can follow once its suppression
 *     ends;
 *   - the people who make several single-event changes (mallory, eve,
 *     victor, walter) touch at most three namespaces each in the whole
 *     run, below k8s.fleetwide_change's five, and change no workload;
 *   - the events that a correlation counts are at least a second apart, so
 *     their order is the same in every decoder (RFC 3164 stamps have whole
 *     seconds) and the event that completes a window does not depend on
 *     the order of arrival.
 *
 * The attack addresses are public-looking but start with first octets
 * that the background's scanner pool never uses (attack_addresses_ok()
 * checks this at start), and the one IPv6 address is outside the pool's
 * prefixes; the people's VPN addresses (10.8.0.x) are not used by the
 * background people.
 */

/* ======================================================================
 * Who and where
 * ====================================================================== */

#define IP_BRUTE "94.102.61.23"     /* auth.ssh_bruteforce */
#define IP_SPRAY "109.206.241.199"  /* auth.password_spray */
#define IP_GUESS "37.139.53.191"    /* auth.success_after_failures */
#define IP_TOKENS "94.102.49.190"   /* k8s.auth_failures */
#define IP_ANON "198.98.61.34"      /* k8s.anonymous_access */

/* auth.distributed_bruteforce: ten sources, the rule's threshold. */
static const char *const botnet[] = {
    "23.94.151.17",  "31.184.198.233", "37.44.238.91",    "94.156.68.47",  "109.70.100.23",
    "198.98.56.149", "204.44.93.13",   "205.185.127.5",   "208.87.97.121", "2a06:4880:4000::b7",
};

/* Attackers on the Kubernetes API.  Each touches few namespaces (see the
 * header); the service account token is stolen from a catalog pod. */
static const struct person mallory = {"mallory@example.com", "oidc:contractors", "cluster-admin",
                                      "linux/amd64", "37.120.204.137", {NULL, NULL}};
static const struct person eve = {"eve@example.com", "oidc:developers", "edit", "darwin/arm64",
                                  "10.8.0.66", {NULL, NULL}};
static const struct person trent = {"trent@example.com", "oidc:sre", "admin", "linux/amd64",
                                    "216.24.210.11", {NULL, NULL}};
static const struct person olivia = {"olivia@example.com", "oidc:sre", "admin", "darwin/arm64",
                                     "10.8.0.93", {NULL, NULL}};
static const struct person victor = {"victor@example.com", "oidc:platform-admins",
                                     "cluster-admin", "linux/amd64", "205.185.119.4",
                                     {NULL, NULL}};
static const struct person walter = {"walter@example.com", "oidc:platform-admins",
                                     "cluster-admin", "windows/amd64", "10.8.0.58", {NULL, NULL}};
static const struct person resizer = {"system:serviceaccount:catalog:image-resizer",
                                      "system:serviceaccounts:catalog", "image-resizer",
                                      "linux/amd64", "10.244.5.37", {NULL, NULL}};

/* Whether every attack address stays out of the background's scanner
 * pool, whose IPv4 addresses start with one of scanner_octets[]. */
static bool attack_addresses_ok(void)
{
    const char *ips[N_ELEMS(botnet) + 8] = {IP_BRUTE, IP_SPRAY, IP_GUESS, IP_TOKENS, IP_ANON,
                                            "37.120.204.137", "216.24.210.11", "205.185.119.4"};
    for (size_t i = 0; i < N_ELEMS(botnet); i++)
        ips[8 + i] = botnet[i];
    for (size_t i = 0; i < N_ELEMS(ips); i++) {
        if (strchr(ips[i], ':'))
            continue;
        unsigned first = (unsigned)strtoul(ips[i], NULL, 10);
        for (size_t k = 0; k < N_ELEMS(scanner_octets); k++)
            if (scanner_octets[k] == first)
                return false;
    }
    return true;
}

/* ======================================================================
 * Helpers
 * ====================================================================== */

/* Sets up a request by p at t on one object; the caller may adjust q
 * (code, body) and then sends it with atk_send(). */
static void atk_req(struct k8s_request *q, const struct person *p, int64_t t, const char *verb,
                    enum k8s_res res, const char *subresource, const char *ns, const char *name)
{
    scen_req_person(q, p, t, verb, res, subresource);
    scen_object(q, ns, name);
}

static void atk_send(struct scen *s, struct k8s_request *q)
{
    scen_finish(s->atk, q);
    scen_k8s(s, s->atk, q);
}

/* One request with an optional body and code (0: the verb's success). */
static void atk_k8s(struct scen *s, const struct person *p, int64_t t, const char *verb,
                    enum k8s_res res, const char *subresource, const char *ns, const char *name,
                    int code, const char *body)
{
    struct k8s_request q;
    atk_req(&q, p, t, verb, res, subresource, ns, name);
    if (code)
        q.code = code;
    q.request_body = body;
    atk_send(s, &q);
}

/* A person's interactive sudo run at t on the actor's host. */
static int64_t atk_sudo(struct scen *s, const struct auth_actor *a, int64_t t, const char *command)
{
    struct gen *g = s->atk;
    char pwd[64];
    snprintf(pwd, sizeof pwd, "/home/%s", a->user);
    struct auth_actor b = *a;
    b.command = command;
    b.pwd = pwd;
    scen_auth(s, g, t, auth_sudo_run, &b);
    t += scen_pause(g, 5, 30);
    scen_auth(s, g, t, auth_sudo_session_opened, &b);
    t += scen_pause(g, 1000, 4000);
    scen_auth(s, g, t, auth_sudo_session_closed, &b);
    return t;
}

/* Person `u` logs in from their usual VPN address at t; returns the time
 * after the login lines. */
static int64_t atk_person_login(struct scen *s, struct auth_actor *a, size_t u, const char *host,
                                int64_t t)
{
    struct gen *g = s->atk;
    scen_actor(g, a, u, scen_host(g, host), s->user_ip[u][0]);
    return bg_login_lines(s, g, a, t, false);
}

/* ======================================================================
 * Auth attacks
 * ====================================================================== */

/* Eight root passwords from one address against a bastion, two per
 * connection. */
static void attack_ssh_bruteforce(struct scen *s, int64_t t)
{
    struct gen *g = s->atk;
    struct auth_actor a;
    scen_actor_named(g, &a, "root", scen_host(g, "bastion-01"), IP_BRUTE);
    for (unsigned conn = 0; conn < 4; conn++) {
        a.pid = new_pid(g);
        a.port = (unsigned)rng_range(&g->rng, 32768, 60999);
        for (unsigned k = 0; k < 2; k++) {
            scen_auth(s, g, t, auth_pam_sshd_failure, &a);
            t += scen_pause(g, 1000, 2500);
            scen_auth(s, g, t, auth_ssh_failed_password, &a);
            t += scen_pause(g, 1500, 4000);
        }
        scen_auth(s, g, t, auth_ssh_closed_preauth, &a);
        t += scen_pause(g, 5000, 25000);
    }
    attack_label(s, "auth.ssh_bruteforce", "source.ip", IP_BRUTE, NULL);
}

/* One password tried for six accounts from one address: a spray, and with
 * eleven failures also a brute force from that address. */
static void attack_password_spray(struct scen *s, int64_t t)
{
    static const char *const names[] = {"oracle", "postgres", "test", "ubuntu", "git", "ftpuser"};
    struct gen *g = s->atk;
    int host = scen_host(g, "bastion-02");
    for (size_t i = 0; i < N_ELEMS(names); i++) {
        struct auth_actor a;
        scen_actor_named(g, &a, names[i], host, IP_SPRAY);
        if (strcmp(names[i], "ubuntu") == 0) { /* an account that exists */
            scen_auth(s, g, t, auth_pam_sshd_failure, &a);
            t += scen_pause(g, 1000, 2500);
            scen_auth(s, g, t, auth_ssh_failed_password, &a);
            t += scen_pause(g, 1000, 2000);
            scen_auth(s, g, t, auth_ssh_disconnected_authenticating, &a);
        } else {
            scen_auth(s, g, t, auth_ssh_invalid_user, &a);
            t += scen_pause(g, 1000, 2500);
            scen_auth(s, g, t, auth_ssh_failed_invalid, &a);
            t += scen_pause(g, 1000, 2000);
            scen_auth(s, g, t, auth_ssh_disconnected_invalid, &a);
        }
        t += scen_pause(g, 3000, 12000);
    }
    attack_label(s, "auth.password_spray", "source.ip", IP_SPRAY, NULL);
    attack_label(s, "auth.ssh_bruteforce", "source.ip", IP_SPRAY, NULL);
}

/* Ten addresses of a botnet try "admin" once each on the web hosts. */
static void attack_distributed_bruteforce(struct scen *s, int64_t t)
{
    struct gen *g = s->atk;
    for (size_t i = 0; i < N_ELEMS(botnet); i++) {
        struct auth_actor a;
        int host = (int)rng_below(&g->rng, 20); /* web-01..20 */
        scen_actor_named(g, &a, "admin", host, botnet[i]);
        scen_auth(s, g, t, auth_ssh_invalid_user, &a);
        t += scen_pause(g, 1000, 2500);
        scen_auth(s, g, t, auth_ssh_failed_invalid, &a);
        t += scen_pause(g, 1000, 2000);
        scen_auth(s, g, t, auth_ssh_disconnected_invalid, &a);
        t += scen_pause(g, 4000, 15000);
    }
    attack_label(s, "auth.distributed_bruteforce", "user.name", "admin", NULL);
}

/* Five wrong passwords for deploy, then the right one: the account's
 * password was guessed.  Five failures from one address are also a brute
 * force. */
static void attack_success_after_failures(struct scen *s, int64_t t)
{
    struct gen *g = s->atk;
    struct auth_actor a;
    scen_actor(g, &a, U_DEPLOY, scen_host(g, "web-07"), IP_GUESS);
    for (unsigned k = 0; k < 5; k++) {
        if (k == 3) { /* sshd's limit per connection: a new one */
            scen_auth(s, g, t, auth_ssh_closed_preauth, &a);
            t += scen_pause(g, 2000, 6000);
            a.pid = new_pid(g);
            a.port = (unsigned)rng_range(&g->rng, 32768, 60999);
        }
        scen_auth(s, g, t, auth_pam_sshd_failure, &a);
        t += scen_pause(g, 1000, 2500);
        scen_auth(s, g, t, auth_ssh_failed_password, &a);
        t += scen_pause(g, 2000, 5000);
    }
    t = bg_login_lines(s, g, &a, t, true);
    t += scen_pause(g, 60000, 150000);
    bg_logout(s, g, &a, t);
    attack_label(s, "auth.ssh_bruteforce", "source.ip", IP_GUESS, NULL);
    attack_label(s, "auth.success_after_failures", "source.ip", IP_GUESS, "user.name", "deploy",
                 NULL);
}

/* heidi, who may not use sudo on db-03, tries three times (exactly the
 * threshold, so nothing is left over once the alert's suppression ends). */
static void attack_sudo_failures(struct scen *s, int64_t t)
{
    static const char *const commands[] = {"/usr/bin/cat /etc/shadow", "/bin/bash",
                                           "/usr/bin/su -"};
    struct gen *g = s->atk;
    struct auth_actor a;
    t = atk_person_login(s, &a, 7, "db-03", t); /* heidi */
    char pwd[64];
    snprintf(pwd, sizeof pwd, "/home/%s", a.user);
    for (size_t i = 0; i < N_ELEMS(commands); i++) {
        t += scen_pause(g, 10000, 30000);
        struct auth_actor b = a;
        b.command = commands[i];
        b.pwd = pwd;
        b.reason = "user NOT in sudoers";
        scen_auth(s, g, t, auth_sudo_run, &b);
    }
    t += scen_pause(g, 30000, 90000);
    bg_logout(s, g, &a, t);
    attack_label(s, "auth.sudo_failures", "user.name", "heidi", "host.hostname", "db-03", NULL);
}

/* erin creates a backdoor account on web-03 and sets its password. */
static void attack_user_created(struct scen *s, int64_t t)
{
    struct gen *g = s->atk;
    struct auth_actor a;
    t = atk_person_login(s, &a, 4, "web-03", t); /* erin */
    t += scen_pause(g, 20000, 60000);
    struct auth_actor u = a;
    u.pid = new_pid(g);
    u.target = "sysupdate";
    u.uid = 1050;
    t = atk_sudo(s, &a, t, "/usr/sbin/useradd -m -s /bin/bash sysupdate");
    scen_auth(s, g, t - 800000, auth_useradd_group, &u);
    scen_auth(s, g, t - 600000, auth_useradd_user, &u);
    t += scen_pause(g, 5000, 20000);
    u.pid = new_pid(g);
    t = atk_sudo(s, &a, t, "/usr/bin/passwd sysupdate");
    scen_auth(s, g, t - 500000, auth_passwd_set, &u);
    t += scen_pause(g, 10000, 60000);
    bg_logout(s, g, &a, t);
    attack_label(s, "auth.user_created", "user.name", "sysupdate", "host.hostname", "web-03",
                 NULL);
}

/* ivan adds himself to sudo on bastion-02. */
static void attack_privileged_group_change(struct scen *s, int64_t t)
{
    struct gen *g = s->atk;
    struct auth_actor a;
    t = atk_person_login(s, &a, 8, "bastion-02", t); /* ivan */
    t += scen_pause(g, 15000, 60000);
    struct auth_actor m = a;
    m.pid = new_pid(g);
    m.user = "root";
    m.target = "ivan";
    m.group = "sudo";
    t = atk_sudo(s, &a, t, "/usr/bin/gpasswd -a ivan sudo");
    scen_auth(s, g, t - 700000, auth_gpasswd_add, &m);
    t += scen_pause(g, 10000, 40000);
    bg_logout(s, g, &a, t);
    attack_label(s, "auth.privileged_group_change", "user.target.name", "ivan", "host.hostname",
                 "bastion-02", NULL);
}

/* carol installs network tools on a web server by hand. */
static void attack_package_install(struct scen *s, int64_t t)
{
    struct gen *g = s->atk;
    struct auth_actor a;
    t = atk_person_login(s, &a, 2, "web-12", t); /* carol */
    t += scen_pause(g, 20000, 90000);
    t = atk_sudo(s, &a, t, "/usr/bin/apt-get install -y nmap socat");
    t += scen_pause(g, 30000, 120000);
    bg_logout(s, g, &a, t);
    attack_label(s, "auth.package_install", "user.name", "carol", "host.hostname", "web-12", NULL);
}

/* ======================================================================
 * Kubernetes: access
 * ====================================================================== */

/* A script tries twelve stolen, expired tokens: every request is 401. */
static void attack_auth_failures(struct scen *s, int64_t t)
{
    static const struct {
        const char *verb;
        enum k8s_res res;
        const char *ns;
    } tries[] = {
        {"list", R_PODS, NULL},          {"list", R_SECRETS, "kube-system"},
        {"list", R_NAMESPACES, NULL},    {"get", R_CONFIGMAPS, "kube-system"},
        {"list", R_DEPLOYMENTS, NULL},   {"list", R_SECRETS, "payments"},
    };
    struct gen *g = s->atk;
    for (unsigned i = 0; i < 12; i++) {
        struct k8s_request q;
        memset(&q, 0, sizeof q);
        q.actor = A_ANONYMOUS;
        q.no_user = true;
        q.stage = "ResponseStarted";
        q.verb = tries[i % N_ELEMS(tries)].verb;
        q.res = tries[i % N_ELEMS(tries)].res;
        scen_object(&q, tries[i % N_ELEMS(tries)].ns,
                    strcmp(q.verb, "get") == 0 ? "kube-proxy" : NULL);
        q.code = 401;
        snprintf(q.source_ip, sizeof q.source_ip, "%s", IP_TOKENS);
        snprintf(q.user_agent, sizeof q.user_agent, "python-requests/2.31.0");
        q.received_us = t;
        atk_send(s, &q);
        t += scen_pause(g, 1500, 6000);
    }
    attack_label(s, "k8s.auth_failures", "source.ip", IP_TOKENS, NULL);
}

/* A token stolen from a catalog pod probes what it may do: one rules
 * review, then twelve refused requests, none on Secrets. */
static void attack_forbidden_burst(struct scen *s, int64_t t)
{
    static const struct {
        const char *verb;
        enum k8s_res res;
        const char *subresource;
        const char *ns;
        const char *name;
    } probes[] = {
        {"list", R_NODES, NULL, NULL, NULL},
        {"list", R_NAMESPACES, NULL, NULL, NULL},
        {"list", R_PODS, NULL, NULL, NULL},
        {"list", R_CLUSTERROLES, NULL, NULL, NULL},
        {"list", R_CLUSTERROLEBINDINGS, NULL, NULL, NULL},
        {"list", R_DEPLOYMENTS, NULL, "kube-system", NULL},
        {"list", R_DAEMONSETS, NULL, "kube-system", NULL},
        {"create", R_PODS, NULL, "kube-system", "kube-proxy-debug"},
        {"list", R_CONFIGMAPS, NULL, "kube-system", NULL},
        {"get", R_NODES, "proxy", NULL, "k8s-node-01"},
        {"list", R_SERVICEACCOUNTS, NULL, "kube-system", NULL},
        {"list", R_PODS, NULL, "payments", NULL},
    };
    struct gen *g = s->atk;
    atk_k8s(s, &resizer, t, "create", R_SELFSUBJECTRULESREVIEWS, NULL, NULL, NULL, 201,
            "{\"kind\":\"SelfSubjectRulesReview\",\"apiVersion\":\"authorization.k8s.io/v1\","
            "\"spec\":{\"namespace\":\"catalog\"}}");
    for (size_t i = 0; i < N_ELEMS(probes); i++) {
        t += scen_pause(g, 1000, 5000);
        atk_k8s(s, &resizer, t, probes[i].verb, probes[i].res, probes[i].subresource, probes[i].ns,
                probes[i].name, 403, NULL);
    }
    attack_label(s, "k8s.forbidden_burst", "user.name", resizer.name, NULL);
}

/* Someone bound a read role to system:unauthenticated; a scanner finds
 * that it can list every pod without credentials. */
static void attack_anonymous_access(struct scen *s, int64_t t)
{
    static const struct {
        const char *path;
        enum k8s_res res;
        int code;
    } steps[] = {{"/version", R_NONE, 200}, {"/api", R_NONE, 403}, {NULL, R_PODS, 200}};
    struct gen *g = s->atk;
    for (size_t i = 0; i < N_ELEMS(steps); i++) {
        struct k8s_request q;
        memset(&q, 0, sizeof q);
        q.actor = A_ANONYMOUS;
        snprintf(q.username, sizeof q.username, "system:anonymous");
        q.groups[0] = "system:unauthenticated";
        snprintf(q.user_agent, sizeof q.user_agent, "curl/8.5.0");
        snprintf(q.source_ip, sizeof q.source_ip, "%s", IP_ANON);
        q.verb = steps[i].res == R_NONE ? "get" : "list";
        q.res = steps[i].res;
        q.nonresource_path = steps[i].path;
        q.app = "app";
        q.code = steps[i].code;
        k8s_fill_reason(&q);
        if (steps[i].res != R_NONE)
            snprintf(q.reason, sizeof q.reason,
                     "RBAC: allowed by ClusterRoleBinding \"debug-view\" of ClusterRole \"view\" "
                     "to Group \"system:unauthenticated\"");
        q.received_us = t;
        atk_send(s, &q);
        t += scen_pause(g, 1000, 4000);
    }
    attack_label(s, "k8s.anonymous_access", "source.ip", IP_ANON, "user.name", "system:anonymous",
                 NULL);
}

/* A developer account reads a Secret of another team and is refused. */
static void attack_secret_access_denied(struct scen *s, int64_t t)
{
    atk_k8s(s, &eve, t, "get", R_SECRETS, NULL, "payments", "payments-api-db-credentials", 403,
            NULL);
    attack_label(s, "k8s.secret_access_denied", "user.name", eve.name, "orchestrator.namespace",
                 "payments", NULL);
}

/* ======================================================================
 * Kubernetes: into running pods
 * ====================================================================== */

static void attack_pod_exec(struct scen *s, int64_t t)
{
    atk_k8s(s, &eve, t, "create", R_PODS, "exec", "checkout", "checkout-api-7d9f8b6c5d-x2kqp", 0,
            NULL);
    attack_label(s, "k8s.pod_exec", "user.name", eve.name, "orchestrator.namespace", "checkout",
                 NULL);
}

static void attack_port_forward(struct scen *s, int64_t t)
{
    atk_k8s(s, &eve, t, "create", R_PODS, "portforward", "checkout", "cart-5c8d7f9b4-wq7zl", 0,
            NULL);
    attack_label(s, "k8s.port_forward", "user.name", eve.name, "orchestrator.namespace",
                 "checkout", NULL);
}

/* kubectl debug: a busybox container joins a running pod. */
static void attack_ephemeral_container(struct scen *s, int64_t t)
{
    atk_k8s(s, &eve, t, "patch", R_PODS, "ephemeralcontainers", "checkout",
            "pricing-6f7c9d8b5-m4nz2", 0,
            "{\"spec\":{\"ephemeralContainers\":[{\"name\":\"debugger-h7k2p\",\"image\":"
            "\"busybox:1.36\",\"stdin\":true,\"tty\":true,\"targetContainerName\":\"app\"}]}}");
    attack_label(s, "k8s.ephemeral_container", "user.name", eve.name, "orchestrator.namespace",
                 "checkout", NULL);
}

/* A database password and a cloud key pasted into a ConfigMap. */
static void attack_configmap_credentials(struct scen *s, int64_t t)
{
    atk_k8s(s, &eve, t, "create", R_CONFIGMAPS, NULL, "checkout", "cart-env", 0,
            "{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"cart-env\","
            "\"namespace\":\"checkout\"},\"data\":{\"DB_HOST\":\"cart-db.data.svc\","
            "\"DB_PASSWORD\":\"Summer2026!\",\"AWS_ACCESS_KEY_ID\":\"AKIAIOSFODNN7EXAMPLE\","
            "\"AWS_SECRET_ACCESS_KEY\":\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"}}");
    attack_label(s, "k8s.configmap_credentials", "user.name", eve.name, "orchestrator.namespace",
                 "checkout", NULL);
}

/* ======================================================================
 * Kubernetes: pods that own the node
 * ====================================================================== */

/* A pod in `default` by eve with `spec` (the members after "spec":{). */
static void atk_pod(struct scen *s, int64_t t, const char *name, const char *spec)
{
    char body[1400];
    snprintf(body, sizeof body,
             "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"default\"},\"spec\":{%s}}",
             name, spec);
    struct k8s_request q;
    atk_req(&q, &eve, t, "create", R_PODS, NULL, "default", name);
    q.request_body = body;
    q.pod_security = "privileged:latest";
    atk_send(s, &q);
}

static void attack_privileged_pod(struct scen *s, int64_t t)
{
    atk_pod(s, t, "debug-tools",
            "\"containers\":[{\"name\":\"debug\",\"image\":\"ubuntu:22.04\",\"command\":"
            "[\"sleep\",\"infinity\"],\"securityContext\":{\"privileged\":true}}]");
    attack_label(s, "k8s.privileged_pod", "user.name", eve.name, "orchestrator.namespace",
                 "default", NULL);
}

static void attack_sensitive_mount_pod(struct scen *s, int64_t t)
{
    atk_pod(s, t, "log-reader",
            "\"containers\":[{\"name\":\"reader\",\"image\":\"docker:24-cli\",\"command\":"
            "[\"sleep\",\"infinity\"],\"volumeMounts\":[{\"name\":\"sock\",\"mountPath\":"
            "\"/var/run/docker.sock\"}]}],\"volumes\":[{\"name\":\"sock\",\"hostPath\":"
            "{\"path\":\"/var/run/docker.sock\",\"type\":\"Socket\"}}]");
    attack_label(s, "k8s.sensitive_mount_pod", "user.name", eve.name, "orchestrator.namespace",
                 "default", NULL);
}

static void attack_host_namespace_pod(struct scen *s, int64_t t)
{
    atk_pod(s, t, "netshoot",
            "\"hostNetwork\":true,\"hostPID\":true,\"containers\":[{\"name\":\"netshoot\","
            "\"image\":\"nicolaka/netshoot:v0.12\",\"command\":[\"sleep\",\"infinity\"]}]");
    attack_label(s, "k8s.host_namespace_pod", "user.name", eve.name, "orchestrator.namespace",
                 "default", NULL);
}

/* ======================================================================
 * Kubernetes: cluster-wide persistence (mallory, a contractor account
 * with far too much access)
 * ====================================================================== */

static void attack_cluster_rbac_change(struct scen *s, int64_t t)
{
    atk_k8s(s, &mallory, t, "create", R_CLUSTERROLES, NULL, NULL, "secret-reader", 0,
            "{\"kind\":\"ClusterRole\",\"apiVersion\":\"rbac.authorization.k8s.io/v1\","
            "\"metadata\":{\"name\":\"secret-reader\"},\"rules\":[{\"apiGroups\":[\"\"],"
            "\"resources\":[\"secrets\"],\"verbs\":[\"get\",\"list\",\"watch\"]}]}");
    attack_label(s, "k8s.cluster_rbac_change", "user.name", mallory.name,
                 "orchestrator.resource.name", "secret-reader", NULL);
}

/* cluster-admin through a RoleBinding: a namespace's worth of it, without
 * touching any ClusterRoleBinding. */
static void attack_cluster_admin_binding(struct scen *s, int64_t t)
{
    atk_k8s(s, &mallory, t, "create", R_ROLEBINDINGS, NULL, "payments", "payments-support", 0,
            "{\"kind\":\"RoleBinding\",\"apiVersion\":\"rbac.authorization.k8s.io/v1\","
            "\"metadata\":{\"name\":\"payments-support\",\"namespace\":\"payments\"},"
            "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\","
            "\"name\":\"cluster-admin\"},\"subjects\":[{\"kind\":\"User\",\"apiGroup\":"
            "\"rbac.authorization.k8s.io\",\"name\":\"mallory@example.com\"}]}");
    attack_label(s, "k8s.cluster_admin_binding", "user.name", mallory.name,
                 "orchestrator.namespace", "payments", NULL);
}

/* A system role widened: anonymous callers may now read pods and config
 * maps.  Also a cluster-wide RBAC change. */
static void attack_system_role_modified(struct scen *s, int64_t t)
{
    atk_k8s(s, &mallory, t, "patch", R_CLUSTERROLES, NULL, NULL, "system:public-info-viewer", 0,
            "{\"rules\":[{\"nonResourceURLs\":[\"/healthz\",\"/livez\",\"/readyz\",\"/version\","
            "\"/version/\"],\"verbs\":[\"get\"]},{\"apiGroups\":[\"\"],\"resources\":[\"pods\","
            "\"configmaps\"],\"verbs\":[\"get\",\"list\"]}]}");
    attack_label(s, "k8s.system_role_modified", "user.name", mallory.name,
                 "orchestrator.resource.name", "system:public-info-viewer", NULL);
    attack_label(s, "k8s.cluster_rbac_change", "user.name", mallory.name,
                 "orchestrator.resource.name", "system:public-info-viewer", NULL);
}

/* A mutating webhook that sends every new pod to the attacker's server. */
static void attack_admission_webhook_change(struct scen *s, int64_t t)
{
    atk_k8s(s, &mallory, t, "create", R_MUTATINGWEBHOOKS, NULL, NULL, "pod-defaults", 0,
            "{\"kind\":\"MutatingWebhookConfiguration\",\"apiVersion\":"
            "\"admissionregistration.k8s.io/v1\",\"metadata\":{\"name\":\"pod-defaults\"},"
            "\"webhooks\":[{\"name\":\"pod-defaults.mutate.io\",\"clientConfig\":{\"url\":"
            "\"https://37.120.204.137:8443/mutate\"},\"rules\":[{\"operations\":[\"CREATE\"],"
            "\"apiGroups\":[\"\"],\"apiVersions\":[\"v1\"],\"resources\":[\"pods\"]}],"
            "\"failurePolicy\":\"Ignore\",\"sideEffects\":\"None\","
            "\"admissionReviewVersions\":[\"v1\"]}]}");
    attack_label(s, "k8s.admission_webhook_change", "user.name", mallory.name,
                 "orchestrator.resource.name", "pod-defaults", NULL);
}

static void attack_crd_change(struct scen *s, int64_t t)
{
    atk_k8s(s, &mallory, t, "create", R_CRDS, NULL, NULL, "tasks.sysops.io", 0,
            "{\"kind\":\"CustomResourceDefinition\",\"apiVersion\":\"apiextensions.k8s.io/v1\","
            "\"metadata\":{\"name\":\"tasks.sysops.io\"},\"spec\":{\"group\":\"sysops.io\","
            "\"names\":{\"kind\":\"Task\",\"plural\":\"tasks\"},\"scope\":\"Namespaced\","
            "\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,\"schema\":"
            "{\"openAPIV3Schema\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":"
            "true}}}]}}");
    attack_label(s, "k8s.crd_change", "user.name", mallory.name, "orchestrator.resource.name",
                 "tasks.sysops.io", NULL);
}

/* A DaemonSet that runs a "cache" (a miner) on every node, created in
 * kube-system.  Unprivileged, no ports: the service map has nothing to
 * judge. */
static void attack_daemonset_change(struct scen *s, int64_t t)
{
    atk_k8s(s, &mallory, t, "create", R_DAEMONSETS, NULL, "kube-system", "node-cache", 0,
            "{\"kind\":\"DaemonSet\",\"apiVersion\":\"apps/v1\",\"metadata\":{\"name\":"
            "\"node-cache\",\"namespace\":\"kube-system\"},\"spec\":{\"selector\":{\"matchLabels\":"
            "{\"app\":\"node-cache\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":"
            "\"node-cache\"}},\"spec\":{\"containers\":[{\"name\":\"cache\",\"image\":"
            "\"docker.io/sysops/node-cache:latest\",\"resources\":{\"limits\":{\"cpu\":\"2\"}}}],"
            "\"tolerations\":[{\"operator\":\"Exists\"}]}}}}");
    attack_label(s, "k8s.daemonset_change", "user.name", mallory.name, "orchestrator.namespace",
                 "kube-system", NULL);
    /* A person creating a workload in kube-system is its own finding. */
    attack_label(s, "k8s.kube_namespace_workload", "user.name", mallory.name, "orchestrator.namespace",
                 "kube-system", NULL);
}

static void attack_kube_namespace_workload(struct scen *s, int64_t t)
{
    atk_k8s(s, &mallory, t, "create", R_SERVICEACCOUNTS, NULL, "kube-system", "kube-sync", 0,
            "{\"kind\":\"ServiceAccount\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":"
            "\"kube-sync\",\"namespace\":\"kube-system\"}}");
    attack_label(s, "k8s.kube_namespace_workload", "user.name", mallory.name,
                 "orchestrator.namespace", "kube-system", NULL);
}

/* ======================================================================
 * Kubernetes: roles, services, namespaces (walter, victor)
 * ====================================================================== */

static void attack_wildcard_role(struct scen *s, int64_t t)
{
    atk_k8s(s, &walter, t, "create", R_ROLES, NULL, "data", "ops-all", 0,
            "{\"kind\":\"Role\",\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"metadata\":"
            "{\"name\":\"ops-all\",\"namespace\":\"data\"},\"rules\":[{\"apiGroups\":[\"*\"],"
            "\"resources\":[\"*\"],\"verbs\":[\"*\"]}]}");
    attack_label(s, "k8s.wildcard_role", "user.name", walter.name, "orchestrator.namespace",
                 "data", NULL);
}

static void attack_pod_exec_role(struct scen *s, int64_t t)
{
    atk_k8s(s, &walter, t, "create", R_ROLES, NULL, "payments", "debug-exec", 0,
            "{\"kind\":\"Role\",\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"metadata\":"
            "{\"name\":\"debug-exec\",\"namespace\":\"payments\"},\"rules\":[{\"apiGroups\":"
            "[\"\"],\"resources\":[\"pods\",\"pods/exec\"],\"verbs\":[\"get\",\"create\"]}]}");
    attack_label(s, "k8s.pod_exec_role", "user.name", walter.name, "orchestrator.namespace",
                 "payments", NULL);
}

/* A namespace deleted.  For a request on namespaces/NAME the API server
 * puts NAME in objectRef.namespace too. */
static void attack_namespace_deleted(struct scen *s, int64_t t)
{
    atk_k8s(s, &walter, t, "delete", R_NAMESPACES, NULL, "staging", "staging", 0,
            "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"meta.k8s.io/v1\","
            "\"propagationPolicy\":\"Background\"}");
    attack_label(s, "k8s.namespace_deleted", "user.name", walter.name,
                 "orchestrator.resource.name", "staging", NULL);
}

/* The payments API made a LoadBalancer: exposed to the internet, and more
 * than the service map allows it. */
static void attack_exposed_service(struct scen *s, int64_t t)
{
    atk_k8s(s, &victor, t, "patch", R_SERVICES, NULL, "payments", "payments-api", 0,
            "{\"spec\":{\"type\":\"LoadBalancer\"}}");
    attack_label(s, "k8s.exposed_service", "user.name", victor.name, "orchestrator.namespace",
                 "payments", NULL);
    attack_label(s, "k8s.unmapped_service", "orchestrator.namespace", "payments",
                 "orchestrator.resource.type", "services", "orchestrator.resource.name",
                 "payments-api", NULL);
}

/* The storefront's Ingress replaced by one without its tls section (same
 * host and backend, which the service map allows). */
static void attack_ingress_without_tls(struct scen *s, int64_t t)
{
    atk_k8s(s, &victor, t, "update", R_INGRESSES, NULL, "checkout", "checkout-web", 0,
            "{\"kind\":\"Ingress\",\"apiVersion\":\"networking.k8s.io/v1\",\"metadata\":"
            "{\"name\":\"checkout-web\",\"namespace\":\"checkout\",\"resourceVersion\":"
            "\"48213377\",\"labels\":{\"owner\":\"team-checkout\",\"team\":\"checkout\"}},"
            "\"spec\":{\"ingressClassName\":\"nginx\",\"rules\":[{\"host\":\"shop.example.com\","
            "\"http\":{\"paths\":[{\"path\":\"/\",\"pathType\":\"Prefix\",\"backend\":"
            "{\"service\":{\"name\":\"checkout-web\",\"port\":{\"number\":80}}}}]}}]}}");
    attack_label(s, "k8s.ingress_without_tls", "user.name", victor.name, "orchestrator.namespace",
                 "checkout", NULL);
}

/* A SOCKS relay Service in `default`, which the service map does not know. */
static void attack_unmapped_service(struct scen *s, int64_t t)
{
    atk_k8s(s, &victor, t, "create", R_SERVICES, NULL, "default", "socks-relay", 0,
            "{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"socks-relay\","
            "\"namespace\":\"default\"},\"spec\":{\"type\":\"ClusterIP\",\"selector\":{\"app\":"
            "\"socks-relay\"},\"ports\":[{\"name\":\"socks\",\"port\":1080,\"targetPort\":1080}]}}");
    attack_label(s, "k8s.unmapped_service", "orchestrator.namespace", "default",
                 "orchestrator.resource.type", "services", "orchestrator.resource.name",
                 "socks-relay", NULL);
}

/* ======================================================================
 * Kubernetes: many changes at once
 * ====================================================================== */

/* The default-deny NetworkPolicy deleted in six namespaces. */
static void attack_fleetwide_change(struct scen *s, int64_t t)
{
    static const char *const namespaces[] = {"payments", "checkout",  "catalog",
                                             "identity", "data",      "monitoring"};
    struct gen *g = s->atk;
    for (size_t i = 0; i < N_ELEMS(namespaces); i++) {
        atk_k8s(s, &trent, t, "delete", R_NETWORKPOLICIES, NULL, namespaces[i], "default-deny", 0,
                "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"meta.k8s.io/v1\","
                "\"propagationPolicy\":\"Background\"}");
        t += scen_pause(g, 4000, 20000);
    }
    attack_label(s, "k8s.fleetwide_change", "user.name", trent.name, NULL);
}

/* Every app of four namespaces scaled to zero within two minutes (four
 * namespaces: below k8s.fleetwide_change). */
static void attack_mass_workload_change(struct scen *s, int64_t t)
{
    static const char *const namespaces[] = {"payments", "checkout", "catalog", "data"};
    struct gen *g = s->atk;
    unsigned changed = 0;
    for (size_t i = 0; i < N_ELEMS(namespaces) && changed < 12; i++) {
        const struct k8s_namespace *ns = find_namespace(namespaces[i]);
        for (size_t k = 0; k < N_ELEMS(ns->apps) && ns->apps[k] && changed < 12; k++) {
            atk_k8s(s, &olivia, t, "patch", R_DEPLOYMENTS, "scale", ns->name, ns->apps[k], 0,
                    "{\"spec\":{\"replicas\":0}}");
            changed++;
            t += scen_pause(g, 2000, 9000);
        }
    }
    attack_label(s, "k8s.mass_workload_change", "user.name", olivia.name, NULL);
}

/* ======================================================================
 * The table
 * ====================================================================== */

/* In the order they run: auth and Kubernetes interleaved at first, as an
 * intrusion that moves from the hosts into the cluster. */
static const struct attack attack_list[] = {
    {"auth.ssh_bruteforce", attack_ssh_bruteforce},
    {"k8s.anonymous_access", attack_anonymous_access},
    {"auth.password_spray", attack_password_spray},
    {"k8s.auth_failures", attack_auth_failures},
    {"auth.distributed_bruteforce", attack_distributed_bruteforce},
    {"k8s.forbidden_burst", attack_forbidden_burst},
    {"auth.success_after_failures", attack_success_after_failures},
    {"k8s.secret_access_denied", attack_secret_access_denied},
    {"auth.sudo_failures", attack_sudo_failures},
    {"k8s.pod_exec", attack_pod_exec},
    {"auth.user_created", attack_user_created},
    {"k8s.port_forward", attack_port_forward},
    {"auth.privileged_group_change", attack_privileged_group_change},
    {"k8s.ephemeral_container", attack_ephemeral_container},
    {"auth.package_install", attack_package_install},
    {"k8s.configmap_credentials", attack_configmap_credentials},
    {"k8s.privileged_pod", attack_privileged_pod},
    {"k8s.sensitive_mount_pod", attack_sensitive_mount_pod},
    {"k8s.host_namespace_pod", attack_host_namespace_pod},
    {"k8s.cluster_rbac_change", attack_cluster_rbac_change},
    {"k8s.cluster_admin_binding", attack_cluster_admin_binding},
    {"k8s.system_role_modified", attack_system_role_modified},
    {"k8s.admission_webhook_change", attack_admission_webhook_change},
    {"k8s.crd_change", attack_crd_change},
    {"k8s.daemonset_change", attack_daemonset_change},
    {"k8s.kube_namespace_workload", attack_kube_namespace_workload},
    {"k8s.wildcard_role", attack_wildcard_role},
    {"k8s.pod_exec_role", attack_pod_exec_role},
    {"k8s.exposed_service", attack_exposed_service},
    {"k8s.ingress_without_tls", attack_ingress_without_tls},
    {"k8s.unmapped_service", attack_unmapped_service},
    {"k8s.fleetwide_change", attack_fleetwide_change},
    {"k8s.mass_workload_change", attack_mass_workload_change},
    {"k8s.namespace_deleted", attack_namespace_deleted},
};

static const struct attack *attack_table(size_t *n)
{
    *n = N_ELEMS(attack_list);
    return attack_list;
}
