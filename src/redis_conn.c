/*
 * redis_conn.c - the Redis store's connection and pipeline (see
 * redis_store.h for the files of the store, store_redis.c for its design).
 *
 * Commands are formatted here as RESP - by hand, not by hiredis, whose
 * formatter prints every length with sprintf (a batch has thousands) -
 * and queued in the pipeline (struct command); a direct-write block is
 * several commands in one text.  send_early writes what is queued to the
 * connection while the batch is still being prepared, so Redis works on
 * it meanwhile; exchange writes the rest and reads every reply - the
 * batch's one round trip.  When the connection breaks, the store
 * reconnects with exponential backoff up to reconnect_wait, reloads its
 * scripts and sends the whole unacknowledged pipeline again (every
 * command is idempotent); a NOSCRIPT reply (Redis restarted and lost its
 * script cache) does the same.  Around writes SIGPIPE is blocked (a
 * write to a connection Redis dropped fails with EPIPE instead).
 */
#include <hiredis/hiredis.h>
#include <signal.h>
#include <unistd.h>

#include "auditwatch/log.h"
#include "redis_codec.h"
#include "redis_store.h"
#include "xalloc.h"

/* ---------------------------------------------------------------- pipeline */

/* Decimal digits of n, into p (no terminator); returns the count. */
static size_t put_size(char *p, size_t n)
{
    char tmp[24];
    size_t k = 0, len = 0;
    do {
        tmp[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    while (k)
        p[len++] = tmp[--k];
    return len;
}

/* A command in the Redis protocol (RESP): "*argc" then "$len" and the
 * bytes of each argument.  Written here rather than by hiredis, whose
 * formatter prints every length with sprintf (a batch has thousands). */
void aw_redis_queue_argv(struct redis_store *s, enum reply_use use, int argc, const char **argv, const size_t *lens)
{
    if (s->ncmds == s->cmd_cap) {
        s->cmd_cap = s->cmd_cap ? s->cmd_cap * 2 : 256;
        s->cmds = aw_xrealloc(s->cmds, s->cmd_cap * sizeof *s->cmds);
    }
    struct command *c = &s->cmds[s->ncmds];
    memset(c, 0, sizeof *c);
    size_t total = 1 + 20 + 2;
    for (int i = 0; i < argc; i++)
        total += 1 + 20 + 2 + lens[i] + 2;
    char *p = aw_xmalloc(total), *q = p;
    *q++ = '*';
    q += put_size(q, (size_t)argc);
    *q++ = '\r', *q++ = '\n';
    for (int i = 0; i < argc; i++) {
        *q++ = '$';
        q += put_size(q, lens[i]);
        *q++ = '\r', *q++ = '\n';
        if (lens[i])
            memcpy(q, argv[i], lens[i]);
        q += lens[i];
        *q++ = '\r', *q++ = '\n';
    }
    c->text = p;
    c->len = (int)(q - p);
    c->use = use;
    s->ncmds++;
}

/* RESP into a buffer, piece by piece: a command's "*argc" head, then
 * each argument (for the direct-write blocks, several commands in one
 * text). */
void aw_redis_resp_head(struct aw_buf *b, size_t argc)
{
    char num[24];
    aw_buf_append_char(b, '*');
    aw_buf_append(b, num, put_size(num, argc));
    aw_buf_append(b, "\r\n", 2);
}

void aw_redis_resp_arg(struct aw_buf *b, const char *p, size_t len)
{
    char num[24];
    aw_buf_reserve(b, len + 32);
    aw_buf_append_char(b, '$');
    aw_buf_append(b, num, put_size(num, len));
    aw_buf_append(b, "\r\n", 2);
    aw_buf_append(b, p, len);
    aw_buf_append(b, "\r\n", 2);
}

/* Queue the text of b (one or more commands, nreplies replies in all) as
 * one command. */
struct command *aw_redis_queue_text(struct redis_store *s, enum reply_use use, const struct aw_buf *b, size_t nreplies)
{
    if (s->ncmds == s->cmd_cap) {
        s->cmd_cap = s->cmd_cap ? s->cmd_cap * 2 : 256;
        s->cmds = aw_xrealloc(s->cmds, s->cmd_cap * sizeof *s->cmds);
    }
    struct command *c = &s->cmds[s->ncmds++];
    memset(c, 0, sizeof *c);
    c->text = aw_xcalloc(b->len, 1);
    memcpy(c->text, b->data, b->len);
    c->len = (int)b->len;
    c->use = use;
    c->nreplies = nreplies;
    return c;
}

static void free_replies(struct redis_store *s)
{
    for (size_t i = 0; i < s->ncmds; i++)
        if (s->cmds[i].reply) {
            freeReplyObject(s->cmds[i].reply);
            s->cmds[i].reply = NULL;
        }
}

void aw_redis_clear_commands(struct redis_store *s)
{
    free_replies(s);
    for (size_t i = 0; i < s->ncmds; i++) {
        free(s->cmds[i].text);
        free(s->cmds[i].hits);
        free(s->cmds[i].names);
        free(s->cmds[i].expect);
        free(s->cmds[i].counts);
        free(s->cmds[i].assumed_new);
        free(s->cmds[i].plain);
        free(s->cmds[i].rules);
    }
    s->ncmds = 0;
    s->nsent = 0;
}

bool aw_redis_reply_is_error(const redisReply *r) { return r && r->type == REDIS_REPLY_ERROR; }

static redisReply *command(struct redis_store *s, const char *fmt, const char *a, const char *b)
{
    if (b)
        return redisCommand(s->c, fmt, a, b);
    if (a)
        return redisCommand(s->c, fmt, a);
    return redisCommand(s->c, fmt);
}

/* The pipeline goes out again on a new connection.  Redis may have lost
 * its keys (a restart without persistence): a direct-write block would
 * then create keys without a TTL, so its FIXUP is told it is sent again
 * (one byte of its text), and sets them. */
static void resend_direct(struct redis_store *s)
{
    for (size_t i = 0; i < s->ncmds; i++) {
        struct command *c = &s->cmds[i];
        if (c->use == USE_DIRECT && c->resent_at && c->resent_at < (size_t)c->len)
            c->text[c->resent_at] = '1';
    }
}

/* One connection attempt: connect, authenticate, select, load scripts.
 * On failure err says why (never with the password). */
int aw_redis_connect_once(struct redis_store *s, char *err, size_t errlen)
{
    if (s->c) {
        redisFree(s->c);
        s->c = NULL;
    }
    s->nsent = 0; /* a new connection gets the whole pipeline */
    resend_direct(s);
    /* Redis may have lost the queue: it is listed again when solo again
     * (after requeue_due below has pushed what this process queued) */
    s->solo = false;
    aw_redis_queue_drop(s);
    s->requeue_due = true; /* (Redis may have restarted without what we queued) */
    struct timeval ct = {(time_t)(s->connect_timeout_ms / 1000), (suseconds_t)(s->connect_timeout_ms % 1000) * 1000};
    s->c = s->spec.unix_path ? redisConnectUnixWithTimeout(s->spec.unix_path, ct)
                        : redisConnectWithTimeout(s->spec.host, s->spec.port, ct);
    if (!s->c || s->c->err) {
        snprintf(err, errlen, "cannot connect to %s: %s", s->shown, s->c ? s->c->errstr : "out of memory");
        return -1;
    }
    struct timeval cmd = {(time_t)(s->command_timeout_ms / 1000), (suseconds_t)(s->command_timeout_ms % 1000) * 1000};
    redisSetTimeout(s->c, cmd);
    redisReply *r;
    if (s->spec.password) {
        r = s->spec.user ? command(s, "AUTH %s %s", s->spec.user, s->spec.password) : command(s, "AUTH %s", s->spec.password, NULL);
        if (!r || aw_redis_reply_is_error(r)) {
            snprintf(err, errlen, "%s rejected the credentials%s%s%s", s->shown, s->spec.user ? " of user '" : "",
                     s->spec.user ? s->spec.user : "", s->spec.user ? "'" : "");
            if (r)
                freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
    }
    if (s->spec.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", s->spec.db);
        r = command(s, "SELECT %s", db, NULL);
        if (!r || aw_redis_reply_is_error(r)) {
            snprintf(err, errlen, "%s: cannot select database %d: %s", s->shown, s->spec.db,
                     r ? r->str : s->c->errstr);
            if (r)
                freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
    }
    for (int i = 0; i < S_COUNT; i++) {
        r = command(s, "SCRIPT LOAD %s", aw_redis_script_text[i], NULL);
        if (!r || r->type != REDIS_REPLY_STRING || r->len != 40) {
            snprintf(err, errlen, "%s: cannot load scripts: %s", s->shown,
                     r && r->str ? r->str : s->c->errstr);
            if (r)
                freeReplyObject(r);
            return -1;
        }
        memcpy(s->sha[i], r->str, 40);
        s->sha[i][40] = '\0';
        freeReplyObject(r);
    }
    /* Direct writes need MULTI and EXEC: an ACL that refuses either
     * leaves the scripts doing all writes.  (An EXEC refused inside MULTI
     * leaves the connection in it: connect again, without asking.) */
    if (!s->no_multi) {
        r = command(s, "MULTI", NULL, NULL);
        bool ok = r && !aw_redis_reply_is_error(r);
        if (r)
            freeReplyObject(r);
        if (ok) {
            r = command(s, "EXEC", NULL, NULL);
            ok = r && !aw_redis_reply_is_error(r);
            if (r)
                freeReplyObject(r);
            if (!ok) {
                s->no_multi = true;
                return aw_redis_connect_once(s, err, errlen);
            }
        }
        if (!ok)
            aw_log(AW_LOG_INFO, "redis %s: MULTI/EXEC not permitted; every write goes through scripts", s->shown);
        s->no_multi = !ok;
    }
    /* This instance writes under the prefix from now on: say so before
     * the first write, so that the others count versions. */
    struct aw_buf writers = {0};
    aw_buf_append_str(&writers, s->prefix);
    aw_buf_append_str(&writers, ":writers");
    aw_buf_append_char(&writers, '\0');
    char ttl[24];
    aw_redis_fmt_time(ttl, DEFAULT_TTL_MS);
    const char *wv[] = {"EVALSHA", s->sha[S_WRITER], "1", writers.data, s->instance, ttl};
    r = redisCommandArgv(s->c, 6, wv, NULL);
    int rc = 0;
    if (!r || aw_redis_reply_is_error(r)) {
        snprintf(err, errlen, "%s: cannot register under prefix %s: %s", s->shown, s->prefix,
                 r && r->str ? r->str : s->c->errstr);
        rc = -1;
    }
    if (r)
        freeReplyObject(r);
    aw_buf_free(&writers);
    /* A reconnect may follow a restart that lost keys: every window's TTL
     * is set again with its next write. */
    aw_redis_forget_caches(s);
    return rc;
}

/* Reconnect with exponential backoff until reconnect_wait has passed. */
static int reconnect(struct redis_store *s)
{
    int64_t deadline = aw_mono_ms() + s->reconnect_wait_ms;
    int64_t backoff = 50;
    char err[512];
    aw_log(AW_LOG_WARN, "redis %s: connection lost (%s); reconnecting", s->shown,
           s->c && s->c->errstr[0] ? s->c->errstr : "no reply");
    for (;;) {
        if (aw_redis_connect_once(s, err, sizeof err) == 0) {
            aw_log(AW_LOG_INFO, "redis %s: reconnected; resending the batch", s->shown);
            return 0;
        }
        if (aw_mono_ms() + backoff > deadline) {
            aw_log(AW_LOG_ERROR, "redis %s: gave up reconnecting after %llds: %s", s->shown,
                   (long long)(s->reconnect_wait_ms / 1000), err);
            s->broken = true;
            return -1;
        }
        sleep_ms(backoff);
        backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
    }
}

/* Send the pipeline once and read every reply.  Returns 0, 1 when it
 * must be sent again (connection lost and re-established, or NOSCRIPT),
 * -1 on failure. */
static int exchange_once(struct redis_store *s)
{
    free_replies(s);
    if (!s->c && reconnect(s) < 0)
        return -1;
    for (; s->nsent < s->ncmds; s->nsent++)
        if (redisAppendFormattedCommand(s->c, s->cmds[s->nsent].text, (size_t)s->cmds[s->nsent].len) != REDIS_OK)
            goto lost;
    s->st.round_trips++;
    bool noscript = false;
    for (size_t i = 0; i < s->ncmds; i++) {
        /* a direct-write block answers MULTI, each write (QUEUED) and
         * EXEC: the first error, or else EXEC's array, is kept */
        size_t want = s->cmds[i].nreplies ? s->cmds[i].nreplies : 1;
        for (size_t k = 0; k < want; k++) {
            void *r = NULL;
            if (redisGetReply(s->c, &r) != REDIS_OK || !r)
                goto lost;
            redisReply *cur = s->cmds[i].reply;
            if (!cur) {
                s->cmds[i].reply = r;
            } else if (!aw_redis_reply_is_error(cur) && (aw_redis_reply_is_error(r) || k + 1 == want)) {
                freeReplyObject(cur);
                s->cmds[i].reply = r;
            } else {
                freeReplyObject(r);
            }
        }
        redisReply *r = s->cmds[i].reply;
        if (aw_redis_reply_is_error(r) && !strncmp(r->str, "NOSCRIPT", 8))
            noscript = true;
        for (size_t k = 0; r && r->type == REDIS_REPLY_ARRAY && s->cmds[i].use == USE_DIRECT && k < r->elements; k++)
            if (aw_redis_reply_is_error(r->element[k]))
                noscript |= !strncmp(r->element[k]->str, "NOSCRIPT", 8);
    }
    if (noscript) {
        char err[512];
        if (aw_redis_connect_once(s, err, sizeof err) < 0 && reconnect(s) < 0)
            return -1;
        return 1;
    }
    for (size_t i = 0; i < s->ncmds; i++) {
        const redisReply *r = s->cmds[i].reply;
        if (s->cmds[i].use == USE_DIRECT && r && r->type == REDIS_REPLY_ARRAY)
            for (size_t k = 0; k < r->elements; k++)
                if (aw_redis_reply_is_error(r->element[k])) {
                    r = r->element[k];
                    break;
                }
        if (aw_redis_reply_is_error(r)) {
            aw_log(AW_LOG_ERROR, "redis %s: command failed: %s", s->shown, r->str);
            return -1;
        }
    }
    return 0;
lost:
    if (reconnect(s) < 0)
        return -1;
    return 1;
}

/* Writing to a connection Redis has dropped raises SIGPIPE, whose default
 * action ends the process without a word (hiredis writes with write(2)).
 * Around the store's writes SIGPIPE is blocked, and one it raised is
 * taken back before unblocking: the write fails with EPIPE instead, and
 * the store reconnects.  (Blocking rather than ignoring it leaves the
 * rest of the process - alerts written to a closed pipe - as it was.) */
static void pipe_guard_begin(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, old);
}

static void pipe_guard_end(const sigset_t *old)
{
    sigset_t pending;
    if (!sigismember(old, SIGPIPE) && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        struct timespec zero = {0, 0};
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* Write what the pipeline holds so far to the connection without waiting
 * for replies, so that Redis works on a batch's first windows while this
 * process prepares the rest (on two cores the two overlap; the replies
 * are read at the batch's one round trip).  A failure here is found and
 * handled (reconnect, resend all) by the exchange that reads. */
void aw_redis_send_early(struct redis_store *s)
{
    if (!s->c || s->broken || s->c->err || s->nsent == s->ncmds)
        return;
    if (s->before_send && s->before_send(s->before_send_ctx))
        return; /* (the exchange that reads asks again) */
    for (; s->nsent < s->ncmds; s->nsent++)
        if (redisAppendFormattedCommand(s->c, s->cmds[s->nsent].text, (size_t)s->cmds[s->nsent].len) != REDIS_OK)
            return;
    sigset_t old;
    pipe_guard_begin(&old);
    int done = 0;
    while (!done)
        if (redisBufferWrite(s->c, &done) != REDIS_OK)
            break;
    pipe_guard_end(&old);
}

int aw_redis_exchange(struct redis_store *s)
{
    if (s->broken)
        return -1;
    s->last_resent = false;
    if (!s->ncmds)
        return 0;
    if (s->before_send && s->before_send(s->before_send_ctx))
        return -1;
    for (int attempt = 0;; attempt++) {
        sigset_t old;
        pipe_guard_begin(&old);
        int rc = exchange_once(s);
        pipe_guard_end(&old);
        if (rc <= 0)
            return rc;
        s->resent = true;
        s->last_resent = true;
        if (attempt > 1000)
            return -1;
    }
}


void aw_redis_argl_init(struct argl *l, struct aw_buf *text, size_t cap)
{
    l->n = 0;
    l->cap = cap ? cap : 8;
    l->argv = aw_xcalloc(l->cap, sizeof *l->argv);
    l->lens = aw_xcalloc(l->cap, sizeof *l->lens);
    l->off = aw_xcalloc(l->cap, sizeof *l->off);
    l->text = text;
    aw_buf_reset(text);
}

static void argl_grow(struct argl *l)
{
    if (l->n < l->cap)
        return;
    l->cap *= 2;
    l->argv = aw_xrealloc(l->argv, l->cap * sizeof *l->argv);
    l->lens = aw_xrealloc(l->lens, l->cap * sizeof *l->lens);
    l->off = aw_xrealloc(l->off, l->cap * sizeof *l->off);
}

/* An argument that stays valid until the command is queued. */
void aw_redis_argl_ptr(struct argl *l, const char *p, size_t len)
{
    argl_grow(l);
    l->argv[l->n] = p;
    l->lens[l->n] = len;
    l->off[l->n++] = SIZE_MAX;
}

/* An argument copied into the list's text. */
void aw_redis_argl_copy(struct argl *l, const char *p, size_t len)
{
    argl_grow(l);
    l->off[l->n] = l->text->len;
    l->lens[l->n++] = len;
    aw_buf_append(l->text, p, len);
}

void aw_redis_argl_num(struct argl *l, int64_t v)
{
    char num[24];
    aw_redis_argl_copy(l, num, aw_redis_fmt_time(num, v));
}

/* Queue the list as one command and free it. */
struct command *aw_redis_argl_queue(struct redis_store *s, struct argl *l, enum reply_use use)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->off[i] != SIZE_MAX)
            l->argv[i] = l->text->data + l->off[i];
    aw_redis_queue_argv(s, use, (int)l->n, l->argv, l->lens);
    free(l->argv);
    free(l->lens);
    free(l->off);
    return &s->cmds[s->ncmds - 1];
}

