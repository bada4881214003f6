/*
 * main.c - `auditwatch SUBCOMMAND [options]`: dispatch only.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct subcommand subcommands[] = {
    {"normalize", aw_cli_normalize, "decode records and print normalized ECS events (JSON lines)"},
    {"replay", aw_cli_replay, "run the detection rules over historical logs and print alerts"},
    {"check", aw_cli_check, "validate the configuration, rules and service map"},
    {"run", aw_cli_run, "the stream job: Kafka topics in, alerts to a Kafka topic"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: auditwatch SUBCOMMAND [options]\n"
                 "       auditwatch --version | --help\n\n"
                 "Kubernetes audit and Linux auth-log detection.\n\nSubcommands:\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\nRun 'auditwatch SUBCOMMAND --help' for its options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return AW_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return AW_EXIT_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("auditwatch %s\n", AW_VERSION);
        return AW_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (!strcmp(cmd, subcommands[i].name))
            return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "auditwatch: unknown subcommand '%s'\n\n", cmd);
    usage(stderr);
    return AW_EXIT_USAGE;
}
