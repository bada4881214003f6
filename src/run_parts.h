/*
 * run_parts.h - the stream job's table of partitions (internal).
 *
 * `auditwatch run` keeps one entry per topic-partition it has been
 * assigned, for its whole life: the input the topic belongs to (which
 * decoder reads it), the pipeline stream that tracks the partition's event
 * time, the offset to store once the batch in progress is done, and the
 * assignment state.  Entries never move, so a pointer to one stays valid.
 *
 * Every record looks its entry up once.  Records come in long runs from
 * one partition (librdkafka hands them over fetch response by fetch
 * response, each of one partition), so the table remembers the entry it
 * found last and tries it first: in the usual case a lookup costs one
 * partition comparison and one topic comparison, whatever the number of
 * partitions.
 */
#ifndef AUDITWATCH_RUN_PARTS_H
#define AUDITWATCH_RUN_PARTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AW_RUN_PARTS_MAX 4096

struct aw_run_part {
    char *topic;
    int32_t partition;
    int input;           /* index of the input that reads the topic, -1 none */
    int stream;          /* pipeline stream, -1 while none is open */
    int64_t next_offset; /* to store once the batch is done, -1 none */
    bool assigned;
    bool seen;           /* has given a record since it was assigned */
    int64_t released_at; /* revoked at (monotonic ms), 0 when not: its stream
                            still holds event time back for a grace period */
};

struct aw_run_parts {
    struct aw_run_part *v; /* AW_RUN_PARTS_MAX slots, the first n in use */
    size_t n;
    struct aw_run_part *last; /* the entry the last lookup found */
};

/* An empty table (aborts when out of memory, as the job's allocations do). */
void aw_run_parts_init(struct aw_run_parts *ps);
/* The entry of topic/partition, NULL when there is none. */
struct aw_run_part *aw_run_parts_find(struct aw_run_parts *ps, const char *topic, int32_t partition);
/* A new entry (topic copied; no stream, no offset, not assigned), NULL
 * when the table is full.  The caller checked that there is none yet. */
struct aw_run_part *aw_run_parts_add(struct aw_run_parts *ps, const char *topic, int32_t partition, int input);
void aw_run_parts_free(struct aw_run_parts *ps);

#endif
