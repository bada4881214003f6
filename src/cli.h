/*
 * cli.h - subcommand entry points (internal).
 *
 * main.c only dispatches; each subcommand lives in its own cli_*.c with its
 * option parsing and --help.  Exit codes follow DESIGN section 3:
 * 0 ok, 1 runtime failure, 2 usage or configuration error.
 */
#ifndef AUDITWATCH_CLI_H
#define AUDITWATCH_CLI_H

#define AW_EXIT_OK 0
#define AW_EXIT_FAILURE 1
#define AW_EXIT_USAGE 2

#ifndef AW_VERSION
#define AW_VERSION "0.1.0"
#endif

int aw_cli_normalize(int argc, char **argv);
int aw_cli_replay(int argc, char **argv);
int aw_cli_check(int argc, char **argv);
int aw_cli_run(int argc, char **argv);

#include <stddef.h>
#include <stdio.h>
/* The rule part of `check`: returns the number of problems printed. */
int aw_check_rule_paths(const char *const *paths, size_t n, FILE *out);

#endif
