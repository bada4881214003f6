/*
 * scenario.c - `gen scenario`: a labeled attack scenario (part of gen.c).
 *
 * A scenario is M minutes of a small company's traffic in both sources: an
 * auth.log of its Linux fleet and the audit log of its Kubernetes cluster.
 * Into that benign background it injects attacks, one per alerting rule
 * shipped in config/rules/ (and one for the service-map detector), and it
 * writes a labels file that says, for every injected attack, which alert
 * must fire, for which group, and when:
 *
 *   {"rule":"auth.ssh_bruteforce","group":{"source.ip":"94.102.61.23"},
 *    "from":"2026-03-01T00:01:20.000Z","to":"2026-03-01T00:03:01.512Z",
 *    "attack":"auth.ssh_bruteforce"}
 *
 * One attack may rightly raise more than one rule (a password spray is
 * also a brute force from its source); it then has one label per rule.
 * tests/test_scenarios.c replays the files and holds auditwatch to the
 * labels both ways: every label's alert fires, and nothing else does.
 *
 * The background is therefore benign by construction, not by luck: each
 * background activity (scanners, typos, automation, people at work) is
 * paced so that it stays below every correlation threshold in every
 * window, whatever the seed.  scenario_background.c states the bound next
 * to each activity.  The attacks use identities and addresses that the
 * background never uses (scenario_attacks.c checks the addresses at
 * start), so an attack cannot borrow background events to fire early or
 * twice, and stays within the thresholds of the rules it must not raise.
 *
 * Two random streams, both from --seed: the background draws from its own
 * generator, the attacks from a copy of it (same host names, addresses and
 * key fingerprints) reseeded.  So `--attacks none` writes exactly the
 * background of `--attacks all`, and the benign stream that the tests
 * check is the one the attacks are hidden in.  Records are collected with
 * their times (struct rec_list in gen.c), sorted by time, and written.
 * Audit events are ordered by requestReceivedTimestamp, as in the other
 * modes; a real audit backend writes them when the response completes, so
 * long requests (watch, exec) would show up minutes late there.
 *
 * Sections: run state, emission, labels, attack schedule, output, entry.
 * The background is in scenario_background.c, the attacks in
 * scenario_attacks.c; gen.c includes all three.
 */

#define SCEN_MAX_LABELS 4
#define SCEN_MAX_GROUP 3
#define SCEN_MAX_ATTACKS 64
#define SCEN_US 1000000LL /* microseconds per second */

/* ======================================================================
 * Run state
 * ====================================================================== */

/* What `gen scenario` was asked for (filled by main). */
struct scenario_opts {
    uint64_t seed;
    int64_t start_us;
    unsigned minutes;        /* length of the background */
    unsigned density;        /* background volume, percent of the default, 1-100 */
    enum auth_format format; /* auth line headers */
    const char *attacks;     /* "all", "none", or a comma-separated list of attack names */
    const char *auth_out, *k8s_out, *labels_out;
};

/* A label waiting for its attack to end (its time range is not yet known). */
struct scen_label {
    const char *rule;
    const char *keys[SCEN_MAX_GROUP];
    char values[SCEN_MAX_GROUP][128];
    size_t n;
};

struct scen {
    char user_ip[N_ELEMS(legit_users)][2][24]; /* each account's usual addresses: VPN, office */
    struct gen *bg;        /* the background's generator */
    struct gen *atk;       /* the attacks': same pools, its own random stream */
    int64_t start_us, end_us;
    unsigned density;
    struct rec_list auth, k8s;
    FILE *labels;

    /* the attack being written (attack == NULL: background) */
    const char *attack;
    int64_t attack_from_ms, attack_to_ms;
    struct scen_label pending[SCEN_MAX_LABELS];
    size_t npending;
};

/* ======================================================================
 * Emission: every record goes through these two, which collect it with
 * its time and, during an attack, widen the attack's time range.
 * ====================================================================== */

/* Widens the current attack's range by a record written at `t`.  `from`
 * uses the whole second and `to` the millisecond, so the range holds the
 * record's time as any decoder reads it back (RFC 3164 stamps have whole
 * seconds; audit events and ISO 8601 stamps carry more). */
static void scen_note(struct scen *s, int64_t t)
{
    if (!s->attack)
        return;
    int64_t from_ms = t / SCEN_US * 1000, to_ms = t / 1000;
    if (s->attack_from_ms < 0 || from_ms < s->attack_from_ms)
        s->attack_from_ms = from_ms;
    if (to_ms > s->attack_to_ms)
        s->attack_to_ms = to_ms;
}

/* One auth line at time `t`: `emit` writes it from actor `a`. */
static void scen_auth(struct scen *s, struct gen *g, int64_t t,
                      void (*emit)(struct gen *g, const struct auth_actor *a),
                      const struct auth_actor *a)
{
    g->now_us = t;
    g->collect = &s->auth;
    emit(g, a);
    gen_flush_line(g);
    scen_note(s, t);
}

/* One audit event for request `q` (at q->received_us). */
static void scen_k8s(struct scen *s, struct gen *g, const struct k8s_request *q)
{
    g->now_us = q->received_us;
    g->collect = &s->k8s;
    k8s_write_event(g, q);
    gen_flush_line(g);
    scen_note(s, q->received_us);
}

/* A pause of lo_ms..hi_ms milliseconds (uniform, microsecond steps). */
static int64_t scen_pause(struct gen *g, int64_t lo_ms, int64_t hi_ms)
{
    return (int64_t)rng_range(&g->rng, (uint64_t)lo_ms * 1000, (uint64_t)hi_ms * 1000);
}

/* The gap between two runs of a background activity: lo_s..hi_s seconds
 * at the default volume, stretched by 100/density.  Never shorter than at
 * density 100, which is what the pacing bounds of the background assume. */
static int64_t scen_gap(struct scen *s, unsigned lo_s, unsigned hi_s)
{
    int64_t gap = (int64_t)rng_range(&s->bg->rng, (uint64_t)lo_s * SCEN_US,
                                     (uint64_t)hi_s * SCEN_US);
    return gap * 100 / (int64_t)s->density;
}

/* ======================================================================
 * Auth lines that only scenarios write (the default mix has no use for
 * them).  Same contract as gen.c's auth_<kind>: one line from the actor.
 * ====================================================================== */

/* sudo's log line: "alice : TTY=pts/0 ; PWD=... ; USER=root ; COMMAND=...",
 * with a->reason first when sudo refused, and without TTY for automation. */
static void auth_sudo_run(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sudo", 0);
    sb_printf(&g->line, "%8s : ", a->user);
    if (a->reason)
        sb_printf(&g->line, "%s ; ", a->reason);
    if (!a->no_tty)
        sb_printf(&g->line, "TTY=pts/%u ; ", a->tty);
    sb_printf(&g->line, "PWD=%s ; USER=%s ; COMMAND=%s", a->pwd, a->target ? a->target : "root",
              a->command);
}

static void auth_sudo_session_opened(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sudo", 0);
    sb_printf(&g->line, "pam_unix(sudo:session): session opened for user %s(uid=0) by %s(uid=%u)",
              a->target ? a->target : "root", a->user, a->uid);
}

static void auth_sudo_session_closed(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sudo", 0);
    sb_printf(&g->line, "pam_unix(sudo:session): session closed for user %s",
              a->target ? a->target : "root");
}

static void auth_su_session_opened(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "su", a->pid);
    sb_printf(&g->line, "pam_unix(su:session): session opened for user root(uid=0) by %s(uid=%u)",
              a->user, a->uid);
}

static void auth_su_session_closed(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "su", a->pid);
    sb_printf(&g->line, "pam_unix(su:session): session closed for user root");
}

/* sshd's PAM line for a name that has no account: no user= part. */
static void auth_pam_sshd_failure_unknown(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    sb_printf(&g->line,
              "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
              "ruser= rhost=%s",
              a->ip);
}

static void auth_pam_sshd_unknown(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    sb_puts(&g->line, "pam_unix(sshd:auth): check pass; user unknown");
}

static void auth_ssh_disconnected_authenticating(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    sb_printf(&g->line, "Disconnected from authenticating user %s %s port %u [preauth]", a->user,
              a->ip, a->port);
}

static void auth_ssh_bye_preauth(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    sb_printf(&g->line, "Received disconnect from %s port %u:11: Bye Bye [preauth]", a->ip,
              a->port);
}

static void auth_ssh_logout(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    sb_printf(&g->line, "Received disconnect from %s port %u:11: disconnected by user", a->ip,
              a->port);
}

static void auth_ssh_no_identification(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    sb_printf(&g->line, "Did not receive identification string from %s port %u", a->ip, a->port);
}

/* useradd's lines for account a->target (uid a->uid, own group). */
static void auth_useradd_group(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "useradd", a->pid);
    sb_printf(&g->line, "new group: name=%s, GID=%u", a->target, a->uid);
}

static void auth_useradd_user(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "useradd", a->pid);
    sb_printf(&g->line,
              "new user: name=%s, UID=%u, GID=%u, home=/home/%s, shell=/bin/bash, from=/dev/pts/%u",
              a->target, a->uid, a->uid, a->target, a->tty);
}

/* gpasswd -a: a->target added to a->group by a->user. */
static void auth_gpasswd_add(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "gpasswd", a->pid);
    sb_printf(&g->line, "user %s added by %s to group %s", a->target, a->user, a->group);
}

/* passwd run by root for another account (a->target). */
static void auth_passwd_set(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "passwd", a->pid);
    sb_printf(&g->line, "pam_unix(passwd:chauthtok): password changed for %s", a->target);
}

/* ======================================================================
 * Actors and requests
 * ====================================================================== */

/* Index of host `name` in g->hosts (the pool is fixed, so this cannot
 * fail for the names used here). */
static int scen_host(const struct gen *g, const char *name)
{
    for (int i = 0; i < N_HOSTS; i++)
        if (strcmp(g->hosts[i], name) == 0)
            return i;
    fprintf(stderr, "gen: no host %s\n", name);
    exit(1);
}

/* An auth actor for legit user `user_index` (legit_users[]) on `host`,
 * connecting from `ip`; pid, port and tty are fresh. */
static void scen_actor(struct gen *g, struct auth_actor *a, size_t user_index, int host,
                       const char *ip)
{
    memset(a, 0, sizeof *a);
    a->session = -1;
    actor_from_legit(g, a, user_index);
    a->host = host;
    a->ip = ip;
    a->pid = new_pid(g);
    a->port = (unsigned)rng_range(&g->rng, 32768, 60999);
    a->tty = (unsigned)rng_below(&g->rng, 6);
}

/* An actor for a name that is not in legit_users[] (root, a scanner's
 * guess, an attacker's new account). */
static void scen_actor_named(struct gen *g, struct auth_actor *a, const char *user, int host,
                             const char *ip)
{
    memset(a, 0, sizeof *a);
    a->session = -1;
    a->user_index = -1;
    a->user = user;
    a->host = host;
    a->ip = ip;
    a->pid = new_pid(g);
    a->port = (unsigned)rng_range(&g->rng, 1024, 65535);
}

/* A person using kubectl (OIDC user) or a service account token. */
struct person {
    const char *name;     /* user.username */
    const char *group;    /* first group, the one RBAC binds */
    const char *role;     /* the ClusterRole the RBAC reason names */
    const char *platform; /* of the kubectl user agent; NULL: a script */
    const char *ip;
    const char *home[2];  /* namespaces of their daily work (background people) */
};

/* A request by `p` at time t; the caller sets the object.  The RBAC reason
 * names the person's group and role. */
static void scen_req_person(struct k8s_request *q, const struct person *p, int64_t t,
                            const char *verb, enum k8s_res res, const char *subresource)
{
    memset(q, 0, sizeof *q);
    q->actor = A_HUMAN;
    q->verb = verb;
    q->res = res;
    q->subresource = subresource;
    q->code = strcmp(verb, "create") == 0 ? 201 : 200;
    q->received_us = t;
    snprintf(q->username, sizeof q->username, "%s", p->name);
    snprintf(q->source_ip, sizeof q->source_ip, "%s", p->ip);
    bool sa = strncmp(p->name, "system:serviceaccount:", 22) == 0;
    if (sa) {
        q->actor = A_APP_SA;
        q->groups[0] = "system:serviceaccounts";
        q->groups[1] = p->group;
        q->groups[2] = "system:authenticated";
    } else {
        q->groups[0] = p->group;
        q->groups[1] = "system:authenticated";
    }
    if (p->platform)
        snprintf(q->user_agent, sizeof q->user_agent, "kubectl/%s (%s) kubernetes/%.7s",
                 K8S_VERSION, p->platform, K8S_COMMIT);
    else
        snprintf(q->user_agent, sizeof q->user_agent, "python-requests/2.31.0");
    snprintf(q->reason, sizeof q->reason,
             "RBAC: allowed by ClusterRoleBinding \"%s\" of ClusterRole \"%s\" to %s \"%s\"",
             p->role, p->role, sa ? "ServiceAccount" : "Group", sa ? p->name : p->group);
}

/* Names the object of request q (namespace may be NULL). */
static void scen_object(struct k8s_request *q, const char *ns, const char *name)
{
    q->ns = ns;
    snprintf(q->name, sizeof q->name, "%s", name ? name : "");
    q->app = name && name[0] ? name : "app";
}

/* Completes q: query string as the clients send it, and the latency. */
static void scen_finish(struct gen *g, struct k8s_request *q)
{
    if (!q->app)
        q->app = "app";
    k8s_fill_query(g, q, 0);
    q->stage_us = q->received_us + k8s_latency(g, q);
}

/* ======================================================================
 * Labels
 * ====================================================================== */

/* "2026-03-01T00:12:03.250Z" */
static void sb_time_label(struct sb *b, int64_t ms)
{
    struct tm tm;
    long frac;
    split_time(ms * 1000, &tm, &frac);
    sb_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
              tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac / 1000);
}

static void attack_begin(struct scen *s, const char *name)
{
    s->attack = name;
    s->attack_from_ms = -1;
    s->attack_to_ms = -1;
    s->npending = 0;
}

/* Declares that the current attack must raise `rule` for the group given
 * as NULL-terminated key, value pairs ("source.ip", ip, NULL).  Keys are
 * the rule's group-by fields; for single-event rules, fields of the alert
 * that pin the attack down (user, namespace, host). */
static void attack_label(struct scen *s, const char *rule, ...)
{
    if (s->npending == SCEN_MAX_LABELS) {
        fprintf(stderr, "gen: attack %s has too many labels\n", s->attack);
        exit(1);
    }
    struct scen_label *l = &s->pending[s->npending++];
    memset(l, 0, sizeof *l);
    l->rule = rule;
    va_list ap;
    va_start(ap, rule);
    const char *key;
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        if (l->n == SCEN_MAX_GROUP) {
            fprintf(stderr, "gen: label %s has too many group fields\n", rule);
            exit(1);
        }
        l->keys[l->n] = key;
        snprintf(l->values[l->n], sizeof l->values[0], "%s", value);
        l->n++;
    }
    va_end(ap);
}

/* Writes the labels of the attack that just ended, with its time range. */
static void attack_end(struct scen *s)
{
    struct sb b = {0};
    for (size_t i = 0; i < s->npending; i++) {
        const struct scen_label *l = &s->pending[i];
        b.len = 0;
        sb_puts(&b, "{\"rule\":");
        sb_json_str(&b, l->rule);
        sb_puts(&b, ",\"group\":{");
        for (size_t k = 0; k < l->n; k++)
            sb_json_kv(&b, k == 0, l->keys[k], l->values[k]);
        sb_puts(&b, "},\"from\":\"");
        sb_time_label(&b, s->attack_from_ms);
        sb_puts(&b, "\",\"to\":\"");
        sb_time_label(&b, s->attack_to_ms);
        sb_puts(&b, "\",\"attack\":");
        sb_json_str(&b, s->attack);
        sb_puts(&b, "}\n");
        if (fwrite(b.buf, 1, b.len, s->labels) != b.len) {
            perror("gen: write labels");
            exit(1);
        }
    }
    free(b.buf);
    s->attack = NULL;
    s->npending = 0;
}

/* ======================================================================
 * Attack schedule
 * ====================================================================== */

struct attack {
    const char *name; /* the rule it is built to raise; what --attacks names */
    void (*run)(struct scen *s, int64_t t);
};

/* Defined further down the translation unit: */
static const struct attack *attack_table(size_t *n); /* scenario_attacks.c */
static void background_auth(struct scen *s); /* scenario_background.c */
static void background_k8s(struct scen *s);
static bool attack_addresses_ok(void); /* scenario_attacks.c */

/* Before the first attack and after the last one starts: room for the
 * longest attack (about three minutes) to end inside the run. */
#define ATTACK_LEAD_S 20
#define ATTACK_TAIL_S 240

/* Resolves --attacks into a list of indexes into attacks[].  Returns the
 * count, or -1 after printing what is wrong. */
static int attacks_select(const char *spec, size_t *out)
{
    size_t n_attacks;
    const struct attack *attacks = attack_table(&n_attacks);
    if (strcmp(spec, "none") == 0)
        return 0;
    if (strcmp(spec, "all") == 0) {
        for (size_t i = 0; i < n_attacks; i++)
            out[i] = i;
        return (int)n_attacks;
    }
    size_t n = 0;
    const char *p = spec;
    while (*p) {
        size_t len = strcspn(p, ",");
        size_t i = 0;
        while (i < n_attacks && (strlen(attacks[i].name) != len || strncmp(attacks[i].name, p, len)))
            i++;
        if (i == n_attacks || n == SCEN_MAX_ATTACKS) {
            fprintf(stderr, "gen: --attacks: no attack named '%.*s'; the attacks are:\n", (int)len,
                    p);
            for (size_t k = 0; k < n_attacks; k++)
                fprintf(stderr, "  %s\n", attacks[k].name);
            return -1;
        }
        out[n++] = i;
        p += len;
        if (*p == ',')
            p++;
    }
    return (int)n;
}

/* Runs the selected attacks, evenly spread over the run in table order
 * (each a little late by a random part of its slot, up to 20 s). */
static void attacks_run(struct scen *s, const size_t *chosen, size_t n)
{
    if (n == 0)
        return;
    size_t n_attacks;
    const struct attack *attacks = attack_table(&n_attacks);
    int64_t first = s->start_us + ATTACK_LEAD_S * SCEN_US;
    int64_t room = s->end_us - ATTACK_TAIL_S * SCEN_US - first;
    int64_t slot = room / (int64_t)n;
    int64_t jitter_max = slot / 3 < 20 * SCEN_US ? slot / 3 : 20 * SCEN_US;
    for (size_t i = 0; i < n; i++) {
        const struct attack *a = &attacks[chosen[i]];
        int64_t t = first + (int64_t)i * slot;
        t += (int64_t)rng_below(&s->atk->rng, (uint64_t)jitter_max + 1);
        attack_begin(s, a->name);
        a->run(s, t);
        attack_end(s);
    }
}

/* ======================================================================
 * Output
 * ====================================================================== */

static int rec_compare(const void *pa, const void *pb)
{
    const struct rec *a = pa, *b = pb;
    if (a->time_us != b->time_us)
        return a->time_us < b->time_us ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Sorts `list` by time and writes it to `path`.  Records at or after
 * `end_us` (the tail of a session that outlives the run) are left out. */
static bool rec_list_write(struct rec_list *list, const char *path, int64_t end_us)
{
    qsort(list->recs, list->n, sizeof list->recs[0], rec_compare);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "gen: cannot write %s: %s\n", path, strerror(errno));
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < list->n && ok; i++) {
        const struct rec *r = &list->recs[i];
        if (r->time_us >= end_us)
            break;
        ok = fwrite(list->text.buf + r->off, 1, r->len, f) == r->len;
    }
    if (fclose(f) != 0)
        ok = false;
    if (!ok)
        fprintf(stderr, "gen: writing %s failed\n", path);
    return ok;
}

static void rec_list_free(struct rec_list *list)
{
    free(list->recs);
    free(list->text.buf);
    memset(list, 0, sizeof *list);
}

/* ======================================================================
 * Entry
 * ====================================================================== */

/* Writes the scenario described by `o`.  Returns the exit status: 0, 1 on
 * an output error, 2 on a usage error. */
static int scenario_run(const struct scenario_opts *o)
{
    size_t chosen[SCEN_MAX_ATTACKS];
    int n = attacks_select(o->attacks, chosen);
    if (n < 0)
        return 2;
    if (n > 0 && (int64_t)o->minutes * 60 < ATTACK_LEAD_S + ATTACK_TAIL_S + 60) {
        fprintf(stderr, "gen: scenario: attacks need --minutes 6 or more\n");
        return 2;
    }
    if (!attack_addresses_ok()) {
        fputs("gen: scenario: an attack address overlaps the background's scanners\n", stderr);
        return 1;
    }

    struct scen s;
    memset(&s, 0, sizeof s);
    s.bg = malloc(sizeof *s.bg);
    s.atk = malloc(sizeof *s.atk);
    if (!s.bg || !s.atk) {
        fputs("gen: out of memory\n", stderr);
        exit(1);
    }
    gen_init(s.bg, o->seed, o->start_us, o->format);
    *s.atk = *s.bg; /* the same pools ... */
    memset(&s.atk->line, 0, sizeof s.atk->line);
    rng_seed(&s.atk->rng, o->seed ^ 0x61747461636b73ULL); /* ... and its own stream */
    for (size_t i = 0; i < N_ELEMS(legit_users); i++) {
        snprintf(s.user_ip[i][0], sizeof s.user_ip[i][0], "10.8.0.%zu", 20 + i);
        snprintf(s.user_ip[i][1], sizeof s.user_ip[i][1], "192.168.10.%zu", 30 + i);
    }
    s.start_us = o->start_us;
    s.end_us = o->start_us + (int64_t)o->minutes * 60 * SCEN_US;
    s.density = o->density;

    int status = 0;
    s.labels = fopen(o->labels_out, "w");
    if (!s.labels) {
        fprintf(stderr, "gen: cannot write %s: %s\n", o->labels_out, strerror(errno));
        status = 1;
        goto out;
    }
    background_auth(&s);
    background_k8s(&s);
    attacks_run(&s, chosen, (size_t)n);
    if (fclose(s.labels) != 0) {
        fprintf(stderr, "gen: writing %s failed\n", o->labels_out);
        status = 1;
    }
    if (!rec_list_write(&s.auth, o->auth_out, s.end_us) ||
        !rec_list_write(&s.k8s, o->k8s_out, s.end_us))
        status = 1;
out:
    rec_list_free(&s.auth);
    rec_list_free(&s.k8s);
    free(s.bg->line.buf);
    free(s.atk->line.buf);
    free(s.bg);
    free(s.atk);
    return status;
}
