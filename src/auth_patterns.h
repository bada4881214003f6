/*
 * auth_patterns.h - the auth-log message pattern table (internal).
 *
 * Each entry says which programs log the message, a literal the message
 * starts with (checked before the regex runs), an anchored PCRE2 pattern
 * whose named groups carry the fields, and the event's action, category and
 * outcome.  The table is data: adding a line shape means adding an entry
 * and a golden case in tests/data/auth_cases.txt, nothing else.
 *
 * Named groups and the fields they fill:
 *   user   user.name          ruser  requesting user (PAM): when non-empty it
 *   euser  user.effective.name       becomes user.name and `user` moves to
 *   target user.target.name          user.effective.name
 *   group  group.name         ip / host  source.ip or source.domain
 *   port   source.port        method  system.auth.ssh.method
 *   reason event.reason       uid / gid  user.id / group.id
 *
 * In a pattern that also has `ruser`, `uid` is the requesting process's
 * real uid (PAM's "uid="): it is user.id only when ruser names that user,
 * never the id of `user` (sshd's failures say uid=0 for every account).
 */
#ifndef AUDITWATCH_AUTH_PATTERNS_H
#define AUDITWATCH_AUTH_PATTERNS_H

#include <stdbool.h>
#include <stddef.h>

/* Program families: a message is tried only against its family's rules. */
enum auth_program {
    PROG_OTHER = 0, /* unknown program: only the PAM rules apply */
    PROG_SSHD,
    PROG_DROPBEAR,
    PROG_SUDO,
    PROG_SU,
    PROG_LOGIN,
    PROG_SHADOW, /* useradd userdel usermod groupadd groupdel groupmod gpasswd passwd
                   chpasswd chage newusers chsh chfn */
    PROG_COUNT
};

#define PM(p) (1u << (p))
#define PM_PAM (1u << PROG_COUNT) /* PAM module messages, any program */

enum auth_group_name {
    G_USER,
    G_RUSER,
    G_EUSER,
    G_TARGET,
    G_GROUP,
    G_IP,
    G_HOST,
    G_PORT,
    G_METHOD,
    G_REASON,
    G_UID,
    G_GID,
    G_COUNT
};

extern const char *const auth_group_names[G_COUNT];

/* Entry flags */
#define AF_USER_ALSO_TARGET 1u /* useradd: the new account is also user.name */
#define AF_FAIL_ONLY_WITH_REASON 2u /* outcome is failure only when `reason` matched
                                       (a preauth close), else unknown */
#define AF_USER_IS_ROOT 4u /* the message is about root without naming it ("ROOT LOGIN") */

struct auth_rule {
    unsigned programs; /* PM() mask, or PM_PAM */
    const char *prefix;
    const char *regex;
    const char *action;
    const char *category;
    const char *outcome;
    const char *method; /* static ssh method when the pattern has no `method` group */
    unsigned flags;
};

extern const struct auth_rule auth_rules[];
extern const size_t auth_rule_count;

/* Program name (as written in the syslog tag) -> family. */
enum auth_program auth_program_family(const char *name, size_t len);

#endif
