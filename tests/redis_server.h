/*
 * redis_server.h - start and stop a real redis-server for a test.
 *
 * Each test gets its own server: a free loopback port, a temporary
 * folder for its files, no snapshots unless the test asks (extra
 * arguments are passed through, e.g. "--appendonly yes").  The server can
 * be killed and started again on the same port and folder (restart
 * tests).  redis-server comes from Debian's package (make deps).
 */
#ifndef AUDITWATCH_TEST_REDIS_SERVER_H
#define AUDITWATCH_TEST_REDIS_SERVER_H

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_REDIS_MAX_ARGS 64

struct test_redis {
    pid_t pid;
    int port;
    char dir[64];
    char url[128];
    char extra[512];
};

static inline int test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static inline void test_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A connection to the server (NULL when it does not answer). */
static inline redisContext *test_redis_connect(const struct test_redis *r)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    return c;
}

/* Start (or start again) the server; 0 when it answers within 5 s. */
static inline int test_redis_launch(struct test_redis *r)
{
    char port[16];
    snprintf(port, sizeof port, "%d", r->port);
    char extra[512];
    snprintf(extra, sizeof extra, "%s", r->extra);
    const char *argv[TEST_REDIS_MAX_ARGS + 16] = {"redis-server", "--port", port, "--bind", "127.0.0.1",
                                                  "--dir", r->dir, "--save", "", "--logfile", "redis.log",
                                                  "--protected-mode", "no"};
    int argc = 13;
    for (char *tok = strtok(extra, " "); tok && argc < TEST_REDIS_MAX_ARGS + 12; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    r->pid = pid;
    for (int i = 0; i < 100; i++) {
        redisContext *c = test_redis_connect(r);
        if (c) {
            redisReply *rep = redisCommand(c, "PING");
            bool noauth = rep && rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "NOAUTH");
            bool up = rep && (rep->type == REDIS_REPLY_STATUS || noauth);
            if (rep)
                freeReplyObject(rep);
            /* With an append-only file, the first rewrite at start must be
             * over: a crash during it loses the file (a Redis property,
             * not what a restart test is about). */
            if (up && !noauth) {
                rep = redisCommand(c, "INFO persistence");
                up = rep && rep->type == REDIS_REPLY_STRING && strstr(rep->str, "aof_rewrite_in_progress:0") &&
                     strstr(rep->str, "aof_rewrite_scheduled:0") && strstr(rep->str, "loading:0");
                if (rep)
                    freeReplyObject(rep);
            }
            redisFree(c);
            if (up)
                return 0;
        }
        test_sleep_ms(50);
    }
    return -1;
}

/* A new server with extra arguments ("" for none). */
static inline int test_redis_start(struct test_redis *r, const char *extra)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/aw-redis-XXXXXX");
    if (!mkdtemp(r->dir))
        return -1;
    snprintf(r->extra, sizeof r->extra, "%s", extra ? extra : "");
    r->port = test_free_port();
    snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d", r->port);
    return r->port > 0 ? test_redis_launch(r) : -1;
}

/* Stop: SIGKILL (a crash) or SIGTERM. */
static inline void test_redis_kill(struct test_redis *r, int sig)
{
    if (r->pid > 0) {
        kill(r->pid, sig);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
}

static inline void test_redis_stop(struct test_redis *r)
{
    test_redis_kill(r, SIGKILL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", r->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", r->dir);
}

#endif
