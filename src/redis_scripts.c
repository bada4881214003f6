/*
 * redis_scripts.c - the Lua scripts of the Redis store (store_redis.c).
 *
 * Each window operation runs as one script (EVALSHA), so it is atomic on
 * the server; scripts take many windows or decisions at once so that a
 * batch costs few calls.  The key layout they assume is described at the
 * top of store_redis.c.  Times are integers in milliseconds (exact in
 * Lua's doubles), event identities 16 hex digits.
 */
#include "redis_scripts.h"

/* KEYS: w1 h1 w2 h2 ... (the windows of a batch); ARGV per window:
 * trim ttl group n, then n times (id time payload).  Returns per window
 * its new version ("v", counting every change to the window, so a
 * client can tell whether anyone else wrote since), then one code per
 * entry: 0 added, 1 already there, 2 already there and it completed the
 * alert that suppresses its group. */
static const char HIT_LUA[] =
    "local res = {}\n"
    "local a = 1\n"
    "for k = 1, #KEYS, 2 do\n"
    "  local w, h = KEYS[k], KEYS[k + 1]\n"
    "  local trim, ttl, group, n = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])\n"
    "  a = a + 4\n"
    "  res[#res + 1] = 0\n"
    "  local base = #res\n"
    "  local m, mread = nil, false\n"
    "  for i = 1, n do\n"
    "    local id = ARGV[a]\n"
    "    if redis.call('ZADD', w, 'NX', ARGV[a + 1], id) == 1 then\n"
    "      redis.call('HSET', h, id, ARGV[a + 2])\n"
    "      res[#res + 1] = 0\n"
    "    else\n"
    "      if not mread then m = redis.call('HGET', h, 'm'); mread = true end\n"
    "      local code = 1\n"
    "      if m then\n"
    "        local se, aid = string.match(m, '^%S+ %S+ %S+ (%S+) (%S+)$')\n"
    "        if se == id and aid ~= '-' then code = 2 end\n"
    "      end\n"
    "      res[#res + 1] = code\n"
    "    end\n"
    "    a = a + 3\n"
    "  end\n"
    "  local v = redis.call('HINCRBY', h, 'v', 1)\n"
    "  res[base] = v\n"
    "  if v == 1 then redis.call('HSET', h, 'g', group) end\n"
    "  if trim ~= '' then\n"
    "    local bound = '(' .. trim\n"
    "    local old = redis.call('ZRANGEBYSCORE', w, '-inf', bound, 'LIMIT', 0, 1000)\n"
    "    while #old > 0 do\n"
    "      redis.call('ZREM', w, unpack(old))\n"
    "      redis.call('HDEL', h, unpack(old))\n"
    "      old = redis.call('ZRANGEBYSCORE', w, '-inf', bound, 'LIMIT', 0, 1000)\n"
    "    end\n"
    "  end\n"
    "  redis.call('PEXPIRE', w, ttl)\n"
    "  redis.call('PEXPIRE', h, ttl)\n"
    "end\n"
    "return res\n";

/* KEYS: w1 h1 w2 h2 ...; ARGV: keep per window (ms before the cursor
 * still needed, '' = all).  Returns per window {} when it has no meta,
 * else {g, m, v, id, time, payload, ...}. */
static const char SNAPSHOT_LUA[] =
    "local out = {}\n"
    "for k = 1, #KEYS, 2 do\n"
    "  local w, h, keep = KEYS[k], KEYS[k + 1], ARGV[(k + 1) / 2]\n"
    "  local g = redis.call('HGET', h, 'g')\n"
    "  local r = {}\n"
    "  if g then\n"
    "    local m = redis.call('HGET', h, 'm') or ''\n"
    "    local from = '-inf'\n"
    "    local ct = string.match(m, '^(%S+) ')\n"
    "    if keep ~= '' and ct and ct ~= 'n' then from = '(' .. (tonumber(ct) - tonumber(keep)) end\n"
    "    r = {g, m, redis.call('HGET', h, 'v') or '0'}\n"
    "    local ents = redis.call('ZRANGEBYSCORE', w, from, '+inf', 'WITHSCORES')\n"
    "    local n = #ents / 2\n"
    "    for i = 1, n, 1000 do\n"
    "      local ids = {}\n"
    "      for j = i, math.min(n, i + 999) do ids[#ids + 1] = ents[2 * j - 1] end\n"
    "      local pl = redis.call('HMGET', h, unpack(ids))\n"
    "      for j = 1, #ids do\n"
    "        local x = i + j - 1\n"
    "        r[#r + 1] = ents[2 * x - 1]\n"
    "        r[#r + 1] = ents[2 * x]\n"
    "        r[#r + 1] = pl[j] or ''\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  out[#out + 1] = r\n"
    "end\n"
    "return out\n";

/* KEYS: pending claims members; ARGV: up_to limit ttl lateness me
 * stale_ms window_key_head window_key_tail (a group's hash key is head ..
 * group .. tail).  The groups due up to min(up_to, the slowest live instance's
 * watermark - lateness) move from pending to the claims (field: group,
 * value "instance time"), skipping groups another live instance holds.
 * Groups this instance claimed before and has not finished are handed
 * out again (a reply lost with the connection); claims of instances
 * silent for stale_ms go back to pending.  Returns {group, time,
 * version, ...} in (time, group) order - the version tells the caller
 * whether its own copy of the window is current - then the earliest time
 * left pending or '', '1' when more are due than were handed out, and
 * the bound the groups may be finalized up to (up_to, lowered by the
 * slowest live peer). */
static const char POP_LUA[] =
    "local tm = redis.call('TIME')\n"
    "local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)\n"
    "local stale = tonumber(ARGV[6])\n"
    "local function num(x)\n"
    "  if x == '+inf' then return math.huge elseif x == '-inf' then return -math.huge end\n"
    "  return tonumber(x)\n"
    "end\n"
    "local up = num(ARGV[1])\n"
    "local live = {}\n"
    "local mem = redis.call('HGETALL', KEYS[3])\n"
    "for i = 1, #mem, 2 do\n"
    "  local wm, beat = string.match(mem[i + 1], '^(%S+) (%S+)$')\n"
    "  if wm and now - tonumber(beat) <= stale then\n"
    "    live[mem[i]] = true\n"
    "    if mem[i] ~= ARGV[5] then\n"
    "      local lim = num(wm) - tonumber(ARGV[4])\n"
    "      if lim < up then up = lim end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local got = {}\n"
    "local held = {}\n"
    "local more = false\n"
    "local cl = redis.call('HGETALL', KEYS[2])\n"
    "for i = 1, #cl, 2 do\n"
    "  local owner, t = string.match(cl[i + 1], '^(%S+) (%S+)')\n"
    "  if owner == ARGV[5] then got[#got + 1] = {cl[i], tonumber(t)}\n"
    "  elseif live[owner] then held[cl[i]] = true\n"
    "  else\n"
    "    redis.call('ZADD', KEYS[1], 'LT', t, cl[i])\n"
    "    redis.call('HDEL', KEYS[2], cl[i])\n"
    "  end\n"
    "end\n"
    "if up > -math.huge then\n"
    "  local bound = up == math.huge and '+inf' or string.format('%d', up)\n"
    "  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', bound, 'WITHSCORES', 'LIMIT', 0, 4 * tonumber(ARGV[2]))\n"
    "  local taken, n = {}, 0\n"
    "  for i = 1, #due, 2 do\n"
    "    if n >= tonumber(ARGV[2]) then more = true; break end\n"
    "    if not held[due[i]] then\n"
    "      got[#got + 1] = {due[i], tonumber(due[i + 1])}\n"
    "      taken[#taken + 1] = due[i]\n"
    "      redis.call('HSET', KEYS[2], due[i], ARGV[5] .. ' ' .. due[i + 1])\n"
    "      n = n + 1\n"
    "    end\n"
    "  end\n"
    "  if #due == 8 * tonumber(ARGV[2]) then more = true end\n"
    "  if #taken > 0 then\n"
    "    redis.call('ZREM', KEYS[1], unpack(taken))\n"
    "    redis.call('PEXPIRE', KEYS[2], ARGV[3])\n"
    "  end\n"
    "end\n"
    "table.sort(got, function(a, b) return a[2] < b[2] or (a[2] == b[2] and a[1] < b[1]) end)\n"
    "local out = {}\n"
    "for i = 1, #got do\n"
    "  out[#out + 1] = got[i][1]\n"
    "  out[#out + 1] = string.format('%d', got[i][2])\n"
    "  out[#out + 1] = redis.call('HGET', ARGV[7] .. got[i][1] .. ARGV[8], 'v') or '0'\n"
    "end\n"
    "local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "out[#out + 1] = first[2] or ''\n"
    "out[#out + 1] = more and '1' or '0'\n"
    "if up == math.huge then out[#out + 1] = '+inf'\n"
    "elseif up == -math.huge then out[#out + 1] = '-inf'\n"
    "else out[#out + 1] = string.format('%d', up) end\n"
    "return out\n";

/* KEYS: claims; ARGV: me, then groups.  Releases this instance's claims
 * on the groups (a claim another instance took over stays its own). */
static const char DONE_LUA[] =
    "local prefix = ARGV[1] .. ' '\n"
    "for i = 2, #ARGV do\n"
    "  local v = redis.call('HGET', KEYS[1], ARGV[i])\n"
    "  if v and string.sub(v, 1, #prefix) == prefix then redis.call('HDEL', KEYS[1], ARGV[i]) end\n"
    "end\n"
    "return 0\n";

/* KEYS: members; ARGV: me watermark ttl.  Publishes this instance's
 * watermark with the server's time as its heartbeat; returns how many
 * instances are live (heard from within ARGV[4] ms). */
static const char MEMBER_LUA[] =
    "local tm = redis.call('TIME')\n"
    "local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. now)\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "local n = 0\n"
    "local mem = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #mem, 2 do\n"
    "  local beat = string.match(mem[i + 1], ' (%S+)$')\n"
    "  if beat and now - tonumber(beat) <= tonumber(ARGV[4]) then n = n + 1 end\n"
    "end\n"
    "return n\n";

/* KEYS: s; ARGV: member time ttl.  Returns 1 when the member is new. */
static const char SET_ADD_LUA[] =
    "local a = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "return a\n";

/* KEYS: learning cur prev intro (prev = cur without retention); ARGV:
 * time learning_ms ttl value event_id has_prev learning_ttl.  first_seen.c's logic
 * in one step: 0 silent, 1 new pair, 2 introduced by this event. */
static const char FIRST_SEEN_LUA[] =
    "local t = tonumber(ARGV[1])\n"
    "local start = tonumber(redis.call('HGET', KEYS[1], 'start') or '')\n"
    "if not start or t < start then\n"
    "  start = t\n"
    "  redis.call('HSET', KEYS[1], 'start', ARGV[1])\n"
    "end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[7])\n"
    "if t - start < tonumber(ARGV[2]) then\n"
    "  redis.call('HSETNX', KEYS[2], ARGV[4], ARGV[1])\n"
    "  redis.call('PEXPIRE', KEYS[2], ARGV[3])\n"
    "  return 0\n"
    "end\n"
    "local found = redis.call('HEXISTS', KEYS[2], ARGV[4]) == 1\n"
    "if not found and ARGV[6] == '1' and redis.call('HEXISTS', KEYS[3], ARGV[4]) == 1 then\n"
    "  found = true\n"
    "  redis.call('HSETNX', KEYS[2], ARGV[4], ARGV[1])\n"
    "  redis.call('PEXPIRE', KEYS[2], ARGV[3])\n"
    "end\n"
    "if found then\n"
    "  if redis.call('HEXISTS', KEYS[4], ARGV[5]) == 1 then return 2 end\n"
    "  return 0\n"
    "end\n"
    "redis.call('HSETNX', KEYS[4], ARGV[5], ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[4], ARGV[3])\n"
    "local added = redis.call('HSETNX', KEYS[2], ARGV[4], ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[3])\n"
    "return added\n";

const char *const aw_redis_script_text[S_COUNT] = {HIT_LUA, SNAPSHOT_LUA, POP_LUA,
                                                 SET_ADD_LUA, FIRST_SEEN_LUA, MEMBER_LUA, DONE_LUA};
