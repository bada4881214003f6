/*
 * ipaddr.c - canonical IP address text and CIDR tests (see ipaddr.h).
 *
 * Parsing uses inet_pton from libc; this file adds what logs need around
 * it: bounded copies (log text is not NUL-terminated), brackets, zone
 * indexes and IPv4-mapped folding.  Printing is done here, in RFC 5952
 * text byte for byte as glibc's inet_ntop prints it (longest run of two or
 * more zero groups compressed, the first of equal runs; "::a.b.c.d" for
 * IPv4-compatible and "::ffff:a.b.c.d" for mapped addresses), without
 * inet_ntop's sprintf per group: normalize runs for every address of every
 * event.
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

/* Decimal text of an IPv4 address at p; returns the end. */
static char *put_ipv4(char *p, const uint8_t b[4])
{
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        if (i)
            *p++ = '.';
        if (v >= 100)
            *p++ = (char)('0' + v / 100);
        if (v >= 10)
            *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
    }
    return p;
}

/* RFC 5952 text of an IPv6 address at p, as glibc's inet_ntop writes it
 * (see the top of the file); returns the end. */
static char *put_ipv6(char *p, const uint8_t b[16])
{
    static const char hex[] = "0123456789abcdef";
    unsigned words[8];
    for (int i = 0; i < 8; i++)
        words[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
    int best = -1, best_len = 0, cur = -1, cur_len = 0;
    for (int i = 0; i <= 8; i++) {
        if (i < 8 && words[i] == 0) {
            if (cur < 0)
                cur = i, cur_len = 0;
            cur_len++;
        } else if (cur >= 0) {
            if (cur_len > best_len)
                best = cur, best_len = cur_len;
            cur = -1;
        }
    }
    if (best_len < 2)
        best = -1;
    for (int i = 0; i < 8; i++) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best)
                *p++ = ':';
            continue;
        }
        if (i)
            *p++ = ':';
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff)))
            return put_ipv4(p, b + 12);
        unsigned w = words[i];
        if (w >= 0x1000)
            *p++ = hex[w >> 12];
        if (w >= 0x100)
            *p++ = hex[w >> 8 & 15];
        if (w >= 0x10)
            *p++ = hex[w >> 4 & 15];
        *p++ = hex[w & 15];
    }
    if (best >= 0 && best + best_len == 8)
        *p++ = ':';
    return p;
}

size_t aw_ip_normalize(const char *s, size_t len, char out[AW_IP_TEXT_MAX])
{
    struct aw_ip ip;
    if (!aw_ip_parse(s, len, &ip))
        return 0;
    char *end = ip.family == 4 ? put_ipv4(out, ip.bytes) : put_ipv6(out, ip.bytes);
    *end = '\0';
    return (size_t)(end - out);
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
