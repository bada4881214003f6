/*
 * redis_scripts.c - the Lua scripts of the Redis store (store_redis.c).
 *
 * Each window operation runs as one script (EVALSHA), so it is atomic on
 * the server; scripts take many windows or decisions at once so that a
 * batch costs few calls.  The key layout they assume is described at the
 * top of store_redis.c.  Times are integers in milliseconds (exact in
 * Lua's doubles), event identities 16 hex digits.
 *
 * Cost model (measured on the project machine, Redis 7.0): an EVALSHA
 * costs a few microseconds, every redis.call inside it one to three
 * more whatever the command, and every script argument about a third of
 * a microsecond (Redis allocates it, then makes a Lua string of it);
 * value size matters far less.  So the scripts make as few calls and
 * take as few arguments as possible per window entry: a window is one
 * hash (entries, group, meta and version in one key, so one TTL), an
 * entry costs one HSETNX, a plain window (one new entry, nothing else to
 * do) two arguments; versions are counted only while several instances
 * write, and the TTL is set only when the key is new or the client asks
 * for a refresh.  Some scripts build keys from hashes they are given (a
 * standalone Redis allows it; this build does not support Cluster).
 * Replies are packed into one string where they would otherwise be long
 * arrays of small values (cheaper on both sides).
 */
#include "redis_scripts.h"

/* Versions.  A window's version ("v") counts the writes to it, so that
 * an instance can tell whether its mirror of the window is current.
 * That only matters while another instance writes under the prefix: the
 * writers hash (PREFIX:writers, instance -> server time of its last sign
 * of life) says who does, and while it holds only the caller, scripts
 * leave versions alone (one call less per window) and report instead
 * 'N' (the write created the key), 'E' (the key was there, checked) or
 * '0' (not checked).  Every instance registers before its first write,
 * so versions are counted whenever anyone could rely on them. */

/* KEYS: writers, then the window hashes of a batch; ARGV[1]: the TTL of
 * a plain window found missing; ARGV[2]: one
 * character per window, '.' for a plain window (one entry, nothing to
 * drop, nothing to check: ARGV id value) or 'x' (ARGV: "n nold check",
 * ttl, group, then n times (id value), then nold ids to drop - entries
 * the client's mirror shows older than the trim bound, dropped first, as
 * window_add trims before it adds).  With check = '1' (the client does
 * not know the window, or its TTL is due for a refresh) the group is
 * written if missing and the TTL set; a new key always gets both (the
 * client sends every window as 'x' while versions are counted).  Every
 * argument costs the server an allocation and a Lua string, so the
 * common case takes two.  Returns one string: a code digit per entry in
 * order (0 added, 1 already there, 2 already there and it completed the
 * alert that suppresses its group), then '|' and the versions of the 'x'
 * windows joined by ' ' (see above; 'E' too when versions are counted but
 * the key was there without one: written while its writer was alone).
 * Should another writer have appeared since the client chose plain
 * windows, those are counted too, and every window then has a version
 * ('L': the key had been lost; it is recreated without its group). */
static const char HIT_LUA[] =
    "local shared = redis.call('HLEN', KEYS[1]) > 1\n"
    "local spec = ARGV[2]\n"
    "local codes, nc, vers = {}, 0, {}\n"
    "local a = 3\n"
    "local function dup(h, id)\n"
    "  local m = redis.call('HGET', h, 'm')\n"
    "  if m then\n"
    "    local se, aid = string.match(m, '^%S+ %S+ %S+ (%S+) (%S+)$')\n"
    "    if se == id and aid ~= '-' then return '2' end\n"
    "  end\n"
    "  return '1'\n"
    "end\n"
    "for k = 2, #KEYS do\n"
    "  local h = KEYS[k]\n"
    "  nc = nc + 1\n"
    "  if string.byte(spec, k - 1) == 46 then\n"
    "    if redis.call('HSETNX', h, ARGV[a], ARGV[a + 1]) == 1 then\n"
    "      codes[nc] = '0'\n"
    "      if not shared and redis.call('HLEN', h) == 1 then redis.call('PEXPIRE', h, ARGV[1]) end\n"
    "    else codes[nc] = dup(h, ARGV[a]) end\n"
    "    a = a + 2\n"
    "    if shared then\n"
    "      local v = redis.call('HINCRBY', h, 'v', 1)\n"
    "      if v == 1 then redis.call('PEXPIRE', h, ARGV[1]); v = 'L' end\n"
    "      vers[#vers + 1] = v\n"
    "    end\n"
    "  else\n"
    "    nc = nc - 1\n"
    "    local sn, so, check = string.match(ARGV[a], '^(%d+) (%d+) (%d)$')\n"
    "    local n, nold = tonumber(sn), tonumber(so)\n"
    "    local ttl, group = ARGV[a + 1], ARGV[a + 2]\n"
    "    a = a + 3\n"
    "    if nold > 0 then redis.call('HDEL', h, unpack(ARGV, a + 2 * n, a + 2 * n + nold - 1)) end\n"
    "    for i = 1, n do\n"
    "      nc = nc + 1\n"
    "      if redis.call('HSETNX', h, ARGV[a], ARGV[a + 1]) == 1 then codes[nc] = '0'\n"
    "      else codes[nc] = dup(h, ARGV[a]) end\n"
    "      a = a + 2\n"
    "    end\n"
    "    a = a + nold\n"
    "    local v = '0'\n"
    "    if shared then v = redis.call('HINCRBY', h, 'v', 1) end\n"
    "    if v == 1 or check == '1' then\n"
    "      local new = redis.call('HSETNX', h, 'g', group) == 1\n"
    "      redis.call('PEXPIRE', h, ttl)\n"
    "      if not shared then v = new and 'N' or 'E'\n"
    "      elseif v == 1 and not new then v = 'E' end\n"
    "    end\n"
    "    vers[#vers + 1] = v\n"
    "  end\n"
    "end\n"
    "return table.concat(codes) .. '|' .. table.concat(vers, ' ')\n";

/* KEYS: writers, then window hashes; ARGV per window: meta group ttl.
 * Writes the window's meta (cursor and suppression) and group, counts
 * the version (see above), and sets the TTL when the write created the
 * key (it expired since its last hit).  Returns the versions, joined by
 * ' '. */
static const char META_LUA[] =
    "local shared = redis.call('HLEN', KEYS[1]) > 1\n"
    "local out = {}\n"
    "for k = 2, #KEYS do\n"
    "  local h, a = KEYS[k], 3 * k - 5\n"
    "  local new = redis.call('HSET', h, 'm', ARGV[a], 'g', ARGV[a + 1]) == 2\n"
    "  local v = new and 'N' or '0'\n"
    "  if shared then v = redis.call('HINCRBY', h, 'v', 1) end\n"
    "  if new then redis.call('PEXPIRE', h, ARGV[a + 2]) end\n"
    "  out[k - 1] = v\n"
    "end\n"
    "return table.concat(out, ' ')\n";

/* KEYS: window hashes; ARGV: keep per window (ms before the cursor still
 * needed, '' = all).  Returns per window {} when it has no group (no
 * such window), else {g, m, v, id, value, ...} with the entries that can
 * still matter.  A window written while its writer was alone gets its
 * first version here.  Entries older than what can
 * still matter are dropped on the way (a window written by several
 * instances is trimmed here, as no single client knows all of its
 * entries). */
static const char SNAPSHOT_LUA[] =
    "local out = {}\n"
    "for k = 1, #KEYS do\n"
    "  local h, keep = KEYS[k], ARGV[k]\n"
    "  local all = redis.call('HGETALL', h)\n"
    "  local f = {}\n"
    "  for i = 1, #all, 2 do f[all[i]] = all[i + 1] end\n"
    "  local r = {}\n"
    "  if f.g then\n"
    "    local m = f.m or ''\n"
    "    local from = nil\n"
    "    local ct = string.match(m, '^(%S+) ')\n"
    "    if keep ~= '' and ct and ct ~= 'n' then from = tonumber(ct) - tonumber(keep) end\n"
    "    if not f.v then redis.call('HSET', h, 'v', 1); f.v = '1' end\n"
    "    r = {f.g, m, f.v}\n"
    "    local old = {}\n"
    "    for i = 1, #all, 2 do\n"
    "      local id, val = all[i], all[i + 1]\n"
    "      if #id == 16 then\n"
    "        local t = tonumber(string.match(val, '^(%-?%d+) '))\n"
    "        if from and t and t <= from then\n"
    "          old[#old + 1] = id\n"
    "        else\n"
    "          r[#r + 1] = id\n"
    "          r[#r + 1] = val\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "    for i = 1, #old, 1000 do\n"
    "      redis.call('HDEL', h, unpack(old, i, math.min(#old, i + 999)))\n"
    "    end\n"
    "  end\n"
    "  out[k] = r\n"
    "end\n"
    "return out\n";

/* KEYS: members writers, then per rule: pending claims; ARGV: me
 * stale_ms limit tail, then per rule: up_to ttl lateness head load (a
 * group's window hash key is head .. group .. tail).  For each rule,
 * hands out the groups due up to min(up_to, the slowest live instance's
 * watermark - lateness), in (time, group) order, in one of three ways:
 *   claimed  (mode 'c': another instance writes under the prefix, or
 *            this one left claims of its own) the groups move from
 *            pending to this instance's claim (field: the instance,
 *            value: "group time ..."), skipping groups another live
 *            instance holds; this instance's unfinished claims are
 *            handed out again (a reply lost with the connection), and
 *            versions are read when others write;
 *   read     (mode 'a': alone) the groups stay pending - the caller
 *            removes each when it is finalized (a crash loses none) -
 *            and one field "@TIME" claims everything due up to the last
 *            one handed out, in case another instance turns up;
 *   listed   (mode 'f': solo - no other writer, no other live member -
 *            and load is '1') as read, but every group pending is
 *            listed, due or not (up to 64 * limit of them, else mode
 *            'a'): the caller keeps the queue from now on
 *            (redis_queue.c), and "@UP_TO" claims what is due.
 * Claims of instances silent for stale_ms go back to pending, and so do
 * they leave the writers.  Returns one string per rule: the mode, then
 * "group time version" per group (mode 'c') or "group time" (mode 'a'),
 * then the earliest time left pending ('-' for none), '1' when more are
 * due than were handed out, the bound the groups may be finalized up to
 * (up_to, lowered by the slowest live peer), and '1' when other writers
 * share the prefix, all joined by ' '; and after the rules' strings one
 * more, '1' when this instance is solo ('0' else) - with no rule at all,
 * the call only asks that.  One call serves every rule of a batch: the
 * instances are read once. */
static const char POP_LUA[] =
    "local tm = redis.call('TIME')\n"
    "local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)\n"
    "local me, stale, limit, tail = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]\n"
    "local function num(x)\n"
    "  if x == '+inf' then return math.huge elseif x == '-inf' then return -math.huge end\n"
    "  return tonumber(x)\n"
    "end\n"
    "local function fmt(x)\n"
    "  if x == math.huge then return '+inf' elseif x == -math.huge then return '-inf' end\n"
    "  return string.format('%d', x)\n"
    "end\n"
    "local live, peers = {}, {}\n"
    "local mem = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #mem, 2 do\n"
    "  local wm, beat = string.match(mem[i + 1], '^(%S+) (%S+)$')\n"
    "  if wm and now - tonumber(beat) <= stale then\n"
    "    live[mem[i]] = true\n"
    "    if mem[i] ~= me then peers[#peers + 1] = num(wm) end\n"
    "  end\n"
    "end\n"
    "local others = false\n"
    "local wr = redis.call('HGETALL', KEYS[2])\n"
    "for i = 1, #wr, 2 do\n"
    "  if wr[i] ~= me then\n"
    "    if now - (tonumber(wr[i + 1]) or 0) > stale then redis.call('HDEL', KEYS[2], wr[i])\n"
    "    else others = true end\n"
    "  end\n"
    "end\n"
    "local solo = not others and #peers == 0\n"
    "local function pop(pending, claims, up_to, ttl, lateness, head, load)\n"
    "  local up = num(up_to)\n"
    "  for _, wm in ipairs(peers) do\n"
    "    local lim = wm - tonumber(lateness)\n"
    "    if lim < up then up = lim end\n"
    "  end\n"
    "  local got = {}\n"
    "  local held, mine = {}, {}\n"
    "  local held_upto = -math.huge\n"
    "  local more = false\n"
    "  local cl = redis.call('HGETALL', claims)\n"
    "  for i = 1, #cl, 2 do\n"
    "    local owner, val = cl[i], cl[i + 1]\n"
    "    if string.sub(val, 1, 1) == '@' then\n"
    "      if owner ~= me and live[owner] then\n"
    "        local t = tonumber(string.sub(val, 2)) or -math.huge\n"
    "        if t > held_upto then held_upto = t end\n"
    "      end\n"
    "    else\n"
    "      for g, t in string.gmatch(val, '(%S+) (%S+)') do\n"
    "        if owner == me then got[#got + 1] = {g, tonumber(t)}; mine[g] = true\n"
    "        elseif live[owner] then held[g] = true\n"
    "        else redis.call('ZADD', pending, 'LT', t, g) end\n"
    "      end\n"
    "    end\n"
    "    if owner ~= me and not live[owner] then redis.call('HDEL', claims, owner) end\n"
    "  end\n"
    "  local out = {}\n"
    "  local earliest = nil\n"
    "  if solo and load == '1' and #got == 0 and #redis.call('ZRANGE', pending, 64 * limit, 64 * limit) == 0 then\n"
    "    out[1] = 'f'\n"
    "    local all = redis.call('ZRANGE', pending, 0, -1, 'WITHSCORES')\n"
    "    for i = 1, #all do out[#out + 1] = all[i] end\n"
    "    if #all > 0 and tonumber(all[2]) <= up then\n"
    "      redis.call('HSET', claims, me, '@' .. fmt(up))\n"
    "      redis.call('PEXPIRE', claims, ttl)\n"
    "    end\n"
    "  elseif not others and #got == 0 then\n"
    "    out[1] = 'a'\n"
    "    if up > -math.huge then\n"
    "      local due = redis.call('ZRANGEBYSCORE', pending, '-inf', fmt(up), 'WITHSCORES', 'LIMIT', 0, limit + 1)\n"
    "      local n = math.min(#due / 2, limit)\n"
    "      for i = 1, 2 * n do out[#out + 1] = due[i] end\n"
    "      if #due / 2 > limit then more = true; earliest = due[2 * limit + 2] end\n"
    "      if n > 0 then\n"
    "        redis.call('HSET', claims, me, '@' .. due[2 * n])\n"
    "        redis.call('PEXPIRE', claims, ttl)\n"
    "      end\n"
    "      if not earliest then\n"
    "        earliest = redis.call('ZRANGEBYSCORE', pending, '(' .. fmt(up), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)[2]\n"
    "      end\n"
    "    else\n"
    "      earliest = redis.call('ZRANGE', pending, 0, 0, 'WITHSCORES')[2]\n"
    "    end\n"
    "  else\n"
    "    out[1] = 'c'\n"
    "    local fresh = 0\n"
    "    if up > -math.huge then\n"
    "      local due = redis.call('ZRANGEBYSCORE', pending, '-inf', fmt(up), 'WITHSCORES', 'LIMIT', 0, 4 * limit)\n"
    "      local taken = {}\n"
    "      for i = 1, #due, 2 do\n"
    "        if #taken >= limit then more = true; break end\n"
    "        if not held[due[i]] and tonumber(due[i + 1]) > held_upto then\n"
    "          if not mine[due[i]] then got[#got + 1] = {due[i], tonumber(due[i + 1])} end\n"
    "          taken[#taken + 1] = due[i]\n"
    "        end\n"
    "      end\n"
    "      if #due == 8 * limit then more = true end\n"
    "      if #taken > 0 then redis.call('ZREM', pending, unpack(taken)) end\n"
    "      fresh = #taken\n"
    "    end\n"
    "    table.sort(got, function(a, b) return a[2] < b[2] or (a[2] == b[2] and a[1] < b[1]) end)\n"
    "    local claim = {}\n"
    "    for i = 1, #got do\n"
    "      local t = string.format('%d', got[i][2])\n"
    "      claim[#claim + 1] = got[i][1] .. ' ' .. t\n"
    "      local v = '0'\n"
    "      if others then v = redis.call('HGET', head .. got[i][1] .. tail, 'v') or '0' end\n"
    "      out[#out + 1] = got[i][1] .. ' ' .. t .. ' ' .. v\n"
    "    end\n"
    "    if fresh > 0 or #got == 0 then\n"
    "      if #got > 0 then redis.call('HSET', claims, me, table.concat(claim, ' '))\n"
    "      else redis.call('HDEL', claims, me) end\n"
    "      redis.call('PEXPIRE', claims, ttl)\n"
    "    end\n"
    "    earliest = redis.call('ZRANGE', pending, 0, 0, 'WITHSCORES')[2]\n"
    "  end\n"
    "  out[#out + 1] = earliest or '-'\n"
    "  out[#out + 1] = more and '1' or '0'\n"
    "  out[#out + 1] = fmt(up)\n"
    "  out[#out + 1] = others and '1' or '0'\n"
    "  return table.concat(out, ' ')\n"
    "end\n"
    "local res = {}\n"
    "for r = 1, (#KEYS - 2) / 2 do\n"
    "  local a = 5 * r\n"
    "  res[r] = pop(KEYS[2 * r + 1], KEYS[2 * r + 2], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4])\n"
    "end\n"
    "res[#res + 1] = solo and '1' or '0'\n"
    "return res\n";

/* KEYS: claims; ARGV: me, then groups.  Takes the groups out of this
 * instance's claim (a claim another instance took over stays its own). */
static const char DONE_LUA[] =
    "local v = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if not v then return 0 end\n"
    "local fin = {}\n"
    "for i = 2, #ARGV do fin[ARGV[i]] = true end\n"
    "local keep = {}\n"
    "for g, t in string.gmatch(v, '(%S+) (%S+)') do\n"
    "  if not fin[g] then keep[#keep + 1] = g .. ' ' .. t end\n"
    "end\n"
    "if #keep == 0 then redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "else redis.call('HSET', KEYS[1], ARGV[1], table.concat(keep, ' ')) end\n"
    "return 0\n";

/* KEYS: members writers; ARGV: me watermark ttl stale.  Publishes this
 * instance's watermark with the server's time as its heartbeat (also in
 * the writers); returns how many instances are live (heard from within
 * stale ms). */
static const char MEMBER_LUA[] =
    "local tm = redis.call('TIME')\n"
    "local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. now)\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "redis.call('HSET', KEYS[2], ARGV[1], now)\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[3])\n"
    "local n = 0\n"
    "local mem = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #mem, 2 do\n"
    "  local beat = string.match(mem[i + 1], ' (%S+)$')\n"
    "  if beat and now - tonumber(beat) <= tonumber(ARGV[4]) then n = n + 1 end\n"
    "end\n"
    "return n\n";

/* KEYS: writers; ARGV: me ttl.  Registers this instance as a writer
 * under the prefix (before its first write). */
static const char WRITER_LUA[] =
    "local tm = redis.call('TIME')\n"
    "local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)\n"
    "redis.call('HSET', KEYS[1], ARGV[1], now)\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return 0\n";

/* KEYS: writers; ARGV[1]: the TTL of a window found without a version,
 * ARGV[2]: window hash keys, each followed by a NUL byte (a key may come
 * twice), ARGV[3]: '1' when the block is sent again on a new connection
 * ('0' else; see below).  The last command of a MULTI block of plain HSET/HDEL writes
 * (store_redis.c, direct writes), so it runs atomically with them: while
 * the caller is the only writer it does nothing and returns '|' (the
 * keys come as one argument, not one each, for this common case: an
 * argument costs Redis an allocation and a Lua string); should another
 * writer have appeared since the caller chose to write without versions,
 * it counts the versions the writes owed, one per key as listed, and
 * returns them after the '|' as HIT_LUA does ('L': the key had no
 * version yet).  A block sent again (redis_conn.c) may meet a Redis that
 * restarted without the keys: its plain writes, made without a TTL
 * because this process had just set one, then create them anew, so every
 * key of the block gets ARGV[1] again (the largest TTL of the block's
 * windows: none gets shorter; PEXPIRE rather than a look at PTTL first
 * keeps the ACL the README lists). */
static const char FIXUP_LUA[] =
    "if redis.call('HLEN', KEYS[1]) <= 1 then\n"
    "  if ARGV[3] == '1' then\n"
    "    for h in string.gmatch(ARGV[2], '([^%z]+)%z') do redis.call('PEXPIRE', h, ARGV[1]) end\n"
    "  end\n"
    "  return '|'\n"
    "end\n"
    "local out = {}\n"
    "for h in string.gmatch(ARGV[2], '([^%z]+)%z') do\n"
    "  local v = redis.call('HINCRBY', h, 'v', 1)\n"
    "  if v == 1 then redis.call('PEXPIRE', h, ARGV[1]); v = 'L' end\n"
    "  out[#out + 1] = v\n"
    "end\n"
    "return '|' .. table.concat(out, ' ')\n";

/* KEYS: s; ARGV: member time ttl.  Returns 1 when the member is new. */
static const char SET_ADD_LUA[] =
    "local a = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "return a\n";

/* ARGV: key head (PREFIX ":{"), the learning start's TTL, then per
 * decision: name, "time learning_ms ttl has_prev L C P I" (L C P I: the
 * 16-hex-digit group hashes of the learning start, the current and the
 * previous value sets, and the set of event ids that introduced a pair;
 * P = C without retention), value, event_id.  Keys are built here
 * (head .. name .. '|' .. hash .. '}:h' or ':s'), so a decision takes 4
 * arguments, not 11.  first_seen.c's logic, decision by decision in
 * order: 0 silent, 1 new pair, 2 introduced by this event; one digit per
 * decision in the returned string (a learning start is read once per
 * call: decisions mostly share one), then '|' and, per learning start
 * the call used, "d start" - d the first decision (from 1) that used it,
 * start its value after the call (the client's cache, store_redis.c).  A key's TTL is set when a write adds
 * to it (the value sets live by epochs of event time and their TTL only
 * reclaims memory; the learning start is kept for good). */
static const char FIRST_SEEN_LUA[] =
    "local head, forever = ARGV[1], ARGV[2]\n"
    "local out, starts, firsts = {}, {}, {}\n"
    "local function add(key, field, t, ttl)\n"
    "  local n = redis.call('HSETNX', key, field, t)\n"
    "  if n == 1 then redis.call('PEXPIRE', key, ttl) end\n"
    "  return n\n"
    "end\n"
    "for d = 1, (#ARGV - 2) / 4 do\n"
    "  local a = 4 * d - 1\n"
    "  local value, eid = ARGV[a + 2], ARGV[a + 3]\n"
    "  local ts, learn, ttl, hasprev, lh, ch, ph, ih =\n"
    "    string.match(ARGV[a + 1], '^(%S+) (%S+) (%S+) (%d) (%x+) (%x+) (%x+) (%x+)$')\n"
    "  local base = head .. ARGV[a] .. '|'\n"
    "  local lkey, ckey = base .. lh .. '}:h', base .. ch .. '}:s'\n"
    "  local t = tonumber(ts)\n"
    "  local res\n"
    "  local start = starts[lkey]\n"
    "  if start == nil then\n"
    "    start = tonumber(redis.call('HGET', lkey, 'start') or '') or false\n"
    "    firsts[#firsts + 1] = {d, lkey}\n"
    "  end\n"
    "  if not start or t < start then\n"
    "    start = t\n"
    "    redis.call('HSET', lkey, 'start', ts)\n"
    "    redis.call('PEXPIRE', lkey, forever)\n"
    "  end\n"
    "  starts[lkey] = start\n"
    "  if t - start < tonumber(learn) then\n"
    "    add(ckey, value, ts, ttl)\n"
    "    res = 0\n"
    "  else\n"
    "    local ikey = base .. ih .. '}:s'\n"
    "    local found = redis.call('HEXISTS', ckey, value) == 1\n"
    "    if not found and hasprev == '1' and redis.call('HEXISTS', base .. ph .. '}:s', value) == 1 then\n"
    "      found = true\n"
    "      add(ckey, value, ts, ttl)\n"
    "    end\n"
    "    if found then\n"
    "      res = redis.call('HEXISTS', ikey, eid) == 1 and 2 or 0\n"
    "    else\n"
    "      add(ikey, eid, ts, ttl)\n"
    "      res = add(ckey, value, ts, ttl)\n"
    "    end\n"
    "  end\n"
    "  out[d] = res\n"
    "end\n"
    "local sl = {}\n"
    "for i, f in ipairs(firsts) do sl[i] = f[1] .. ' ' .. string.format('%d', starts[f[2]]) end\n"
    "return table.concat(out) .. '|' .. table.concat(sl, ' ')\n";

const char *const aw_redis_script_text[S_COUNT] = {HIT_LUA,     SNAPSHOT_LUA, POP_LUA,  SET_ADD_LUA,
                                                 FIRST_SEEN_LUA, MEMBER_LUA, DONE_LUA, META_LUA, WRITER_LUA,
                                                 FIXUP_LUA};
