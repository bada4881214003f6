/*
 * registry.c - the one list of detector kinds.
 *
 * Adding a kind: write detectors/NAME.c ending in its
 * `const struct aw_detector_kind aw_detector_NAME`, declare it in
 * include/auditwatch/detector.h, and list it here.
 */
#include <string.h>

#include "auditwatch/detector.h"

const struct aw_detector_kind *const aw_detector_kinds[] = {
    &aw_detector_single_event, &aw_detector_event_count, &aw_detector_value_count,
    &aw_detector_temporal,     &aw_detector_service_map, &aw_detector_first_seen,
    NULL,
};

const struct aw_detector_kind *aw_detector_kind_find(const char *name)
{
    for (size_t i = 0; aw_detector_kinds[i]; i++)
        if (!strcmp(aw_detector_kinds[i]->name, name))
            return aw_detector_kinds[i];
    return NULL;
}

const struct aw_detector_kind *aw_detector_kind_for_rule(const struct aw_rule *r)
{
    if (!r->correlation)
        return &aw_detector_single_event;
    switch (r->correlation->type) {
    case AW_CORR_EVENT_COUNT: return &aw_detector_event_count;
    case AW_CORR_VALUE_COUNT: return &aw_detector_value_count;
    default: return &aw_detector_temporal;
    }
}
