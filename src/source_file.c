/*
 * source_file.c - line reader for files and stdin (see source.h).
 *
 * Reading uses read(2) into one buffer that grows to at most the record
 * limit plus one chunk; lines are found with memchr and returned as views
 * into that buffer, so a plain line costs no copy.  Continuation joining
 * needs one line of look-ahead: when the next line's first byte is already
 * in the buffer and cannot continue the line, the line is returned as a
 * view too; otherwise the current record is copied into `pending` and
 * returned when the next line turns out not to continue it.
 *
 * Origins point at the reader's copy of the path, so they stay valid while
 * the reader is open.
 */
#include "auditwatch/source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditwatch/buf.h"

#define READ_CHUNK (256 * 1024)
#define OVERSIZE_KEEP 256 /* bytes of an oversize line kept for the report */

struct raw_line {
    const char *data;
    size_t len;      /* bytes available in data */
    size_t full_len; /* true length (> len only for oversize lines) */
    uint64_t number;
    bool oversize;
};

struct aw_line_reader {
    int fd;
    bool own_fd, eof;
    char *path;
    size_t max_record;
    bool join;

    char *buf;
    size_t cap, start, end; /* unread bytes are buf[start..end) */
    uint64_t line_no, blank_lines, bytes;

    /* continuation joining */
    struct aw_buf pending;
    bool have_pending;
    uint64_t pending_line;
    struct aw_buf held; /* a line read ahead that starts the next record */
    bool have_held;
    uint64_t held_line;
    bool held_oversize;
    size_t held_full_len;
    char oversize_prefix[OVERSIZE_KEEP];
};

struct aw_line_reader *aw_line_reader_open(const char *path, size_t max_record,
                                           bool join_continuations, char *err, size_t errlen)
{
    struct aw_line_reader *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->max_record = max_record ? max_record : AW_DEFAULT_MAX_RECORD;
    r->join = join_continuations;
    r->path = strdup(path);
    if (strcmp(path, "-") == 0) {
        r->fd = STDIN_FILENO;
    } else {
        r->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (r->fd < 0) {
            snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
            aw_line_reader_close(r);
            return NULL;
        }
        r->own_fd = true;
    }
    r->cap = READ_CHUNK;
    r->buf = malloc(r->cap);
    if (!r->buf || !r->path) {
        snprintf(err, errlen, "out of memory");
        aw_line_reader_close(r);
        return NULL;
    }
    return r;
}

void aw_line_reader_close(struct aw_line_reader *r)
{
    if (!r)
        return;
    if (r->own_fd && r->fd >= 0)
        close(r->fd);
    aw_buf_free(&r->pending);
    aw_buf_free(&r->held);
    free(r->buf);
    free(r->path);
    free(r);
}

uint64_t aw_line_reader_blank_lines(const struct aw_line_reader *r) { return r->blank_lines; }
uint64_t aw_line_reader_bytes(const struct aw_line_reader *r) { return r->bytes; }

/* Read more input behind r->end, compacting or growing the buffer first.
 * Returns bytes read, 0 at EOF, -1 on error (errno set). */
static ssize_t fill(struct aw_line_reader *r)
{
    if (r->start > 0 && (r->end == r->cap || r->start > r->cap / 2)) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end == r->cap) {
        size_t ncap = r->cap * 2;
        char *nb = realloc(r->buf, ncap);
        if (!nb) {
            errno = ENOMEM;
            return -1;
        }
        r->buf = nb;
        r->cap = ncap;
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0) {
            r->end += (size_t)n;
            r->bytes += (uint64_t)n;
        }
        return n;
    }
}

/* Next physical line (CR stripped).  Returns 1, 0 at EOF, -1 on error. */
static int next_raw_line(struct aw_line_reader *r, struct raw_line *out, char *err, size_t errlen)
{
    size_t scanned = 0; /* bytes of the current line already searched */
    for (;;) {
        char *nl = memchr(r->buf + r->start + scanned, '\n', r->end - r->start - scanned);
        size_t avail = r->end - r->start;
        if (nl || (r->eof && avail > 0)) {
            size_t len = nl ? (size_t)(nl - (r->buf + r->start)) : avail;
            out->data = r->buf + r->start;
            out->number = ++r->line_no;
            r->start += nl ? len + 1 : len;
            if (len > 0 && out->data[len - 1] == '\r')
                len--;
            out->len = out->full_len = len;
            out->oversize = len > r->max_record;
            if (out->oversize)
                out->len = OVERSIZE_KEEP;
            return 1;
        }
        if (r->eof)
            return 0;
        scanned = avail;
        if (avail > r->max_record + 1) {
            /* Oversize: keep a prefix, then skip to the end of the line. */
            memcpy(r->oversize_prefix, r->buf + r->start, OVERSIZE_KEEP);
            size_t total = avail;
            r->start = r->end = 0;
            for (;;) {
                ssize_t n = fill(r);
                if (n < 0) {
                    snprintf(err, errlen, "read error on %s: %s", r->path, strerror(errno));
                    return -1;
                }
                if (n == 0) {
                    r->eof = true;
                    r->start = r->end;
                    break;
                }
                char *end = memchr(r->buf, '\n', r->end);
                if (end) {
                    total += (size_t)(end - r->buf);
                    r->start = (size_t)(end - r->buf) + 1;
                    break;
                }
                total += r->end;
                r->start = r->end = 0;
            }
            out->data = r->oversize_prefix;
            out->len = OVERSIZE_KEEP;
            out->full_len = total;
            out->number = ++r->line_no;
            out->oversize = true;
            return 1;
        }
        ssize_t n = fill(r);
        if (n < 0) {
            snprintf(err, errlen, "read error on %s: %s", r->path, strerror(errno));
            return -1;
        }
        if (n == 0)
            r->eof = true;
    }
}

static void fill_record(struct aw_line_reader *r, struct aw_record *rec, const char *data,
                        size_t len, uint64_t line)
{
    rec->data = data;
    rec->len = len;
    rec->origin.kind = AW_ORIGIN_FILE;
    rec->origin.file = r->path;
    rec->origin.line = line;
}

static bool is_continuation(const struct raw_line *l)
{
    return !l->oversize && l->len > 0 && (l->data[0] == ' ' || l->data[0] == '\t');
}

/* Whether the line just read is a whole record without looking further:
 * the next line's first byte is already buffered and starts neither a
 * continuation nor a line that may be blank (blank lines are skipped, so a
 * continuation could follow them), or the input has ended.  Then the line
 * can be returned as it lies, without the copy that joining needs. */
static bool next_line_starts_record(const struct aw_line_reader *r)
{
    if (r->start >= r->end)
        return r->eof; /* reading more could move the buffer */
    char c = r->buf[r->start];
    return c != ' ' && c != '\t' && c != '\n' && c != '\r';
}

enum aw_read_status aw_line_reader_next(struct aw_line_reader *r, struct aw_record *rec, char *err,
                                        size_t errlen)
{
    struct raw_line line;
    if (!r->join) {
        for (;;) {
            int rc = next_raw_line(r, &line, err, errlen);
            if (rc <= 0)
                return rc < 0 ? AW_READ_ERROR : AW_READ_EOF;
            if (line.full_len == 0) {
                r->blank_lines++;
                continue;
            }
            fill_record(r, rec, line.data, line.oversize ? line.full_len : line.len, line.number);
            if (line.oversize) {
                rec->len = line.full_len;
                return AW_READ_OVERSIZE;
            }
            return AW_READ_RECORD;
        }
    }

    /* Joining mode: the record being assembled lives in r->pending. */
    if (r->have_held) {
        r->have_held = false;
        if (r->held_oversize) {
            fill_record(r, rec, r->held.data, r->held_full_len, r->held_line);
            return AW_READ_OVERSIZE;
        }
        if (next_line_starts_record(r)) { /* the held line is the record */
            fill_record(r, rec, r->held.data, r->held.len, r->held_line);
            return AW_READ_RECORD;
        }
        aw_buf_reset(&r->pending);
        aw_buf_append(&r->pending, r->held.data, r->held.len);
        r->have_pending = true;
        r->pending_line = r->held_line;
    }
    for (;;) {
        int rc = next_raw_line(r, &line, err, errlen);
        if (rc < 0)
            return AW_READ_ERROR;
        if (rc == 0) {
            if (!r->have_pending)
                return AW_READ_EOF;
            r->have_pending = false;
            fill_record(r, rec, r->pending.data, r->pending.len, r->pending_line);
            return AW_READ_RECORD;
        }
        if (line.full_len == 0) {
            r->blank_lines++;
            continue;
        }
        if (r->have_pending && is_continuation(&line)) {
            if (line.oversize || r->pending.len + 1 + line.len > r->max_record) {
                /* The joined record would be too big: report it as such,
                 * with enough of its text for the excerpt. */
                size_t full = r->pending.len + 1 + line.full_len;
                aw_buf_append_char(&r->pending, '\n');
                aw_buf_append(&r->pending, line.data,
                              line.len < OVERSIZE_KEEP ? line.len : OVERSIZE_KEEP);
                r->have_pending = false;
                fill_record(r, rec, r->pending.data, full, r->pending_line);
                return AW_READ_OVERSIZE;
            }
            aw_buf_append_char(&r->pending, '\n');
            aw_buf_append(&r->pending, line.data, line.len);
            continue;
        }
        if (!r->have_pending && !line.oversize) {
            if (next_line_starts_record(r)) { /* the common case: no copy */
                fill_record(r, rec, line.data, line.len, line.number);
                return AW_READ_RECORD;
            }
            aw_buf_reset(&r->pending);
            aw_buf_append(&r->pending, line.data, line.len);
            r->have_pending = true;
            r->pending_line = line.number;
            continue;
        }
        /* A new record starts: hold it and return the pending one. */
        aw_buf_reset(&r->held);
        aw_buf_append(&r->held, line.data, line.len);
        r->held_line = line.number;
        r->held_oversize = line.oversize;
        r->held_full_len = line.full_len;
        if (!r->have_pending) { /* oversize line with nothing pending */
            r->have_held = false;
            fill_record(r, rec, r->held.data, line.full_len, line.number);
            return AW_READ_OVERSIZE;
        }
        r->have_held = true;
        r->have_pending = false;
        fill_record(r, rec, r->pending.data, r->pending.len, r->pending_line);
        return AW_READ_RECORD;
    }
}
