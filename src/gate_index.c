/*
 * gate_index.c - the rules to try per event action (see gate_index.h).
 *
 * Most detection rules pin the action they can match (rule_gate.c).
 * Rather than test every rule's gate against every event, the distinct
 * gate values are numbered once and each (bucket, action number) gets the
 * list of slots to try, ungated ones included; one more list per bucket
 * holds the ungated slots alone, for actions no gate names.  An event
 * then costs one lower-casing and one hash probe to find its list.
 *
 * Gates compare without ASCII case, as the matcher does, so the table is
 * keyed by lower-cased text.  Decoders mostly point event.action at a
 * constant (the auth decoder's pattern table), so a few recent answers are
 * kept by text address as well; a remembered answer is used only after
 * comparing the text itself, so a reused address cannot mislead it.
 */
#include "gate_index.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


struct gate_entry {
    int bucket;
    size_t slot;
    size_t first, n; /* this slot's action numbers: actions_of[first, first + n) */
};

struct action_slot {
    uint64_t hash;
    char *text; /* lower-case, owned; NULL: empty slot */
    size_t len;
    size_t id;
};

#define RECENT_SLOTS 16
#define RECENT_TEXT 24

struct recent_action {
    const char *ptr; /* NULL: unused */
    size_t len;
    char text[RECENT_TEXT];
    size_t id;
};

struct aw_gate_index {
    struct gate_entry *entries;
    size_t nentries, entries_cap;
    size_t *actions_of; /* action numbers of the entries' gates */
    size_t nactions_of, actions_of_cap;
    struct action_slot *table; /* lower-case action -> number */
    size_t table_cap, nactions, maxlen;
    char *lower;   /* room for maxlen bytes: the event's action, lower-cased */
    size_t *lists; /* per bucket, per action number (and one for "none"): slot lists */
    size_t *start[2]; /* list of (bucket, a): lists[start[bucket][a] .. start[bucket][a + 1]) */
    struct recent_action recent[RECENT_SLOTS];
};

/* Lower-case s into out and return the FNV-1a hash of the result (short
 * keys: cheaper than aw_hash64, and computed in the same pass). */
static uint64_t lower_hash(char *out, const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
        out[i] = c;
        h = (h ^ (unsigned char)c) * 0x100000001b3ULL;
    }
    return h;
}

struct aw_gate_index *aw_gate_index_new(void)
{
    struct aw_gate_index *x = calloc(1, sizeof *x);
    if (x) {
        x->table_cap = 16;
        x->table = calloc(x->table_cap, sizeof *x->table);
        if (!x->table) {
            free(x);
            return NULL;
        }
    }
    return x;
}

void aw_gate_index_free(struct aw_gate_index *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->table_cap; i++)
        free(x->table[i].text);
    free(x->table);
    free(x->entries);
    free(x->actions_of);
    free(x->lower);
    free(x->lists);
    free(x->start[0]);
    free(x->start[1]);
    free(x);
}

/* The table slot of lower-case text s (its own, or the empty one to fill). */
static struct action_slot *probe(const struct aw_gate_index *x, const char *s, size_t n, uint64_t h)
{
    for (size_t i = (size_t)h & (x->table_cap - 1);; i = (i + 1) & (x->table_cap - 1)) {
        struct action_slot *a = &x->table[i];
        if (!a->text || (a->hash == h && a->len == n && memcmp(a->text, s, n) == 0))
            return a;
    }
}

/* The number of a gate value, numbering it when new; SIZE_MAX when out of memory. */
static size_t action_number(struct aw_gate_index *x, const char *value)
{
    size_t n = strlen(value);
    char *text = malloc(n + 1);
    if (!text)
        return SIZE_MAX;
    uint64_t h = lower_hash(text, value, n);
    text[n] = '\0';
    struct action_slot *a = probe(x, text, n, h);
    if (a->text) {
        free(text);
        return a->id;
    }
    if ((x->nactions + 1) * 2 > x->table_cap) { /* grow, then probe again */
        struct action_slot *old = x->table;
        size_t old_cap = x->table_cap;
        x->table_cap *= 2;
        x->table = calloc(x->table_cap, sizeof *x->table);
        if (!x->table) {
            x->table = old;
            x->table_cap = old_cap;
            free(text);
            return SIZE_MAX;
        }
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].text)
                *probe(x, old[i].text, old[i].len, old[i].hash) = old[i];
        free(old);
        a = probe(x, text, n, h);
    }
    *a = (struct action_slot){h, text, n, x->nactions++};
    if (n > x->maxlen)
        x->maxlen = n;
    return a->id;
}

bool aw_gate_index_add(struct aw_gate_index *x, int bucket, size_t slot, const char *const *gate, size_t ngate)
{
    if (x->nentries == x->entries_cap) {
        size_t cap = x->entries_cap ? x->entries_cap * 2 : 16;
        struct gate_entry *e = realloc(x->entries, cap * sizeof *e);
        if (!e)
            return false;
        x->entries = e;
        x->entries_cap = cap;
    }
    if (x->nactions_of + ngate > x->actions_of_cap) {
        size_t cap = x->actions_of_cap ? x->actions_of_cap : 16;
        while (cap < x->nactions_of + ngate)
            cap *= 2;
        size_t *a = realloc(x->actions_of, cap * sizeof *a);
        if (!a)
            return false;
        x->actions_of = a;
        x->actions_of_cap = cap;
    }
    struct gate_entry *e = &x->entries[x->nentries++];
    *e = (struct gate_entry){bucket, slot, x->nactions_of, ngate};
    for (size_t g = 0; g < ngate; g++) {
        size_t id = action_number(x, gate[g]);
        if (id == SIZE_MAX)
            return false;
        x->actions_of[x->nactions_of++] = id;
    }
    return true;
}

/* Whether entry e is a candidate for action number a (nactions: none). */
static bool admits(const struct aw_gate_index *x, const struct gate_entry *e, size_t a)
{
    if (e->n == 0)
        return true;
    for (size_t k = 0; k < e->n; k++)
        if (x->actions_of[e->first + k] == a)
            return true;
    return false;
}

bool aw_gate_index_build(struct aw_gate_index *x)
{
    size_t lists = x->nactions + 1, total = 0;
    for (int b = 0; b < 2; b++) {
        x->start[b] = calloc(lists + 1, sizeof *x->start[b]);
        if (!x->start[b])
            return false;
    }
    /* count, then fill */
    for (int pass = 0; pass < 2; pass++) {
        size_t at = 0;
        for (int b = 0; b < 2; b++)
            for (size_t a = 0; a < lists; a++) {
                if (pass == 0)
                    x->start[b][a] = at;
                for (size_t i = 0; i < x->nentries; i++) {
                    const struct gate_entry *e = &x->entries[i];
                    if (e->bucket != b || !admits(x, e, a))
                        continue;
                    if (pass == 1)
                        x->lists[at] = e->slot;
                    at++;
                }
                if (pass == 0)
                    x->start[b][a + 1] = at;
            }
        if (pass == 0) {
            total = at;
            x->lists = malloc((total + 1) * sizeof *x->lists);
            if (!x->lists)
                return false;
        }
    }
    x->lower = malloc(x->maxlen + 1);
    return x->lower != NULL;
}

const size_t *aw_gate_index_candidates(struct aw_gate_index *x, int bucket, const char *action, size_t len,
                                       size_t *n)
{
    size_t a = x->nactions; /* none */
    if (action && len <= x->maxlen && x->nactions) {
        struct recent_action *r = &x->recent[((uintptr_t)action >> 3 ^ len) & (RECENT_SLOTS - 1)];
        if (r->ptr == action && r->len == len && memcmp(r->text, action, len) == 0) {
            a = r->id;
        } else {
            uint64_t h = lower_hash(x->lower, action, len);
            const struct action_slot *s = probe(x, x->lower, len, h);
            if (s->text)
                a = s->id;
            if (len <= RECENT_TEXT) {
                r->ptr = action;
                r->len = len;
                memcpy(r->text, action, len);
                r->id = a;
            }
        }
    }
    *n = x->start[bucket][a + 1] - x->start[bucket][a];
    return x->lists + x->start[bucket][a];
}
