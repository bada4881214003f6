/*
 * cli_check.c - `auditwatch check`: validate rule files before they run.
 *
 * Loads every named rule file or folder the way `replay` and `run` would,
 * links the whole set (so a correlation may refer to rules of another
 * file), and prints every problem as "file:line:col: message" - all of
 * them, not just the first, with quoted input escaped - followed by a
 * one-line summary.  The exit status is 0 when everything loads and 2
 * when anything does not (DESIGN section 3: a configuration error).
 *
 * The rule part is a function of its own, aw_check_rule_paths(), so the
 * config and service-map checks can run beside it and share the output.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "auditwatch/diag.h"
#include "auditwatch/rule.h"
#include "cli.h"

/* For cli.h (the lead wires it): the rule part of `check`. */
int aw_check_rule_paths(const char *const *paths, size_t n, FILE *out);

static void usage(FILE *out)
{
    fprintf(out,
            "usage: auditwatch check [options] RULE_FILE_OR_FOLDER...\n"
            "\n"
            "Load Sigma-style rule files (a folder: every *.yml and *.yaml below it),\n"
            "link correlations to the rules they use, and report every problem as\n"
            "file:line:col: message. A rule that uses a Sigma feature auditwatch does\n"
            "not support is a problem that names the feature.\n"
            "\n"
            "Options:\n"
            "  -h, --help   show this help\n"
            "\n"
            "Exit status: 0 when every rule loads, 2 when there is any problem.\n");
}

/* Load and link the rules under paths[0..n), print problems and a summary
 * to out.  Returns the number of problems (0: all rules load). */
int aw_check_rule_paths(const char *const *paths, size_t n, FILE *out)
{
    struct aw_ruleset set = {0};
    struct aw_diags diags = {0};
    for (size_t i = 0; i < n; i++)
        aw_ruleset_load_path(&set, paths[i], &diags);
    aw_ruleset_link(&set, &diags);
    size_t problems = aw_diag_print(&diags, out);

    size_t detections = 0, correlations = 0;
    for (size_t i = 0; i < set.n; i++) {
        detections += set.rules[i]->detection != NULL;
        correlations += set.rules[i]->correlation != NULL;
    }
    /* A fixed shape (no plural forms), so scripts can read it. */
    fprintf(out, "%zu rules loaded (%zu detections, %zu correlations), %zu problems\n", set.n,
            detections, correlations, problems);
    aw_diags_free(&diags);
    aw_ruleset_free(&set);
    return (int)problems;
}

int aw_cli_check(int argc, char **argv)
{
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return AW_EXIT_OK;
        default:
            usage(stderr);
            return AW_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "auditwatch check: name at least one rule file or folder\n\n");
        usage(stderr);
        return AW_EXIT_USAGE;
    }
    int problems = aw_check_rule_paths((const char *const *)(argv + optind),
                                       (size_t)(argc - optind), stdout);
    fflush(stdout);
    return problems ? AW_EXIT_USAGE : AW_EXIT_OK;
}
