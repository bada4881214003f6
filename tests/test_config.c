/*
 * test_config.c - the main configuration: defaults, every key read,
 * every problem reported with file:line, overrides applied to rules, and
 * `auditwatch check` over a configuration.
 */
#include <criterion/criterion.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auditwatch/config.h"
#include "test_util.h"

static char *write_temp(const char *text, const char *suffix)
{
    static char path[96];
    snprintf(path, sizeof path, "/tmp/aw-test-config-XXXXXX%s", suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

Test(config, defaults_without_a_file)
{
    struct aw_config cfg;
    aw_config_init_defaults(&cfg);
    cr_expect_str_eq(cfg.store, "memory");
    cr_expect_eq(cfg.lateness_ms, 120000);
    cr_expect_eq(cfg.max_record, 1048576u);
    cr_expect_str_eq(cfg.timezone, "UTC");
    cr_expect_eq(cfg.year, 0);
    aw_config_free(&cfg);
}

Test(config, shipped_configuration_loads_and_checks)
{
    struct aw_config cfg;
    struct aw_diags d = {0};
    aw_config_init_defaults(&cfg);
    cr_assert_eq(aw_config_load(&cfg, "config/auditwatch.yaml", &d), 0);
    cr_expect_eq(cfg.rule_paths.n, 1);
    cr_expect_not_null(aw_config_allowlist(&cfg, "automation"));
    cr_expect_not_null(cfg.service_map_path);
    cr_expect_geq(cfg.nfirst_seen, 1);
    char *p = aw_config_resolve_path(&cfg, "rules");
    cr_expect_str_eq(p, "config/rules");
    free(p);
    aw_config_free(&cfg);
    aw_diags_free(&d);
}

Test(config, every_key_is_read)
{
    const char *text =
        "rules:\n  paths: [a, /abs/b]\n  overrides:\n    r.one: {threshold: 7, timespan: 90s, suppress: 1h, lateness: 5s, level: critical, disabled: true}\n"
        "store: {backend: 'redis://localhost:6379/2', memory_cap: 64MiB, prefix: p1, replay_prefix: p2}\n"
        "windows: {lateness: 30s}\n"
        "decode: {year: 2025, timezone: Europe/Berlin, envelope_fields: [log], max_record: 4096, strict: true}\n"
        "allowlists: {bots: ['system:serviceaccount:ci:*']}\n"
        "service_map: {path: map.yaml, required_labels: [owner], level: low}\n"
        "first_seen:\n  - {name: fs, rule: r.two, entity: user.name, value: source.ip, learning: 1d, retention: 30d, generate: true}\n"
        "kafka: {brokers: 'b:9092', group: g, inputs: [{topic: t1, decoder: k8s}], alerts_topic: a, dead_letter_topic: dl,\n"
        "        properties: {security.protocol: SASL_SSL}}\n"
        "metrics: {address: '0.0.0.0:9000'}\n";
    char *path = write_temp(text, ".yaml");
    struct aw_config cfg;
    struct aw_diags d = {0};
    aw_config_init_defaults(&cfg);
    size_t problems = aw_config_load(&cfg, path, &d);
    aw_diag_print(&d, stderr);
    cr_assert_eq(problems, 0);
    cr_expect_eq(cfg.rule_paths.n, 2);
    cr_assert_eq(cfg.noverrides, 1);
    cr_expect_eq(cfg.overrides[0].threshold, 7);
    cr_expect_eq(cfg.overrides[0].timespan_ms, 90000);
    cr_expect_eq(cfg.overrides[0].suppress_ms, 3600000);
    cr_expect_eq(cfg.overrides[0].lateness_ms, 5000);
    cr_expect_eq(cfg.overrides[0].level, AW_LEVEL_CRITICAL);
    cr_expect(cfg.overrides[0].disabled);
    cr_expect_str_eq(cfg.store, "redis://localhost:6379/2");
    cr_expect_eq(cfg.memory_cap, 64u << 20);
    cr_expect_str_eq(cfg.replay_prefix, "p2");
    cr_expect_eq(cfg.lateness_ms, 30000);
    cr_expect_eq(cfg.year, 2025);
    cr_expect_str_eq(cfg.timezone, "Europe/Berlin");
    cr_expect(cfg.strict);
    cr_expect_eq(cfg.max_record, 4096u);
    cr_expect_str_eq(aw_config_allowlist(&cfg, "bots")->patterns.items[0], "system:serviceaccount:ci:*");
    cr_expect_eq(cfg.service_map_level, AW_LEVEL_LOW);
    cr_assert_eq(cfg.nfirst_seen, 1);
    cr_expect_eq(cfg.first_seen[0].learning_ms, 86400000);
    cr_expect(cfg.first_seen[0].generate);
    cr_assert_eq(cfg.ninputs, 1);
    cr_expect_str_eq(cfg.inputs[0].decoder, "k8s");
    cr_expect_str_eq(cfg.kafka_properties.items[0], "security.protocol=SASL_SSL");
    char *abs = aw_config_resolve_path(&cfg, "/abs/b");
    cr_expect_str_eq(abs, "/abs/b");
    free(abs);
    aw_config_free(&cfg);
    aw_diags_free(&d);
    unlink(path);
}

static const struct {
    const char *text;
    int line;
    const char *needle;
} bad_configs[] = {
    {"rules: {paths: [r]}\nbogus: 1\n", 2, "unknown key 'bogus'"},
    {"store:\n  backend: mongo\n", 2, "mongo"},
    {"store: {memory_cap: lots}\n", 1, "memory_cap"},
    {"windows:\n  lateness: soon\n", 2, "duration"},
    {"decode: {year: 1492}\n", 1, "year"},
    {"decode:\n  strict: 'yes'\n", 2, "true or false"},
    {"service_map: {level: severe}\n", 1, "informational, low, medium, high or critical"},
    {"first_seen:\n  - {name: x, rule: r, entity: user.nme, value: source.ip}\n", 2, "user.nme"},
    {"first_seen:\n  - {name: x, entity: user.name, value: source.ip}\n", 2, "needs 'rule'"},
    {"kafka:\n  inputs: [{topic: t, decoder: xml}]\n", 2, "decoder 'xml'"},
    {"rules:\n  overrides:\n    r: {threshold: many}\n", 3, "whole number"},
    {"- just\n- a list\n", 1, "one YAML map"},
    {"rules: [unclosed\n", 0, ""},
};

Test(config, every_problem_has_its_line)
{
    for (size_t i = 0; i < sizeof bad_configs / sizeof bad_configs[0]; i++) {
        char *path = write_temp(bad_configs[i].text, ".yaml");
        char copy[128];
        snprintf(copy, sizeof copy, "%s", path);
        struct aw_config cfg;
        struct aw_diags d = {0};
        aw_config_init_defaults(&cfg);
        size_t problems = aw_config_load(&cfg, copy, &d);
        cr_expect_geq(problems, 1, "case %zu: no problem reported", i);
        if (d.n) {
            cr_expect_str_eq(d.items[0].file, copy, "case %zu", i);
            if (bad_configs[i].line)
                cr_expect_eq(d.items[0].line, bad_configs[i].line, "case %zu: line %d, message: %s", i,
                             d.items[0].line, d.items[0].message);
            cr_expect(strstr(d.items[0].message, bad_configs[i].needle) != NULL, "case %zu: message '%s'",
                      i, d.items[0].message);
        }
        aw_config_free(&cfg);
        aw_diags_free(&d);
        unlink(copy);
    }
}

Test(config, overrides_change_loaded_rules)
{
    struct aw_ruleset set = {0};
    struct aw_diags d = {0};
    aw_ruleset_load_path(&set, "config/rules/linux/ssh_failures.yml", &d);
    aw_ruleset_link(&set, &d);
    cr_assert_eq(d.n, 0);
    const char *text = "rules:\n  overrides:\n    auth.ssh_bruteforce: {threshold: 9, timespan: 2m, level: critical}\n"
                       "    auth.password_spray: {disabled: true}\n    auth.ssh_failure: {threshold: 3}\n"
                       "    no.such.rule: {level: low}\n";
    char *path = write_temp(text, ".yaml");
    char copy[128];
    snprintf(copy, sizeof copy, "%s", path);
    struct aw_config cfg;
    aw_config_init_defaults(&cfg);
    cr_assert_eq(aw_config_load(&cfg, copy, &d), 0);
    size_t problems = aw_config_apply_overrides(&cfg, &set, &d);
    cr_expect_eq(problems, 2, "a threshold on a detection rule and an unknown rule are problems");
    struct aw_rule *bf = aw_ruleset_find(&set, "auth.ssh_bruteforce");
    cr_assert_not_null(bf);
    cr_expect_eq(bf->correlation->threshold, 9);
    cr_expect_eq(bf->correlation->timespan_ms, 120000);
    cr_expect_eq(bf->level, AW_LEVEL_CRITICAL);
    cr_expect(aw_ruleset_find(&set, "auth.password_spray")->disabled);
    bool unknown_named = false;
    for (size_t i = 0; i < d.n; i++)
        if (strstr(d.items[i].message, "no.such.rule"))
            unknown_named = d.items[i].line == 6;
    cr_expect(unknown_named, "the unknown rule's override is reported at its line");
    aw_config_free(&cfg);
    aw_ruleset_free(&set);
    aw_diags_free(&d);
    unlink(copy);
}

static int run_status(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(config, check_command_exit_codes)
{
    const char *bin = getenv("AW_BIN") ? getenv("AW_BIN") : "build/auditwatch";
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s check -c config/auditwatch.yaml > /dev/null", bin);
    cr_expect_eq(run_status(cmd), 0, "the shipped configuration must check clean");
    snprintf(cmd, sizeof cmd, "%s check config/rules > /dev/null", bin);
    cr_expect_eq(run_status(cmd), 0);
    char *path = write_temp("rules: {paths: [nowhere]}\nwindows: {lateness: never}\n", ".yaml");
    snprintf(cmd, sizeof cmd, "%s check -c %s > /tmp/aw-check-out.txt", bin, path);
    cr_expect_eq(run_status(cmd), 2);
    char *out = test_read_file("/tmp/aw-check-out.txt", NULL);
    cr_expect(out && strstr(out, ":2:") && strstr(out, "lateness"), "%s", out ? out : "");
    free(out);
    unlink(path);
    snprintf(cmd, sizeof cmd, "%s check --bogus 2> /dev/null", bin);
    cr_expect_eq(run_status(cmd), 2);
}
