/*
 * source.h - record sources: files and standard input, line by line.
 *
 * A line reader yields records from a file or stdin with bounded memory:
 * a line longer than the record limit is not buffered whole; its first
 * bytes are kept for the error report and the rest is skipped, and the
 * caller gets AW_READ_OVERSIZE with the line's full length.  Trailing CR is
 * stripped (CRLF files), a missing final newline is fine, blank lines are
 * counted and skipped.
 *
 * With join_continuations (syslog files), a line that starts with a space
 * or tab continues the previous record (joined with "\n"), as syslog
 * daemons write multi-line messages.  Such a record is held until the next
 * line (or EOF) shows it is complete.
 */
#ifndef AUDITWATCH_SOURCE_H
#define AUDITWATCH_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auditwatch/decode.h"

#define AW_OVERSIZE_EXCERPT 64

enum aw_read_status {
    AW_READ_EOF = 0,
    AW_READ_RECORD = 1,
    AW_READ_OVERSIZE = 2, /* rec->len is the full length; rec->data holds only
                             the first AW_OVERSIZE_EXCERPT bytes (or fewer when
                             the record is that short) */
    AW_READ_ERROR = -1
};

struct aw_line_reader;

/* Open `path` ("-" = stdin).  Returns NULL with a message in err. */
struct aw_line_reader *aw_line_reader_open(const char *path, size_t max_record,
                                           bool join_continuations, char *err, size_t errlen);
/* Next record; its data is valid until the next call.  On AW_READ_ERROR a
 * message is in err. */
enum aw_read_status aw_line_reader_next(struct aw_line_reader *r, struct aw_record *rec, char *err,
                                        size_t errlen);
uint64_t aw_line_reader_blank_lines(const struct aw_line_reader *r);
uint64_t aw_line_reader_bytes(const struct aw_line_reader *r);
void aw_line_reader_close(struct aw_line_reader *r);

#endif
