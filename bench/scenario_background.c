/*
 * scenario_background.c - the benign traffic of `gen scenario` (part of
 * gen.c, after scenario.c).
 *
 * The background is a set of independent activities, each a loop over
 * the run that repeats one piece of behaviour with its own pacing: cron
 * jobs, people logging in to work, Ansible runs, CI deploys, internet
 * scanners on the SSH port, kubelets and controllers keeping the cluster
 * alive, Argo CD and the CI pipeline rolling out, people using kubectl,
 * load-balancer health checks and anonymous probes.  Activities draw from
 * the background's generator in a fixed order, so the stream depends only
 * on the seed, the start, the length and the density.
 *
 * None of it may raise an alert, and that is made true by pacing, not by
 * chance.  The bounds, per rule that the background comes near (all at
 * density 100; a lower density only stretches the gaps):
 *
 *   auth.ssh_bruteforce (5 failures per source in 10 min): a scanner
 *     address is used for one connection of at most 2 failures; people
 *     mistype their password at most twice per login, and at most once in
 *     10 minutes, from addresses only they use.
 *   auth.password_spray (5 user names per source): one name per address.
 *   auth.distributed_bruteforce (10 sources per user name in 10 min):
 *     scanner connections are at least 90 s apart, so any 10 minutes hold
 *     at most 7 scanner addresses in all.
 *   auth.success_after_failures: needs 5 failures for one user and source.
 *   auth.sudo_failures (3 per user and host in 5 min): a person mistypes a
 *     sudo password at most once in 10 minutes.
 *   auth.package_install, user_created, privileged_group_change: sudo runs
 *     only the commands of bg_sudo_commands[]; no account changes.
 *   k8s.fleetwide_change / k8s.mass_workload_change: people change objects
 *     only in their one or two home namespaces, at most once per kubectl
 *     session (sessions at least 4 minutes apart); the heavy writers are
 *     Argo CD and ci-deployer@example.com, both on the automation
 *     allowlist.
 *   k8s.forbidden_burst (10 403s per user in 5 min): at most one 403 per
 *     person per session.  No background request on Secrets is refused
 *     (k8s.secret_access_denied), and anonymous 403s are excluded by
 *     k8s.forbidden_request itself.
 *   k8s.auth_failures (10 401s per source in 5 min): at most one per
 *     kubectl session (an expired token).
 *   k8s.anonymous_access: anonymous requests are allowed only on the
 *     public health, version and discovery endpoints.
 *   Everything else (RBAC, webhooks, CRDs, DaemonSets, exec, port-forward,
 *     Services and Ingresses with bodies that expose, privileged pods): the
 *     background never does it.  Nobody in the background creates a
 *     Service, an Ingress or a workload, so the service map never judges a
 *     background create; patches of them never raise their exposure.
 */

#define SCEN_PEOPLE 14       /* legit_users[0..13] are people */
#define U_DEPLOY 14          /* indexes of the service accounts in legit_users[] */
#define U_ANSIBLE 16
#define U_BACKUP 17
#define SCEN_NODES 8         /* k8s-node-01..08, as in the auth log's hosts */
#define TYPO_SPACING_S 600   /* at most one mistyped password per person per 10 min */

/* ======================================================================
 * Auth: people and their sessions
 * ====================================================================== */

/* What people run with sudo: nothing that installs packages (that alerts
 * by design) and nothing that changes accounts. */
static const struct {
    const char *command;
    const char *target; /* sudo USER= */
} bg_sudo_commands[] = {
    {"/usr/bin/systemctl status nginx", "root"},
    {"/usr/bin/systemctl restart nginx", "root"},
    {"/usr/bin/systemctl reload nginx", "root"},
    {"/usr/bin/journalctl -u nginx --since -1h", "root"},
    {"/usr/bin/tail -n 200 /var/log/nginx/error.log", "root"},
    {"/usr/bin/docker ps", "root"},
    {"/usr/bin/docker logs --tail 100 app", "root"},
    {"/usr/bin/crictl ps", "root"},
    {"/usr/bin/ss -tlnp", "root"},
    {"/usr/sbin/iptables -L -n", "root"},
    {"/usr/bin/du -sh /var/lib/docker", "root"},
    {"/usr/bin/less /var/log/syslog", "root"},
    {"/usr/bin/vim /etc/nginx/conf.d/app.conf", "root"},
    {"/usr/bin/lsof -i :5432", "root"},
    {"/usr/bin/psql -c SELECT count(*) FROM pg_stat_activity", "postgres"},
    {"/usr/bin/systemctl status postgresql", "root"},
};

static const char *const ansible_modules[] = {"setup", "stat", "copy", "file", "template",
                                              "systemd", "lineinfile", "command"};

/* One sudo run by the person of `a` at t: now and then a mistyped password
 * first (*last_typo paces those), then the command and its PAM session. */
static void bg_sudo(struct scen *s, const struct auth_actor *a, int64_t t, int64_t *last_typo)
{
    struct gen *g = s->bg;
    struct auth_actor b = *a;
    size_t c = (size_t)rng_below(&g->rng, N_ELEMS(bg_sudo_commands));
    char pwd[64];
    snprintf(pwd, sizeof pwd, "/home/%s", a->user);
    b.command = bg_sudo_commands[c].command;
    b.target = bg_sudo_commands[c].target;
    b.pwd = pwd;
    bool typo = rng_chance(&g->rng, 120);
    if (typo && t - *last_typo >= TYPO_SPACING_S * SCEN_US) {
        scen_auth(s, g, t, auth_sudo_pam_failure, &b);
        t += scen_pause(g, 3000, 9000);
        *last_typo = t;
    }
    scen_auth(s, g, t, auth_sudo_run, &b);
    t += scen_pause(g, 2, 30);
    scen_auth(s, g, t, auth_sudo_session_opened, &b);
    t += scen_pause(g, 50, 90000);
    scen_auth(s, g, t, auth_sudo_session_closed, &b);
}

/* The lines that end an ssh login at t. */
static void bg_logout(struct scen *s, struct gen *g, const struct auth_actor *a, int64_t t)
{
    scen_auth(s, g, t, auth_ssh_logout, a);
    t += scen_pause(g, 1, 20);
    scen_auth(s, g, t, auth_ssh_disconnected_user, a);
    t += scen_pause(g, 1, 20);
    scen_auth(s, g, t, auth_ssh_session_closed, a);
    t += scen_pause(g, 5, 80);
    scen_auth(s, g, t, auth_logind_removed_session, a);
}

/* The lines that start an ssh login at t (after any failed tries): the
 * accepted line, the PAM session and logind.  Returns the time after. */
static int64_t bg_login_lines(struct scen *s, struct gen *g, struct auth_actor *a, int64_t t,
                              bool password)
{
    a->logind_id = g->logind_next[a->host]; /* the Accepted line takes it */
    scen_auth(s, g, t, password ? auth_ssh_accepted_password : auth_ssh_accepted_publickey, a);
    t += scen_pause(g, 5, 60);
    scen_auth(s, g, t, auth_ssh_session_opened, a);
    t += scen_pause(g, 10, 120);
    scen_auth(s, g, t, auth_logind_new_session, a);
    return t;
}

/* Person `u` logs in to `host` at t from one of their usual addresses,
 * works a while (sudo, su) and logs out. */
static void bg_person_login(struct scen *s, size_t u, int host, int64_t t, int64_t *last_ssh_typo,
                            int64_t *last_sudo_typo)
{
    struct gen *g = s->bg;
    unsigned which = (unsigned)rng_below(&g->rng, 2);
    struct auth_actor a;
    scen_actor(g, &a, u, host, s->user_ip[u][which]);
    bool password = rng_chance(&g->rng, 300);
    unsigned typos = 0;
    if (password && t - *last_ssh_typo >= TYPO_SPACING_S * SCEN_US) {
        unsigned roll = (unsigned)rng_below(&g->rng, 100);
        typos = roll < 6 ? 2 : roll < 20 ? 1 : 0;
    }
    for (unsigned k = 0; k < typos; k++) {
        scen_auth(s, g, t, auth_pam_sshd_failure, &a);
        t += scen_pause(g, 1500, 3000);
        scen_auth(s, g, t, auth_ssh_failed_password, &a);
        t += scen_pause(g, 2500, 7000);
    }
    if (typos)
        *last_ssh_typo = t;
    t = bg_login_lines(s, g, &a, t, password);

    int64_t end = t + scen_pause(g, 120000, 2700000); /* 2 to 45 minutes */
    unsigned n_sudo = (unsigned)rng_below(&g->rng, 4);
    int64_t c = t;
    for (unsigned k = 0; k < n_sudo; k++) {
        c += scen_pause(g, 15000, 600000);
        if (c >= end)
            break;
        bg_sudo(s, &a, c, last_sudo_typo);
    }
    if (rng_chance(&g->rng, 60)) { /* an interactive root shell */
        struct auth_actor r = a;
        r.pid = new_pid(g);
        c += scen_pause(g, 5000, 60000);
        if (c < end) {
            scen_auth(s, g, c, auth_su_success, &r);
            scen_auth(s, g, c + 3000, auth_su_session_opened, &r);
            c += scen_pause(g, 20000, 300000);
            scen_auth(s, g, c < end ? c : end - 1000, auth_su_session_closed, &r);
        }
    }
    bg_logout(s, g, &a, end);
}

/* People at work: each person logs in every 8 to 30 minutes to one of the
 * three hosts they look after. */
static void bg_people_ssh(struct scen *s)
{
    struct gen *g = s->bg;
    for (size_t u = 0; u < SCEN_PEOPLE; u++) {
        int hosts[3];
        for (size_t k = 0; k < 3; k++)
            hosts[k] = (int)rng_below(&g->rng, N_HOSTS);
        int64_t last_ssh_typo = INT64_MIN / 2, last_sudo_typo = INT64_MIN / 2;
        int64_t t = s->start_us + scen_gap(s, 0, 900);
        while (t < s->end_us) {
            int host = hosts[rng_below(&g->rng, 3)];
            bg_person_login(s, u, host, t, &last_ssh_typo, &last_sudo_typo);
            t += scen_gap(s, 480, 1800);
        }
        if (rng_chance(&g->rng, 50)) { /* the odd password change */
            struct auth_actor a;
            scen_actor(g, &a, u, hosts[0], NULL);
            t = s->start_us + scen_pause(g, 0, (s->end_us - s->start_us) / 1000);
            scen_auth(s, g, t, auth_passwd_changed, &a);
        }
    }
}

/* ======================================================================
 * Auth: machines
 * ====================================================================== */

/* Cron: a job every minute (a monitoring agent), every 5 or every 15
 * minutes on each host (density picks the hosts that have one); on the
 * database hosts every other run is the backup user's. */
static void bg_cron(struct scen *s)
{
    struct gen *g = s->bg;
    for (int h = 0; h < N_HOSTS; h++) {
        if (rng_below(&g->rng, 100) >= s->density)
            continue;
        int64_t step = (h % 3 == 0 ? 1 : h % 3 == 1 ? 5 : 15) * 60 * SCEN_US;
        bool db = strncmp(g->hosts[h], "db-", 3) == 0;
        for (int64_t t = (s->start_us / step + 1) * step; t < s->end_us; t += step) {
            struct auth_actor a;
            scen_actor_named(g, &a, "root", h, NULL);
            if (db && (t / step) % 2 == 0) {
                a.user = legit_users[U_BACKUP];
                a.uid = legit_uid(U_BACKUP);
            }
            int64_t at = t + scen_pause(g, 20, 1200);
            scen_auth(s, g, at, auth_cron_session_opened, &a);
            at += scen_pause(g, 5, 45000);
            scen_auth(s, g, at, auth_cron_session_closed, &a);
        }
    }
}

/* "BECOME-SUCCESS-" and 32 lower-case letters, as Ansible's become marker. */
static void make_become_marker(struct gen *g, char *out, size_t size)
{
    size_t n = snprintf(out, size, "BECOME-SUCCESS-");
    for (size_t i = 0; i < 32 && n + 1 < size; i++)
        out[n++] = (char)('a' + rng_below(&g->rng, 26));
    out[n] = '\0';
}

/* Ansible: every 30 to 40 minutes a run over 6 to 10 hosts from the
 * control node, each a publickey login with one to three become steps. */
static void bg_ansible(struct scen *s)
{
    struct gen *g = s->bg;
    int64_t t = s->start_us + scen_gap(s, 0, 1800);
    while (t < s->end_us) {
        unsigned n_hosts = (unsigned)rng_range(&g->rng, 6, 10);
        int64_t c = t;
        for (unsigned k = 0; k < n_hosts; k++) {
            struct auth_actor a;
            int host = (int)rng_below(&g->rng, N_HOSTS);
            scen_actor(g, &a, U_ANSIBLE, host, "10.20.0.5");
            c = bg_login_lines(s, g, &a, c, false);
            unsigned steps = (unsigned)rng_range(&g->rng, 1, 3);
            for (unsigned i = 0; i < steps; i++) {
                char marker[64], command[320];
                make_become_marker(g, marker, sizeof marker);
                const char *module = PICK(&g->rng, ansible_modules);
                unsigned tmp = (unsigned)rng_range(&g->rng, 100000, 999999);
                snprintf(command, sizeof command,
                         "/bin/sh -c echo %s ; /usr/bin/python3 /home/ansible/.ansible/tmp/"
                         "ansible-tmp-%lld.%u-%u/AnsiballZ_%s.py",
                         marker, (long long)(c / SCEN_US), tmp, a.pid, module);
                struct auth_actor b = a;
                b.command = command;
                b.pwd = "/home/ansible";
                b.no_tty = true;
                c += scen_pause(g, 800, 4000);
                scen_auth(s, g, c, auth_sudo_run, &b);
                scen_auth(s, g, c + 20000, auth_sudo_session_opened, &b);
                c += scen_pause(g, 400, 6000);
                scen_auth(s, g, c, auth_sudo_session_closed, &b);
            }
            c += scen_pause(g, 300, 2000);
            bg_logout(s, g, &a, c);
            c += scen_pause(g, 1000, 5000);
        }
        t += scen_gap(s, 1800, 2400);
    }
}

/* CI: every 10 to 20 minutes a deploy job restarts the app on two to four
 * web hosts over ssh (deploy user, publickey, passwordless sudo). */
static void bg_ci_ssh(struct scen *s)
{
    struct gen *g = s->bg;
    int64_t t = s->start_us + scen_gap(s, 0, 900);
    while (t < s->end_us) {
        char runner[24];
        unsigned r = (unsigned)rng_range(&g->rng, 11, 14);
        snprintf(runner, sizeof runner, "10.20.4.%u", r);
        unsigned n_hosts = (unsigned)rng_range(&g->rng, 2, 4);
        int64_t c = t;
        for (unsigned k = 0; k < n_hosts; k++) {
            struct auth_actor a;
            int host = (int)rng_below(&g->rng, 20); /* web-01..20 */
            scen_actor(g, &a, U_DEPLOY, host, runner);
            c = bg_login_lines(s, g, &a, c, false);
            struct auth_actor b = a;
            b.command = "/usr/bin/systemctl restart app.service";
            b.pwd = "/home/deploy";
            b.no_tty = true;
            c += scen_pause(g, 500, 2000);
            scen_auth(s, g, c, auth_sudo_run, &b);
            scen_auth(s, g, c + 15000, auth_sudo_session_opened, &b);
            c += scen_pause(g, 1500, 8000);
            scen_auth(s, g, c, auth_sudo_session_closed, &b);
            c += scen_pause(g, 200, 1500);
            bg_logout(s, g, &a, c);
            c += scen_pause(g, 2000, 10000);
        }
        t += scen_gap(s, 600, 1200);
    }
}

/* One connection of an internet scanner from `ip` at t: a guess or two at
 * root, one made-up user name, or a banner grab.  At most two
 * auth.ssh_failure events and one user name per address. */
static void bg_scan(struct scen *s, int64_t t, const char *ip)
{
    struct gen *g = s->bg;
    int host = scanner_target_host(g);
    unsigned kind = (unsigned)rng_below(&g->rng, 10);
    struct auth_actor a;
    if (kind < 4) {
        scen_actor_named(g, &a, "root", host, ip);
        unsigned tries = (unsigned)rng_range(&g->rng, 1, 2);
        for (unsigned k = 0; k < tries; k++) {
            scen_auth(s, g, t, auth_pam_sshd_failure, &a);
            t += scen_pause(g, 1200, 3000);
            scen_auth(s, g, t, auth_ssh_failed_password, &a);
            t += scen_pause(g, 1000, 4000);
        }
        bool closed = rng_chance(&g->rng, 500);
        scen_auth(s, g, t, closed ? auth_ssh_closed_preauth : auth_ssh_disconnected_authenticating,
                  &a);
    } else if (kind < 8) {
        const char *name = invalid_users[rng_skewed(&g->rng, N_ELEMS(invalid_users))];
        scen_actor_named(g, &a, name, host, ip);
        scen_auth(s, g, t, auth_ssh_invalid_user, &a);
        t += scen_pause(g, 20, 200);
        scen_auth(s, g, t, auth_pam_sshd_unknown, &a);
        scen_auth(s, g, t + 1000, auth_pam_sshd_failure_unknown, &a);
        t += scen_pause(g, 1500, 3500);
        scen_auth(s, g, t, auth_ssh_failed_invalid, &a);
        t += scen_pause(g, 300, 1500);
        scen_auth(s, g, t, auth_ssh_bye_preauth, &a);
        scen_auth(s, g, t + 1000, auth_ssh_disconnected_invalid, &a);
    } else {
        scen_actor_named(g, &a, "", host, ip);
        scen_auth(s, g, t, kind == 8 ? auth_ssh_connection_closed : auth_ssh_no_identification,
                  &a);
    }
}

/* Scanners: one connection every 90 to 180 s, each from the next address
 * of the scanner pool (480 addresses: none repeats within a run). */
static void bg_scanners(struct scen *s)
{
    struct gen *g = s->bg;
    size_t next = (size_t)rng_below(&g->rng, N_ATTACKERS);
    int64_t t = s->start_us + scen_gap(s, 0, 180);
    while (t < s->end_us) {
        bg_scan(s, t, g->attackers[next++ % N_ATTACKERS]);
        t += scen_gap(s, 90, 180);
    }
}

static void background_auth(struct scen *s)
{
    bg_cron(s);
    bg_people_ssh(s);
    bg_ansible(s);
    bg_ci_ssh(s);
    bg_scanners(s);
}

/* ======================================================================
 * Kubernetes: the cluster's own traffic
 * ====================================================================== */

/* Response code of a background request: success, or now and then a
 * NotFound or Conflict.  Never Forbidden: background 403s are placed
 * deliberately (bg_person_forbidden). */
static void bg_outcome(struct gen *g, struct k8s_request *q)
{
    bool create = strcmp(q->verb, "create") == 0;
    bool reads_one = strcmp(q->verb, "get") == 0 || strcmp(q->verb, "delete") == 0;
    q->code = create ? 201 : 200;
    if (reads_one && q->res != R_NONE && rng_chance(&g->rng, 20))
        q->code = 404;
    else if (strcmp(q->verb, "update") == 0 && rng_chance(&g->rng, 20))
        q->code = 409;
}

/* One request of a system actor that gen.c knows (kubelet, control plane,
 * controllers, Prometheus, app service accounts, Argo CD) doing `op` in
 * namespace `ns`, at t. */
static void bg_system_op(struct scen *s, int64_t t, enum k8s_actor_kind actor,
                         const struct k8s_op *op, const struct k8s_namespace *ns, unsigned node)
{
    struct gen *g = s->bg;
    struct k8s_request q;
    memset(&q, 0, sizeof q);
    q.actor = actor;
    q.verb = op->verb;
    q.res = op->res;
    q.subresource = op->subresource;
    q.app = pick_app(g, ns);
    k8s_fill_actor(g, &q, ns, node);
    k8s_fill_object(g, &q, ns, node);
    k8s_fill_query(g, &q, node);
    bg_outcome(g, &q);
    k8s_fill_reason(&q);
    /* bodies for writes, except where audit policies usually keep them
     * out: Secrets, Events and the constant lease renewals */
    q.request_response = verb_writes(q.verb) && q.res != R_SECRETS && q.res != R_EVENTS &&
                         q.res != R_LEASES;
    q.received_us = t;
    q.stage_us = t + k8s_latency(g, &q);
    scen_k8s(s, g, &q);
}

/* A weighted pick from an operation table. */
static const struct k8s_op *bg_pick_op(struct gen *g, const struct k8s_op *ops, size_t n)
{
    return &ops[rng_weighted(&g->rng, &ops[0].weight, n, sizeof ops[0])];
}

/* Runs `op` (or, when op is NULL, a pick from `ops`) for `actor` every
 * lo_s..hi_s seconds; ns NULL means a weighted pick per request. */
static void bg_loop(struct scen *s, enum k8s_actor_kind actor, const struct k8s_op *op,
                    const struct k8s_op *ops, size_t n_ops, const char *ns, unsigned node,
                    unsigned lo_s, unsigned hi_s)
{
    struct gen *g = s->bg;
    int64_t t = s->start_us + scen_gap(s, 0, hi_s);
    while (t < s->end_us) {
        const struct k8s_op *o = op ? op : bg_pick_op(g, ops, n_ops);
        const struct k8s_namespace *where = ns ? find_namespace(ns) : pick_namespace(g);
        bg_system_op(s, t, actor, o, where, node);
        t += scen_gap(s, lo_s, hi_s);
    }
}

static const struct k8s_op op_lease_update = {1, "update", R_LEASES, NULL};
static const struct k8s_op op_node_status = {1, "patch", R_NODES, "status"};

/* Kubelets renew their node lease every 40 s, report node status every 4
 * to 5 minutes, and read and report for their pods every 30 to 90 s.
 * The control plane renews its leader leases every 15 s; controllers,
 * Prometheus and the apps' own service accounts do their usual work.
 * Everyone here is on the automation allowlist or only reads, writes
 * leases and events. */
static void bg_cluster(struct scen *s)
{
    for (unsigned node = 0; node < SCEN_NODES; node++) {
        bg_loop(s, A_KUBELET, &op_lease_update, NULL, 0, "kube-system", node, 38, 42);
        bg_loop(s, A_KUBELET, &op_node_status, NULL, 0, "kube-system", node, 240, 300);
        bg_loop(s, A_KUBELET, NULL, OPS(ops_kubelet), NULL, node, 30, 90);
    }
    bg_loop(s, A_CONTROLLER_MANAGER, &op_lease_update, NULL, 0, "kube-system", 0, 14, 16);
    bg_loop(s, A_SCHEDULER, &op_lease_update, NULL, 0, "kube-system", 0, 14, 16);
    bg_loop(s, A_CONTROLLER_MANAGER, NULL, OPS(ops_controller_manager), "kube-system", 0, 30, 60);
    bg_loop(s, A_SCHEDULER, NULL, OPS(ops_scheduler), "kube-system", 0, 30, 60);
    bg_loop(s, A_CONTROLLER_SA, NULL, OPS(ops_controller_sa), NULL, 0, 8, 25);
    bg_loop(s, A_PROMETHEUS, NULL, OPS(ops_prometheus), NULL, 0, 30, 60);
    bg_loop(s, A_APP_SA, NULL, OPS(ops_app_sa), NULL, 0, 10, 30);
    bg_loop(s, A_ARGOCD, NULL, OPS(ops_argocd), NULL, 0, 10, 30);
}

/* The namespaces that Argo CD and the CI pipeline deploy to. */
static const char *const app_namespaces[] = {"payments", "checkout", "catalog", "identity",
                                             "data",     "monitoring", "logging"};

/* Argo CD sync waves: every 4 to 8 minutes, 5 to 9 patches of
 * Deployments, Services and ConfigMaps across the app namespaces within
 * half a minute.  A person doing this would raise k8s.fleetwide_change;
 * the Argo CD controller is on the automation allowlist. */
static void bg_argocd_waves(struct scen *s)
{
    static const struct k8s_op wave_ops[] = {
        {6, "patch", R_DEPLOYMENTS, NULL},
        {2, "patch", R_SERVICES, NULL},
        {2, "patch", R_CONFIGMAPS, NULL},
    };
    struct gen *g = s->bg;
    int64_t t = s->start_us + scen_gap(s, 0, 480);
    while (t < s->end_us) {
        unsigned n = (unsigned)rng_range(&g->rng, 5, 9);
        int64_t c = t;
        for (unsigned i = 0; i < n; i++) {
            const struct k8s_op *op = bg_pick_op(g, wave_ops, N_ELEMS(wave_ops));
            const char *ns = app_namespaces[rng_below(&g->rng, N_ELEMS(app_namespaces))];
            bg_system_op(s, c, A_ARGOCD, op, find_namespace(ns), 0);
            c += scen_pause(g, 300, 4000);
        }
        t += scen_gap(s, 240, 480);
    }
}

/* The CI pipeline: every 10 to 15 minutes it bumps the image of 8 to 12
 * Deployments in 5 to 7 namespaces within a minute and a half, and starts
 * a migration Job.  Both k8s.mass_workload_change and k8s.fleetwide_change
 * would fire for a person; ci-deployer@example.com is on the allowlist. */
static void bg_ci_k8s(struct scen *s)
{
    static const struct person ci = {"ci-deployer@example.com", "ci-deployers", "ci-deploy",
                                     "linux/amd64", "10.20.4.11", {NULL, NULL}};
    struct gen *g = s->bg;
    int64_t t = s->start_us + scen_gap(s, 0, 900);
    while (t < s->end_us) {
        unsigned n = (unsigned)rng_range(&g->rng, 8, 12);
        size_t first = (size_t)rng_below(&g->rng, N_ELEMS(app_namespaces));
        unsigned spread = (unsigned)rng_range(&g->rng, 5, 7);
        unsigned minor = (unsigned)rng_range(&g->rng, 10, 40);
        int64_t c = t;
        for (unsigned i = 0; i < n; i++) {
            const char *ns = app_namespaces[(first + i % spread) % N_ELEMS(app_namespaces)];
            const struct k8s_namespace *nsd = find_namespace(ns);
            struct k8s_request q;
            scen_req_person(&q, &ci, c, "patch", R_DEPLOYMENTS, NULL);
            const char *app = pick_app(g, nsd);
            scen_object(&q, ns, app);
            char body[320];
            unsigned patch = (unsigned)rng_below(&g->rng, 10);
            snprintf(body, sizeof body,
                     "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"app\","
                     "\"image\":\"registry.example.com/%s/%s:1.%u.%u\"}]}}}}",
                     ns, app, minor, patch);
            q.request_body = body;
            scen_finish(g, &q);
            scen_k8s(s, g, &q);
            c += scen_pause(g, 2000, 9000);
        }
        /* the database migration of the release */
        const char *ns = app_namespaces[first];
        const struct k8s_namespace *nsd = find_namespace(ns);
        struct k8s_request q;
        scen_req_person(&q, &ci, c, "create", R_JOBS, NULL);
        q.app = pick_app(g, nsd);
        k8s_fill_object(g, &q, nsd, 0);
        q.request_response = true;
        scen_finish(g, &q);
        scen_k8s(s, g, &q);
        t += scen_gap(s, 600, 900);
    }
}

/* ======================================================================
 * Kubernetes: people with kubectl
 * ====================================================================== */

static const struct person bg_people[] = {
    {"alice@example.com", "oidc:platform-admins", "cluster-admin", "darwin/arm64", "10.8.0.41",
     {"monitoring", "ingress-nginx"}},
    {"bob@example.com", "oidc:developers", "edit", "linux/amd64", "10.8.0.42", {"checkout", NULL}},
    {"carol@example.com", "oidc:developers", "edit", "darwin/arm64", "10.8.0.43",
     {"catalog", "checkout"}},
    {"dave@example.com", "oidc:sre", "edit", "linux/amd64", "10.8.0.44", {"payments", "data"}},
    {"erin@example.com", "oidc:developers", "edit", "windows/amd64", "10.8.0.45",
     {"identity", NULL}},
    {"frank@example.com", "oidc:data-eng", "edit", "darwin/amd64", "10.8.0.46", {"data", NULL}},
};

static const struct k8s_op person_reads[] = {
    {25, "get", R_PODS, NULL},         {15, "list", R_PODS, NULL},
    {10, "get", R_PODS, "log"},        {10, "get", R_DEPLOYMENTS, NULL},
    {6, "list", R_DEPLOYMENTS, NULL},  {6, "list", R_EVENTS, NULL},
    {4, "get", R_CONFIGMAPS, NULL},    {4, "list", R_SERVICES, NULL},
    {3, "get", R_SECRETS, NULL},       {3, "get", R_REPLICASETS, NULL},
    {3, "list", R_INGRESSES, NULL},
};

/* Changes people make in their own namespaces: a rollout restart, a pod
 * deleted, a config map, a scale, a job started from a cron job. */
static const struct k8s_op person_writes[] = {
    {40, "patch", R_DEPLOYMENTS, NULL}, {25, "delete", R_PODS, NULL},
    {15, "create", R_CONFIGMAPS, NULL}, {10, "patch", R_DEPLOYMENTS, "scale"},
    {10, "create", R_JOBS, NULL},
};

/* What people try and may not do (never Secrets). */
static const struct k8s_op person_denied[] = {
    {4, "list", R_NODES, NULL},   {4, "get", R_PODS, NULL},
    {2, "list", R_NAMESPACES, NULL}, {2, "list", R_PVCS, NULL},
};

static size_t person_home_count(const struct person *p)
{
    return p->home[1] ? 2 : 1;
}

/* One request of person p at t: op in namespace ns with code `code`. */
static void bg_person_op(struct scen *s, const struct person *p, int64_t t,
                         const struct k8s_op *op, const char *ns, int code)
{
    struct gen *g = s->bg;
    const struct k8s_namespace *nsd = find_namespace(ns);
    struct k8s_request q;
    scen_req_person(&q, p, t, op->verb, op->res, op->subresource);
    q.app = pick_app(g, nsd);
    k8s_fill_object(g, &q, nsd, 0);
    if (code) {
        q.code = code;
    } else {
        bg_outcome(g, &q);
        q.request_response = verb_writes(q.verb) && q.res != R_SECRETS;
    }
    scen_finish(g, &q);
    scen_k8s(s, g, &q);
}

/* A kubectl session of person p at t: 3 to 10 requests a few seconds
 * apart in their home namespaces; sometimes it starts with a 401 (an
 * expired token), has one change, or has one refused request. */
static void bg_person_session(struct scen *s, const struct person *p, int64_t t)
{
    struct gen *g = s->bg;
    unsigned n = (unsigned)rng_range(&g->rng, 3, 10);
    int denied_at = -1, write_at = -1;
    bool admin = strcmp(p->role, "cluster-admin") == 0;
    if (!admin && rng_chance(&g->rng, 250))
        denied_at = (int)rng_below(&g->rng, n);
    if (rng_chance(&g->rng, 300))
        write_at = (int)rng_below(&g->rng, n);
    if (rng_chance(&g->rng, 50)) {
        struct k8s_request q;
        scen_req_person(&q, p, t, "list", R_PODS, NULL);
        scen_object(&q, p->home[0], NULL);
        q.no_user = true;
        q.code = 401;
        q.stage = "ResponseStarted";
        scen_finish(g, &q);
        scen_k8s(s, g, &q);
        t += scen_pause(g, 4000, 20000);
    }
    for (int i = 0; i < (int)n; i++) {
        const char *ns = p->home[rng_below(&g->rng, person_home_count(p))];
        if (i == denied_at) {
            const struct k8s_op *op = bg_pick_op(g, OPS(person_denied));
            const char *other = app_namespaces[rng_below(&g->rng, N_ELEMS(app_namespaces))];
            if (strcmp(other, p->home[0]) == 0 || (p->home[1] && strcmp(other, p->home[1]) == 0))
                other = "kube-system";
            bg_person_op(s, p, t, op, other, 403);
        } else if (i == write_at) {
            bg_person_op(s, p, t, bg_pick_op(g, OPS(person_writes)), ns, 0);
        } else {
            bg_person_op(s, p, t, bg_pick_op(g, OPS(person_reads)), ns, 0);
        }
        t += scen_pause(g, 2000, 25000);
    }
}

/* Each person has a kubectl session every 4 to 12 minutes.  A session
 * lasts at most 10 requests x 25 s, so sessions do not overlap. */
static void bg_people_k8s(struct scen *s)
{
    for (size_t i = 0; i < N_ELEMS(bg_people); i++) {
        int64_t t = s->start_us + scen_gap(s, 0, 720);
        while (t < s->end_us) {
            bg_person_session(s, &bg_people[i], t);
            t += scen_gap(s, 240, 720);
        }
    }
}

/* ======================================================================
 * Kubernetes: anonymous requests
 * ====================================================================== */

/* One anonymous request from ip: a non-resource path (res R_NONE), or a
 * list of `res` at cluster scope. */
static void bg_anonymous_op(struct scen *s, int64_t t, const char *ip, const char *agent,
                            const char *path, enum k8s_res res, int code)
{
    struct gen *g = s->bg;
    struct k8s_request q;
    memset(&q, 0, sizeof q);
    q.actor = A_ANONYMOUS;
    snprintf(q.username, sizeof q.username, "system:anonymous");
    q.groups[0] = "system:unauthenticated";
    snprintf(q.user_agent, sizeof q.user_agent, "%s", agent);
    snprintf(q.source_ip, sizeof q.source_ip, "%s", ip);
    q.verb = res == R_NONE ? "get" : "list";
    q.res = res;
    q.nonresource_path = path;
    q.app = "app";
    q.code = code;
    k8s_fill_reason(&q);
    q.received_us = t;
    scen_finish(g, &q);
    scen_k8s(s, g, &q);
}

/* The load balancers in front of the API servers check /readyz and
 * /livez every 30 s; internet scanners probe every 2 to 5 minutes, are
 * refused except on the public endpoints, and never ask for Secrets. */
static void bg_anonymous(struct scen *s)
{
    static const struct {
        const char *path;
        enum k8s_res res;
        int code;
    } probes[] = {
        {"/", R_NONE, 403},          {"/api", R_NONE, 403},      {"/apis", R_NONE, 403},
        {"/.env", R_NONE, 403},      {"/metrics", R_NONE, 403},  {NULL, R_PODS, 403},
        {NULL, R_NAMESPACES, 403},   {"/version", R_NONE, 200},  {"/healthz", R_NONE, 200},
        {"/.well-known/openid-configuration", R_NONE, 200},
    };
    static const char *const agents[] = {"curl/8.5.0", "python-requests/2.31.0",
                                         "Mozilla/5.0 zgrab/0.x", "Go-http-client/1.1"};
    struct gen *g = s->bg;
    for (unsigned lb = 0; lb < 2; lb++) {
        char ip[24];
        snprintf(ip, sizeof ip, "10.0.0.%u", 2 + lb);
        int64_t t = s->start_us + scen_gap(s, 0, 30);
        for (unsigned k = 0; t < s->end_us; k++) {
            bg_anonymous_op(s, t, ip, "haproxy-healthcheck/2.8", k % 2 ? "/livez" : "/readyz",
                            R_NONE, 200);
            t += scen_gap(s, 29, 31);
        }
    }
    size_t next = (size_t)rng_below(&g->rng, N_ATTACKERS);
    int64_t t = s->start_us + scen_gap(s, 0, 300);
    while (t < s->end_us) {
        const char *ip = g->attackers[next++ % N_ATTACKERS];
        const char *agent = PICK(&g->rng, agents);
        unsigned n = (unsigned)rng_range(&g->rng, 1, 4);
        int64_t c = t;
        for (unsigned i = 0; i < n; i++) {
            size_t k = (size_t)rng_below(&g->rng, N_ELEMS(probes));
            bg_anonymous_op(s, c, ip, agent, probes[k].path, probes[k].res, probes[k].code);
            c += scen_pause(g, 200, 2000);
        }
        t += scen_gap(s, 120, 300);
    }
}

static void background_k8s(struct scen *s)
{
    bg_cluster(s);
    bg_argocd_waves(s);
    bg_ci_k8s(s);
    bg_people_k8s(s);
    bg_anonymous(s);
}
