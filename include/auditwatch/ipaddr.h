/*
 * ipaddr.h - IP address literals to one canonical text form.
 *
 * Logs write the same address many ways: "::ffff:10.0.0.1", "[2001:db8::1]",
 * "fe80::1%eth0", "2001:DB8:0:0::1".  Window keys and rule matches need one
 * spelling per address, so every address that enters an event goes through
 * aw_ip_normalize(): IPv4 in dotted quad, IPv6 in RFC 5952 form (lowercase,
 * longest zero run compressed), the zone index ("%eth0") stripped, and an
 * IPv4-mapped IPv6 address folded into its IPv4 form.
 */
#ifndef AUDITWATCH_IPADDR_H
#define AUDITWATCH_IPADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AW_IP_TEXT_MAX 46 /* INET6_ADDRSTRLEN */

/* Normalize the literal s[0..len) (optionally in brackets) into out.
 * Returns the length written (no NUL is counted; out is NUL-terminated),
 * or 0 when s is not an IP address literal. */
size_t aw_ip_normalize(const char *s, size_t len, char out[AW_IP_TEXT_MAX]);

/* Parsed form for CIDR matching: family 4 or 6, address in network order
 * (IPv4 in the first 4 bytes). */
struct aw_ip {
    int family;
    uint8_t bytes[16];
};

bool aw_ip_parse(const char *s, size_t len, struct aw_ip *out);
/* Parse "addr/prefix" (or a bare address = full-length prefix). */
bool aw_cidr_parse(const char *s, size_t len, struct aw_ip *net, unsigned *prefix_bits);
bool aw_cidr_contains(const struct aw_ip *net, unsigned prefix_bits, const struct aw_ip *ip);

#endif
