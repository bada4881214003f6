/*
 * test_parsers.c - time stamps, zones, IP addresses and UTF-8, as tables.
 */
#include <criterion/criterion.h>

#include "auditwatch/buf.h"
#include "auditwatch/ipaddr.h"
#include "auditwatch/timeparse.h"

static const struct {
    const char *in;
    bool allow_no_zone;
    const char *want; /* NULL: must not parse */
} rfc3339_cases[] = {
    {"2024-03-01T12:00:00Z", false, "2024-03-01T12:00:00.000Z"},
    {"2024-03-01T12:00:00.123456Z", false, "2024-03-01T12:00:00.123Z"},
    {"2024-03-01T12:00:00.9Z", false, "2024-03-01T12:00:00.900Z"},
    {"2023-10-06T09:45:19.574793+02:00", false, "2023-10-06T07:45:19.574Z"},
    {"2023-10-06T01:00:00-0530", false, "2023-10-06T06:30:00.000Z"},
    {"2024-01-01T00:30:00+01:00", false, "2023-12-31T23:30:00.000Z"},
    {"2024-02-29T00:00:00Z", false, "2024-02-29T00:00:00.000Z"},
    {"2024-12-31T23:59:60Z", false, "2024-12-31T23:59:59.999Z"},
    {"2024-03-01 12:00:00Z", false, "2024-03-01T12:00:00.000Z"},
    {"2024-03-01T12:00:00", true, "2024-03-01T12:00:00.000Z"},
    {"2024-03-01T12:00:00", false, NULL},
    {"2023-02-29T00:00:00Z", false, NULL},
    {"2024-13-01T00:00:00Z", false, NULL},
    {"2024-03-01T24:00:00Z", false, NULL},
    {"2024-03-01T12:00Z", false, NULL},
    {"20240301T120000Z", false, NULL},
    {"", false, NULL},
};

Test(time, rfc3339_table)
{
    for (size_t i = 0; i < sizeof rfc3339_cases / sizeof rfc3339_cases[0]; i++) {
        int64_t ms = 0;
        const char *in = rfc3339_cases[i].in;
        size_t n = aw_parse_rfc3339(in, strlen(in), rfc3339_cases[i].allow_no_zone, &ms);
        if (!rfc3339_cases[i].want) {
            cr_expect(n != strlen(in) || n == 0, "'%s' should not parse", in);
            continue;
        }
        cr_expect_eq(n, strlen(in), "'%s' consumed %zu", in, n);
        char out[AW_RFC3339_MS_LEN + 1];
        aw_format_rfc3339_ms(ms, out);
        cr_expect_str_eq(out, rfc3339_cases[i].want, "'%s'", in);
    }
}

Test(time, civil_round_trip_over_centuries)
{
    for (int64_t days = -800000; days <= 800000; days += 997) {
        int64_t y;
        unsigned m, d;
        aw_civil_from_days(days, &y, &m, &d);
        cr_assert(aw_date_valid(y, m, d));
        cr_assert_eq(aw_days_from_civil(y, m, d), days);
    }
    cr_assert_eq(aw_days_from_civil(1970, 1, 1), 0);
    cr_assert_eq(aw_days_from_civil(2000, 3, 1), 11017);
}

static const struct {
    const char *in;
    unsigned mon, day, h, mi, s, ms;
    size_t consumed; /* 0: must not parse */
} bsd_cases[] = {
    {"Mar  3 12:00:01 host", 3, 3, 12, 0, 1, 0, 15},
    {"Mar 13 12:00:01 host", 3, 13, 12, 0, 1, 0, 15},
    {"Mar 3 12:00:01 host", 3, 3, 12, 0, 1, 0, 14},
    {"Dec 31 23:59:59.123456 host", 12, 31, 23, 59, 59, 123, 22},
    {"jan  1 00:00:00 x", 1, 1, 0, 0, 0, 0, 15},
    {"Foo  1 00:00:00 x", 0, 0, 0, 0, 0, 0, 0},
    {"Mar 32 00:00:00 x", 0, 0, 0, 0, 0, 0, 0},
    {"Mar  3 25:00:00 x", 0, 0, 0, 0, 0, 0, 0},
    {"Mar  3 12:00", 0, 0, 0, 0, 0, 0, 0},
};

Test(time, bsd_table)
{
    for (size_t i = 0; i < sizeof bsd_cases / sizeof bsd_cases[0]; i++) {
        struct aw_bsd_time t;
        const char *in = bsd_cases[i].in;
        size_t n = aw_parse_bsd_time(in, strlen(in), &t);
        cr_expect_eq(n, bsd_cases[i].consumed, "'%s' consumed %zu", in, n);
        if (!n)
            continue;
        cr_expect(t.month == bsd_cases[i].mon && t.day == bsd_cases[i].day &&
                      t.hour == bsd_cases[i].h && t.minute == bsd_cases[i].mi &&
                      t.second == bsd_cases[i].s && t.millisecond == bsd_cases[i].ms,
                  "'%s' fields", in);
    }
}

static int64_t ms_of(const char *s)
{
    int64_t ms;
    cr_assert(aw_parse_rfc3339(s, strlen(s), false, &ms));
    return ms;
}

Test(time, year_inference_keeps_lines_out_of_the_future)
{
    struct aw_tz tz;
    char err[128];
    cr_assert(aw_tz_init(&tz, "UTC", err, sizeof err));
    int64_t now = ms_of("2026-01-15T00:00:00Z");
    struct aw_bsd_time dec31 = {12, 31, 23, 0, 0, 0}, jan10 = {1, 10, 0, 0, 0, 0};
    struct aw_bsd_time feb29 = {2, 29, 0, 0, 0, 0}, jan16 = {1, 16, 0, 0, 0, 0};
    int64_t ms;
    cr_assert(aw_bsd_time_resolve(&tz, &dec31, 0, now, &ms));
    cr_expect_eq(ms, ms_of("2025-12-31T23:00:00Z"));
    cr_assert(aw_bsd_time_resolve(&tz, &jan10, 0, now, &ms));
    cr_expect_eq(ms, ms_of("2026-01-10T00:00:00Z"));
    cr_assert(aw_bsd_time_resolve(&tz, &jan16, 0, now, &ms)); /* within a day's grace */
    cr_expect_eq(ms, ms_of("2026-01-16T00:00:00Z"));
    cr_assert(aw_bsd_time_resolve(&tz, &feb29, 0, now, &ms));
    cr_expect_eq(ms, ms_of("2024-02-29T00:00:00Z"));
    cr_assert_not(aw_bsd_time_resolve(&tz, &feb29, 2025, now, &ms));
    cr_assert(aw_bsd_time_resolve(&tz, &dec31, 2019, now, &ms));
    cr_expect_eq(ms, ms_of("2019-12-31T23:00:00Z"));
}

Test(time, zones_fixed_and_named)
{
    struct aw_tz tz;
    char err[128];
    cr_assert(aw_tz_init(&tz, "+02:00", err, sizeof err));
    cr_expect_eq(aw_tz_local_to_utc_ms(&tz, 2024, 6, 1, 12, 0, 0, 0), ms_of("2024-06-01T10:00:00Z"));
    cr_assert(aw_tz_init(&tz, "-0530", err, sizeof err));
    cr_expect_eq(aw_tz_local_to_utc_ms(&tz, 2024, 6, 1, 12, 0, 0, 0), ms_of("2024-06-01T17:30:00Z"));
    cr_assert_not(aw_tz_init(&tz, "+25:00", err, sizeof err));
    cr_assert_not(aw_tz_init(&tz, "Mars/Olympus_Mons", err, sizeof err));
    cr_expect(strstr(err, "Mars/Olympus_Mons") != NULL, "error names the zone: %s", err);
    cr_assert_not(aw_tz_init(&tz, "../../etc/passwd", err, sizeof err));
    if (aw_tz_init(&tz, "Europe/Berlin", err, sizeof err)) { /* tzdata is installed */
        cr_expect_eq(aw_tz_local_to_utc_ms(&tz, 2024, 1, 15, 12, 0, 0, 0), ms_of("2024-01-15T11:00:00Z"));
        cr_expect_eq(aw_tz_local_to_utc_ms(&tz, 2024, 7, 15, 12, 30, 5, 7),
                     ms_of("2024-07-15T10:30:05Z") + 7);
    }
}

static const struct {
    const char *in, *want; /* want NULL: not an address */
} ip_cases[] = {
    {"10.0.0.1", "10.0.0.1"},
    {"::1", "::1"},
    {"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
    {"2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"},
    {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
    {"::ffff:10.1.2.3", "10.1.2.3"},
    {"::FFFF:192.168.0.1", "192.168.0.1"},
    {"fe80::1%eth0", "fe80::1"},
    {"[2001:db8::2]", "2001:db8::2"},
    {"[10.0.0.1]", "10.0.0.1"},
    {"10.0.0.256", NULL},
    {"10.0.0", NULL},
    {"example.com", NULL},
    {"1.2.3.4%eth0", NULL},
    {"", NULL},
    {"::g", NULL},
};

Test(ip, normalize_table)
{
    for (size_t i = 0; i < sizeof ip_cases / sizeof ip_cases[0]; i++) {
        char out[AW_IP_TEXT_MAX];
        size_t n = aw_ip_normalize(ip_cases[i].in, strlen(ip_cases[i].in), out);
        if (!ip_cases[i].want)
            cr_expect_eq(n, 0, "'%s' should not be an address", ip_cases[i].in);
        else
            cr_expect(n && !strcmp(out, ip_cases[i].want), "'%s' -> '%s', want '%s'",
                      ip_cases[i].in, n ? out : "(none)", ip_cases[i].want);
    }
}

Test(ip, cidr)
{
    struct aw_ip net, ip;
    unsigned bits;
    cr_assert(aw_cidr_parse("10.0.0.0/8", 10, &net, &bits));
    cr_assert_eq(bits, 8);
    cr_assert(aw_ip_parse("10.200.1.1", 10, &ip));
    cr_expect(aw_cidr_contains(&net, bits, &ip));
    cr_assert(aw_ip_parse("11.0.0.1", 8, &ip));
    cr_expect_not(aw_cidr_contains(&net, bits, &ip));
    cr_assert(aw_cidr_parse("2001:db8::/33", 13, &net, &bits));
    cr_assert(aw_ip_parse("2001:db8:7fff::1", 16, &ip));
    cr_expect(aw_cidr_contains(&net, bits, &ip));
    cr_assert(aw_ip_parse("2001:db8:8000::1", 16, &ip));
    cr_expect_not(aw_cidr_contains(&net, bits, &ip));
    cr_assert(aw_ip_parse("::ffff:10.1.1.1", 15, &ip)); /* mapped: compares as IPv4 */
    cr_assert(aw_cidr_parse("10.1.0.0/16", 11, &net, &bits));
    cr_expect(aw_cidr_contains(&net, bits, &ip));
    cr_expect_not(aw_cidr_parse("10.0.0.0/33", 11, &net, &bits));
    cr_expect_not(aw_cidr_parse("10.0.0.0/", 9, &net, &bits));
}

Test(utf8, validity_table)
{
    static const struct {
        const char *s;
        size_t len, valid;
    } cases[] = {
        {"plain ascii", 11, 11},
        {"caf\xc3\xa9", 5, 5},
        {"\xe2\x82\xac", 3, 3},
        {"\xf0\x9f\x98\x80", 4, 4},
        {"ab\xff", 3, 2},
        {"\xc0\xaf", 2, 0},         /* overlong */
        {"\xe0\x80\xaf", 3, 0},     /* overlong */
        {"\xed\xa0\x80", 3, 0},     /* surrogate */
        {"\xf4\x90\x80\x80", 4, 0}, /* beyond U+10FFFF */
        {"abcdefgh\xc3", 9, 8},     /* truncated after the 8-byte fast path */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_eq(aw_utf8_valid_prefix(cases[i].s, cases[i].len), cases[i].valid, "case %zu", i);
}

Test(buf, json_string_escapes)
{
    struct aw_buf b = {0};
    aw_buf_json_string(&b, "a\"b\\c\n\t\x01\x1f", 9);
    aw_buf_append_char(&b, '\0');
    cr_assert_str_eq(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f\"");
    aw_buf_reset(&b);
    aw_buf_append_i64(&b, INT64_MIN);
    aw_buf_append_char(&b, ' ');
    aw_buf_append_u64(&b, UINT64_MAX);
    aw_buf_append_char(&b, '\0');
    cr_assert_str_eq(b.data, "-9223372036854775808 18446744073709551615");
    aw_buf_free(&b);
}
