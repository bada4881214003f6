/*
 * timeparse.c - event-time parsing and formatting (see timeparse.h).
 *
 * Calendar arithmetic uses the days-from-civil algorithm on the proleptic
 * Gregorian calendar, which is exact for every year and needs no tables, so
 * fixed-offset conversions never call into libc.  Parsers are hand-written
 * and bounded by the given length: log text is not NUL-terminated.
 */
#include "auditwatch/timeparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int64_t aw_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void aw_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

bool aw_date_valid(int64_t y, unsigned m, unsigned d)
{
    static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1)
        return false;
    unsigned max = mdays[m - 1] + (m == 2 && is_leap(y));
    return d <= max;
}

static bool format_uncached(int64_t ms, char out[AW_RFC3339_MS_LEN + 1]);

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

void aw_format_rfc3339_ms(int64_t ms, char out[AW_RFC3339_MS_LEN + 1])
{
    /* Consecutive events mostly share their second: reuse the formatted
     * date and time of the last call (per thread) and redo the millis. */
    static _Thread_local int64_t cached_second = INT64_MIN;
    static _Thread_local char cached[AW_RFC3339_MS_LEN + 1];
    int64_t second = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    if (second == cached_second) {
        unsigned milli = (unsigned)(ms - second * 1000);
        memcpy(out, cached, AW_RFC3339_MS_LEN + 1);
        out[20] = (char)('0' + milli / 100);
        out[21] = (char)('0' + milli / 10 % 10);
        out[22] = (char)('0' + milli % 10);
        return;
    }
    if (format_uncached(ms, out)) { /* not a clamped out-of-range value */
        cached_second = second;
        memcpy(cached, out, sizeof cached);
    }
}

/* Returns false when the year is out of RFC 3339's range and was clamped. */
static bool format_uncached(int64_t ms, char out[AW_RFC3339_MS_LEN + 1])
{
    int64_t days = ms / 86400000, rem = ms % 86400000;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    int64_t y;
    unsigned mo, d;
    aw_civil_from_days(days, &y, &mo, &d);
    if (y < 0 || y > 9999) { /* out of RFC 3339's range: clamp visibly */
        memcpy(out, y < 0 ? "0000-01-01T00:00:00.000Z" : "9999-12-31T23:59:59.999Z", 25);
        return false;
    }
    unsigned secs = (unsigned)(rem / 1000), milli = (unsigned)(rem % 1000);
    put2(out, (unsigned)(y / 100));
    put2(out + 2, (unsigned)(y % 100));
    out[4] = '-';
    put2(out + 5, mo);
    out[7] = '-';
    put2(out + 8, d);
    out[10] = 'T';
    put2(out + 11, secs / 3600);
    out[13] = ':';
    put2(out + 14, secs / 60 % 60);
    out[16] = ':';
    put2(out + 17, secs % 60);
    out[19] = '.';
    out[20] = (char)('0' + milli / 100);
    put2(out + 21, milli % 100);
    out[23] = 'Z';
    out[24] = '\0';
    return true;
}

/* Read exactly n digits at s[*i]; false if any is not a digit. */
static bool read_digits(const char *s, size_t len, size_t *i, unsigned n, unsigned *out)
{
    if (*i + n > len)
        return false;
    unsigned v = 0;
    for (unsigned k = 0; k < n; k++) {
        char c = s[*i + k];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (unsigned)(c - '0');
    }
    *i += n;
    *out = v;
    return true;
}

/* ".fraction" -> milliseconds (truncated); consumes every digit. */
static unsigned read_fraction_ms(const char *s, size_t len, size_t *i)
{
    unsigned ms = 0, digits = 0;
    if (*i < len && (s[*i] == '.' || s[*i] == ',') && *i + 1 < len && s[*i + 1] >= '0' &&
        s[*i + 1] <= '9') {
        (*i)++;
        while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
            if (digits < 3)
                ms = ms * 10 + (unsigned)(s[*i] - '0');
            digits++;
            (*i)++;
        }
        while (digits < 3) {
            ms *= 10;
            digits++;
        }
    }
    return ms;
}

size_t aw_parse_rfc3339(const char *s, size_t len, bool allow_no_zone, int64_t *ms_out)
{
    size_t i = 0;
    unsigned y, mo, d, h, mi, sec;
    if (!read_digits(s, len, &i, 4, &y) || i >= len || s[i++] != '-' ||
        !read_digits(s, len, &i, 2, &mo) || i >= len || s[i++] != '-' ||
        !read_digits(s, len, &i, 2, &d) || i >= len || (s[i] != 'T' && s[i] != 't' && s[i] != ' '))
        return 0;
    i++;
    if (!read_digits(s, len, &i, 2, &h) || i >= len || s[i++] != ':' ||
        !read_digits(s, len, &i, 2, &mi) || i >= len || s[i++] != ':' ||
        !read_digits(s, len, &i, 2, &sec))
        return 0;
    unsigned ms = read_fraction_ms(s, len, &i);
    if (!aw_date_valid(y, mo, d) || h > 23 || mi > 59 || sec > 60)
        return 0;
    if (sec == 60) /* leap second: fold into the next second's start */
        sec = 59, ms = 999;
    int offset_min = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i] == '-' ? -1 : 1;
        unsigned oh, om;
        i++;
        if (!read_digits(s, len, &i, 2, &oh))
            return 0;
        if (i < len && s[i] == ':')
            i++;
        if (!read_digits(s, len, &i, 2, &om) || oh > 23 || om > 59)
            return 0;
        offset_min = sign * (int)(oh * 60 + om);
    } else if (!allow_no_zone) {
        return 0;
    }
    int64_t days = aw_days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)offset_min * 60;
    *ms_out = secs * 1000 + ms;
    return i;
}

static const char month_names[12][3] = {{'J', 'a', 'n'}, {'F', 'e', 'b'}, {'M', 'a', 'r'},
                                         {'A', 'p', 'r'}, {'M', 'a', 'y'}, {'J', 'u', 'n'},
                                         {'J', 'u', 'l'}, {'A', 'u', 'g'}, {'S', 'e', 'p'},
                                         {'O', 'c', 't'}, {'N', 'o', 'v'}, {'D', 'e', 'c'}};

size_t aw_parse_bsd_time(const char *s, size_t len, struct aw_bsd_time *out)
{
    if (len < 15)
        return 0;
    unsigned mon = 0;
    for (unsigned k = 0; k < 12; k++) {
        if ((s[0] | 0x20) == (month_names[k][0] | 0x20) && (s[1] | 0x20) == month_names[k][1] &&
            (s[2] | 0x20) == month_names[k][2]) {
            mon = k + 1;
            break;
        }
    }
    if (!mon || s[3] != ' ')
        return 0;
    size_t i = 4;
    unsigned day;
    if (s[i] == ' ') { /* "Mar  3" */
        i++;
        if (!read_digits(s, len, &i, 1, &day))
            return 0;
    } else if (!read_digits(s, len, &i, 2, &day)) {
        if (!read_digits(s, len, &i, 1, &day)) /* "Mar 3" */
            return 0;
    }
    unsigned h, mi, sec;
    if (i >= len || s[i++] != ' ' || !read_digits(s, len, &i, 2, &h) || i >= len ||
        s[i++] != ':' || !read_digits(s, len, &i, 2, &mi) || i >= len || s[i++] != ':' ||
        !read_digits(s, len, &i, 2, &sec))
        return 0;
    if (day < 1 || day > 31 || h > 23 || mi > 59 || sec > 60)
        return 0;
    out->month = mon;
    out->day = day;
    out->hour = h;
    out->minute = mi;
    out->second = sec == 60 ? 59 : sec;
    out->millisecond = read_fraction_ms(s, len, &i);
    return i;
}

/* "UTC", "Z", "GMT", "+02", "+0200", "+02:00", "-05:30" -> seconds. */
static bool parse_fixed_offset(const char *spec, int32_t *out)
{
    if (!strcmp(spec, "UTC") || !strcmp(spec, "Z") || !strcmp(spec, "GMT") ||
        !strcmp(spec, "Etc/UTC") || !strcmp(spec, "utc")) {
        *out = 0;
        return true;
    }
    if (spec[0] != '+' && spec[0] != '-')
        return false;
    int sign = spec[0] == '-' ? -1 : 1;
    const char *p = spec + 1;
    size_t len = strlen(p), i = 0;
    unsigned h, m = 0;
    if (!read_digits(p, len, &i, 2, &h))
        return false;
    if (i < len && p[i] == ':')
        i++;
    if (i < len && !read_digits(p, len, &i, 2, &m))
        return false;
    if (i != len || h > 23 || m > 59)
        return false;
    *out = sign * (int32_t)(h * 3600 + m * 60);
    return true;
}

bool aw_tz_init(struct aw_tz *tz, const char *spec, char *err, size_t errlen)
{
    memset(tz, 0, sizeof *tz);
    tz->cache_hour_key = INT64_MIN;
    if (!spec || !*spec)
        return true; /* UTC */
    if (parse_fixed_offset(spec, &tz->offset_seconds))
        return true;
    /* An IANA name: glibc silently falls back to UTC for unknown names, so
     * check that the zone file exists before trusting it. */
    char path[512];
    struct stat st;
    const char *dir = getenv("TZDIR");
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", spec);
    if (strstr(spec, "..") || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "unknown time zone '%s' (use UTC, an offset like +02:00, or an IANA name)",
                 spec);
        return false;
    }
    setenv("TZ", spec, 1);
    tzset();
    tz->named = true;
    return true;
}

int64_t aw_tz_local_to_utc_ms(struct aw_tz *tz, int64_t y, unsigned mon, unsigned day, unsigned h,
                              unsigned mi, unsigned s, unsigned ms)
{
    int64_t local_day = aw_days_from_civil(y, mon, day);
    int64_t within_hour = (int64_t)mi * 60000 + (int64_t)s * 1000 + ms;
    if (!tz->named)
        return (local_day * 86400 + (int64_t)h * 3600 - tz->offset_seconds) * 1000 + within_hour;
    int64_t hour_key = local_day * 24 + h;
    if (hour_key != tz->cache_hour_key) {
        struct tm tm = {0};
        tm.tm_year = (int)(y - 1900);
        tm.tm_mon = (int)mon - 1;
        tm.tm_mday = (int)day;
        tm.tm_hour = (int)h;
        tm.tm_isdst = -1;
        time_t t = mktime(&tm);
        tz->cache_hour_key = hour_key;
        tz->cache_utc_hour_ms = (int64_t)t * 1000;
    }
    return tz->cache_utc_hour_ms + within_hour;
}

bool aw_bsd_time_resolve(struct aw_tz *tz, const struct aw_bsd_time *t, int year, int64_t now_ms,
                         int64_t *ms_out)
{
    if (year) {
        if (!aw_date_valid(year, t->month, t->day))
            return false;
        *ms_out = aw_tz_local_to_utc_ms(tz, year, t->month, t->day, t->hour, t->minute,
                                        t->second, t->millisecond);
        return true;
    }
    int64_t y;
    unsigned m, d;
    aw_civil_from_days(now_ms / 86400000, &y, &m, &d);
    const int64_t grace_ms = 86400000; /* clocks of senders may run a little ahead */
    for (int back = 0; back <= 8; back++, y--) {
        if (!aw_date_valid(y, t->month, t->day))
            continue;
        int64_t ms = aw_tz_local_to_utc_ms(tz, y, t->month, t->day, t->hour, t->minute, t->second,
                                           t->millisecond);
        if (ms <= now_ms + grace_ms) {
            *ms_out = ms;
            return true;
        }
    }
    return false;
}

/* The coarse clock: the auth decoder asks for the time once per line (to
 * pick the year of a stamp that has none), where a precise read cost ~2%
 * of the stream job's time; the coarse one is a few ms behind at most,
 * nothing beside aw_bsd_time_resolve's day of grace. */
int64_t aw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t aw_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
