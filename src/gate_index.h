/*
 * gate_index.h - which detection rules to try for an event's action
 * (gate_index.c), built from the rules' action gates (rule_gate.c).
 */
#ifndef AUDITWATCH_GATE_INDEX_H
#define AUDITWATCH_GATE_INDEX_H

#include <stdbool.h>
#include <stddef.h>

struct aw_gate_index;

struct aw_gate_index *aw_gate_index_new(void);
void aw_gate_index_free(struct aw_gate_index *x);

/* Register rule slot `slot` for the datasets of bucket `bucket` (0 or 1),
 * with its gate (gate[0..ngate); ngate 0: every action).  Slots are
 * handed out later in the order they were added.  False when out of
 * memory. */
bool aw_gate_index_add(struct aw_gate_index *x, int bucket, size_t slot, const char *const *gate, size_t ngate);

/* Freeze the index after the last add.  False when out of memory. */
bool aw_gate_index_build(struct aw_gate_index *x);

/* The slots of `bucket` an event with this action (NULL: none) may match:
 * every ungated slot and every slot whose gate holds the action, compared
 * without ASCII case, in the order added; *n receives their number. */
const size_t *aw_gate_index_candidates(struct aw_gate_index *x, int bucket, const char *action, size_t len,
                                       size_t *n);

#endif
