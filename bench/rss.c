/*
 * rss.c - run a command, report its wall time and peak resident set size.
 *
 * The decode benchmark takes peak RSS from GNU time (`/usr/bin/time -f %M`)
 * where it is installed.  It is not part of a minimal Debian system, so this
 * wrapper does the same job with nothing but libc: fork, exec, wait4(), and
 * ru_maxrss (KiB on Linux) of the finished child.  Wall time is measured
 * with CLOCK_MONOTONIC around fork and wait.
 *
 * Usage: rss OUTFILE COMMAND [ARG...]
 * The command inherits stdin, stdout and stderr, so shell redirections on
 * `rss` apply to it.  When it ends, one line "SECONDS MAXRSS_KIB STATUS" is
 * written to OUTFILE, where STATUS is the exit code, or 128+N for death by
 * signal N.  rss exits with that same STATUS (127 when exec fails, 1 on
 * its own errors).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fputs("usage: rss OUTFILE COMMAND [ARG...]\n", stderr);
        return 1;
    }
    const char *outfile = argv[1];

    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pid_t pid = fork();
    if (pid < 0) {
        perror("rss: fork");
        return 1;
    }
    if (pid == 0) {
        execvp(argv[2], &argv[2]);
        fprintf(stderr, "rss: %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }

    int wstatus;
    struct rusage usage;
    while (wait4(pid, &wstatus, 0, &usage) < 0) {
        if (errno != EINTR) {
            perror("rss: wait4");
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);

    int status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    FILE *out = fopen(outfile, "w");
    if (!out) {
        fprintf(stderr, "rss: %s: %s\n", outfile, strerror(errno));
        return 1;
    }
    fprintf(out, "%.6f %ld %d\n", seconds_between(&start, &end), usage.ru_maxrss, status);
    if (fclose(out) != 0) {
        perror("rss: write");
        return 1;
    }
    return status;
}
