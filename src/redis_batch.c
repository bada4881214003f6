/*
 * redis_batch.c - a batch's buffered writes into the Redis store's
 * pipeline (see redis_store.h for the files of the store, store_redis.c
 * for its design).
 *
 * window_hit, meta_put and first_seen buffer their writes per window (or
 * decision); these functions turn the buffers into commands: meta writes
 * as one META script per 256 windows, hits as one HIT script per 256
 * windows, first_seen decisions as one FIRST_SEEN script per 256 - or,
 * for windows the mirror holds current while this instance writes alone,
 * plain commands in one MULTI block (see "direct writes" below).
 */
#include "auditwatch/hash.h"
#include "redis_codec.h"
#include "redis_store.h"

/* The batch's hits: one EVALSHA for up to HIT_WINDOWS windows.  (On a
 * Redis Cluster every window would need a call of its own - a window's
 * key has its slot, different windows do not share one; see README.) */
#define HIT_WINDOWS 256
static void flush_hits(struct redis_store *s, size_t nwb)
{
    for (size_t first = 0; first < nwb; first += HIT_WINDOWS) {
        size_t last = first + HIT_WINDOWS < nwb ? first + HIT_WINDOWS : nwb;
        size_t nentries = 0, nargs = 5;
        for (size_t w = first; w < last; w++) {
            nentries += s->wb[w]->n;
            nargs += 4 + 2 * s->wb[w]->n + s->wb[w]->nold;
        }
        struct argl l;
        aw_redis_argl_init(&l, &s->arg2, nargs);
        size_t *hits = aw_xcalloc(nentries, sizeof *hits);
        size_t h = 0;
        aw_redis_argl_ptr(&l, "EVALSHA", 7);
        aw_redis_argl_ptr(&l, s->sha[S_HIT], 40);
        aw_redis_argl_num(&l, (int64_t)(last - first + 1));
        aw_redis_prefix_key_text(s, &s->key, "writers");
        aw_redis_argl_copy(&l, s->key.data, s->key.len);
        int64_t lost_ttl = 0;
        char spec[HIT_WINDOWS];
        for (size_t w = first; w < last; w++) {
            struct win_batch *b = s->wb[w];
            aw_redis_window_key_text(s, &s->key, &b->key, "h");
            aw_redis_argl_copy(&l, s->key.data, s->key.len);
            spec[w - first] = b->n == 1 && !b->nold && !b->check && !s->shared ? '.' : 'x';
            if (b->ttl > lost_ttl)
                lost_ttl = b->ttl;
        }
        aw_redis_argl_num(&l, KEY_TTL_MS(lost_ttl));
        aw_redis_argl_copy(&l, spec, last - first);
        for (size_t w = first; w < last; w++) {
            struct win_batch *b = s->wb[w];
            if (spec[w - first] == 'x') {
                char head[64];
                int hl = snprintf(head, sizeof head, "%zu %zu %d", b->n, b->nold, b->check ? 1 : 0);
                aw_redis_argl_copy(&l, head, (size_t)hl);
                aw_redis_argl_num(&l, KEY_TTL_MS(b->ttl));
                aw_redis_argl_ptr(&l, b->group.data ? b->group.data : "{}", b->group.data ? b->group.len : 2);
            }
            for (size_t i = 0; i < b->n; i++) {
                struct win_entry *e = &b->e[i];
                aw_redis_argl_ptr(&l, e->id, 16);
                aw_redis_argl_ptr(&l, b->payloads.data + e->off, e->len);
                hits[h++] = e->hit;
            }
            for (size_t i = 0; i < b->nold; i++) {
                char hex[16];
                aw_hex64(b->old[i], hex);
                aw_redis_argl_copy(&l, hex, 16);
            }
        }
        struct command *cmd = aw_redis_argl_queue(s, &l, USE_HIT);
        cmd->hits = hits;
        cmd->nhits = h;
        cmd->nw = last - first;
        cmd->names = aw_xcalloc(cmd->nw, sizeof *cmd->names);
        cmd->expect = aw_xcalloc(cmd->nw, sizeof *cmd->expect);
        cmd->counts = aw_xcalloc(cmd->nw, sizeof *cmd->counts);
        cmd->assumed_new = aw_xcalloc(cmd->nw, sizeof *cmd->assumed_new);
        cmd->plain = aw_xcalloc(cmd->nw, sizeof *cmd->plain);
        for (size_t w = first; w < last; w++) {
            cmd->names[w - first] = aw_redis_window_name(&s->wb[w]->key);
            cmd->expect[w - first] = aw_redis_mirror_bump(s, cmd->names[w - first]);
            cmd->counts[w - first] = s->wb[w]->n;
            cmd->assumed_new[w - first] = s->wb[w]->assumed_new;
            if (s->wb[w]->assumed_new)
                aw_hashmap_put(&s->unconfirmed, cmd->names[w - first], (void *)(uintptr_t)1);
            cmd->plain[w - first] = spec[w - first] == '.';
        }
    }
}

/* The batch's meta writes: one EVALSHA per HIT_WINDOWS windows. */
static void flush_meta(struct redis_store *s, size_t nmeta)
{
    for (size_t first = 0; first < nmeta; first += HIT_WINDOWS) {
        size_t last = first + HIT_WINDOWS < nmeta ? first + HIT_WINDOWS : nmeta;
        struct argl l;
        aw_redis_argl_init(&l, &s->arg2, 3 + 4 * (last - first));
        aw_redis_argl_ptr(&l, "EVALSHA", 7);
        aw_redis_argl_ptr(&l, s->sha[S_META], 40);
        aw_redis_argl_num(&l, (int64_t)(last - first + 1));
        aw_redis_prefix_key_text(s, &s->key, "writers");
        aw_redis_argl_copy(&l, s->key.data, s->key.len);
        for (size_t i = first; i < last; i++) {
            aw_redis_window_key_text(s, &s->key, &s->metas[i].key, "h");
            aw_redis_argl_copy(&l, s->key.data, s->key.len);
        }
        for (size_t i = first; i < last; i++) {
            struct meta_write *m = &s->metas[i];
            aw_redis_argl_ptr(&l, s->meta_text.data + m->off, m->mlen);
            aw_redis_argl_ptr(&l, s->meta_text.data + m->off + m->mlen, m->glen);
            aw_redis_argl_num(&l, KEY_TTL_MS(m->ttl));
        }
        struct command *cmd = aw_redis_argl_queue(s, &l, USE_VER);
        cmd->nw = last - first;
        cmd->names = aw_xcalloc(cmd->nw, sizeof *cmd->names);
        cmd->expect = aw_xcalloc(cmd->nw, sizeof *cmd->expect);
        for (size_t i = first; i < last; i++) {
            cmd->names[i - first] = aw_redis_window_name(&s->metas[i].key);
            cmd->expect[i - first] = aw_redis_mirror_bump(s, cmd->names[i - first]);
        }
    }
}

/* The batch's first_seen decisions: one EVALSHA per 256, in order. */
void aw_redis_flush_first_seen(struct redis_store *s)
{
    for (size_t first = 0; first < s->nfs; first += HIT_WINDOWS) {
        size_t last = first + HIT_WINDOWS < s->nfs ? first + HIT_WINDOWS : s->nfs;
        struct argl l;
        aw_redis_argl_init(&l, &s->arg2, 5 + FS_ARGS * (last - first));
        aw_redis_argl_ptr(&l, "EVALSHA", 7);
        aw_redis_argl_ptr(&l, s->sha[S_FIRST_SEEN], 40);
        aw_redis_argl_ptr(&l, "0", 1);
        aw_buf_reset(&s->key);
        aw_buf_append_str(&s->key, s->prefix);
        aw_buf_append_str(&s->key, ":{");
        aw_redis_argl_copy(&l, s->key.data, s->key.len);
        aw_redis_argl_num(&l, FOREVER_MS); /* the learning start never expires */
        for (size_t i = first; i < last; i++)
            for (int j = 0; j < FS_ARGS; j++)
                aw_redis_argl_ptr(&l, s->fs_text.data + s->fs[i].off[j], s->fs[i].len[j]);
        struct command *cmd = aw_redis_argl_queue(s, &l, USE_FS);
        cmd->nhits = last - first;
        cmd->hits = aw_xcalloc(cmd->nhits, sizeof *cmd->hits);
        for (size_t i = first; i < last; i++)
            cmd->hits[i - first] = s->fs[i].hit;
    }
    s->nfs = 0;
    aw_buf_reset(&s->fs_text);
}

/* ---------------------------------------------------------- direct writes
 *
 * While this instance is the only writer under its prefix, a window its
 * mirror holds current needs nothing from Redis: the mirror says which
 * entries are new (and which duplicate completed an alert), and no
 * version is counted.  Such writes skip Lua - a script call costs Redis
 * an allocation and a Lua string per argument and about two microseconds
 * per redis.call, a plain command about half of that - and go as plain
 * commands in one MULTI block per flush: HSET m/g for meta writes, HDEL
 * of trimmed ids and one multi-field HSET of the window's new entries; an
 * entry the mirror has already goes as HSETNX (rare: a redelivery; and
 * the mirror may hold writes of a batch that failed and is being
 * retried, which Redis never got), then FIXUP_LUA, which counts the versions the writes owed if
 * another writer appeared since this instance last looked; EXEC runs the
 * block atomically, so no other instance sees the writes without their
 * versions.  Windows the mirror does not know, or whose TTL is due (a
 * write that may create the key must set its TTL and group), go through
 * the scripts as before, and so does everything when the server refuses
 * MULTI (an ACL without +multi +exec). */

static bool direct_ok(const struct redis_store *s) { return s->alone && !s->shared && !s->no_multi; }

/* Whether this process set the window's TTL within TTL_REFRESH_MS (so
 * its key exists, with a TTL, unless Redis lost it - which a reconnect
 * tells, clearing the map). */
static bool refreshed_recently(struct redis_store *s, uint64_t name)
{
    uint64_t sec = (uint64_t)(aw_mono_ms() / 1000) + 1;
    uint64_t last = (uint64_t)(uintptr_t)aw_hashmap_get(&s->refreshed, name);
    return last && (sec - last) * 1000 < (uint64_t)TTL_REFRESH_MS;
}

static bool direct_meta(struct redis_store *s, const struct meta_write *m)
{
    uint64_t name = aw_redis_window_name(&m->key);
    return aw_redis_mirror_version(s, name) != 0 && refreshed_recently(s, name);
}

static bool direct_window(const struct win_batch *b) { return !b->assumed_new && !b->unconfirmed && !b->check; }

/* The window's key into the block's key list (for FIXUP) and the block. */
static void direct_key(struct redis_store *s, const struct aw_wkey *k)
{
    aw_redis_window_key_text(s, &s->key, k, "h");
    aw_buf_append(&s->dkeys, s->key.data, s->key.len);
    aw_buf_append_char(&s->dkeys, '\0');
    aw_redis_resp_arg(&s->direct, s->key.data, s->key.len);
}

/* One MULTI block for the meta writes metas[mfrom, nmeta) and the windows
 * wb[wfrom, nwb), all of them direct (see above). */
static void queue_direct(struct redis_store *s, size_t mfrom, size_t wfrom)
{
    struct aw_buf *t = &s->direct;
    size_t cap = (s->nmeta - mfrom) + (s->nwb - wfrom);
    uint64_t *names = aw_xcalloc(cap, sizeof *names);
    uint64_t *expect = aw_xcalloc(cap, sizeof *expect);
    size_t nkeys = 0, nrep = 1;
    int64_t ttl = 0;
    aw_buf_reset(t);
    aw_buf_reset(&s->dkeys);
    aw_redis_resp_head(t, 1);
    aw_redis_resp_arg(t, "MULTI", 5);
    for (size_t i = mfrom; i < s->nmeta; i++) {
        struct meta_write *m = &s->metas[i];
        aw_redis_resp_head(t, 6);
        aw_redis_resp_arg(t, "HSET", 4);
        direct_key(s, &m->key);
        aw_redis_resp_arg(t, "m", 1);
        aw_redis_resp_arg(t, s->meta_text.data + m->off, m->mlen);
        aw_redis_resp_arg(t, "g", 1);
        aw_redis_resp_arg(t, s->meta_text.data + m->off + m->mlen, m->glen);
        nrep++;
        names[nkeys] = aw_redis_window_name(&m->key);
        expect[nkeys] = aw_redis_mirror_bump(s, names[nkeys]);
        nkeys++;
        if (m->ttl > ttl)
            ttl = m->ttl;
    }
    for (size_t w = wfrom; w < s->nwb; w++) {
        struct win_batch *b = s->wb[w];
        if (b->nold) {
            aw_redis_resp_head(t, 2 + b->nold);
            aw_redis_resp_arg(t, "HDEL", 4);
            direct_key(s, &b->key);
            for (size_t i = 0; i < b->nold; i++) {
                char hex[16];
                aw_hex64(b->old[i], hex);
                aw_redis_resp_arg(t, hex, 16);
            }
            nrep++;
        }
        size_t add = 0;
        for (size_t i = 0; i < b->n; i++)
            add += !b->e[i].dup;
        if (!b->nold) { /* the key, for FIXUP and the writes below */
            aw_redis_window_key_text(s, &s->key, &b->key, "h");
            aw_buf_append(&s->dkeys, s->key.data, s->key.len);
            aw_buf_append_char(&s->dkeys, '\0');
        }
        for (size_t i = 0; i < b->n; i++)
            if (b->e[i].dup) {
                aw_redis_resp_head(t, 4);
                aw_redis_resp_arg(t, "HSETNX", 6);
                aw_redis_resp_arg(t, s->key.data, s->key.len);
                aw_redis_resp_arg(t, b->e[i].id, 16);
                aw_redis_resp_arg(t, b->payloads.data + b->e[i].off, b->e[i].len);
                nrep++;
            }
        if (add) {
            aw_redis_resp_head(t, 2 + 2 * add);
            aw_redis_resp_arg(t, "HSET", 4);
            aw_redis_resp_arg(t, s->key.data, s->key.len);
            for (size_t i = 0; i < b->n; i++)
                if (!b->e[i].dup) {
                    aw_redis_resp_arg(t, b->e[i].id, 16);
                    aw_redis_resp_arg(t, b->payloads.data + b->e[i].off, b->e[i].len);
                }
            nrep++;
        }
        names[nkeys] = aw_redis_window_name(&b->key);
        expect[nkeys] = aw_redis_mirror_bump(s, names[nkeys]);
        nkeys++;
        if (b->ttl > ttl)
            ttl = b->ttl;
    }
    if (!nkeys) {
        free(names);
        free(expect);
        return;
    }
    char num[24];
    aw_redis_resp_head(t, 7);
    aw_redis_resp_arg(t, "EVALSHA", 7);
    aw_redis_resp_arg(t, s->sha[S_FIXUP], 40);
    aw_redis_resp_arg(t, "1", 1);
    aw_redis_prefix_key_text(s, &s->key, "writers");
    aw_redis_resp_arg(t, s->key.data, s->key.len);
    aw_redis_resp_arg(t, num, aw_redis_fmt_time(num, KEY_TTL_MS(ttl)));
    aw_redis_resp_arg(t, s->dkeys.data, s->dkeys.len); /* the keys, each ended by a NUL */
    size_t resent_at = t->len + 4; /* (after "$1\r\n") */
    aw_redis_resp_arg(t, "0", 1);
    aw_redis_resp_head(t, 1);
    aw_redis_resp_arg(t, "EXEC", 4);
    nrep += 2;
    struct command *c = aw_redis_queue_text(s, USE_DIRECT, t, nrep);
    c->resent_at = resent_at;
    c->names = names;
    c->expect = expect;
    c->nw = nkeys;
    c->plain = aw_xcalloc(nkeys, sizeof *c->plain);
    for (size_t i = 0; i < nkeys; i++)
        c->plain[i] = true;
    c->assumed_new = aw_xcalloc(nkeys, sizeof *c->assumed_new);
}

/* Buffered window writes into the pipeline: meta before hits.  Per
 * window that keeps the order of the calls - a meta write queued while
 * the window has hits waiting sends those hits first (queue_meta_write),
 * so a meta write waiting beside hits of its window is the older one.
 * Scripted meta writes go first, then the direct block (its meta writes
 * before its hits), then the scripted hits. */
void aw_redis_flush_writes(struct redis_store *s)
{
    size_t mlua = s->nmeta, wlua = s->nwb;
    if (direct_ok(s)) { /* scripted ones first, direct ones after */
        mlua = 0;
        for (size_t i = 0; i < s->nmeta; i++)
            if (!direct_meta(s, &s->metas[i])) {
                struct meta_write tmp = s->metas[i];
                s->metas[i] = s->metas[mlua];
                s->metas[mlua++] = tmp;
            }
        wlua = 0;
        for (size_t w = 0; w < s->nwb; w++)
            if (!direct_window(s->wb[w])) {
                struct win_batch *tmp = s->wb[w];
                s->wb[w] = s->wb[wlua];
                s->wb[wlua++] = tmp;
            }
    }
    flush_meta(s, mlua);
    if (mlua < s->nmeta || wlua < s->nwb)
        queue_direct(s, mlua, wlua);
    flush_hits(s, wlua);
    s->nmeta = 0;
    aw_buf_reset(&s->meta_text);
    if (s->meta_index.n) {
        aw_hashmap_free(&s->meta_index);
        aw_hashmap_init(&s->meta_index);
    }
    for (size_t w = 0; w < s->nwb; w++) {
        s->wb[w]->n = 0;
        s->wb[w]->nold = 0;
        aw_buf_reset(&s->wb[w]->payloads);
    }
    s->nwb = 0;
    if (s->wb_index.n) {
        aw_hashmap_free(&s->wb_index);
        aw_hashmap_init(&s->wb_index);
    }
}

