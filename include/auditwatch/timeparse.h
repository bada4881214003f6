/*
 * timeparse.h - event-time parsing and formatting.
 *
 * All event times are held as int64 milliseconds since the Unix epoch, UTC
 * (sub-millisecond digits are truncated, as ECS consumers expect).  This
 * module converts from the stamps logs use - RFC 3339 / ISO 8601 with a
 * zone, BSD syslog "Mar  3 12:00:01" with no year and no zone - and formats
 * back to RFC 3339 with milliseconds.
 *
 * A BSD stamp needs a year and a zone from outside.  struct aw_tz holds the
 * zone: a fixed offset ("UTC", "+02:00", "-0530") or an IANA name
 * ("Europe/Berlin").  Named zones use the C library's zone database through
 * the TZ environment variable, so a process uses at most one named zone;
 * conversions are cached per hour because mktime() is slow.
 */
#ifndef AUDITWATCH_TIMEPARSE_H
#define AUDITWATCH_TIMEPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int64_t aw_days_from_civil(int64_t y, unsigned m, unsigned d);
void aw_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
bool aw_date_valid(int64_t y, unsigned m, unsigned d);

#define AW_RFC3339_MS_LEN 24 /* "2024-03-01T12:00:00.000Z" */
/* Write ms as RFC 3339 UTC with milliseconds; out gets a NUL too. */
void aw_format_rfc3339_ms(int64_t ms, char out[AW_RFC3339_MS_LEN + 1]);

/* Parse an RFC 3339 / ISO 8601 date-time with a zone ("Z", "+02:00",
 * "+0200") at the start of s.  A missing zone is accepted only when
 * allow_no_zone (the stamp is then UTC).  Returns the number of bytes
 * consumed, or 0 when s does not start with such a stamp. */
size_t aw_parse_rfc3339(const char *s, size_t len, bool allow_no_zone, int64_t *ms_out);

/* A BSD syslog stamp without year: "Mmm dd hh:mm:ss" (day space-padded or
 * not), optionally with ".fraction".  Returns bytes consumed or 0. */
struct aw_bsd_time {
    unsigned month, day, hour, minute, second, millisecond;
};
size_t aw_parse_bsd_time(const char *s, size_t len, struct aw_bsd_time *out);

struct aw_tz {
    bool named;             /* IANA name via TZ; otherwise a fixed offset */
    int32_t offset_seconds; /* fixed zones: local = UTC + offset */
    int64_t cache_hour_key; /* named zones: local hour for which cache_utc_hour holds */
    int64_t cache_utc_hour_ms;
};

/* Parse a zone spec.  Returns false (with a message in err) when the spec is
 * neither a fixed offset nor a zone the system knows. */
bool aw_tz_init(struct aw_tz *tz, const char *spec, char *err, size_t errlen);

/* Local wall-clock time in zone tz -> UTC milliseconds. */
int64_t aw_tz_local_to_utc_ms(struct aw_tz *tz, int64_t y, unsigned mon, unsigned day,
                              unsigned h, unsigned mi, unsigned s, unsigned ms);

/* Resolve a year-less BSD stamp: `year` if nonzero, else the latest year
 * that does not put the stamp more than a day after now_ms (Feb 29 walks
 * back to a leap year).  Returns false when the date cannot exist. */
bool aw_bsd_time_resolve(struct aw_tz *tz, const struct aw_bsd_time *t, int year,
                         int64_t now_ms, int64_t *ms_out);

/* Current wall-clock time in ms, from the coarse clock (a few ms behind). */
int64_t aw_now_ms(void);
/* Monotonic clock in ms (timeouts, ages, health: never goes back). */
int64_t aw_mono_ms(void);

#endif
