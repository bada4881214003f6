/*
 * fuzz_line_reader.c - libFuzzer target for the file line reader.
 *
 * The input is written to a pipe-less temporary file and read back with
 * continuation joining on and a small record limit, so oversize lines,
 * CR handling and joins all get exercised.  Checked: every record the
 * reader returns lies inside what was written, and line numbers grow.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditwatch/source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/aw-fuzz-reader-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    for (int join = 0; join <= 1; join++) {
        char err[256];
        struct aw_line_reader *r = aw_line_reader_open(path, 300, join, err, sizeof err);
        if (!r)
            abort();
        struct aw_record rec;
        enum aw_read_status st;
        uint64_t last_line = 0, total = 0;
        while ((st = aw_line_reader_next(r, &rec, err, sizeof err)) > 0) {
            if (rec.origin.line <= last_line)
                abort();
            last_line = rec.origin.line;
            if (st == AW_READ_RECORD) {
                if (rec.len > 300)
                    abort();
                total += rec.len;
                volatile char sink = 0;
                for (size_t i = 0; i < rec.len; i++)
                    sink ^= rec.data[i];
                (void)sink;
            }
        }
        if (st == AW_READ_ERROR || total > size)
            abort();
        aw_line_reader_close(r);
    }
    unlink(path);
    return 0;
}
