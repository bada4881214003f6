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
 * With -c CONFIG (or config/auditwatch.yaml by default, when no rule files
 * are named) the whole configuration is checked: its keys, the rules it
 * names and its overrides, the allowlists rules refer to, first_seen
 * entries and the service map.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auditwatch/config.h"
#include "auditwatch/diag.h"
#include "auditwatch/rule.h"
#include "auditwatch/service_map.h"
#include "cli.h"

/* Summary line in a fixed shape (no plural forms), so scripts can read it. */
static void print_rule_summary(const struct aw_ruleset *set, size_t problems, FILE *out)
{
    size_t detections = 0, correlations = 0;
    for (size_t i = 0; i < set->n; i++) {
        detections += set->rules[i]->detection != NULL;
        correlations += set->rules[i]->correlation != NULL;
    }
    fprintf(out, "%zu rules loaded (%zu detections, %zu correlations), %zu problems\n", set->n,
            detections, correlations, problems);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: auditwatch check [-c CONFIG] [RULE_FILE_OR_FOLDER...]\n"
            "\n"
            "Validate before running.  With rule files or folders named, load those\n"
            "(a folder: every *.yml and *.yaml below it) and link correlations to the\n"
            "rules they use.  Otherwise check a configuration (-c, default\n"
            "config/auditwatch.yaml): its keys, the rules it names, rule overrides\n"
            "and allowlists, first_seen entries and the service map.  Every problem\n"
            "is reported as file:line:col: message; a rule that uses a Sigma feature\n"
            "auditwatch does not support is a problem that names the feature.\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE   the configuration to check\n"
            "  -h, --help          show this help\n"
            "\n"
            "Exit status: 0 when everything loads, 2 when there is any problem.\n");
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
    print_rule_summary(&set, problems, out);
    aw_diags_free(&diags);
    aw_ruleset_free(&set);
    return (int)problems;
}

/* The whole configuration: keys, rules, overrides, allowlists named by
 * rules, first_seen entries, service map.  Returns the number of problems. */
static int check_config(const char *path, FILE *out)
{
    struct aw_config cfg;
    struct aw_diags diags = {0};
    struct aw_ruleset set = {0};
    aw_config_init_defaults(&cfg);
    if (aw_config_load(&cfg, path, &diags) == 0) {
        for (size_t i = 0; i < cfg.rule_paths.n; i++) {
            char *p = aw_config_resolve_path(&cfg, cfg.rule_paths.items[i]);
            aw_ruleset_load_path(&set, p, &diags);
            free(p);
        }
        if (!cfg.rule_paths.n)
            aw_diag_add(&diags, path, 1, 1, "rules.paths is empty: no rules would run");
        aw_ruleset_link(&set, &diags);
        aw_config_apply_overrides(&cfg, &set, &diags);
        for (size_t i = 0; i < set.n; i++) {
            const struct aw_rule *r = set.rules[i];
            if (r->allowlist && !aw_config_allowlist(&cfg, r->allowlist))
                aw_diag_add(&diags, r->file, r->line, 1,
                            "rule %s names allowlist '%s', which %s does not define", r->name,
                            r->allowlist, path);
        }
        for (size_t i = 0; i < cfg.nfirst_seen; i++) {
            const struct aw_first_seen_cfg *f = &cfg.first_seen[i];
            const struct aw_rule *r = f->rule ? aw_ruleset_find(&set, f->rule) : NULL;
            if (f->rule && (!r || r->correlation))
                aw_diag_add(&diags, path, f->line, 1,
                            "first_seen %s: rule '%s' is not a loaded detection rule",
                            f->name ? f->name : "?", f->rule);
        }
        if (cfg.service_map_path) {
            struct aw_service_map map;
            memset(&map, 0, sizeof map);
            char *p = aw_config_resolve_path(&cfg, cfg.service_map_path);
            aw_service_map_load(p, &map, &diags);
            aw_service_map_free(&map);
            free(p);
        }
    }
    size_t problems = aw_diag_print(&diags, out);
    print_rule_summary(&set, problems, out);
    aw_ruleset_free(&set);
    aw_diags_free(&diags);
    aw_config_free(&cfg);
    return (int)problems;
}

int aw_cli_check(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'h':
            usage(stdout);
            return AW_EXIT_OK;
        default:
            usage(stderr);
            return AW_EXIT_USAGE;
        }
    }
    int problems;
    if (optind < argc) {
        problems = aw_check_rule_paths((const char *const *)(argv + optind), (size_t)(argc - optind), stdout);
    } else {
        struct stat st;
        if (!config && stat("config/auditwatch.yaml", &st) == 0)
            config = "config/auditwatch.yaml";
        if (!config) {
            fprintf(stderr, "auditwatch check: name rule files or folders, or a configuration with -c\n\n");
            usage(stderr);
            return AW_EXIT_USAGE;
        }
        problems = check_config(config, stdout);
    }
    fflush(stdout);
    return problems ? AW_EXIT_USAGE : AW_EXIT_OK;
}
