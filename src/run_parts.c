/*
 * run_parts.c - the stream job's table of partitions (see run_parts.h).
 *
 * A flat array searched linearly: a job is assigned a few dozen partitions
 * at most, the search runs only when a record comes from another partition
 * than the one before, and a flat array keeps every entry's address fixed
 * (the pipeline and the rebalance callback hold on to them).
 */
#include "run_parts.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void aw_run_parts_init(struct aw_run_parts *ps)
{
    ps->v = aw_xcalloc(AW_RUN_PARTS_MAX, sizeof *ps->v);
    ps->n = 0;
    ps->last = NULL;
}

static bool is(const struct aw_run_part *p, const char *topic, int32_t partition)
{
    return p->partition == partition && !strcmp(p->topic, topic);
}

struct aw_run_part *aw_run_parts_find(struct aw_run_parts *ps, const char *topic, int32_t partition)
{
    if (ps->last && is(ps->last, topic, partition))
        return ps->last;
    for (size_t i = 0; i < ps->n; i++)
        if (is(&ps->v[i], topic, partition))
            return ps->last = &ps->v[i];
    return NULL;
}

struct aw_run_part *aw_run_parts_add(struct aw_run_parts *ps, const char *topic, int32_t partition, int input)
{
    if (ps->n == AW_RUN_PARTS_MAX)
        return NULL;
    struct aw_run_part *p = &ps->v[ps->n++];
    p->topic = aw_xstrdup(topic);
    p->partition = partition;
    p->input = input;
    p->stream = -1; /* opened when assigned */
    p->next_offset = -1;
    p->assigned = p->seen = false;
    p->released_at = 0;
    return ps->last = p;
}

void aw_run_parts_free(struct aw_run_parts *ps)
{
    if (!ps->v)
        return;
    for (size_t i = 0; i < ps->n; i++)
        free(ps->v[i].topic);
    free(ps->v);
    ps->v = NULL;
    ps->n = 0;
    ps->last = NULL;
}
