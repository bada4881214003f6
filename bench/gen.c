/*
 * gen.c - deterministic synthetic auth logs and Kubernetes audit events.
 *
 * The decode benchmark, the demo data and (later) labeled attack scenarios
 * all need input that looks like production traffic but can be recreated
 * byte for byte anywhere.  This program writes such input to stdout:
 *
 *   gen auth --lines N   Linux auth.log lines (sshd, pam_unix, sudo, su, cron,
 *                        systemd-logind, useradd/groupadd, passwd)
 *   gen k8s --events N   kube-apiserver audit events, one JSON object a line
 *   gen scenario ...     both, as benign background traffic of a small
 *                        company plus injected attacks, and a labels file
 *                        naming the alert every attack must raise
 *                        (scenario.c; it writes files, not stdout)
 *
 * Determinism: every random choice comes from one xoshiro256** generator
 * seeded through splitmix64 from --seed; nothing reads the clock, the
 * environment or the locale (month names and number formats are our own), so
 * the same arguments give the same bytes on every machine and with every
 * compiler.  For the latter, every random value is drawn in a statement of
 * its own: C leaves the order in which function arguments (and the operands
 * of +) are evaluated unspecified, so `printf("%u %u", rng(), rng())` would
 * print different bytes with gcc and clang.
 *
 * Time: a virtual clock; the first record is at --start exactly, and the
 * clock moves forward 20-200 ms (uniform, microsecond resolution) before
 * each later one, so event time is strictly increasing.  All times are UTC.
 *
 * Structure, so that scenario modes can be added without touching the mix:
 *   - each auth line kind is one function `auth_<kind>(g, actor)` that writes
 *     exactly one line from the fields of an explicit `struct auth_actor`;
 *   - the default mix is the table `auth_kinds[]` (name, weight in per mille,
 *     which kind of actor to invent, emitter);
 *   - a k8s event is described by a `struct k8s_request` and written by
 *     k8s_write_event(); the default mix invents requests from the actor
 *     table `k8s_actors[]`, each with its own table of operations.
 * A scenario fills actors/requests itself and calls the same writers.
 *
 * Sections: PRNG, text buffer, clock, pools, auth lines, k8s events,
 * scenarios, main.  The scenario mode lives in scenario.c,
 * scenario_background.c and scenario_attacks.c, which this file includes:
 * gen stays one translation unit, so `cc -o gen bench/gen.c` (as
 * bench_decode.sh runs it) keeps building every mode.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ======================================================================
 * PRNG: xoshiro256** seeded by splitmix64
 * ====================================================================== */

struct rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
    uint64_t sm = seed;
    for (size_t i = 0; i < 4; i++)
        r->s[i] = splitmix64(&sm);
}

static uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Uniform integer in [0, n); n must be > 0.  Rejection keeps it unbiased. */
static uint64_t rng_below(struct rng *r, uint64_t n)
{
    uint64_t limit = -n % n; /* values below this would bias the modulo */
    uint64_t x;
    do
        x = rng_next(r);
    while (x < limit);
    return x % n;
}

/* Uniform integer in [lo, hi]. */
static uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi)
{
    return lo + rng_below(r, hi - lo + 1);
}

/* True with probability per_mille / 1000. */
static bool rng_chance(struct rng *r, unsigned per_mille)
{
    return rng_below(r, 1000) < per_mille;
}

/* Index in [0, n) skewed towards 0 (density falls linearly-squared), so a
 * few entries of a pool dominate, as a few noisy attackers do in real logs. */
static size_t rng_skewed(struct rng *r, size_t n)
{
    double u = (double)(rng_next(r) >> 11) / 9007199254740992.0; /* [0,1) */
    size_t i = (size_t)(u * u * u * (double)n);
    return i < n ? i : n - 1;
}

/* Weighted choice over a table of structs: `weights` points at the weight
 * member of the first element, `stride` is the element size.  Returns the
 * chosen index.  The total must be > 0. */
static size_t rng_weighted(struct rng *r, const unsigned *weights, size_t n, size_t stride)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += *(const unsigned *)((const char *)weights + i * stride);
    uint64_t x = rng_below(r, total);
    for (size_t i = 0; i < n; i++) {
        unsigned w = *(const unsigned *)((const char *)weights + i * stride);
        if (x < w)
            return i;
        x -= w;
    }
    return n - 1;
}

#define PICK_WEIGHTED(r, table) \
    rng_weighted((r), &(table)[0].weight, N_ELEMS(table), sizeof((table)[0]))
#define PICK(r, pool) ((pool)[rng_below((r), N_ELEMS(pool))])

/* ======================================================================
 * Text buffer: one output line is built here, then written in one fwrite
 * ====================================================================== */

struct sb {
    char *buf;
    size_t len, cap;
};

static void sb_reserve(struct sb *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->buf, cap);
    if (!p) {
        fputs("gen: out of memory\n", stderr);
        exit(1);
    }
    b->buf = p;
    b->cap = cap;
}

static void sb_putn(struct sb *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static void sb_putc(struct sb *b, char c)
{
    sb_putn(b, &c, 1);
}

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->buf ? b->buf + b->len : NULL, b->buf ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (!b->buf || (size_t)n + 1 > b->cap - b->len) {
        sb_reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

/* A JSON string literal, escaped the way Go's encoding/json (and so the
 * kube-apiserver) escapes: control characters, quote, backslash, and the
 * HTML-sensitive <, >, & as \u00XX.  Decoders must undo all of these. */
static void sb_json_str(struct sb *b, const char *s)
{
    sb_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            sb_putc(b, '\\');
            sb_putc(b, (char)c);
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            sb_printf(b, "\\u%04x", c);
        } else {
            sb_putc(b, (char)c);
        }
    }
    sb_putc(b, '"');
}

/* `"key":"value"` (value escaped), with a leading comma unless first. */
static void sb_json_kv(struct sb *b, bool first, const char *key, const char *value)
{
    if (!first)
        sb_putc(b, ',');
    sb_printf(b, "\"%s\":", key);
    sb_json_str(b, value);
}

/* ======================================================================
 * Clock: microseconds since the epoch, UTC
 * ====================================================================== */

static const char *const month_abbr[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void split_time(int64_t usec, struct tm *tm, long *frac_us)
{
    time_t secs = (time_t)(usec / 1000000);
    *frac_us = (long)(usec % 1000000);
    gmtime_r(&secs, tm);
}

/* "Mar  3 12:00:01" - RFC 3164 (BSD syslog) header time, no year, no zone. */
static void sb_time_rfc3164(struct sb *b, int64_t usec)
{
    struct tm tm;
    long frac;
    split_time(usec, &tm, &frac);
    sb_printf(b, "%s %2d %02d:%02d:%02d", month_abbr[tm.tm_mon], tm.tm_mday, tm.tm_hour,
              tm.tm_min, tm.tm_sec);
}

/* "2026-03-01T00:00:00.123456" followed by `zone` ("Z" or "+00:00"). */
static void sb_time_iso(struct sb *b, int64_t usec, const char *zone)
{
    struct tm tm;
    long frac;
    split_time(usec, &tm, &frac);
    sb_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%06ld%s", tm.tm_year + 1900, tm.tm_mon + 1,
              tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac, zone);
}

/* "2026-02-14T08:11:02Z" - seconds only, as in k8s object metadata. */
static void sb_time_iso_secs(struct sb *b, int64_t usec)
{
    struct tm tm;
    long frac;
    split_time(usec, &tm, &frac);
    sb_printf(b, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
              tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Parses YYYY-MM-DDTHH:MM:SS[.frac][Z|+HH:MM|-HH:MM] (no zone means UTC)
 * into microseconds since the epoch.  Returns false on any syntax error or
 * impossible field. */
static bool parse_start_time(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return false;
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 60 || h < 0 || mi < 0 || sec < 0)
        return false;
    const char *p = s + n;
    long frac_us = 0;
    if (*p == '.') {
        long scale = 100000;
        p++;
        if (*p < '0' || *p > '9')
            return false;
        for (; *p >= '0' && *p <= '9'; p++) {
            frac_us += (*p - '0') * scale;
            scale /= 10;
        }
    }
    long offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, m = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5 || oh > 23 || om > 59)
            return false;
        offset_s = (long)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    }
    if (*p != '\0')
        return false;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                    .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != d) /* timegm normalizes Feb 30 */
        return false;
    *out = ((int64_t)t - offset_s) * 1000000 + frac_us;
    return true;
}

/* ======================================================================
 * Generator state shared by both modes
 * ====================================================================== */

enum auth_format { FMT_RFC3164, FMT_ISO8601, FMT_MIXED };

#define N_HOSTS 44
#define N_ATTACKERS 480
#define N_CLIENTS 48
#define N_SESSIONS 256

/* Where an ssh login is in its life.  Each session line of the mix needs a
 * session in one stage and moves it to the next, so the lines of one login
 * (same host, pid, user, address) appear in the real order:
 * Accepted -> pam session opened -> logind New session -> Disconnected /
 * Received disconnect -> pam session closed -> logind Removed session. */
enum session_stage {
    SS_NONE,          /* free slot; for a line kind: needs no session */
    SS_ACCEPTED,
    SS_PAM_OPENED,
    SS_ACTIVE,
    SS_DISCONNECTED,
    SS_CLOSED,
};

/* One accepted ssh login, in a ring: the oldest is forgotten when full. */
struct auth_session {
    enum session_stage stage;
    int host;
    unsigned pid;
    unsigned user;
    unsigned logind_id;
    const char *ip;
    unsigned port;
};

/* Records collected instead of written (scenario mode): the background and
 * the attacks are generated one activity at a time, out of time order, and
 * sorted by (time, seq) before they are written.  seq is the order of
 * collection, so equal times keep a fixed order. */
struct rec {
    int64_t time_us;
    uint64_t seq;
    size_t off, len; /* the line, '\n' included, in the list's text */
};

struct rec_list {
    struct rec *recs;
    size_t n, cap;
    struct sb text;
};

struct gen {
    struct rng rng;
    int64_t now_us;           /* virtual clock, advanced before each record */
    struct sb line;           /* the record being written */
    enum auth_format format;
    struct rec_list *collect; /* non-NULL: records go here, not to stdout */

    char hosts[N_HOSTS][24];
    char attackers[N_ATTACKERS][48]; /* public IPv4/IPv6 of scanners */
    char clients[N_CLIENTS][48];     /* office / VPN addresses of real users */
    char user_keys[32][44];          /* SHA256 fingerprint per legit user */
    unsigned logind_next[N_HOSTS];   /* next logind session number per host */
    struct auth_session sessions[N_SESSIONS];
    size_t session_next;
    unsigned next_uid;               /* for useradd/groupadd */
};

static void gen_advance(struct gen *g)
{
    g->now_us += (int64_t)rng_range(&g->rng, 20000, 200000);
}

/* Appends the line in g->line, stamped with time `time_us`, to `list`. */
static void rec_list_add(struct rec_list *list, int64_t time_us, const struct sb *line)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 1024;
        struct rec *p = realloc(list->recs, cap * sizeof *p);
        if (!p) {
            fputs("gen: out of memory\n", stderr);
            exit(1);
        }
        list->recs = p;
        list->cap = cap;
    }
    struct rec *r = &list->recs[list->n];
    r->time_us = time_us;
    r->seq = list->n++;
    r->off = list->text.len;
    r->len = line->len;
    sb_putn(&list->text, line->buf, line->len);
}

/* Writes the finished line plus '\n' to stdout (or, in scenario mode, to
 * the collecting list, stamped with the virtual clock) and empties the
 * buffer. */
static void gen_flush_line(struct gen *g)
{
    sb_putc(&g->line, '\n');
    if (g->collect) {
        rec_list_add(g->collect, g->now_us, &g->line);
        g->line.len = 0;
        return;
    }
    if (fwrite(g->line.buf, 1, g->line.len, stdout) != g->line.len) {
        perror("gen: write");
        exit(1);
    }
    g->line.len = 0;
}

/* ======================================================================
 * Pools: hosts, users, addresses, commands
 * ====================================================================== */

static const char *const legit_users[] = {
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
    "ivan", "judy", "mike", "nina", "oscar", "peggy", "deploy", "ubuntu",
    "ansible", "backup", "jenkins", "gitlab-runner",
};

/* Names that scanners try; none exists on our hosts. */
static const char *const invalid_users[] = {
    "admin", "test", "user", "oracle", "postgres", "ftpuser", "guest", "git",
    "pi", "ubnt", "support", "hadoop", "minecraft", "test1", "administrator",
    "nagios", "tomcat", "mysql", "ec2-user", "centos", "debian", "solana",
    "sol", "validator", "es", "elastic", "steam", "dev", "server", "vagrant",
    "user1", "odoo", "teamspeak", "zabbix", "kafka", "redis", "docker",
    "node", "student", "www", "default", "info", "operator", "ts3", "butter",
};

/* First octets seen often in SSH scanning traffic. */
static const unsigned scanner_octets[] = {
    5, 27, 36, 43, 45, 46, 58, 59, 60, 61, 62, 77, 79, 80, 81, 85, 89, 91,
    92, 101, 103, 104, 106, 107, 110, 112, 113, 114, 115, 116, 117, 118, 119,
    120, 121, 122, 123, 124, 125, 134, 138, 139, 141, 143, 146, 147, 149,
    150, 152, 154, 157, 159, 161, 162, 164, 165, 167, 170, 175, 176, 177,
    178, 179, 180, 181, 182, 183, 185, 186, 187, 188, 189, 190, 191, 193,
    194, 195, 196, 197, 200, 201, 202, 203, 206, 209, 210, 211, 212, 213,
    217, 218, 219, 220, 221, 222,
};

static const char *const sudo_commands[] = {
    "/usr/bin/apt-get install -y nginx",
    "/usr/bin/apt-get update",
    "/usr/bin/systemctl restart nginx",
    "/usr/bin/systemctl status postgresql",
    "/usr/bin/journalctl -u sshd --since today",
    "/usr/bin/tail -f /var/log/syslog",
    "/usr/bin/docker ps",
    "/usr/bin/vim /etc/nginx/sites-available/default",
    "/usr/bin/cat /etc/shadow",
    "/bin/bash",
    "/usr/bin/su -",
    "/usr/sbin/ufw status",
    "/usr/bin/crictl ps",
    "/usr/bin/kubectl get pods -A",
    "/usr/bin/ls -la /root",
    "/usr/sbin/reboot",
    "/usr/bin/chown -R www-data:www-data /srv/app",
    "/usr/bin/rsync -a /srv/app/ /backup/app/",
};

static const char *const sudo_pwds[] = {"/home/%s", "/home/%s", "/home/%s", "/etc/nginx",
                                        "/var/log", "/srv/app", "/tmp", "/"};

static const char *const new_account_names[] = {
    "svc-backup", "svc-metrics", "svc-deploy", "contractor", "tmpuser", "build",
    "support2", "sysadmin", "monitor", "etl",
};

static void init_hosts(struct gen *g)
{
    size_t i = 0;
    for (int k = 1; k <= 20; k++)
        snprintf(g->hosts[i++], sizeof g->hosts[0], "web-%02d", k);
    for (int k = 1; k <= 6; k++)
        snprintf(g->hosts[i++], sizeof g->hosts[0], "db-%02d", k);
    for (int k = 1; k <= 4; k++)
        snprintf(g->hosts[i++], sizeof g->hosts[0], "cache-%02d", k);
    for (int k = 1; k <= 2; k++)
        snprintf(g->hosts[i++], sizeof g->hosts[0], "bastion-%02d", k);
    for (int k = 1; k <= 4; k++)
        snprintf(g->hosts[i++], sizeof g->hosts[0], "ci-runner-%02d", k);
    for (int k = 1; k <= 8; k++)
        snprintf(g->hosts[i++], sizeof g->hosts[0], "k8s-node-%02d", k);
}

/* A public IPv4 address from a scanner-heavy /8, or (1 in 20) an IPv6
 * address in a hosting provider's style.  Written in canonical text form. */
static void make_attacker_ip(struct gen *g, char *out, size_t size)
{
    struct rng *r = &g->rng;
    if (rng_chance(r, 50)) {
        static const char *const prefixes[] = {"2a01:4f8", "2a03:b0c0", "2604:a880",
                                               "2001:41d0", "240e:3b7", "2a0e:97c0"};
        const char *prefix = PICK(r, prefixes);
        unsigned h1 = (unsigned)rng_range(r, 1, 0xffff);
        unsigned h2 = (unsigned)rng_range(r, 1, 0xffff);
        unsigned h3 = (unsigned)rng_range(r, 1, 0xffff);
        snprintf(out, size, "%s:%x:%x::%x", prefix, h1, h2, h3);
        return;
    }
    unsigned o1 = PICK(r, scanner_octets);
    unsigned o2 = (unsigned)rng_below(r, 256);
    unsigned o3 = (unsigned)rng_below(r, 256);
    unsigned o4 = (unsigned)rng_range(r, 1, 254);
    snprintf(out, size, "%u.%u.%u.%u", o1, o2, o3, o4);
}

/* Office, VPN and jump-host addresses from private ranges, a few IPv6 ULAs. */
static void make_client_ip(struct gen *g, char *out, size_t size)
{
    struct rng *r = &g->rng;
    unsigned kind = (unsigned)rng_below(r, 6);
    unsigned a, b, c;
    switch (kind) {
    case 0:
        a = (unsigned)rng_range(r, 10, 12);
        b = (unsigned)rng_range(r, 2, 250);
        snprintf(out, size, "192.168.%u.%u", a, b);
        break;
    case 1:
        a = (unsigned)rng_range(r, 0, 3);
        b = (unsigned)rng_range(r, 2, 250);
        snprintf(out, size, "172.16.%u.%u", a, b);
        break;
    case 2:
        snprintf(out, size, "fd12:3456:789a:1::%x", (unsigned)rng_range(r, 0x10, 0xfff));
        break;
    default:
        a = (unsigned)rng_range(r, 8, 20);
        b = (unsigned)rng_below(r, 256);
        c = (unsigned)rng_range(r, 2, 250);
        snprintf(out, size, "10.%u.%u.%u", a, b, c);
        break;
    }
}

/* 43 base64 characters, the length of an unpadded SHA-256 fingerprint. */
static void make_fingerprint(struct gen *g, char *out, size_t size)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = size - 1 < 43 ? size - 1 : 43;
    for (size_t i = 0; i < n; i++)
        out[i] = b64[rng_below(&g->rng, 64)];
    out[n] = '\0';
}

/* Seeds the RNG and fills every pool.  The pools are drawn from the same
 * stream as the records, so they too depend only on the seed. */
static void gen_init(struct gen *g, uint64_t seed, int64_t start_us, enum auth_format format)
{
    memset(g, 0, sizeof *g);
    rng_seed(&g->rng, seed);
    g->now_us = start_us;
    g->format = format;
    init_hosts(g);
    for (size_t i = 0; i < N_ATTACKERS; i++)
        make_attacker_ip(g, g->attackers[i], sizeof g->attackers[i]);
    for (size_t i = 0; i < N_CLIENTS; i++)
        make_client_ip(g, g->clients[i], sizeof g->clients[i]);
    for (size_t i = 0; i < N_ELEMS(legit_users); i++)
        make_fingerprint(g, g->user_keys[i], sizeof g->user_keys[i]);
    for (size_t i = 0; i < N_HOSTS; i++)
        g->logind_next[i] = (unsigned)rng_range(&g->rng, 1, 4000);
    g->next_uid = 1100;
}

/* ======================================================================
 * Auth log lines
 * ====================================================================== */

/* Everything a line may mention.  The default mix invents actors with
 * actor_fill(); a scenario sets the fields it wants and calls an emitter. */
struct auth_actor {
    int host;             /* index into g->hosts */
    unsigned pid;         /* of the logging process; 0 = none printed */
    const char *user;     /* login / target user */
    int user_index;       /* index into legit_users[], or -1 */
    unsigned uid;         /* of `user` when it is local */
    const char *ip;       /* remote address */
    unsigned port;        /* remote port */
    const char *key_type; /* RSA, ED25519, ECDSA */
    const char *key_fp;   /* fingerprint without the SHA256: prefix */
    unsigned tty;         /* pts number */
    unsigned logind_id;   /* systemd-logind session number */
    int session;          /* slot in g->sessions, or -1 */
    /* Set by scenarios for the lines that name them (the default mix
     * chooses these itself and leaves them NULL): */
    const char *command;  /* sudo COMMAND= */
    const char *pwd;      /* sudo PWD= */
    const char *target;   /* sudo USER=; the account or member of shadow-utils lines */
    const char *group;    /* the group of groupadd/gpasswd lines */
    const char *reason;   /* sudo's failure text ("user NOT in sudoers") */
    bool no_tty;          /* sudo without a terminal (Ansible, CI): no TTY= */
};

enum actor_role {
    ROLE_SCANNER_VALID,   /* public IP, tries root or a real user name */
    ROLE_SCANNER_INVALID, /* public IP, tries a name that does not exist */
    ROLE_LEGIT_REMOTE,    /* a real user logging in from the office/VPN */
    ROLE_SESSION,         /* a login accepted earlier (from the session ring) */
    ROLE_ANY_REMOTE,      /* half ROLE_SESSION, half ROLE_SCANNER_VALID */
    ROLE_LOCAL,           /* a real user already on the host (sudo, su) */
    ROLE_SYSTEM,          /* root jobs and daemons */
};

static unsigned legit_uid(size_t user_index)
{
    return 1000 + (unsigned)user_index;
}

/* Per-host habits: two thirds of the hosts run a newer pam_unix that
 * prints "user NAME(uid=N)"; with --format mixed, the odd hosts log in
 * ISO 8601 (rsyslog high precision), the even ones in RFC 3164. */
static bool host_is_modern(int host)
{
    return host % 3 != 0;
}

static unsigned host_logind_pid(int host)
{
    return 640 + (unsigned)host * 13;
}

/* Starts a line: "<time> <host> <prog>[<pid>]: " (no [pid] when pid = 0). */
static void auth_begin(struct gen *g, int host, const char *prog, unsigned pid)
{
    bool iso = g->format == FMT_ISO8601 || (g->format == FMT_MIXED && host % 2 == 1);
    if (iso)
        sb_time_iso(&g->line, g->now_us, "+00:00");
    else
        sb_time_rfc3164(&g->line, g->now_us);
    sb_printf(&g->line, " %s %s", g->hosts[host], prog);
    if (pid)
        sb_printf(&g->line, "[%u]", pid);
    sb_puts(&g->line, ": ");
}

static unsigned new_pid(struct gen *g)
{
    return (unsigned)rng_range(&g->rng, 1200, 3999999);
}

/* Scanners mostly hit the internet-facing hosts: bastions and web. */
static int scanner_target_host(struct gen *g)
{
    if (rng_chance(&g->rng, 350))
        return 30 + (int)rng_below(&g->rng, 2); /* bastion-01/02 */
    return (int)rng_below(&g->rng, 20);        /* web-01..20 */
}

/* Remembers an accepted login so later lines can refer to it.  Only logins
 * of legit users (user_index >= 0) are remembered. */
static void session_open(struct gen *g, const struct auth_actor *a)
{
    if (a->user_index < 0)
        return;
    size_t slot = g->session_next++ % N_SESSIONS;
    struct auth_session *s = &g->sessions[slot];
    s->stage = SS_ACCEPTED;
    s->host = a->host;
    s->pid = a->pid;
    s->user = (unsigned)a->user_index;
    s->logind_id = g->logind_next[a->host]++;
    s->ip = a->ip;
    s->port = a->port;
}

/* The newest session in `stage`, or -1 when there is none.  Newest first
 * keeps a login's lines close together and leaves the stale ones to be
 * overwritten by the ring. */
static int session_pick(struct gen *g, enum session_stage stage)
{
    for (size_t k = 1; k <= N_SESSIONS; k++) {
        size_t slot = (g->session_next - k) % N_SESSIONS;
        if (g->sessions[slot].stage == stage)
            return (int)slot;
    }
    return -1;
}

/* Moves a session to its next stage after one of its lines was written. */
static void session_advance(struct gen *g, int slot)
{
    struct auth_session *s = &g->sessions[slot];
    s->stage = s->stage == SS_CLOSED ? SS_NONE : s->stage + 1;
}

static void actor_from_legit(struct gen *g, struct auth_actor *a, size_t user_index)
{
    static const char *const key_types[] = {"ED25519", "ED25519", "RSA", "ECDSA"};
    a->user = legit_users[user_index];
    a->user_index = (int)user_index;
    a->uid = legit_uid(user_index);
    a->key_type = key_types[user_index % N_ELEMS(key_types)];
    a->key_fp = g->user_keys[user_index];
}

/* Invents an actor for one line of the default mix.  For ROLE_SESSION the
 * actor is the oldest remembered login in stage `needs`, or, when there is
 * none, a fresh legit login that is not remembered. */
static void actor_fill(struct gen *g, enum actor_role role, enum session_stage needs,
                       struct auth_actor *a)
{
    struct rng *r = &g->rng;
    memset(a, 0, sizeof *a);
    a->session = -1;
    a->user_index = -1;
    if (role == ROLE_ANY_REMOTE)
        role = rng_chance(r, 500) ? ROLE_SESSION : ROLE_SCANNER_VALID;
    if (role != ROLE_SESSION)
        needs = SS_NONE;
    a->pid = new_pid(g);
    a->tty = (unsigned)rng_below(r, 6);
    switch (role) {
    case ROLE_ANY_REMOTE: /* resolved above; never reached */
    case ROLE_SCANNER_VALID:
    case ROLE_SCANNER_INVALID:
        a->host = scanner_target_host(g);
        a->ip = g->attackers[rng_skewed(r, N_ATTACKERS)];
        a->port = (unsigned)rng_range(r, 1024, 65535);
        if (role == ROLE_SCANNER_INVALID)
            a->user = invalid_users[rng_skewed(r, N_ELEMS(invalid_users))];
        else if (rng_chance(r, 750))
            a->user = "root", a->uid = 0;
        else
            actor_from_legit(g, a, rng_below(r, N_ELEMS(legit_users)));
        return;
    case ROLE_SESSION: {
        int slot = needs == SS_NONE ? -1 : session_pick(g, needs);
        if (slot >= 0) {
            const struct auth_session *s = &g->sessions[slot];
            a->session = slot;
            a->host = s->host;
            a->pid = s->pid;
            a->ip = s->ip;
            a->port = s->port;
            a->logind_id = s->logind_id;
            actor_from_legit(g, a, s->user);
            return;
        }
    } /* no open session: invent a fresh legit login */
    /* fall through */
    case ROLE_LEGIT_REMOTE:
        a->host = (int)rng_below(r, N_HOSTS);
        a->ip = g->clients[rng_below(r, N_CLIENTS)];
        a->port = (unsigned)rng_range(r, 32768, 60999);
        a->logind_id = g->logind_next[a->host];
        actor_from_legit(g, a, rng_below(r, N_ELEMS(legit_users)));
        return;
    case ROLE_LOCAL:
        a->host = (int)rng_below(r, N_HOSTS);
        actor_from_legit(g, a, rng_below(r, 14)); /* humans, not service users */
        return;
    case ROLE_SYSTEM:
        a->host = (int)rng_below(r, N_HOSTS);
        a->user = "root";
        a->uid = 0;
        return;
    }
}

/* --- sshd: failures ------------------------------------------------- */

static void auth_ssh_failed_password(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    sb_printf(&g->line, "Failed password for %s from %s port %u ssh2", a->user, a->ip, a->port);
}

static void auth_ssh_failed_invalid(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    sb_printf(&g->line, "Failed password for invalid user %s from %s port %u ssh2", a->user, a->ip,
              a->port);
}

static void auth_ssh_invalid_user(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    sb_printf(&g->line, "Invalid user %s from %s port %u", a->user, a->ip, a->port);
}

static void auth_pam_sshd_failure(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    sb_printf(&g->line,
              "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
              "ruser= rhost=%s  user=%s",
              a->ip, a->user);
}

static void auth_ssh_closed_preauth(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    sb_printf(&g->line, "Connection closed by authenticating user %s %s port %u [preauth]", a->user,
              a->ip, a->port);
}

static void auth_ssh_disconnected_invalid(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    sb_printf(&g->line, "Disconnected from invalid user %s %s port %u [preauth]", a->user, a->ip,
              a->port);
}

static void auth_ssh_max_attempts(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    sb_printf(&g->line,
              "error: maximum authentication attempts exceeded for %s from %s port %u ssh2 "
              "[preauth]",
              a->user, a->ip, a->port);
}

static void auth_su_failed(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "su", a->pid);
    if (rng_chance(&g->rng, 500))
        sb_printf(&g->line, "FAILED SU (to root) %s on pts/%u", a->user, a->tty);
    else
        sb_printf(&g->line,
                  "pam_unix(su:auth): authentication failure; logname=%s uid=%u euid=0 "
                  "tty=/dev/pts/%u ruser=%s rhost=  user=root",
                  a->user, a->uid, a->tty, a->user);
}

/* --- sshd: successes ------------------------------------------------ */

static void auth_ssh_accepted_publickey(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    sb_printf(&g->line, "Accepted publickey for %s from %s port %u ssh2: %s SHA256:%s", a->user,
              a->ip, a->port, a->key_type, a->key_fp);
    session_open(g, a);
}

static void auth_ssh_accepted_password(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    sb_printf(&g->line, "Accepted password for %s from %s port %u ssh2", a->user, a->ip, a->port);
    session_open(g, a);
}

static void auth_su_success(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "su", a->pid);
    sb_printf(&g->line, "(to root) %s on pts/%u", a->user, a->tty);
}

/* --- sudo ----------------------------------------------------------- */

static void sudo_pwd(struct gen *g, const struct auth_actor *a, char *out, size_t size)
{
    const char *fmt = PICK(&g->rng, sudo_pwds);
    if (strstr(fmt, "%s"))
        snprintf(out, size, "/home/%s", a->user);
    else
        snprintf(out, size, "%s", fmt);
}

static void auth_sudo_command(struct gen *g, const struct auth_actor *a)
{
    char pwd[64];
    sudo_pwd(g, a, pwd, sizeof pwd);
    const char *target = rng_chance(&g->rng, 60) ? "postgres" : "root";
    auth_begin(g, a->host, "sudo", 0);
    sb_printf(&g->line, "%8s : TTY=pts/%u ; PWD=%s ; USER=%s ; COMMAND=%s", a->user, a->tty, pwd,
              target, PICK(&g->rng, sudo_commands));
}

static void auth_sudo_incorrect(struct gen *g, const struct auth_actor *a)
{
    char pwd[64];
    sudo_pwd(g, a, pwd, sizeof pwd);
    unsigned tries = (unsigned)rng_range(&g->rng, 1, 3);
    auth_begin(g, a->host, "sudo", 0);
    sb_printf(&g->line,
              "%8s : %u incorrect password attempt%s ; TTY=pts/%u ; PWD=%s ; USER=root ; "
              "COMMAND=%s",
              a->user, tries, tries == 1 ? "" : "s", a->tty, pwd, PICK(&g->rng, sudo_commands));
}

static void auth_sudo_pam_failure(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sudo", 0);
    sb_printf(&g->line,
              "pam_unix(sudo:auth): authentication failure; logname=%s uid=%u euid=0 "
              "tty=/dev/pts/%u ruser=%s rhost=  user=%s",
              a->user, a->uid, a->tty, a->user, a->user);
}

/* --- sessions and noise --------------------------------------------- */

static void auth_ssh_session_opened(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    if (host_is_modern(a->host))
        sb_printf(&g->line, "pam_unix(sshd:session): session opened for user %s(uid=%u) by (uid=0)",
                  a->user, a->uid);
    else
        sb_printf(&g->line, "pam_unix(sshd:session): session opened for user %s by (uid=0)",
                  a->user);
}

static void auth_ssh_session_closed(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    sb_printf(&g->line, "pam_unix(sshd:session): session closed for user %s", a->user);
}

static void auth_ssh_received_disconnect(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    if (a->session >= 0)
        sb_printf(&g->line, "Received disconnect from %s port %u:11: disconnected by user", a->ip,
                  a->port);
    else
        sb_printf(&g->line, "Received disconnect from %s port %u:11: Bye Bye [preauth]", a->ip,
                  a->port);
}

static void auth_ssh_disconnected_user(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    sb_printf(&g->line, "Disconnected from user %s %s port %u", a->user, a->ip, a->port);
}

static void auth_ssh_connection_closed(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "sshd", a->pid);
    sb_printf(&g->line, "Connection closed by %s port %u [preauth]", a->ip, a->port);
}

static void auth_cron_session_opened(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "CRON", a->pid);
    if (host_is_modern(a->host))
        sb_printf(&g->line, "pam_unix(cron:session): session opened for user %s(uid=%u) by (uid=0)",
                  a->user, a->uid);
    else
        sb_printf(&g->line, "pam_unix(cron:session): session opened for user %s by (uid=0)",
                  a->user);
}

static void auth_cron_session_closed(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "CRON", a->pid);
    sb_printf(&g->line, "pam_unix(cron:session): session closed for user %s", a->user);
}

static void auth_logind_new_session(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "systemd-logind", host_logind_pid(a->host));
    sb_printf(&g->line, "New session %u of user %s.", a->logind_id, a->user);
}

static void auth_logind_removed_session(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "systemd-logind", host_logind_pid(a->host));
    if (rng_chance(&g->rng, 400))
        sb_printf(&g->line, "Session %u logged out. Waiting for processes to exit.", a->logind_id);
    else
        sb_printf(&g->line, "Removed session %u.", a->logind_id);
}

/* An account name for useradd/groupadd: a pool name plus a number. */
static void new_account(struct gen *g, char *out, size_t size)
{
    snprintf(out, size, "%s%u", PICK(&g->rng, new_account_names), g->next_uid % 100);
}

static void auth_useradd(struct gen *g, const struct auth_actor *a)
{
    char name[40];
    new_account(g, name, sizeof name);
    unsigned id = g->next_uid++;
    auth_begin(g, a->host, "useradd", a->pid);
    sb_printf(&g->line,
              "new user: name=%s, UID=%u, GID=%u, home=/home/%s, shell=/bin/bash, from=/dev/pts/%u",
              name, id, id, name, a->tty);
}

static void auth_groupadd(struct gen *g, const struct auth_actor *a)
{
    char name[40];
    new_account(g, name, sizeof name);
    unsigned id = g->next_uid++;
    auth_begin(g, a->host, "groupadd", a->pid);
    if (rng_chance(&g->rng, 500))
        sb_printf(&g->line, "group added to /etc/group: name=%s, GID=%u", name, id);
    else
        sb_printf(&g->line, "new group: name=%s, GID=%u", name, id);
}

static void auth_passwd_changed(struct gen *g, const struct auth_actor *a)
{
    auth_begin(g, a->host, "passwd", a->pid);
    sb_printf(&g->line, "pam_unix(passwd:chauthtok): password changed for %s", a->user);
}

/* The default mix.  Weights are per mille and sum to 1000: failures 300,
 * successes 200, sudo 100, sessions and noise 400. */
struct auth_kind {
    const char *name;
    unsigned weight;
    enum actor_role role;
    enum session_stage needs; /* for ROLE_SESSION/ROLE_ANY_REMOTE */
    void (*emit)(struct gen *g, const struct auth_actor *a);
};

static const struct auth_kind auth_kinds[] = {
    /* failures: 300 */
    {"ssh_failed_password", 90, ROLE_SCANNER_VALID, SS_NONE, auth_ssh_failed_password},
    {"ssh_failed_invalid_user", 60, ROLE_SCANNER_INVALID, SS_NONE, auth_ssh_failed_invalid},
    {"ssh_invalid_user", 50, ROLE_SCANNER_INVALID, SS_NONE, auth_ssh_invalid_user},
    {"pam_sshd_auth_failure", 45, ROLE_SCANNER_VALID, SS_NONE, auth_pam_sshd_failure},
    {"ssh_closed_preauth", 25, ROLE_SCANNER_VALID, SS_NONE, auth_ssh_closed_preauth},
    {"ssh_disconnected_invalid", 15, ROLE_SCANNER_INVALID, SS_NONE, auth_ssh_disconnected_invalid},
    {"ssh_max_attempts", 5, ROLE_SCANNER_VALID, SS_NONE, auth_ssh_max_attempts},
    {"su_failed", 10, ROLE_LOCAL, SS_NONE, auth_su_failed},
    /* successes: 200 */
    {"ssh_accepted_publickey", 110, ROLE_LEGIT_REMOTE, SS_NONE, auth_ssh_accepted_publickey},
    {"ssh_accepted_password", 60, ROLE_LEGIT_REMOTE, SS_NONE, auth_ssh_accepted_password},
    {"su_success", 30, ROLE_LOCAL, SS_NONE, auth_su_success},
    /* sudo: 100 */
    {"sudo_command", 80, ROLE_LOCAL, SS_NONE, auth_sudo_command},
    {"sudo_incorrect_password", 10, ROLE_LOCAL, SS_NONE, auth_sudo_incorrect},
    {"sudo_pam_failure", 10, ROLE_LOCAL, SS_NONE, auth_sudo_pam_failure},
    /* sessions and noise: 400; each session stage gets no more weight than
     * the one before it, so most session lines find a login to follow */
    {"ssh_session_opened", 70, ROLE_SESSION, SS_ACCEPTED, auth_ssh_session_opened},
    {"logind_new_session", 60, ROLE_SESSION, SS_PAM_OPENED, auth_logind_new_session},
    {"ssh_received_disconnect", 50, ROLE_ANY_REMOTE, SS_ACTIVE, auth_ssh_received_disconnect},
    {"ssh_disconnected_user", 25, ROLE_SESSION, SS_ACTIVE, auth_ssh_disconnected_user},
    {"ssh_session_closed", 45, ROLE_SESSION, SS_DISCONNECTED, auth_ssh_session_closed},
    {"logind_removed_session", 30, ROLE_SESSION, SS_CLOSED, auth_logind_removed_session},
    {"cron_session_opened", 60, ROLE_SYSTEM, SS_NONE, auth_cron_session_opened},
    {"cron_session_closed", 55, ROLE_SYSTEM, SS_NONE, auth_cron_session_closed},
    {"ssh_connection_closed", 2, ROLE_SCANNER_VALID, SS_NONE, auth_ssh_connection_closed},
    {"useradd", 1, ROLE_SYSTEM, SS_NONE, auth_useradd},
    {"groupadd", 1, ROLE_SYSTEM, SS_NONE, auth_groupadd},
    {"passwd_changed", 1, ROLE_LOCAL, SS_NONE, auth_passwd_changed},
};

/* Writes `lines` lines of the default mix. */
static void auth_generate(struct gen *g, uint64_t lines)
{
    for (uint64_t i = 0; i < lines; i++) {
        const struct auth_kind *k = &auth_kinds[PICK_WEIGHTED(&g->rng, auth_kinds)];
        struct auth_actor a;
        actor_fill(g, k->role, k->needs, &a);
        if (i > 0)
            gen_advance(g);
        k->emit(g, &a);
        if (a.session >= 0)
            session_advance(g, a.session);
        gen_flush_line(g);
    }
}

/* ======================================================================
 * Kubernetes audit events
 * ====================================================================== */

enum k8s_res {
    R_PODS, R_NODES, R_LEASES, R_CONFIGMAPS, R_SECRETS, R_SERVICES, R_ENDPOINTS,
    R_ENDPOINTSLICES, R_DEPLOYMENTS, R_REPLICASETS, R_EVENTS, R_SERVICEACCOUNTS,
    R_NAMESPACES, R_ROLEBINDINGS, R_CLUSTERROLEBINDINGS, R_INGRESSES, R_JOBS, R_PVCS,
    /* used by scenarios only */
    R_ROLES, R_CLUSTERROLES, R_DAEMONSETS, R_STATEFULSETS, R_NETWORKPOLICIES, R_CRDS,
    R_MUTATINGWEBHOOKS, R_SELFSUBJECTRULESREVIEWS,
    R_NONE, /* a non-resource URL such as /healthz: no objectRef */
};

struct k8s_resource {
    const char *name;    /* plural, as in objectRef.resource */
    const char *group;   /* "" for the core group */
    const char *version;
    const char *kind;
    bool namespaced;
};

static const struct k8s_resource k8s_resources[] = {
    [R_PODS] = {"pods", "", "v1", "Pod", true},
    [R_NODES] = {"nodes", "", "v1", "Node", false},
    [R_LEASES] = {"leases", "coordination.k8s.io", "v1", "Lease", true},
    [R_CONFIGMAPS] = {"configmaps", "", "v1", "ConfigMap", true},
    [R_SECRETS] = {"secrets", "", "v1", "Secret", true},
    [R_SERVICES] = {"services", "", "v1", "Service", true},
    [R_ENDPOINTS] = {"endpoints", "", "v1", "Endpoints", true},
    [R_ENDPOINTSLICES] = {"endpointslices", "discovery.k8s.io", "v1", "EndpointSlice", true},
    [R_DEPLOYMENTS] = {"deployments", "apps", "v1", "Deployment", true},
    [R_REPLICASETS] = {"replicasets", "apps", "v1", "ReplicaSet", true},
    [R_EVENTS] = {"events", "", "v1", "Event", true},
    [R_SERVICEACCOUNTS] = {"serviceaccounts", "", "v1", "ServiceAccount", true},
    [R_NAMESPACES] = {"namespaces", "", "v1", "Namespace", false},
    [R_ROLEBINDINGS] = {"rolebindings", "rbac.authorization.k8s.io", "v1", "RoleBinding", true},
    [R_CLUSTERROLEBINDINGS] = {"clusterrolebindings", "rbac.authorization.k8s.io", "v1",
                               "ClusterRoleBinding", false},
    [R_INGRESSES] = {"ingresses", "networking.k8s.io", "v1", "Ingress", true},
    [R_JOBS] = {"jobs", "batch", "v1", "Job", true},
    [R_PVCS] = {"persistentvolumeclaims", "", "v1", "PersistentVolumeClaim", true},
    [R_ROLES] = {"roles", "rbac.authorization.k8s.io", "v1", "Role", true},
    [R_CLUSTERROLES] = {"clusterroles", "rbac.authorization.k8s.io", "v1", "ClusterRole", false},
    [R_DAEMONSETS] = {"daemonsets", "apps", "v1", "DaemonSet", true},
    [R_STATEFULSETS] = {"statefulsets", "apps", "v1", "StatefulSet", true},
    [R_NETWORKPOLICIES] = {"networkpolicies", "networking.k8s.io", "v1", "NetworkPolicy", true},
    [R_CRDS] = {"customresourcedefinitions", "apiextensions.k8s.io", "v1",
                "CustomResourceDefinition", false},
    [R_MUTATINGWEBHOOKS] = {"mutatingwebhookconfigurations", "admissionregistration.k8s.io", "v1",
                            "MutatingWebhookConfiguration", false},
    [R_SELFSUBJECTRULESREVIEWS] = {"selfsubjectrulesreviews", "authorization.k8s.io", "v1",
                                   "SelfSubjectRulesReview", false},
    [R_NONE] = {"", "", "", "", false},
};

/* Workload namespaces with their applications. */
struct k8s_namespace {
    const char *name;
    unsigned weight;
    const char *apps[4];
};

static const struct k8s_namespace k8s_namespaces[] = {
    {"default", 4, {"hello-web", "nginx", NULL, NULL}},
    {"kube-system", 14, {"coredns", "metrics-server", "kube-proxy", "cilium-operator"}},
    {"payments", 12, {"payments-api", "ledger", "fraud-scorer", "payouts-worker"}},
    {"checkout", 12, {"checkout-api", "cart", "pricing", "tax-service"}},
    {"catalog", 8, {"catalog-api", "search-indexer", "image-resizer", NULL}},
    {"identity", 6, {"auth-gateway", "session-store", NULL, NULL}},
    {"monitoring", 9, {"prometheus-server", "grafana", "alertmanager", "kube-state-metrics"}},
    {"logging", 5, {"fluent-bit", "loki", NULL, NULL}},
    {"ingress-nginx", 5, {"ingress-nginx-controller", NULL, NULL, NULL}},
    {"cert-manager", 3, {"cert-manager", "cert-manager-webhook", "cert-manager-cainjector", NULL}},
    {"argocd", 5, {"argocd-server", "argocd-repo-server", "argocd-application-controller", NULL}},
    {"data", 5, {"postgres-operator", "kafka-broker", "redis-cache", NULL}},
};

#define N_NODES 12
#define K8S_VERSION "v1.29.3"
#define K8S_COMMIT "6813625b7cd706db5bc7388921be03071e1a492d"

/* Who sends the request; each actor has a table of the operations it does. */
enum k8s_actor_kind {
    A_KUBELET, A_CONTROLLER_MANAGER, A_SCHEDULER, A_CONTROLLER_SA, A_PROMETHEUS,
    A_APP_SA, A_ARGOCD, A_HUMAN, A_ANONYMOUS,
};

struct k8s_op {
    unsigned weight;
    const char *verb;
    enum k8s_res res;
    const char *subresource; /* NULL for none */
};

/* A fully described request; k8s_write_event() turns it into one line. */
struct k8s_request {
    enum k8s_actor_kind actor;
    char username[96];
    char uid[40];            /* user.uid, "" for none */
    const char *groups[4];
    char user_agent[160];
    char source_ip[48];
    const char *verb;
    enum k8s_res res;
    const char *subresource;
    const char *nonresource_path; /* for R_NONE */
    const char *ns;          /* NULL when cluster-scoped */
    char name[96];           /* "" for list/watch/create-without-name */
    const char *app;         /* workload the object belongs to */
    char query[200];         /* requestURI query, without '?' */
    int code;
    bool request_response;   /* level RequestResponse (bodies included) */
    int64_t received_us, stage_us;
    char reason[240];        /* authorization.k8s.io/reason */
    /* Set by scenarios (zero in the default mix): */
    bool no_user;            /* a 401: the apiserver logs "user": {} */
    const char *stage;       /* NULL for ResponseComplete */
    const char *request_body;  /* requestObject as JSON text; level Request */
    const char *pod_security;  /* enforce-policy of a pod create ("privileged:latest"),
                                  NULL for "restricted:latest" */
};

static const struct k8s_op ops_kubelet[] = {
    {20, "get", R_LEASES, NULL},  {20, "update", R_LEASES, NULL}, {8, "get", R_NODES, NULL},
    {8, "patch", R_NODES, "status"}, {4, "watch", R_PODS, NULL},  {2, "list", R_PODS, NULL},
    {10, "patch", R_PODS, "status"}, {6, "get", R_CONFIGMAPS, NULL},
    {3, "watch", R_CONFIGMAPS, NULL}, {4, "get", R_SECRETS, NULL}, {3, "watch", R_SECRETS, NULL},
    {6, "create", R_EVENTS, NULL}, {3, "create", R_SERVICEACCOUNTS, "token"},
    {3, "get", R_PODS, NULL},
};

static const struct k8s_op ops_controller_manager[] = {
    {30, "get", R_LEASES, NULL},  {30, "update", R_LEASES, NULL}, {6, "list", R_NODES, NULL},
    {6, "watch", R_PODS, NULL},   {4, "watch", R_DEPLOYMENTS, NULL},
    {4, "watch", R_REPLICASETS, NULL}, {5, "create", R_EVENTS, NULL},
    {4, "get", R_CONFIGMAPS, NULL}, {3, "list", R_NAMESPACES, NULL},
};

static const struct k8s_op ops_scheduler[] = {
    {30, "get", R_LEASES, NULL}, {30, "update", R_LEASES, NULL}, {15, "create", R_PODS, "binding"},
    {8, "watch", R_PODS, NULL},  {5, "list", R_NODES, NULL},     {6, "create", R_EVENTS, NULL},
    {4, "watch", R_NODES, NULL},
};

static const struct k8s_op ops_controller_sa[] = {
    {10, "update", R_REPLICASETS, "status"}, {6, "create", R_PODS, NULL},
    {4, "delete", R_PODS, NULL},             {10, "update", R_ENDPOINTS, NULL},
    {10, "update", R_ENDPOINTSLICES, NULL},  {8, "update", R_DEPLOYMENTS, "status"},
    {6, "patch", R_PODS, NULL},              {8, "get", R_REPLICASETS, NULL},
    {6, "list", R_PODS, NULL},               {6, "watch", R_ENDPOINTSLICES, NULL},
    {8, "create", R_EVENTS, NULL},           {3, "update", R_JOBS, "status"},
    {3, "delete", R_PODS, NULL},             {4, "get", R_SERVICEACCOUNTS, NULL},
    {2, "create", R_SECRETS, NULL},
};

static const struct k8s_op ops_prometheus[] = {
    {25, "list", R_PODS, NULL},  {25, "watch", R_PODS, NULL},     {10, "list", R_ENDPOINTS, NULL},
    {10, "watch", R_ENDPOINTS, NULL}, {8, "list", R_SERVICES, NULL}, {8, "watch", R_SERVICES, NULL},
    {6, "list", R_NODES, NULL},  {6, "watch", R_NODES, NULL},     {4, "get", R_NODES, "proxy"},
};

static const struct k8s_op ops_app_sa[] = {
    {25, "get", R_CONFIGMAPS, NULL}, {20, "get", R_SECRETS, NULL}, {15, "get", R_LEASES, NULL},
    {15, "update", R_LEASES, NULL},  {10, "list", R_PODS, NULL},   {8, "watch", R_CONFIGMAPS, NULL},
    {5, "create", R_EVENTS, NULL},   {2, "list", R_SECRETS, NULL},
};

static const struct k8s_op ops_argocd[] = {
    {20, "get", R_DEPLOYMENTS, NULL}, {15, "list", R_DEPLOYMENTS, NULL},
    {15, "watch", R_DEPLOYMENTS, NULL}, {12, "patch", R_DEPLOYMENTS, NULL},
    {8, "patch", R_SERVICES, NULL},   {8, "update", R_CONFIGMAPS, NULL},
    {6, "get", R_SECRETS, NULL},      {6, "patch", R_INGRESSES, NULL},
    {5, "create", R_JOBS, NULL},      {3, "delete", R_JOBS, NULL},
    {3, "patch", R_CONFIGMAPS, NULL},
};

static const struct k8s_op ops_human[] = {
    {25, "get", R_PODS, NULL},        {15, "list", R_PODS, NULL},
    {8, "get", R_PODS, "log"},        {4, "create", R_PODS, "exec"},
    {10, "get", R_DEPLOYMENTS, NULL}, {6, "list", R_DEPLOYMENTS, NULL},
    {6, "patch", R_DEPLOYMENTS, NULL}, {3, "patch", R_DEPLOYMENTS, "scale"},
    {4, "delete", R_PODS, NULL},      {5, "get", R_SECRETS, NULL},
    {4, "list", R_SERVICES, NULL},    {3, "get", R_CONFIGMAPS, NULL},
    {2, "update", R_CONFIGMAPS, NULL}, {1, "create", R_ROLEBINDINGS, NULL},
    {1, "create", R_NAMESPACES, NULL}, {1, "create", R_CLUSTERROLEBINDINGS, NULL},
    {2, "list", R_NAMESPACES, NULL},  {1, "create", R_PODS, "portforward"},
    {1, "delete", R_DEPLOYMENTS, NULL},
};

static const struct k8s_op ops_anonymous[] = {
    {40, "get", R_NONE, NULL}, {15, "list", R_SECRETS, NULL}, {15, "get", R_PODS, NULL},
    {10, "list", R_NAMESPACES, NULL},
};

struct k8s_actor_class {
    const char *name;
    unsigned weight;
    enum k8s_actor_kind kind;
    const struct k8s_op *ops;
    size_t n_ops;
};

#define OPS(table) table, N_ELEMS(table)

static const struct k8s_actor_class k8s_actors[] = {
    {"kubelet", 34, A_KUBELET, OPS(ops_kubelet)},
    {"kube-controller-manager", 10, A_CONTROLLER_MANAGER, OPS(ops_controller_manager)},
    {"kube-scheduler", 5, A_SCHEDULER, OPS(ops_scheduler)},
    {"controller-serviceaccount", 16, A_CONTROLLER_SA, OPS(ops_controller_sa)},
    {"prometheus", 8, A_PROMETHEUS, OPS(ops_prometheus)},
    {"app-serviceaccount", 10, A_APP_SA, OPS(ops_app_sa)},
    {"argocd", 6, A_ARGOCD, OPS(ops_argocd)},
    {"human", 10, A_HUMAN, OPS(ops_human)},
    {"anonymous", 1, A_ANONYMOUS, OPS(ops_anonymous)},
};

static const char *const kcm_controllers[] = {
    "replicaset-controller", "deployment-controller", "endpoint-controller",
    "endpointslice-controller", "generic-garbage-collector", "job-controller",
    "namespace-controller", "daemon-set-controller", "horizontal-pod-autoscaler",
    "pod-garbage-collector", "statefulset-controller", "cronjob-controller",
};

struct k8s_human {
    const char *email;
    const char *group;
    const char *platform;
};

static const struct k8s_human k8s_humans[] = {
    {"alice@example.com", "oidc:platform-admins", "darwin/arm64"},
    {"bob@example.com", "oidc:developers", "linux/amd64"},
    {"carol@example.com", "oidc:developers", "darwin/arm64"},
    {"dave@example.com", "oidc:sre", "linux/amd64"},
    {"erin@example.com", "oidc:developers", "windows/amd64"},
    {"frank@example.com", "oidc:data-eng", "darwin/amd64"},
};

static const char *const nonresource_paths[] = {
    "/", "/api", "/apis", "/version", "/healthz", "/livez", "/readyz", "/openapi/v2",
    "/.env", "/metrics",
};

static void node_name(unsigned i, char *out, size_t size)
{
    snprintf(out, size, "k8s-node-%02u", i + 1);
}

/* 8-4-4-4-12 hex, version 4 and RFC 4122 variant bits, from the PRNG. */
static void make_uuid(struct gen *g, char *out, size_t size)
{
    uint64_t hi = rng_next(&g->rng), lo = rng_next(&g->rng);
    hi = (hi & ~0xf000ULL) | 0x4000ULL;
    lo = (lo & ~(3ULL << 62)) | (2ULL << 62);
    snprintf(out, size, "%08x-%04x-%04x-%04x-%012" PRIx64, (unsigned)(hi >> 32),
             (unsigned)((hi >> 16) & 0xffff), (unsigned)(hi & 0xffff), (unsigned)(lo >> 48),
             (uint64_t)(lo & 0xffffffffffffULL));
}

/* "<app>-<10 hex>-<5 alnum>" like a ReplicaSet-owned pod. */
static void make_pod_name(struct gen *g, const char *app, char *out, size_t size)
{
    static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
    char suffix[6];
    for (size_t i = 0; i < 5; i++)
        suffix[i] = alnum[rng_below(&g->rng, sizeof alnum - 1)];
    suffix[5] = '\0';
    unsigned hash_hi = (unsigned)rng_below(&g->rng, 0x1000000);
    unsigned hash_lo = (unsigned)rng_below(&g->rng, 0x10000);
    snprintf(out, size, "%s-%06x%04x-%s", app, hash_hi, hash_lo, suffix);
}

/* An address in the pod network 10.244.0.0/16. */
static void make_pod_ip(struct gen *g, char *out, size_t size)
{
    unsigned net = (unsigned)rng_below(&g->rng, 12);
    unsigned host = (unsigned)rng_range(&g->rng, 2, 250);
    snprintf(out, size, "10.244.%u.%u", net, host);
}

static const struct k8s_namespace *find_namespace(const char *name)
{
    for (size_t i = 0; i < N_ELEMS(k8s_namespaces); i++)
        if (strcmp(k8s_namespaces[i].name, name) == 0)
            return &k8s_namespaces[i];
    return &k8s_namespaces[0];
}

static const struct k8s_namespace *pick_namespace(struct gen *g)
{
    return &k8s_namespaces[PICK_WEIGHTED(&g->rng, k8s_namespaces)];
}

static const char *pick_app(struct gen *g, const struct k8s_namespace *ns)
{
    size_t n = 0;
    while (n < N_ELEMS(ns->apps) && ns->apps[n])
        n++;
    return ns->apps[rng_below(&g->rng, n)];
}

/* Fills who sends the request: username, uid, groups, user agent, IP. */
static void k8s_fill_actor(struct gen *g, struct k8s_request *q, const struct k8s_namespace *ns,
                           unsigned node)
{
    struct rng *r = &g->rng;
    char nodename[32];
    node_name(node, nodename, sizeof nodename);
    switch (q->actor) {
    case A_KUBELET:
        snprintf(q->username, sizeof q->username, "system:node:%s", nodename);
        snprintf(q->uid, sizeof q->uid, "kubelet-%u", node);
        q->groups[0] = "system:nodes";
        q->groups[1] = "system:authenticated";
        snprintf(q->user_agent, sizeof q->user_agent, "kubelet/%s (linux/amd64) kubernetes/%.7s",
                 K8S_VERSION, K8S_COMMIT);
        snprintf(q->source_ip, sizeof q->source_ip, "10.0.1.%u", 11 + node);
        break;
    case A_CONTROLLER_MANAGER:
    case A_SCHEDULER: {
        bool kcm = q->actor == A_CONTROLLER_MANAGER;
        snprintf(q->username, sizeof q->username, "system:%s",
                 kcm ? "kube-controller-manager" : "kube-scheduler");
        q->groups[0] = "system:authenticated";
        snprintf(q->user_agent, sizeof q->user_agent, "%s/%s (linux/amd64) kubernetes/%.7s/%s",
                 kcm ? "kube-controller-manager" : "kube-scheduler", K8S_VERSION, K8S_COMMIT,
                 rng_chance(r, 600) ? "leader-election" : (kcm ? "shared-informers" : "scheduler"));
        snprintf(q->source_ip, sizeof q->source_ip, "10.0.0.%u", 10 + (unsigned)rng_below(r, 3));
        break;
    }
    case A_CONTROLLER_SA: {
        const char *c = PICK(r, kcm_controllers);
        snprintf(q->username, sizeof q->username, "system:serviceaccount:kube-system:%s", c);
        q->groups[0] = "system:serviceaccounts";
        q->groups[1] = "system:serviceaccounts:kube-system";
        q->groups[2] = "system:authenticated";
        snprintf(q->user_agent, sizeof q->user_agent,
                 "kube-controller-manager/%s (linux/amd64) kubernetes/%.7s/system:serviceaccount:"
                 "kube-system:%s",
                 K8S_VERSION, K8S_COMMIT, c);
        snprintf(q->source_ip, sizeof q->source_ip, "10.0.0.%u", 10 + (unsigned)rng_below(r, 3));
        break;
    }
    case A_PROMETHEUS:
        snprintf(q->username, sizeof q->username,
                 "system:serviceaccount:monitoring:prometheus-server");
        q->groups[0] = "system:serviceaccounts";
        q->groups[1] = "system:serviceaccounts:monitoring";
        q->groups[2] = "system:authenticated";
        snprintf(q->user_agent, sizeof q->user_agent, "Prometheus/2.51.1");
        snprintf(q->source_ip, sizeof q->source_ip, "10.244.%u.%u", 3u,
                 17 + (unsigned)rng_below(r, 2));
        break;
    case A_APP_SA:
        snprintf(q->username, sizeof q->username, "system:serviceaccount:%s:%s", ns->name, q->app);
        q->groups[0] = "system:serviceaccounts";
        q->groups[1] = "system:authenticated";
        snprintf(q->user_agent, sizeof q->user_agent, "%s/v0.0.0 (linux/amd64) kubernetes/$Format",
                 q->app);
        make_pod_ip(g, q->source_ip, sizeof q->source_ip);
        break;
    case A_ARGOCD:
        snprintf(q->username, sizeof q->username,
                 "system:serviceaccount:argocd:argocd-application-controller");
        q->groups[0] = "system:serviceaccounts";
        q->groups[1] = "system:serviceaccounts:argocd";
        q->groups[2] = "system:authenticated";
        snprintf(q->user_agent, sizeof q->user_agent,
                 "argocd-application-controller/v2.10.4 (linux/amd64) kubernetes/%.7s", K8S_COMMIT);
        snprintf(q->source_ip, sizeof q->source_ip, "10.244.7.%u", 30 + (unsigned)rng_below(r, 3));
        break;
    case A_HUMAN: {
        const struct k8s_human *h = &k8s_humans[rng_skewed(r, N_ELEMS(k8s_humans))];
        snprintf(q->username, sizeof q->username, "%s", h->email);
        q->groups[0] = h->group;
        q->groups[1] = "system:authenticated";
        snprintf(q->user_agent, sizeof q->user_agent, "kubectl/%s (%s) kubernetes/%.7s",
                 K8S_VERSION, h->platform, K8S_COMMIT);
        if (rng_chance(r, 100)) {
            unsigned net = (unsigned)rng_range(r, 1, 0xff);
            unsigned host = (unsigned)rng_range(r, 1, 0xfff);
            snprintf(q->source_ip, sizeof q->source_ip, "2001:db8:4a1:%x::%x", net, host);
        } else
            snprintf(q->source_ip, sizeof q->source_ip, "10.8.0.%u",
                     (unsigned)rng_range(r, 2, 60));
        break;
    }
    case A_ANONYMOUS:
        snprintf(q->username, sizeof q->username, "system:anonymous");
        q->groups[0] = "system:unauthenticated";
        snprintf(q->user_agent, sizeof q->user_agent, "%s",
                 rng_chance(r, 500) ? "curl/8.5.0" : "python-requests/2.31.0");
        make_attacker_ip(g, q->source_ip, sizeof q->source_ip);
        break;
    }
}

/* Chooses namespace and object name for the operation. */
static void k8s_fill_object(struct gen *g, struct k8s_request *q, const struct k8s_namespace *ns,
                            unsigned node)
{
    struct rng *r = &g->rng;
    const struct k8s_resource *res = &k8s_resources[q->res];
    bool named = strcmp(q->verb, "list") != 0 && strcmp(q->verb, "watch") != 0;
    char nodename[32];
    node_name(node, nodename, sizeof nodename);

    q->ns = res->namespaced ? ns->name : NULL;
    q->name[0] = '\0';
    if (q->res == R_LEASES) {
        /* node heartbeats, control-plane leader election, app leader election */
        if (q->actor == A_KUBELET) {
            q->ns = "kube-node-lease";
            snprintf(q->name, sizeof q->name, "%s", nodename);
        } else if (q->actor == A_CONTROLLER_MANAGER || q->actor == A_SCHEDULER) {
            q->ns = "kube-system";
            snprintf(q->name, sizeof q->name, "%s",
                     q->actor == A_SCHEDULER ? "kube-scheduler" : "kube-controller-manager");
        } else {
            snprintf(q->name, sizeof q->name, "%s-leader", q->app);
        }
        return;
    }
    if (!named)
        return;
    switch (q->res) {
    case R_PODS:
        make_pod_name(g, q->app, q->name, sizeof q->name);
        break;
    case R_NODES:
        snprintf(q->name, sizeof q->name, "%s", nodename);
        break;
    case R_CONFIGMAPS:
        snprintf(q->name, sizeof q->name, "%s",
                 rng_chance(r, 300) ? "kube-root-ca.crt" : q->app);
        if (strcmp(q->name, q->app) == 0)
            snprintf(q->name + strlen(q->name), sizeof q->name - strlen(q->name), "-config");
        break;
    case R_SECRETS:
        switch (rng_below(r, 4)) {
        case 0:
            snprintf(q->name, sizeof q->name, "%s-db-credentials", q->app);
            break;
        case 1:
            snprintf(q->name, sizeof q->name, "sh.helm.release.v1.%s.v%u", q->app,
                     (unsigned)rng_range(r, 1, 40));
            break;
        case 2:
            snprintf(q->name, sizeof q->name, "%s-tls", q->app);
            break;
        default:
            snprintf(q->name, sizeof q->name, "%s-api-keys", q->app);
            break;
        }
        break;
    case R_EVENTS: {
        make_pod_name(g, q->app, q->name, sizeof q->name);
        uint64_t id = rng_next(r);
        snprintf(q->name + strlen(q->name), sizeof q->name - strlen(q->name), ".%016" PRIx64, id);
        break;
    }
    case R_REPLICASETS: {
        unsigned hash_hi = (unsigned)rng_below(r, 0x1000000);
        unsigned hash_lo = (unsigned)rng_below(r, 0x10000);
        snprintf(q->name, sizeof q->name, "%s-%06x%04x", q->app, hash_hi, hash_lo);
        break;
    }
    case R_ENDPOINTSLICES: {
        static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
        char suffix[6];
        for (size_t i = 0; i < 5; i++)
            suffix[i] = alnum[rng_below(r, sizeof alnum - 1)];
        suffix[5] = '\0';
        snprintf(q->name, sizeof q->name, "%s-%s", q->app, suffix);
        break;
    }
    case R_SERVICEACCOUNTS:
        snprintf(q->name, sizeof q->name, "%s", q->actor == A_KUBELET ? q->app : "default");
        break;
    case R_NAMESPACES:
        snprintf(q->name, sizeof q->name, "%s", ns->name);
        break;
    case R_ROLEBINDINGS:
    case R_CLUSTERROLEBINDINGS:
        snprintf(q->name, sizeof q->name, "%s-%s", q->app,
                 q->res == R_ROLEBINDINGS ? "edit" : "cluster-admin");
        break;
    case R_JOBS:
        snprintf(q->name, sizeof q->name, "%s-migrate-%u", q->app, (unsigned)rng_range(r, 1, 400));
        break;
    case R_PVCS:
        snprintf(q->name, sizeof q->name, "data-%s-0", q->app);
        break;
    default: /* services, endpoints, deployments, ingresses: named after the app */
        snprintf(q->name, sizeof q->name, "%s", q->app);
        break;
    }
}

/* Query strings as the real clients send them. */
static void k8s_fill_query(struct gen *g, struct k8s_request *q, unsigned node)
{
    struct rng *r = &g->rng;
    unsigned rv = (unsigned)rng_range(r, 1000000, 99999999);
    q->query[0] = '\0';
    if (strcmp(q->verb, "watch") == 0) {
        unsigned secs = (unsigned)rng_range(r, 300, 599);
        char selector[64] = "";
        if (q->actor == A_KUBELET && q->res == R_PODS)
            snprintf(selector, sizeof selector, "fieldSelector=spec.nodeName%%3Dk8s-node-%02u&",
                     node + 1);
        snprintf(q->query, sizeof q->query,
                 "allowWatchBookmarks=true&%sresourceVersion=%u&timeout=%um%us&timeoutSeconds=%u"
                 "&watch=true",
                 selector, rv, secs / 60, secs % 60, secs);
    } else if (strcmp(q->verb, "list") == 0) {
        if (q->actor == A_HUMAN)
            snprintf(q->query, sizeof q->query, "limit=500");
        else
            snprintf(q->query, sizeof q->query, "limit=500&resourceVersion=0");
    } else if (q->res == R_LEASES) {
        snprintf(q->query, sizeof q->query, "timeout=%us", q->actor == A_KUBELET ? 10u : 5u);
    } else if (q->actor == A_HUMAN && strcmp(q->verb, "patch") == 0) {
        snprintf(q->query, sizeof q->query, "fieldManager=kubectl-%s",
                 q->subresource ? "scale" : "patch");
    } else if (q->subresource && strcmp(q->subresource, "exec") == 0) {
        snprintf(q->query, sizeof q->query,
                 "command=%%2Fbin%%2Fsh&container=app&stdin=true&stdout=true&tty=true");
    } else if (q->subresource && strcmp(q->subresource, "log") == 0) {
        snprintf(q->query, sizeof q->query, "container=app&follow=true&tailLines=%u",
                 (unsigned)rng_range(r, 20, 500));
    } else if (q->actor == A_ARGOCD && strcmp(q->verb, "patch") == 0) {
        snprintf(q->query, sizeof q->query, "fieldManager=argocd-controller&force=true");
    }
}

/* Response code: mostly success; NotFound, Conflict, AlreadyExists and
 * Forbidden at rates that depend on the verb and on who asks. */
static void k8s_fill_outcome(struct gen *g, struct k8s_request *q)
{
    struct rng *r = &g->rng;
    bool create = strcmp(q->verb, "create") == 0;
    unsigned forbid_pm = 2;
    switch (q->actor) {
    case A_HUMAN: forbid_pm = 70; break;
    case A_APP_SA: forbid_pm = 20; break;
    case A_ANONYMOUS: forbid_pm = q->res == R_NONE ? 300 : 1000; break;
    default: break;
    }
    q->code = create ? 201 : 200;
    if (rng_chance(r, forbid_pm)) {
        q->code = 403;
    } else if ((strcmp(q->verb, "get") == 0 || strcmp(q->verb, "delete") == 0 ||
                strcmp(q->verb, "patch") == 0) && q->res != R_NONE && rng_chance(r, 30)) {
        q->code = 404;
    } else if (strcmp(q->verb, "update") == 0 && rng_chance(r, 25)) {
        q->code = 409;
    } else if (create && !q->subresource && rng_chance(r, 10)) {
        q->code = 409;
    }
}

static bool verb_writes(const char *verb)
{
    return strcmp(verb, "create") == 0 || strcmp(verb, "update") == 0 ||
           strcmp(verb, "patch") == 0 || strcmp(verb, "delete") == 0;
}

/* How long the request took, in microseconds. */
static int64_t k8s_latency(struct gen *g, const struct k8s_request *q)
{
    struct rng *r = &g->rng;
    if (strcmp(q->verb, "watch") == 0) {
        int64_t secs = (int64_t)rng_range(r, 300, 599);
        return secs * 1000000 + (int64_t)rng_below(r, 1000000);
    }
    if (strcmp(q->verb, "list") == 0)
        return (int64_t)rng_range(r, 1500, 60000);
    if (q->subresource && (!strcmp(q->subresource, "exec") || !strcmp(q->subresource, "log") ||
                           !strcmp(q->subresource, "portforward")))
        return (int64_t)rng_range(r, 2000000, 900000000);
    if (verb_writes(q->verb))
        return (int64_t)rng_range(r, 1800, 25000);
    return (int64_t)rng_range(r, 300, 6000);
}

/* The RBAC (or Node authorizer) reason printed in the annotations. */
static void k8s_fill_reason(struct k8s_request *q)
{
    const char *binding = NULL, *role = NULL, *subject_kind = "User";
    char subject[96];
    snprintf(subject, sizeof subject, "%s", q->username);
    switch (q->actor) {
    case A_KUBELET:
        q->reason[0] = '\0'; /* the Node authorizer gives no reason */
        return;
    case A_CONTROLLER_MANAGER:
        binding = role = "system:kube-controller-manager";
        break;
    case A_SCHEDULER:
        binding = role = "system:kube-scheduler";
        break;
    case A_CONTROLLER_SA: {
        const char *c = strrchr(q->username, ':') + 1;
        snprintf(q->reason, sizeof q->reason,
                 "RBAC: allowed by ClusterRoleBinding \"system:controller:%s\" of ClusterRole "
                 "\"system:controller:%s\" to ServiceAccount \"%s/kube-system\"",
                 c, c, c);
        return;
    }
    case A_PROMETHEUS:
        binding = role = "prometheus-server";
        subject_kind = "ServiceAccount";
        snprintf(subject, sizeof subject, "prometheus-server/monitoring");
        break;
    case A_ARGOCD:
        binding = role = "argocd-application-controller";
        subject_kind = "ServiceAccount";
        snprintf(subject, sizeof subject, "argocd-application-controller/argocd");
        break;
    case A_APP_SA:
        snprintf(q->reason, sizeof q->reason,
                 "RBAC: allowed by RoleBinding \"%s\" of Role \"%s\" to ServiceAccount \"%s/%s\"",
                 q->app, q->app, q->app, q->ns ? q->ns : "default");
        return;
    case A_HUMAN:
        binding = strstr(q->groups[0], "admins") ? "platform-admins" : "developers-edit";
        role = strstr(q->groups[0], "admins") ? "cluster-admin" : "edit";
        subject_kind = "Group";
        snprintf(subject, sizeof subject, "%s", q->groups[0]);
        break;
    case A_ANONYMOUS:
        binding = role = "system:public-info-viewer";
        subject_kind = "Group";
        snprintf(subject, sizeof subject, "system:unauthenticated");
        break;
    }
    snprintf(q->reason, sizeof q->reason,
             "RBAC: allowed by ClusterRoleBinding \"%s\" of ClusterRole \"%s\" to %s \"%s\"",
             binding, role, subject_kind, subject);
}

/* Invents one request of the default mix at time `now`. */
static void k8s_invent_request(struct gen *g, struct k8s_request *q)
{
    struct rng *r = &g->rng;
    memset(q, 0, sizeof *q);
    const struct k8s_actor_class *cls = &k8s_actors[PICK_WEIGHTED(r, k8s_actors)];
    const struct k8s_op *op = &cls->ops[rng_weighted(r, &cls->ops[0].weight, cls->n_ops,
                                                     sizeof cls->ops[0])];
    const struct k8s_namespace *ns = pick_namespace(g);
    unsigned node = (unsigned)rng_below(r, N_NODES);

    if (cls->kind == A_CONTROLLER_MANAGER || cls->kind == A_SCHEDULER)
        ns = find_namespace("kube-system");
    q->actor = cls->kind;
    q->verb = op->verb;
    q->res = op->res;
    q->subresource = op->subresource;
    q->app = pick_app(g, ns);
    if (q->res == R_NONE)
        q->nonresource_path = PICK(r, nonresource_paths);

    k8s_fill_actor(g, q, ns, node);
    k8s_fill_object(g, q, ns, node);
    k8s_fill_query(g, q, node);
    k8s_fill_outcome(g, q);
    k8s_fill_reason(q);
    /* writes to most resources are logged with bodies; secrets never are */
    q->request_response = verb_writes(q->verb) && q->res != R_SECRETS &&
                          q->res != R_EVENTS && rng_chance(r, 900);
    q->received_us = g->now_us;
    q->stage_us = g->now_us + k8s_latency(g, q);
}

static void k8s_write_uri(struct sb *b, const struct k8s_request *q)
{
    char uri[512];
    size_t n = 0;
    const struct k8s_resource *res = &k8s_resources[q->res];
    if (q->res == R_NONE) {
        n = (size_t)snprintf(uri, sizeof uri, "%s", q->nonresource_path);
    } else {
        if (res->group[0])
            n = (size_t)snprintf(uri, sizeof uri, "/apis/%s/%s", res->group, res->version);
        else
            n = (size_t)snprintf(uri, sizeof uri, "/api/%s", res->version);
        if (q->ns)
            n += (size_t)snprintf(uri + n, sizeof uri - n, "/namespaces/%s", q->ns);
        n += (size_t)snprintf(uri + n, sizeof uri - n, "/%s", res->name);
        /* a plain create names its object in the body (and so in objectRef),
         * not in the URL */
        bool create = strcmp(q->verb, "create") == 0 && !q->subresource;
        if (q->name[0] && !create)
            n += (size_t)snprintf(uri + n, sizeof uri - n, "/%s", q->name);
        if (q->subresource)
            n += (size_t)snprintf(uri + n, sizeof uri - n, "/%s", q->subresource);
    }
    if (q->query[0] && n < sizeof uri)
        snprintf(uri + n, sizeof uri - n, "?%s", q->query);
    sb_json_kv(b, true, "requestURI", uri);
}

/* responseStatus for failures carries a Status-style message like the
 * apiserver's; successes carry only the code. */
static void k8s_write_status(struct sb *b, const struct k8s_request *q)
{
    const struct k8s_resource *res = &k8s_resources[q->res];
    char msg[480], group_res[96], what[200];
    const char *reason = NULL;
    snprintf(group_res, sizeof group_res, "%s%s%s", res->name, res->group[0] ? "." : "",
             res->group);
    /* `pods "x"` or just `pods` - how the apiserver names the object */
    if (q->name[0])
        snprintf(what, sizeof what, "%s \"%s\"", group_res, q->name);
    else
        snprintf(what, sizeof what, "%s", group_res);
    sb_puts(b, ",\"responseStatus\":{\"metadata\":{}");
    switch (q->code) {
    case 401:
        reason = "Unauthorized";
        snprintf(msg, sizeof msg, "Unauthorized");
        break;
    case 403:
        reason = "Forbidden";
        if (q->res == R_NONE)
            snprintf(msg, sizeof msg, "forbidden: User \"%s\" cannot get path \"%s\"", q->username,
                     q->nonresource_path);
        else if (q->ns)
            snprintf(msg, sizeof msg,
                     "%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API group \"%s\" "
                     "in the namespace \"%s\"",
                     what, q->username, q->verb, res->name, res->group, q->ns);
        else
            snprintf(msg, sizeof msg,
                     "%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API group \"%s\" "
                     "at the cluster scope",
                     what, q->username, q->verb, res->name, res->group);
        break;
    case 404:
        reason = "NotFound";
        snprintf(msg, sizeof msg, "%s not found", what);
        break;
    case 409:
        if (strcmp(q->verb, "create") == 0) {
            reason = "AlreadyExists";
            snprintf(msg, sizeof msg, "%s already exists", what);
        } else {
            reason = "Conflict";
            snprintf(msg, sizeof msg,
                     "Operation cannot be fulfilled on %s: the object has been modified; "
                     "please apply your changes to the latest version and try again",
                     what);
        }
        break;
    default:
        break;
    }
    if (reason) {
        sb_json_kv(b, false, "status", "Failure");
        sb_json_kv(b, false, "message", msg);
        sb_json_kv(b, false, "reason", reason);
        if (q->res != R_NONE && q->code != 401) {
            sb_puts(b, ",\"details\":{");
            bool first = true;
            if (q->name[0]) {
                sb_json_kv(b, true, "name", q->name);
                first = false;
            }
            if (res->group[0]) {
                sb_json_kv(b, first, "group", res->group);
                first = false;
            }
            sb_json_kv(b, first, "kind", res->name);
            sb_putc(b, '}');
        }
    }
    sb_printf(b, ",\"code\":%d}", q->code);
}

/* Identity of the object in a request/response body pair: the response
 * shows the same object with the next resourceVersion. */
struct k8s_object_id {
    char uid[40];
    unsigned rv;
    int64_t created_us;
};

/* metadata of an object in a request/response body; rv = 0 leaves out the
 * fields the server sets (uid, resourceVersion, creationTimestamp), as in
 * the body of a create request. */
static void k8s_write_object_meta(struct sb *b, const struct k8s_request *q,
                                  const struct k8s_object_id *id, unsigned rv)
{
    sb_puts(b, "\"metadata\":{");
    sb_json_kv(b, true, "name", q->name[0] ? q->name : q->app);
    if (q->ns)
        sb_json_kv(b, false, "namespace", q->ns);
    if (rv) {
        sb_json_kv(b, false, "uid", id->uid);
        sb_printf(b, ",\"resourceVersion\":\"%u\",\"creationTimestamp\":\"", rv);
        sb_time_iso_secs(b, id->created_us);
        sb_putc(b, '"');
    }
    if (q->res == R_LEASES || q->res == R_NODES || q->res == R_EVENTS) {
        sb_putc(b, '}');
        return;
    }
    sb_puts(b, ",\"labels\":{");
    sb_json_kv(b, true, "app.kubernetes.io/name", q->app);
    sb_json_kv(b, false, "app.kubernetes.io/part-of", q->ns ? q->ns : "cluster");
    sb_json_kv(b, false, "app.kubernetes.io/managed-by", "argocd");
    sb_puts(b, "}}");
}

/* The spec/data part of a full object body, by resource. */
static void k8s_write_object_body(struct gen *g, struct sb *b, const struct k8s_request *q)
{
    struct rng *r = &g->rng;
    switch (q->res) {
    case R_LEASES:
        sb_puts(b, ",\"spec\":{");
        sb_json_kv(b, true, "holderIdentity", q->name);
        sb_puts(b, ",\"leaseDurationSeconds\":40,\"acquireTime\":\"");
        sb_time_iso(b, q->received_us - 86400000000LL, "Z");
        sb_puts(b, "\",\"renewTime\":\"");
        sb_time_iso(b, q->received_us, "Z");
        sb_printf(b, "\",\"leaseTransitions\":%u}", (unsigned)rng_below(r, 9));
        break;
    case R_PODS:
    case R_DEPLOYMENTS:
    case R_JOBS:
        if (q->res == R_DEPLOYMENTS)
            sb_printf(b, ",\"spec\":{\"replicas\":%u,\"selector\":{\"matchLabels\":{",
                      (unsigned)rng_range(r, 1, 12));
        if (q->res == R_DEPLOYMENTS) {
            sb_json_kv(b, true, "app.kubernetes.io/name", q->app);
            sb_puts(b, "}},\"template\":{");
        } else if (q->res == R_JOBS) {
            sb_puts(b, ",\"spec\":{\"backoffLimit\":3,\"template\":{");
        } else {
            sb_putc(b, ',');
        }
        sb_puts(b, "\"spec\":{\"containers\":[{\"name\":\"app\",");
        unsigned minor = (unsigned)rng_range(r, 0, 30);
        unsigned patch = (unsigned)rng_range(r, 0, 9);
        sb_printf(b, "\"image\":\"registry.example.com/%s/%s:1.%u.%u\",", q->ns ? q->ns : "system",
                  q->app, minor, patch);
        sb_printf(b, "\"ports\":[{\"containerPort\":%u,\"protocol\":\"TCP\"}],",
                  8000u + (unsigned)rng_below(r, 100));
        sb_puts(b, "\"env\":[{\"name\":\"LOG_LEVEL\",\"value\":\"info\"},");
        sb_printf(b, "{\"name\":\"DB_PASSWORD\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"%s-db-"
                     "credentials\",\"key\":\"password\"}}}],", q->app);
        unsigned cpu_m = (unsigned)rng_range(r, 1, 20) * 50;
        unsigned mem_mi = (unsigned)rng_range(r, 1, 16) * 64;
        unsigned limit_mi = mem_mi + (unsigned)rng_range(r, 0, 16) * 64;
        sb_printf(b, "\"resources\":{\"requests\":{\"cpu\":\"%um\",\"memory\":\"%uMi\"},"
                     "\"limits\":{\"memory\":\"%uMi\"}},",
                  cpu_m, mem_mi, limit_mi);
        sb_puts(b, "\"imagePullPolicy\":\"IfNotPresent\",\"securityContext\":{"
                   "\"runAsNonRoot\":true,\"allowPrivilegeEscalation\":false}}],"
                   "\"restartPolicy\":\"Always\",\"dnsPolicy\":\"ClusterFirst\",");
        sb_printf(b, "\"serviceAccountName\":\"%s\"}", q->app);
        if (q->res != R_PODS)
            sb_puts(b, "}}");
        break;
    case R_CONFIGMAPS:
        sb_puts(b, ",\"data\":{");
        sb_printf(b, "\"LOG_LEVEL\":\"info\",\"FEATURE_FLAGS\":\"new-checkout=%s,fast-path=true\",",
                  rng_chance(r, 500) ? "true" : "false");
        sb_printf(b, "\"UPSTREAM_URL\":\"http://%s.%s.svc.cluster.local:8080\"}", q->app,
                  q->ns ? q->ns : "default");
        break;
    case R_SERVICES:
    {
        unsigned net = (unsigned)rng_below(r, 256);
        unsigned host = (unsigned)rng_range(r, 1, 254);
        sb_printf(b, ",\"spec\":{\"type\":\"ClusterIP\",\"clusterIP\":\"10.96.%u.%u\","
                     "\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":8080}],"
                     "\"selector\":{",
                  net, host);
    }
        sb_json_kv(b, true, "app.kubernetes.io/name", q->app);
        sb_puts(b, "}}");
        break;
    case R_ENDPOINTS:
        sb_puts(b, ",\"subsets\":[{\"addresses\":[");
        for (unsigned i = 0, n = (unsigned)rng_range(r, 1, 4); i < n; i++) {
            char ip[48];
            make_pod_ip(g, ip, sizeof ip);
            unsigned node = (unsigned)rng_range(r, 1, N_NODES);
            sb_printf(b, "%s{\"ip\":\"%s\",\"nodeName\":\"k8s-node-%02u\"}", i ? "," : "", ip,
                      node);
        }
        sb_puts(b, "],\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]}]");
        break;
    case R_ENDPOINTSLICES:
        sb_puts(b, ",\"addressType\":\"IPv4\",\"endpoints\":[");
        for (unsigned i = 0, n = (unsigned)rng_range(r, 1, 4); i < n; i++) {
            char ip[48];
            make_pod_ip(g, ip, sizeof ip);
            unsigned node = (unsigned)rng_range(r, 1, N_NODES);
            sb_printf(b,
                      "%s{\"addresses\":[\"%s\"],\"conditions\":{\"ready\":true},"
                      "\"nodeName\":\"k8s-node-%02u\"}",
                      i ? "," : "", ip, node);
        }
        sb_puts(b, "],\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]");
        break;
    case R_ROLEBINDINGS:
    case R_CLUSTERROLEBINDINGS:
        sb_printf(b, ",\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"%s\","
                     "\"name\":\"%s\"},\"subjects\":[{\"kind\":\"User\",\"apiGroup\":"
                     "\"rbac.authorization.k8s.io\",\"name\":\"%s\"}]",
                  q->res == R_ROLEBINDINGS ? "Role" : "ClusterRole",
                  q->res == R_ROLEBINDINGS ? "edit" : "cluster-admin",
                  k8s_humans[rng_below(r, N_ELEMS(k8s_humans))].email);
        break;
    default:
        break;
    }
}

/* requestObject (and responseObject) of a RequestResponse-level event. */
static void k8s_write_bodies(struct gen *g, struct sb *b, const struct k8s_request *q)
{
    const struct k8s_resource *res = &k8s_resources[q->res];
    char gv[64];
    struct k8s_object_id id;
    make_uuid(g, id.uid, sizeof id.uid);
    id.rv = (unsigned)rng_range(&g->rng, 1000000, 99999999);
    id.created_us = strcmp(q->verb, "create") == 0
                        ? q->received_us
                        : q->received_us - (int64_t)rng_range(&g->rng, 3600, 90 * 86400) * 1000000;
    snprintf(gv, sizeof gv, "%s%s%s", res->group, res->group[0] ? "/" : "", res->version);

    if (strcmp(q->verb, "delete") == 0) {
        sb_puts(b, ",\"requestObject\":{\"kind\":\"DeleteOptions\",\"apiVersion\":\"meta.k8s.io/"
                   "v1\",\"propagationPolicy\":\"Background\"}");
    } else if (strcmp(q->verb, "patch") == 0) {
        sb_puts(b, ",\"requestObject\":");
        if (q->subresource && strcmp(q->subresource, "status") == 0) {
            sb_puts(b, "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
                       "\"lastHeartbeatTime\":\"");
            sb_time_iso_secs(b, q->received_us);
            sb_puts(b, "\",\"lastTransitionTime\":\"");
            sb_time_iso_secs(b, q->received_us - 3600000000LL);
            sb_puts(b, "\"}]}}");
        } else if (q->subresource && strcmp(q->subresource, "scale") == 0) {
            sb_printf(b, "{\"spec\":{\"replicas\":%u}}", (unsigned)rng_range(&g->rng, 0, 20));
        } else {
            sb_puts(b, "{\"metadata\":{\"annotations\":{\"kubectl.kubernetes.io/restartedAt\":\"");
            sb_time_iso_secs(b, q->received_us);
            sb_puts(b, "\"}}}");
        }
    } else if (!q->subresource || strcmp(q->subresource, "binding") == 0) {
        sb_puts(b, ",\"requestObject\":{");
        sb_printf(b, "\"kind\":\"%s\",\"apiVersion\":\"%s\",", q->subresource ? "Binding" : res->kind,
                  q->subresource ? "v1" : gv);
        k8s_write_object_meta(b, q, &id, strcmp(q->verb, "create") == 0 ? 0 : id.rv);
        if (q->subresource)
            sb_printf(b, ",\"target\":{\"kind\":\"Node\",\"name\":\"k8s-node-%02u\"}",
                      (unsigned)rng_range(&g->rng, 1, N_NODES));
        else
            k8s_write_object_body(g, b, q);
        sb_putc(b, '}');
    }
    if (q->code >= 300 || strcmp(q->verb, "delete") == 0 || (q->subresource &&
                                                            strcmp(q->subresource, "status") != 0))
        return;
    sb_printf(b, ",\"responseObject\":{\"kind\":\"%s\",\"apiVersion\":\"%s\",", res->kind, gv);
    k8s_write_object_meta(b, q, &id, id.rv + 1);
    k8s_write_object_body(g, b, q);
    sb_putc(b, '}');
}

/* "user": {username, uid, groups, extra} of the event. */
static void k8s_write_user(struct sb *b, const struct k8s_request *q)
{
    sb_puts(b, ",\"user\":{");
    sb_json_kv(b, true, "username", q->username);
    if (q->uid[0])
        sb_json_kv(b, false, "uid", q->uid);
    sb_puts(b, ",\"groups\":[");
    for (size_t i = 0; i < N_ELEMS(q->groups) && q->groups[i]; i++) {
        if (i)
            sb_putc(b, ',');
        sb_json_str(b, q->groups[i]);
    }
    sb_puts(b, "]");
    if (q->actor == A_HUMAN)
        sb_puts(b, ",\"extra\":{\"authentication.kubernetes.io/credential-id\":[\"JTI=oidc\"]}");
    sb_putc(b, '}');
}

/* Writes one audit event (stage ResponseComplete) for request `q` into
 * g->line, in the field order the kube-apiserver uses. */
static void k8s_write_event(struct gen *g, const struct k8s_request *q)
{
    struct sb *b = &g->line;
    const struct k8s_resource *res = &k8s_resources[q->res];
    char audit_id[40];
    make_uuid(g, audit_id, sizeof audit_id);

    const char *level = q->request_response ? "RequestResponse" : "Metadata";
    if (q->request_body)
        level = "Request";
    sb_printf(b, "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"%s\",",
              level);
    sb_printf(b, "\"auditID\":\"%s\",\"stage\":\"%s\",", audit_id,
              q->stage ? q->stage : "ResponseComplete");
    k8s_write_uri(b, q);
    sb_json_kv(b, false, "verb", q->verb);
    if (q->no_user) /* an unauthenticated request (401): nobody to name */
        sb_puts(b, ",\"user\":{}");
    else
        k8s_write_user(b, q);
    sb_puts(b, ",\"sourceIPs\":[");
    sb_json_str(b, q->source_ip);
    sb_putc(b, ']');
    sb_json_kv(b, false, "userAgent", q->user_agent);
    if (q->res != R_NONE) {
        sb_puts(b, ",\"objectRef\":{");
        sb_json_kv(b, true, "resource", res->name);
        if (q->ns)
            sb_json_kv(b, false, "namespace", q->ns);
        if (q->name[0])
            sb_json_kv(b, false, "name", q->name);
        if (res->group[0])
            sb_json_kv(b, false, "apiGroup", res->group);
        sb_json_kv(b, false, "apiVersion", res->version);
        if (q->subresource)
            sb_json_kv(b, false, "subresource", q->subresource);
        sb_putc(b, '}');
    }
    k8s_write_status(b, q);
    if (q->request_body) {
        sb_puts(b, ",\"requestObject\":");
        sb_puts(b, q->request_body);
    } else if (q->request_response) {
        k8s_write_bodies(g, b, q);
    }
    sb_puts(b, ",\"requestReceivedTimestamp\":\"");
    sb_time_iso(b, q->received_us, "Z");
    sb_puts(b, "\",\"stageTimestamp\":\"");
    sb_time_iso(b, q->stage_us, "Z");
    if (q->code == 401) { /* rejected before authorization: no decision */
        sb_puts(b, "\"}");
        return;
    }
    sb_puts(b, "\",\"annotations\":{");
    if (q->code == 403) {
        sb_json_kv(b, true, "authorization.k8s.io/decision", "forbid");
        sb_json_kv(b, false, "authorization.k8s.io/reason", "");
    } else {
        sb_json_kv(b, true, "authorization.k8s.io/decision", "allow");
        sb_json_kv(b, false, "authorization.k8s.io/reason", q->reason);
    }
    if (q->res == R_PODS && strcmp(q->verb, "create") == 0 && !q->subresource)
        sb_json_kv(b, false, "pod-security.kubernetes.io/enforce-policy",
                   q->pod_security ? q->pod_security : "restricted:latest");
    sb_puts(b, "}}");
}

/* Writes `events` audit events of the default mix. */
static void k8s_generate(struct gen *g, uint64_t events)
{
    struct k8s_request q;
    for (uint64_t i = 0; i < events; i++) {
        if (i > 0)
            gen_advance(g);
        k8s_invent_request(g, &q);
        k8s_write_event(g, &q);
        gen_flush_line(g);
    }
}

/* ======================================================================
 * Scenarios: labeled attacks in benign traffic (see scenario.c)
 * ====================================================================== */

#include "scenario.c"
#include "scenario_background.c"
#include "scenario_attacks.c"

/* ======================================================================
 * Command line
 * ====================================================================== */

static void usage(FILE *out)
{
    fputs("usage: gen auth --lines N [--seed S] [--start TIME] [--format rfc3164|iso8601|mixed]\n"
          "       gen k8s --events N [--seed S] [--start TIME]\n"
          "       gen scenario --auth-out FILE --k8s-out FILE --labels-out FILE [--seed S]\n"
          "                [--start TIME] [--minutes M] [--density PCT] [--attacks all|none|LIST]\n"
          "                [--format F]\n"
          "\n"
          "Writes deterministic synthetic input for auditwatch (auth and k8s to stdout,\n"
          "scenario to files): the same arguments always give the same bytes.\n"
          "\n"
          "  auth          Linux auth.log: sshd logins and failures, pam_unix, sudo, su,\n"
          "                cron, systemd-logind, useradd/groupadd (about 30% failures,\n"
          "                20% successes, 10% sudo, 40% sessions and noise)\n"
          "  k8s           kube-apiserver audit events (audit.k8s.io/v1, stage\n"
          "                ResponseComplete), one JSON object per line\n"
          "  scenario      M minutes of benign traffic in both sources (people at work,\n"
          "                automation, scanners, the cluster's own requests) with one\n"
          "                injected attack per shipped alerting rule, and a labels file:\n"
          "                one JSON line per alert the attacks must raise (rule, group,\n"
          "                from, to, attack)\n"
          "\n"
          "  --lines N     number of auth lines (auth only)\n"
          "  --events N    number of audit events (k8s only)\n"
          "  --seed S      PRNG seed, an unsigned integer (default 1)\n"
          "  --start TIME  time of the first record, RFC 3339 UTC or with offset\n"
          "                (default 2026-03-01T00:00:00Z); later records follow 20-200 ms\n"
          "                apart\n"
          "  --format F    auth line header: rfc3164 (default, \"Mar  3 12:00:01 host\"),\n"
          "                iso8601 (\"2026-03-01T00:00:00.123456+00:00 host\"), or mixed\n"
          "                (per host)\n"
          "  --minutes M   scenario length (default 60; 6 or more with attacks)\n"
          "  --density PCT scenario background volume, 1-100 percent (default 100)\n"
          "  --attacks A   all (default), none (the benign background only), or a\n"
          "                comma-separated list of attack names (the rule each raises)\n"
          "  --auth-out FILE, --k8s-out FILE, --labels-out FILE   scenario outputs\n"
          "  -h, --help    this text\n",
          out);
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    enum {
        OPT_LINES = 1000, OPT_EVENTS, OPT_SEED, OPT_START, OPT_FORMAT, OPT_MINUTES, OPT_DENSITY,
        OPT_ATTACKS, OPT_AUTH_OUT, OPT_K8S_OUT, OPT_LABELS_OUT,
    };
    static const struct option options[] = {
        {"lines", required_argument, NULL, OPT_LINES},
        {"events", required_argument, NULL, OPT_EVENTS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"start", required_argument, NULL, OPT_START},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"minutes", required_argument, NULL, OPT_MINUTES},
        {"density", required_argument, NULL, OPT_DENSITY},
        {"attacks", required_argument, NULL, OPT_ATTACKS},
        {"auth-out", required_argument, NULL, OPT_AUTH_OUT},
        {"k8s-out", required_argument, NULL, OPT_K8S_OUT},
        {"labels-out", required_argument, NULL, OPT_LABELS_OUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t count = 0, seed = 1;
    bool have_lines = false, have_events = false;
    int64_t start_us = 0;
    const char *start = "2026-03-01T00:00:00Z";
    enum auth_format format = FMT_RFC3164;
    bool have_format = false;
    struct scenario_opts so = {.minutes = 60, .density = 100, .attacks = "all"};
    bool have_scenario_opt = false;

    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        uint64_t v;
        switch (c) {
        case OPT_LINES:
        case OPT_EVENTS:
            if (!parse_u64(optarg, &count)) {
                fprintf(stderr, "gen: --%s wants a count, got '%s'\n",
                        c == OPT_LINES ? "lines" : "events", optarg);
                return 2;
            }
            have_lines |= c == OPT_LINES;
            have_events |= c == OPT_EVENTS;
            break;
        case OPT_SEED:
            if (!parse_u64(optarg, &seed)) {
                fprintf(stderr, "gen: --seed wants an unsigned integer, got '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_START:
            start = optarg;
            break;
        case OPT_FORMAT:
            have_format = true;
            if (strcmp(optarg, "rfc3164") == 0)
                format = FMT_RFC3164;
            else if (strcmp(optarg, "iso8601") == 0)
                format = FMT_ISO8601;
            else if (strcmp(optarg, "mixed") == 0)
                format = FMT_MIXED;
            else {
                fprintf(stderr, "gen: --format is rfc3164, iso8601 or mixed, not '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_MINUTES:
            if (!parse_u64(optarg, &v) || v < 1 || v > 7 * 24 * 60) {
                fprintf(stderr, "gen: --minutes wants 1 to 10080, got '%s'\n", optarg);
                return 2;
            }
            so.minutes = (unsigned)v;
            have_scenario_opt = true;
            break;
        case OPT_DENSITY:
            if (!parse_u64(optarg, &v) || v < 1 || v > 100) {
                fprintf(stderr, "gen: --density wants a percentage from 1 to 100, got '%s'\n",
                        optarg);
                return 2;
            }
            so.density = (unsigned)v;
            have_scenario_opt = true;
            break;
        case OPT_ATTACKS:
            so.attacks = optarg;
            have_scenario_opt = true;
            break;
        case OPT_AUTH_OUT:
        case OPT_K8S_OUT:
        case OPT_LABELS_OUT:
            *(c == OPT_AUTH_OUT ? &so.auth_out : c == OPT_K8S_OUT ? &so.k8s_out : &so.labels_out) =
                optarg;
            have_scenario_opt = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *mode = argv[optind];
    bool auth = strcmp(mode, "auth") == 0, k8s = strcmp(mode, "k8s") == 0;
    bool scenario = strcmp(mode, "scenario") == 0;
    if (!auth && !k8s && !scenario) {
        fprintf(stderr, "gen: unknown mode '%s' (auth, k8s or scenario)\n", mode);
        return 2;
    }
    if ((auth && (!have_lines || have_events)) || (k8s && (!have_events || have_lines))) {
        fprintf(stderr, "gen: %s needs %s\n", mode, auth ? "--lines N" : "--events N");
        return 2;
    }
    if (k8s && have_format) {
        fputs("gen: --format applies to auth only\n", stderr);
        return 2;
    }
    if (scenario && (have_lines || have_events)) {
        fputs("gen: scenario takes --minutes, not --lines or --events\n", stderr);
        return 2;
    }
    if (scenario && (!so.auth_out || !so.k8s_out || !so.labels_out)) {
        fputs("gen: scenario needs --auth-out, --k8s-out and --labels-out\n", stderr);
        return 2;
    }
    if (!scenario && have_scenario_opt) {
        fprintf(stderr, "gen: --minutes, --density, --attacks and the --*-out files are for "
                        "scenario, not %s\n", mode);
        return 2;
    }
    if (!parse_start_time(start, &start_us)) {
        fprintf(stderr, "gen: --start wants YYYY-MM-DDTHH:MM:SS[.frac][Z|+HH:MM], got '%s'\n",
                start);
        return 2;
    }
    if (scenario) {
        so.seed = seed;
        so.start_us = start_us;
        so.format = format;
        return scenario_run(&so);
    }

    static char outbuf[1 << 20];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    struct gen *g = malloc(sizeof *g);
    if (!g) {
        fputs("gen: out of memory\n", stderr);
        return 1;
    }
    gen_init(g, seed, start_us, format);
    if (auth)
        auth_generate(g, count);
    else
        k8s_generate(g, count);
    free(g->line.buf);
    free(g);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("gen: write");
        return 1;
    }
    return 0;
}
