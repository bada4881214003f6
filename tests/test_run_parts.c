/*
 * test_run_parts.c - the stream job's partition table: entries are found
 * by topic and partition whatever the last lookup was, keep their address
 * and know their input; a full table adds nothing.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "run_parts.h"

Test(run_parts, finds_each_partition_whatever_came_before)
{
    struct aw_run_parts ps;
    aw_run_parts_init(&ps);
    static const struct {
        const char *topic;
        int32_t partition;
        int input;
    } add[] = {{"auth", 0, 1}, {"auth", 1, 1}, {"audit", 0, 0}, {"audit", 1, 0}, {"other", 0, -1}};
    size_t n = sizeof add / sizeof *add;
    struct aw_run_part *got[sizeof add / sizeof *add];
    for (size_t i = 0; i < n; i++) {
        cr_assert_null(aw_run_parts_find(&ps, add[i].topic, add[i].partition));
        got[i] = aw_run_parts_add(&ps, add[i].topic, add[i].partition, add[i].input);
        cr_assert_not_null(got[i]);
        cr_expect_eq(got[i]->stream, -1);
        cr_expect_eq(got[i]->next_offset, -1);
        cr_expect_not(got[i]->assigned);
    }
    /* every order of lookups, so the remembered entry is sometimes right,
     * sometimes another partition of the same topic, sometimes another topic */
    static const size_t order[] = {0, 0, 1, 0, 2, 3, 3, 1, 4, 2, 0, 4, 4, 3};
    for (size_t k = 0; k < sizeof order / sizeof *order; k++) {
        size_t i = order[k];
        struct aw_run_part *p = aw_run_parts_find(&ps, add[i].topic, add[i].partition);
        cr_assert_eq(p, got[i], "lookup %zu (%s/%d)", k, add[i].topic, (int)add[i].partition);
        cr_expect_str_eq(p->topic, add[i].topic);
        cr_expect_eq(p->partition, add[i].partition);
        cr_expect_eq(p->input, add[i].input);
    }
    cr_expect_null(aw_run_parts_find(&ps, "auth", 2));
    cr_expect_null(aw_run_parts_find(&ps, "aut", 0));
    cr_expect_null(aw_run_parts_find(&ps, "auth0", 0));
    aw_run_parts_free(&ps);
}

Test(run_parts, a_full_table_adds_nothing_and_keeps_what_it_has)
{
    struct aw_run_parts ps;
    aw_run_parts_init(&ps);
    struct aw_run_part *first = aw_run_parts_add(&ps, "t", 0, 0);
    for (int32_t i = 1; i < AW_RUN_PARTS_MAX; i++)
        cr_assert_not_null(aw_run_parts_add(&ps, "t", i, 0));
    cr_expect_null(aw_run_parts_add(&ps, "t", AW_RUN_PARTS_MAX, 0));
    cr_expect_eq(aw_run_parts_find(&ps, "t", 0), first);
    struct aw_run_part *last = aw_run_parts_find(&ps, "t", AW_RUN_PARTS_MAX - 1);
    cr_assert_not_null(last);
    cr_expect_eq(last->partition, AW_RUN_PARTS_MAX - 1);
    aw_run_parts_free(&ps);
}
