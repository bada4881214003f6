/*
 * ipaddr.c - canonical IP address text and CIDR tests (see ipaddr.h).
 *
 * Parsing and printing use inet_pton/inet_ntop from libc, which already
 * print RFC 5952 text; this file adds what logs need around them: bounded
 * copies (log text is not NUL-terminated), brackets, zone indexes and
 * IPv4-mapped folding.
 */
#include "auditwatch/ipaddr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool aw_ip_parse(const char *s, size_t len, struct aw_ip *out)
{
    char tmp[AW_IP_TEXT_MAX + 1];
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    if (len == 0 || len > AW_IP_TEXT_MAX + 16)
        return false;
    /* Strip an IPv6 zone index: fe80::1%eth0 -> fe80::1. */
    const char *pct = memchr(s, '%', len);
    if (pct)
        len = (size_t)(pct - s);
    if (len == 0 || len > AW_IP_TEXT_MAX)
        return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    memset(out->bytes, 0, sizeof out->bytes);
    if (!pct && inet_pton(AF_INET, tmp, out->bytes) == 1) {
        out->family = 4;
        return true;
    }
    if (inet_pton(AF_INET6, tmp, out->bytes) == 1) {
        if (memcmp(out->bytes, v4_mapped_prefix, 12) == 0) {
            memmove(out->bytes, out->bytes + 12, 4);
            memset(out->bytes + 4, 0, 12);
            out->family = 4;
        } else {
            out->family = 6;
        }
        return true;
    }
    return false;
}

size_t aw_ip_normalize(const char *s, size_t len, char out[AW_IP_TEXT_MAX])
{
    struct aw_ip ip;
    if (!aw_ip_parse(s, len, &ip))
        return 0;
    if (!inet_ntop(ip.family == 4 ? AF_INET : AF_INET6, ip.bytes, out, AW_IP_TEXT_MAX))
        return 0;
    return strlen(out);
}

bool aw_cidr_parse(const char *s, size_t len, struct aw_ip *net, unsigned *prefix_bits)
{
    const char *slash = memchr(s, '/', len);
    size_t addr_len = slash ? (size_t)(slash - s) : len;
    if (!aw_ip_parse(s, addr_len, net))
        return false;
    unsigned max_bits = net->family == 4 ? 32 : 128;
    if (!slash) {
        *prefix_bits = max_bits;
        return true;
    }
    const char *p = slash + 1, *end = s + len;
    if (p == end || end - p > 3)
        return false;
    unsigned bits = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        bits = bits * 10 + (unsigned)(*p - '0');
    }
    if (bits > max_bits)
        return false;
    *prefix_bits = bits;
    return true;
}

bool aw_cidr_contains(const struct aw_ip *net, unsigned prefix_bits, const struct aw_ip *ip)
{
    if (net->family != ip->family)
        return false;
    unsigned full = prefix_bits / 8, rest = prefix_bits % 8;
    if (memcmp(net->bytes, ip->bytes, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));
    return (net->bytes[full] & mask) == (ip->bytes[full] & mask);
}
