/*
 * test_event.c - the event model: field table, rendering, escaping, ids.
 */
#include <criterion/criterion.h>

#include "auditwatch/event.h"
#include "auditwatch/hash.h"
#include "test_util.h"

/* The renderer nests dotted names in one pass: fields sharing a prefix
 * must be adjacent, or an object would be opened twice (duplicate keys). */
Test(event, field_table_prefixes_are_contiguous)
{
    for (int a = 0; a < AW_FIELD_COUNT; a++) {
        cr_assert_not_null(aw_field_defs[a].name, "field %d has no name", a);
        for (int b = a + 2; b < AW_FIELD_COUNT; b++) {
            /* If a and b share their first segment, every field between them must too. */
            const char *na = aw_field_defs[a].name, *nb = aw_field_defs[b].name;
            size_t la = strcspn(na, "."), lb = strcspn(nb, ".");
            if (la != lb || strncmp(na, nb, la) != 0)
                continue;
            for (int m = a + 1; m < b; m++) {
                const char *nm = aw_field_defs[m].name;
                cr_assert(strncmp(nm, na, la) == 0 && nm[la] == '.',
                          "%s is between %s and %s", nm, na, nb);
            }
        }
        cr_assert_eq(aw_field_lookup(aw_field_defs[a].name, strlen(aw_field_defs[a].name)), a);
    }
    cr_assert_eq(aw_field_lookup("no.such.field", 13), -1);
    cr_assert_eq(aw_field_lookup("source", 6), -1);
}

static json_t *render(struct aw_event *ev, struct aw_buf *b)
{
    aw_buf_reset(b);
    aw_event_render_json(ev, b);
    json_error_t err;
    json_t *j = json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES, &err);
    cr_assert_not_null(j, "invalid JSON (%s): %.*s", err.text, (int)b->len, b->data);
    return j;
}

Test(event, every_field_renders_nested_without_duplicates)
{
    struct aw_event ev;
    struct aw_buf b = {0};
    aw_event_init(&ev);
    json_t *groups = json_pack("[ss]", "system:authenticated", "dev");
    for (int f = 0; f < AW_FIELD_COUNT; f++) {
        switch (aw_field_defs[f].kind) {
        case AW_KIND_NUMBER: aw_event_set_u64(&ev, f, 1000u + (unsigned)f); break;
        case AW_KIND_STRING_LIST: ev.lists[f] = groups; break;
        case AW_KIND_ORIGIN:
            ev.origin.kind = AW_ORIGIN_KAFKA;
            ev.origin.topic = "audit";
            ev.origin.partition = 3;
            ev.origin.offset = 42;
            break;
        default: aw_event_set_cstr(&ev, f, aw_field_defs[f].name);
        }
    }
    ev.timestamp_ms = 1709294400123LL;
    json_t *j = render(&ev, &b);
    cr_assert_str_eq(json_string_value(json_object_get(j, "@timestamp")), "2024-03-01T12:00:00.123Z");
    for (int f = 0; f < AW_FIELD_COUNT; f++) {
        json_t *v = test_json_path(j, aw_field_defs[f].name);
        cr_assert_not_null(v, "%s missing in %.*s", aw_field_defs[f].name, (int)b.len, b.data);
        if (aw_field_defs[f].kind == AW_KIND_STRING)
            cr_assert_str_eq(json_string_value(v), aw_field_defs[f].name);
        if (aw_field_defs[f].kind == AW_KIND_NUMBER)
            cr_assert_eq(json_integer_value(v), 1000 + f);
    }
    json_t *origin = test_json_path(j, "auditwatch.origin");
    cr_assert_str_eq(json_string_value(json_object_get(origin, "topic")), "audit");
    cr_assert_eq(json_integer_value(json_object_get(origin, "offset")), 42);
    cr_assert_eq(json_array_size(test_json_path(j, "kubernetes.audit.user.groups")), 2);
    json_decref(j);
    json_decref(groups);
    aw_event_fini(&ev);
    aw_buf_free(&b);
}

Test(event, hostile_strings_are_escaped)
{
    struct aw_event ev;
    struct aw_buf b = {0};
    aw_event_init(&ev);
    static const char evil[] = "root\"}\n{\"event\":{\"kind\":\"alert\"}}\\\x01\x7f";
    aw_event_set(&ev, AW_F_USER_NAME, evil, sizeof evil - 1);
    static const char bad_utf8[] = "a\xff\xfe" "b";
    aw_event_set(&ev, AW_F_USER_AGENT_ORIGINAL, bad_utf8, sizeof bad_utf8 - 1);
    json_t *j = render(&ev, &b);
    cr_assert(memchr(b.data, '\n', b.len) == NULL, "a raw newline escaped into the output");
    cr_assert_str_eq(json_string_value(test_json_path(j, "user.name")), evil);
    cr_assert_str_eq(json_string_value(test_json_path(j, "user_agent.original")),
                     "a\xEF\xBF\xBD\xEF\xBF\xBD" "b");
    cr_assert_null(json_object_get(j, "event"), "injected object must not appear");
    json_decref(j);
    aw_event_fini(&ev);
    aw_buf_free(&b);
}

Test(event, number_fields_fall_back_to_strings)
{
    struct aw_event ev;
    struct aw_buf b = {0};
    aw_event_init(&ev);
    aw_event_set_cstr(&ev, AW_F_PROCESS_PID, "12ab");
    aw_event_set_cstr(&ev, AW_F_SOURCE_PORT, "007");
    json_t *j = render(&ev, &b);
    cr_assert_str_eq(json_string_value(test_json_path(j, "process.pid")), "12ab");
    cr_assert_str_eq(json_string_value(test_json_path(j, "source.port")), "007");
    json_decref(j);
    aw_event_fini(&ev);
    aw_buf_free(&b);
}

Test(event, arena_survives_growth_and_clear)
{
    struct aw_event ev;
    aw_event_init(&ev);
    char big[10000];
    memset(big, 'x', sizeof big);
    const char *small = aw_event_copy(&ev, "hello", 5);
    const char *large = aw_event_copy(&ev, big, sizeof big);
    const char *after = aw_event_copy(&ev, "world", 5);
    cr_assert_str_eq(small, "hello");
    cr_assert_eq(memcmp(large, big, sizeof big), 0);
    cr_assert_str_eq(after, "world");
    aw_event_clear(&ev);
    cr_assert_null(ev.fields[AW_F_USER_NAME].ptr);
    cr_assert_str_eq(aw_event_copy(&ev, "again", 5), "again");
    aw_event_fini(&ev);
}

Test(event, source_address_splits_ip_and_domain)
{
    struct aw_event ev;
    aw_event_init(&ev);
    cr_assert(aw_event_set_source_address(&ev, "::ffff:10.1.2.3", 15));
    cr_assert_str_eq(ev.fields[AW_F_SOURCE_IP].ptr, "10.1.2.3");
    aw_event_clear(&ev);
    cr_assert_not(aw_event_set_source_address(&ev, "host.example.com", 16));
    cr_assert_null(ev.fields[AW_F_SOURCE_IP].ptr);
    cr_assert_eq(ev.fields[AW_F_SOURCE_DOMAIN].len, 16);
    aw_event_fini(&ev);
}

Test(event, content_ids_are_stable_and_distinct)
{
    /* The hash is part of the output contract: pin a known value. */
    uint64_t h = aw_hash64("Feb 20 08:35:22 h sshd[1]: x", 28, 0);
    cr_assert_eq(h, 0xc0a4fc5ea144e53bULL, "aw_hash64 changed: event and alert ids would change");
    cr_assert_neq(h, aw_hash64("Feb 20 08:35:22 h sshd[1]: y", 28, 0));
    cr_assert_neq(h, aw_hash64("Feb 20 08:35:22 h sshd[1]: x", 28, 1));
    cr_assert_eq(aw_hash64("", 0, 0), aw_hash64("", 0, 0));
    cr_assert_neq(aw_hash64("a", 1, 0), aw_hash64("a\0", 2, 0));
    struct aw_event ev;
    aw_event_init(&ev);
    aw_event_set_content_id(&ev, 0x0123456789abcdefULL, 0);
    cr_assert_str_eq(ev.fields[AW_F_AUDITWATCH_ID].ptr, "0123456789abcdef");
    aw_event_set_content_id(&ev, 0x0123456789abcdefULL, 2);
    cr_assert_str_eq(ev.fields[AW_F_AUDITWATCH_ID].ptr, "0123456789abcdef-2");
    aw_event_fini(&ev);
}
