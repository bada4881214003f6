/*
 * jansson_loop.c - the floor for decoding JSON Lines with jansson.
 *
 * The decode benchmark compares `auditwatch normalize --source k8s` with
 * the least work any jansson-based decoder must do per record: read a line
 * (getline), build the DOM (json_loadb), free it (json_decref).  No field
 * is looked at and nothing is written, so the ratio auditwatch / this loop
 * shows what normalization, validation and output cost on top of parsing.
 *
 * Usage: jansson_loop FILE      (or "-" / nothing for stdin)
 * Prints "lines=N parsed=N failed=N" to stderr; exit 0 unless FILE can't be
 * read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))) {
        fputs("usage: jansson_loop [FILE|-]\n", argc > 2 ? stderr : stdout);
        return argc > 2 ? 2 : 0;
    }
    FILE *in = stdin;
    if (argc == 2 && strcmp(argv[1], "-") != 0) {
        in = fopen(argv[1], "r");
        if (!in) {
            fprintf(stderr, "jansson_loop: %s: %s\n", argv[1], strerror(errno));
            return 1;
        }
    }

    char *line = NULL; /* owned here, grown by getline */
    size_t cap = 0;
    ssize_t len;
    unsigned long long lines = 0, parsed = 0, failed = 0;
    while ((len = getline(&line, &cap, in)) != -1) {
        lines++;
        json_error_t err;
        json_t *doc = json_loadb(line, (size_t)len, 0, &err);
        if (doc) {
            parsed++;
            json_decref(doc);
        } else {
            failed++;
        }
    }
    int rc = ferror(in) ? 1 : 0;
    if (rc)
        perror("jansson_loop: read");
    free(line);
    if (in != stdin)
        fclose(in);
    fprintf(stderr, "lines=%llu parsed=%llu failed=%llu\n", lines, parsed, failed);
    return rc;
}
