/*
 * auth_patterns.c - the auth-log message pattern table (see auth_patterns.h).
 *
 * Patterns are matched against the syslog message after the program tag,
 * with a leading "error: " or "fatal: " removed for sshd (OpenSSH prefixes
 * some messages with them depending on version and log level).  Every
 * pattern is compiled anchored, so "starts with" is implied; `prefix` lets
 * the matcher skip a regex call with one memcmp.
 *
 * User names are attacker-chosen text: they may hold spaces, quotes and
 * whole fake "from 10.0.0.1 port 22" phrases.  So a name is never matched
 * with \S+ where sshd writes it raw, and a pattern in which the name comes
 * before the address is anchored at the end ($) with the text after the
 * address fully spelled out; the name is then taken greedily, which makes
 * the address the last one on the line - the one sshd wrote.
 *
 * Actions (event.action) used here, by family:
 *   ssh:     ssh_login ssh_invalid_user ssh_not_allowed ssh_max_attempts
 *            ssh_disconnect ssh_no_identification ssh_negotiation_failed
 *            ssh_timeout ssh_penalty ssh_reverse_mapping_failed
 *   pam:     pam_auth pam_more_failures pam_max_retries pam_requirement_failed
 *            account_locked session_opened session_closed password_changed
 *   sudo/su: sudo su login
 *   shadow:  user_created user_deleted user_modified group_created
 *            group_deleted group_modified group_member_added
 *            group_member_removed password_changed
 */
#include "auth_patterns.h"

#include <string.h>

const char *const auth_group_names[G_COUNT] = {
    [G_USER] = "user",     [G_RUSER] = "ruser", [G_EUSER] = "euser",   [G_TARGET] = "target",
    [G_GROUP] = "group",   [G_IP] = "ip",       [G_HOST] = "host",     [G_PORT] = "port",
    [G_METHOD] = "method", [G_REASON] = "reason", [G_UID] = "uid",     [G_GID] = "gid",
};

#define SSH (PM(PROG_SSHD))
#define DB (PM(PROG_DROPBEAR))
#define SH (PM(PROG_SHADOW))
#define AUTHN "authentication"
#define SESS "session"
#define IAM "iam"
#define OK "success"
#define FAIL "failure"
#define UNK "unknown"

/* Address as written after "from": IPv4, IPv6, or a host name. */
#define ADDR "(?<ip>[^\\s\\[\\]]+)"
#define PORT "(?<port>\\d+)"
#define PREAUTH "(?: \\[preauth\\])?"
/* What follows "port N" in OpenSSH's auth lines: the protocol, and for
 * public keys ": TYPE FINGERPRINT" (certificates add more).  Patterns that
 * end in it are anchored at the end and take the user name greedily, so
 * the address is the LAST "from ADDR port N" of the line: a user name
 * holding "x from 10.0.0.1 port 22" cannot choose source.ip. */
#define SSH_TAIL "(?: ssh[12])?(?:: \\S+ \\S+.*)?" PREAUTH "$"
/* "authenticating user" / "invalid user" before a user name, kept as the
 * reason so it reads like the "Failed ... for invalid user" reason. */
#define WHO_USER "(?<reason>(?:authenticating|invalid) user) "
/* The peer of a closed connection: a named user is always followed by
 * "ADDR port N" (so the greedy name cannot swallow the address), a bare
 * address may come without its port. */
#define CLOSED_PEER \
    "(?:" WHO_USER "(?<user>.*) " ADDR " port " PORT "|" ADDR "(?: port " PORT ")?)" PREAUTH "$"

const struct auth_rule auth_rules[] = {
    /* ---------------------------------------------------------- sshd */
    {SSH, "Accepted ", "Accepted (?<method>\\S+) for (?<user>.*) from " ADDR " port " PORT SSH_TAIL,
     "ssh_login", AUTHN, OK, NULL, 0},
    {SSH, "Failed ",
     "Failed (?<method>\\S+) for (?:(?<reason>invalid user) )?(?<user>.*) from " ADDR " port " PORT
     SSH_TAIL,
     "ssh_login", AUTHN, FAIL, NULL, 0},
    {SSH, "Invalid user", "Invalid user (?<user>.*) from " ADDR "(?: port " PORT ")?" PREAUTH "$",
     "ssh_invalid_user", AUTHN, FAIL, NULL, 0},
    {SSH, "Illegal user", "Illegal user (?<user>.*) from " ADDR "(?: port " PORT ")?$",
     "ssh_invalid_user", AUTHN, FAIL, NULL, 0},
    {SSH, "input_userauth_request",
     "input_userauth_request: invalid user (?<user>.*?)" PREAUTH "$", "ssh_invalid_user", AUTHN,
     FAIL, NULL, 0},
    {SSH, "User ", "User (?<user>.*) from " ADDR " not allowed because (?<reason>.+)$",
     "ssh_not_allowed", AUTHN, FAIL, NULL, 0},
    {SSH, "maximum authentication attempts",
     "maximum authentication attempts exceeded for (?:(?<reason>invalid user) )?(?<user>.*) from "
     ADDR " port " PORT "(?: ssh[12])?" PREAUTH "$",
     "ssh_max_attempts", AUTHN, FAIL, NULL, 0},
    {SSH, "Disconnecting ",
     "Disconnecting " WHO_USER "(?<user>.*) " ADDR " port " PORT
     ": Too many authentication failures" PREAUTH "$",
     "ssh_max_attempts", AUTHN, FAIL, NULL, 0},
    {SSH, "Disconnecting:",
     "Disconnecting: Too many authentication failures"
     "(?: for (?:(?<reason>invalid user) )?(?<user>.*?))?" PREAUTH "$",
     "ssh_max_attempts", AUTHN, FAIL, NULL, 0},
    {SSH, "Connection closed by ",
     "Connection closed by " CLOSED_PEER,
     "ssh_disconnect", SESS, FAIL, NULL, AF_FAIL_ONLY_WITH_REASON},
    {SSH, "Connection reset by ",
     "Connection reset by " CLOSED_PEER,
     "ssh_disconnect", SESS, FAIL, NULL, AF_FAIL_ONLY_WITH_REASON},
    {SSH, "Disconnected from ",
     "Disconnected from (?:" WHO_USER "(?<user>.*) |user (?<user>.*) )?" ADDR
     " port " PORT PREAUTH "$",
     "ssh_disconnect", SESS, FAIL, NULL, AF_FAIL_ONLY_WITH_REASON},
    {SSH, "Received disconnect from ",
     "Received disconnect from " ADDR "?(?: port " PORT ")?:\\s*\\d+: (?<reason>.*?)" PREAUTH "$",
     "ssh_disconnect", SESS, UNK, NULL, 0},
    {SSH, "Did not receive identification string",
     "Did not receive identification string from " ADDR "(?: port " PORT ")?",
     "ssh_no_identification", "network", FAIL, NULL, 0},
    {SSH, "Unable to negotiate",
     "Unable to negotiate with " ADDR " port " PORT ": (?<reason>.*?)" PREAUTH "$",
     "ssh_negotiation_failed", "network", FAIL, NULL, 0},
    {SSH, "Timeout before authentication",
     "Timeout before authentication for (?:connection from )?(?<ip>[^\\s,]+)(?: port " PORT ")?",
     "ssh_timeout", AUTHN, FAIL, NULL, 0},
    {SSH, "drop connection",
     "drop connection #\\d+ from \\[(?<ip>[^\\]]+)\\]:" PORT " on \\[[^\\]]*\\]:\\d+ penalty: (?<reason>.*)$",
     "ssh_penalty", "network", FAIL, NULL, 0},
    {SSH, "PAM: Authentication failure",
     "PAM: Authentication failure for (?:(?:illegal|invalid) user )?(?<user>.*) from (?<host>\\S+)$",
     "pam_auth", AUTHN, FAIL, NULL, 0},
    {SSH, "PAM: User not known",
     "PAM: User not known to the underlying authentication module for (?:illegal|invalid) user "
     "(?<user>.*) from (?<host>\\S+)$",
     "ssh_invalid_user", AUTHN, FAIL, NULL, 0},
    {SSH, "reverse mapping checking",
     "reverse mapping checking getaddrinfo for (?<host>\\S+) \\[(?<ip>[^\\]]+)\\] failed",
     "ssh_reverse_mapping_failed", "network", UNK, NULL, 0},
    {SSH, "Address ",
     "Address " ADDR " maps to (?<host>[^\\s,]+), but this does not map back to the address",
     "ssh_reverse_mapping_failed", "network", UNK, NULL, 0},

    /* ------------------------------------------------------ dropbear */
    {DB, "Bad password attempt",
     "Bad password attempt for '(?<user>.*?)' from (?<ip>\\S+):" PORT "$", "ssh_login", AUTHN, FAIL,
     "password", 0},
    {DB, "Login attempt for nonexistent user",
     "Login attempt for nonexistent user(?: '(?<user>.*?)')? from (?<ip>\\S+):" PORT "$",
     "ssh_invalid_user", AUTHN, FAIL, NULL, 0},
    {DB, "Password auth succeeded",
     "Password auth succeeded for '(?<user>.*?)' from (?<ip>\\S+):" PORT "$", "ssh_login", AUTHN, OK,
     "password", 0},
    {DB, "Pubkey auth succeeded",
     "Pubkey auth succeeded for '(?<user>.*?)' with .*? from (?<ip>\\S+):" PORT "$", "ssh_login",
     AUTHN, OK, "publickey", 0},
    {DB, "Exit before auth",
     "Exit before auth(?: from <(?<ip>\\S+):" PORT ">)?: \\(user '(?<user>.*?)', \\d+ fails\\): "
     "(?<reason>Max auth tries reached.*)$",
     "ssh_max_attempts", AUTHN, FAIL, NULL, 0},

    /* ----------------------------------------------------------- PAM */
    {PM_PAM, "pam_",
     "pam_(?:unix|sss|ldap|winbind|krb5|userdb)\\([^)]*\\): authentication failure; logname=\\S* "
     "uid=(?<uid>\\d*) euid=\\d* tty=\\S* ruser=(?<ruser>\\S*) rhost=(?<host>\\S*)(?:\\s+user=(?<user>.*))?$",
     "pam_auth", AUTHN, FAIL, NULL, 0},
    {PM_PAM, "pam_", "pam_unix\\([^)]*\\): check pass; user unknown", "pam_auth", AUTHN, FAIL,
     NULL, 0},
    {PM_PAM, "pam_",
     "pam_unix\\([^)]*\\): auth could not identify password for \\[(?<user>[^\\]]*)\\]",
     "pam_auth", AUTHN, FAIL, NULL, 0},
    {PM_PAM, "pam_sss",
     "pam_sss\\([^)]*\\): received for user (?<user>.*?): (?!0 )\\d+ \\((?<reason>[^)]*)\\)",
     "pam_auth", AUTHN, FAIL, NULL, 0},
    {PM_PAM, "PAM ",
     "PAM \\d+ more authentication failures?; logname=\\S* uid=(?<uid>\\d*) euid=\\d* tty=\\S* "
     "ruser=(?<ruser>\\S*) rhost=(?<host>\\S*)(?:\\s+user=(?<user>.*))?$",
     "pam_more_failures", AUTHN, FAIL, NULL, 0},
    {PM_PAM, "PAM service",
     "PAM service\\([^)]*\\) ignoring max retries; (?<reason>\\d+ > \\d+)", "pam_max_retries", AUTHN,
     FAIL, NULL, 0},
    {PM_PAM, "pam_succeed_if",
     "pam_succeed_if\\([^)]*\\): requirement \"(?<reason>[^\"]*)\" not met by user \"(?<user>[^\"]*)\"",
     "pam_requirement_failed", AUTHN, FAIL, NULL, 0},
    {PM_PAM, "pam_faillock",
     "pam_faillock\\([^)]*\\): Consecutive login failures for user (?<user>\\S+) account temporarily locked",
     "account_locked", AUTHN, FAIL, NULL, 0},
    {PM_PAM, "pam_tally",
     "pam_tally2?\\([^)]*\\): user (?<user>\\S+) \\(\\d+\\) tally \\d+, deny \\d+", "account_locked",
     AUTHN, FAIL, NULL, 0},
    {PM_PAM, "pam_",
     "pam_[a-z_]+\\([^)]*\\): session opened for user (?<user>[^\\s(]+)(?:\\(uid=\\d+\\))?"
     "(?: by (?!LOGIN\\()(?<ruser>[^\\s(]*))?",
     "session_opened", SESS, OK, NULL, 0},
    {PM_PAM, "pam_",
     "pam_[a-z_]+\\([^)]*\\): session closed for user (?<user>[^\\s(]+)", "session_closed", SESS,
     OK, NULL, 0},
    {PM_PAM, "pam_",
     "pam_unix\\([^)]*\\): password changed for (?<target>\\S+)", "password_changed", IAM, OK, NULL,
     0},

    /* ------------------------------------------------------------ su */
    {PM(PROG_SU), "FAILED SU",
     "FAILED SU \\(to (?<euser>[^)]*)\\) (?<user>\\S+) on \\S+", "su", AUTHN, FAIL, NULL, 0},
    {PM(PROG_SU), "Successful su", "Successful su for (?<euser>\\S+) by (?<user>\\S+)", "su",
     AUTHN, OK, NULL, 0},
    {PM(PROG_SU), "(to ", "\\(to (?<euser>[^)]*)\\) (?<user>\\S+) on \\S+", "su", AUTHN, OK, NULL, 0},
    {PM(PROG_SU), "+ ", "\\+ \\S+ (?<user>[^:\\s]+):(?<euser>\\S+)$", "su", AUTHN, OK, NULL, 0},
    {PM(PROG_SU), "- ", "- \\S+ (?<user>[^:\\s]+):(?<euser>\\S+)$", "su", AUTHN, FAIL, NULL, 0},

    /* --------------------------------------------------------- login */
    {PM(PROG_LOGIN), "FAILED LOGIN",
     "FAILED LOGIN \\(?\\d+\\)? (?:on '[^']*' )?(?:FROM|from) '?(?<host>[^'\\s]+)'? FOR '?(?<user>.*?)'?, "
     "(?<reason>.*)$",
     "login", AUTHN, FAIL, NULL, 0},
    {PM(PROG_LOGIN), "FAILED LOGIN",
     "FAILED LOGIN \\(\\d+\\) on '[^']*' FOR '(?<user>[^']*)', (?<reason>.*)$", "login", AUTHN, FAIL,
     NULL, 0},
    {PM(PROG_LOGIN), "TOO MANY LOGIN TRIES",
     "TOO MANY LOGIN TRIES \\(\\d+\\) on '[^']*'(?: from '(?<host>[^']*)')? FOR '(?<user>[^']*)'",
     "login", AUTHN, FAIL, NULL, 0},
    {PM(PROG_LOGIN), "ROOT LOGIN",
     "ROOT LOGIN\\s+(?:on '?[^'\\s]+'?)?(?: from '?(?<host>[^'\\s]+)'?)?", "login", AUTHN, OK, NULL,
     AF_USER_IS_ROOT},
    {PM(PROG_LOGIN), "LOGIN ON", "LOGIN ON \\S+ BY (?<user>\\S+)(?: FROM (?<host>\\S+))?", "login",
     AUTHN, OK, NULL, 0},

    /* ----------------------------------------- shadow-utils (useradd...) */
    {SH, "new user:",
     "new user: name=(?<target>[^,]+), UID=(?<uid>\\d+), GID=(?<gid>\\d+)", "user_created", IAM, OK,
     NULL, AF_USER_ALSO_TARGET},
    {SH, "new group:", "new group: name=(?<group>[^,]+), GID=(?<gid>\\d+)", "group_created", IAM, OK,
     NULL, 0},
    {SH, "group added to",
     "group added to \\S+: name=(?<group>[^,]+)(?:, GID=(?<gid>\\d+))?", "group_created", IAM, OK,
     NULL, 0},
    {SH, "add '", "add '(?<target>[^']+)' to (?:shadow )?group '(?<group>[^']+)'",
     "group_member_added", IAM, OK, NULL, 0},
    {SH, "delete user", "delete user '(?<target>[^']+)'", "user_deleted", IAM, OK, NULL, 0},
    {SH, "delete '", "delete '(?<target>[^']+)' from (?:shadow )?group '(?<group>[^']+)'",
     "group_member_removed", IAM, OK, NULL, 0},
    {SH, "removed ", "removed (?:shadow )?group '(?<group>[^']+)'", "group_deleted", IAM, OK, NULL,
     0},
    {SH, "group '", "group '(?<group>[^']+)' removed", "group_deleted", IAM, OK, NULL, 0},
    {SH, "user ", "user (?<target>\\S+) added by (?<user>\\S+) to group (?<group>\\S+)",
     "group_member_added", IAM, OK, NULL, 0},
    {SH, "user ", "user (?<target>\\S+) removed by (?<user>\\S+) from group (?<group>\\S+)",
     "group_member_removed", IAM, OK, NULL, 0},
    {SH, "members of group", "members of group (?<group>\\S+) set by (?<user>\\S+)",
     "group_modified", IAM, OK, NULL, 0},
    {SH, "group changed",
     "group changed in \\S+ \\(group (?<group>[^/),]+)(?:/(?<gid>\\d+))?(?:, (?<reason>[^)]+))?\\)",
     "group_modified", IAM, OK, NULL, 0},
    {SH, "change user", "change user '(?<target>[^']+)' (?<reason>.*)$", "user_modified", IAM, OK,
     NULL, 0},
    {SH, "changed user", "changed user '(?<target>[^']+)' (?<reason>.*)$", "user_modified", IAM, OK,
     NULL, 0},
    {SH, "lock user", "lock user '(?<target>[^']+)' password", "user_modified", IAM, OK, NULL, 0},
    {SH, "unlock user", "unlock user '(?<target>[^']+)' password", "user_modified", IAM, OK, NULL, 0},
    {SH, "password for", "password for '(?<target>[^']+)' changed by '(?<user>[^']+)'",
     "password_changed", IAM, OK, NULL, 0},
    {SH, "changed password expiry", "changed password expiry for (?<target>\\S+)", "user_modified",
     IAM, OK, NULL, 0},
};

const size_t auth_rule_count = sizeof auth_rules / sizeof auth_rules[0];

struct program_name {
    const char *name;
    size_t len; /* strlen(name), so a lookup compares lengths first */
    enum auth_program family;
};

#define PROGRAM(n, fam) {n, sizeof(n) - 1, fam}

static const struct program_name program_names[] = {
    PROGRAM("sshd", PROG_SSHD),         PROGRAM("sshd-session", PROG_SSHD),
    PROGRAM("sshd-auth", PROG_SSHD),    PROGRAM("dropbear", PROG_DROPBEAR),
    PROGRAM("sudo", PROG_SUDO),         PROGRAM("su", PROG_SU),
    PROGRAM("login", PROG_LOGIN),       PROGRAM("useradd", PROG_SHADOW),
    PROGRAM("userdel", PROG_SHADOW),    PROGRAM("usermod", PROG_SHADOW),
    PROGRAM("groupadd", PROG_SHADOW),   PROGRAM("groupdel", PROG_SHADOW),
    PROGRAM("groupmod", PROG_SHADOW),   PROGRAM("gpasswd", PROG_SHADOW),
    PROGRAM("passwd", PROG_SHADOW),     PROGRAM("chpasswd", PROG_SHADOW),
    PROGRAM("chage", PROG_SHADOW),      PROGRAM("newusers", PROG_SHADOW),
    PROGRAM("chsh", PROG_SHADOW),       PROGRAM("chfn", PROG_SHADOW),
};

enum auth_program auth_program_family(const char *name, size_t len)
{
    /* Tags are sometimes paths ("/usr/sbin/sshd"): use the last component. */
    const char *slash = memrchr(name, '/', len);
    if (slash) {
        len -= (size_t)(slash + 1 - name);
        name = slash + 1;
    }
    for (size_t i = 0; i < sizeof program_names / sizeof program_names[0]; i++) {
        const struct program_name *pn = &program_names[i];
        if (pn->len == len && pn->name[0] == name[0] && memcmp(pn->name, name, len) == 0)
            return pn->family;
    }
    return PROG_OTHER;
}
