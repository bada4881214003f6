/*
 * test_source.c - the line reader: CRLF, blank lines, missing final
 * newline, oversize lines, continuation joining, unreadable files.
 */
#include <criterion/criterion.h>
#include <unistd.h>

#include "auditwatch/source.h"
#include "test_util.h"

static char *write_temp(const char *data, size_t len)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/aw-test-source-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

struct got {
    int n;
    char text[16][400];
    uint64_t line[16];
    size_t len[16];
    enum aw_read_status status[16];
};

static void read_all(const char *data, size_t len, size_t max, bool join, struct got *g,
                     uint64_t *blank)
{
    char *path = write_temp(data, len);
    char err[256];
    struct aw_line_reader *r = aw_line_reader_open(path, max, join, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    struct aw_record rec;
    enum aw_read_status st;
    memset(g, 0, sizeof *g);
    while ((st = aw_line_reader_next(r, &rec, err, sizeof err)) > 0 && g->n < 16) {
        size_t keep = st == AW_READ_OVERSIZE ? 0 : rec.len;
        snprintf(g->text[g->n], sizeof g->text[0], "%.*s", (int)keep, rec.data);
        g->line[g->n] = rec.origin.line;
        g->len[g->n] = rec.len;
        g->status[g->n] = st;
        cr_assert_str_eq(rec.origin.file, path);
        g->n++;
    }
    cr_assert_eq(st, AW_READ_EOF, "%s", err);
    if (blank)
        *blank = aw_line_reader_blank_lines(r);
    aw_line_reader_close(r);
    unlink(path);
}

Test(source, crlf_blank_lines_and_no_final_newline)
{
    static const char data[] = "one\r\n\r\ntwo\n\nthree";
    struct got g;
    uint64_t blank;
    read_all(data, sizeof data - 1, 0, false, &g, &blank);
    cr_assert_eq(g.n, 3);
    cr_expect_str_eq(g.text[0], "one");
    cr_expect_str_eq(g.text[1], "two");
    cr_expect_str_eq(g.text[2], "three");
    cr_expect_eq(g.line[0], 1);
    cr_expect_eq(g.line[1], 3);
    cr_expect_eq(g.line[2], 5);
    cr_expect_eq(blank, 2);
}

Test(source, oversize_line_is_reported_whole_and_reading_goes_on)
{
    /* A 3 MiB line between two small ones, with a 1 KiB limit: the reader
     * must not buffer it, must report its full length, and must resume. */
    size_t big = 3u << 20;
    char *data = malloc(big + 32);
    size_t n = 0;
    n += (size_t)sprintf(data, "first\n");
    memset(data + n, 'x', big);
    n += big;
    n += (size_t)sprintf(data + n, "\nlast\n");
    struct got g;
    read_all(data, n, 1024, false, &g, NULL);
    free(data);
    cr_assert_eq(g.n, 3);
    cr_expect_str_eq(g.text[0], "first");
    cr_expect_eq(g.status[1], AW_READ_OVERSIZE);
    cr_expect_eq(g.len[1], big);
    cr_expect_eq(g.line[1], 2);
    cr_expect_str_eq(g.text[2], "last");
    cr_expect_eq(g.line[2], 3);
}

Test(source, continuation_lines_join_only_when_asked)
{
    static const char data[] = "May 21 21:54:44 h foo[1]: This message\n spans\n\tlines.\nMay 21 21:54:45 h foo[1]: next\n";
    struct got g;
    read_all(data, sizeof data - 1, 0, true, &g, NULL);
    cr_assert_eq(g.n, 2);
    cr_expect_str_eq(g.text[0], "May 21 21:54:44 h foo[1]: This message\n spans\n\tlines.");
    cr_expect_eq(g.line[0], 1);
    cr_expect_str_eq(g.text[1], "May 21 21:54:45 h foo[1]: next");
    cr_expect_eq(g.line[1], 4);
    read_all(data, sizeof data - 1, 0, false, &g, NULL);
    cr_expect_eq(g.n, 4);
}

Test(source, joined_record_over_the_limit_is_oversize)
{
    char data[600];
    int n = snprintf(data, sizeof data, "head\n");
    for (int i = 0; i < 10; i++)
        n += snprintf(data + n, sizeof data - (size_t)n, " continuation number %02d\n", i);
    n += snprintf(data + n, sizeof data - (size_t)n, "tail\n");
    struct got g;
    read_all(data, (size_t)n, 100, true, &g, NULL);
    cr_assert_geq(g.n, 2);
    cr_expect_eq(g.status[0], AW_READ_OVERSIZE);
    cr_expect_str_eq(g.text[g.n - 1], "tail");
}

Test(source, missing_file_is_a_clear_error)
{
    char err[256];
    struct aw_line_reader *r = aw_line_reader_open("/nonexistent/auth.log", 0, false, err, sizeof err);
    cr_assert_null(r);
    cr_expect(strstr(err, "/nonexistent/auth.log") && strstr(err, "No such file"), "%s", err);
}
