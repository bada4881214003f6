/*
 * pace.c - auth.log lines at a steady rate, stamped with the current time,
 * for the latency part of bench_kafka.sh.
 *
 *   pace RATE SECONDS [EVERY [NAME]]
 *
 * Writes RATE lines per second for SECONDS seconds to stdout, in ticks of
 * 10 ms (flushed per tick, so a pipe into `kcat -P` sees them as they are
 * due).  Every EVERY-th line (default 50) is a useradd "new user" line
 * with a unique name NAME<N> (default bench-u) - one alert of auth.user_created each,
 * a single-event rule, so its latency is the pipeline's and not a
 * window's; the others are accepted SSH logins and session lines, which
 * alert nothing.  Stamps are RFC 3164 in UTC.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void stamp(char *out, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, cap, "%b %e %H:%M:%S", &tm);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: pace RATE SECONDS [EVERY [NAME]]\n");
        return 2;
    }
    long rate = atol(argv[1]), seconds = atol(argv[2]), every = argc > 3 ? atol(argv[3]) : 50;
    const char *name = argc > 4 ? argv[4] : "bench-u";
    if (rate <= 0 || seconds <= 0 || every <= 0) {
        fprintf(stderr, "pace: RATE, SECONDS and EVERY must be positive\n");
        return 2;
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long total = rate * seconds, sent = 0, users = 0;
    char when[32];
    for (long tick = 1; sent < total; tick++) {
        long due = rate * tick / 100; /* lines due by the end of this 10 ms tick */
        if (due > total)
            due = total;
        stamp(when, sizeof when);
        for (; sent < due; sent++) {
            if (sent % every == every - 1)
                printf("%s bench-01 useradd[%ld]: new user: name=%s%ld, UID=%ld, GID=%ld, home=/home/%s%ld, "
                       "shell=/bin/bash, from=/dev/pts/1\n",
                       when, 4000 + users % 1000, name, users, 20000 + users, 20000 + users, name, users);
            else if (sent % 2)
                printf("%s bench-01 sshd[%ld]: Accepted publickey for deploy from 10.0.%ld.%ld port %ld ssh2: "
                       "ED25519 SHA256:benchkey\n",
                       when, 10000 + sent % 50000, (sent / 250) % 250, sent % 250, 1024 + sent % 60000);
            else
                printf("%s bench-01 CRON[%ld]: pam_unix(cron:session): session opened for user root(uid=0) by "
                       "(uid=0)\n",
                       when, 30000 + sent % 30000);
            users += sent % every == every - 1;
        }
        fflush(stdout);
        struct timespec next = start;
        long ns = start.tv_nsec + (tick % 100) * 10000000L;
        next.tv_sec = start.tv_sec + tick / 100 + ns / 1000000000L;
        next.tv_nsec = ns % 1000000000L;
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    return 0;
}
