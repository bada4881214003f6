#!/usr/bin/env bash
# bench_redis.sh - replay throughput with the Redis store against the
# memory store, round trips per batch, and Redis memory per live window.
#
#   bench/bench_redis.sh AUDITWATCH_BIN
#
# A redis-server (Debian's) is started on a free loopback port in a
# temporary folder, without persistence (a production server would add
# an append-only file; see README), and stopped at the end.
#
# 1. Throughput: the first BENCH_LINES (default 200,000) lines of the
#    generated auth log of bench_decode.sh (built here when absent),
#    replayed through all shipped rules, best of BENCH_RUNS runs each:
#      replay --store memory
#      replay --store redis://127.0.0.1:PORT --prefix bench-N
#    and the ratio.  The Redis run's summary gives round trips; events per
#    round trip follow.  (Target: >= 150,000 auth events/s; one round trip
#    per batch of >= 256 events.)
# 2. Memory: after a run whose keys are kept, Redis used_memory (minus the
#    empty server's) per live window and per window entry (a window is a
#    hash with a "g" field; its entries are its 16-hex-digit fields; the
#    payload batches they refer to are counted in the total).
# 3. Redis's own view of the last Redis run: INFO commandstats (calls and
#    microseconds per command; the scripts' inner commands are counted
#    too) and the server's CPU time for the run.
# Figures are printed and written to bench/out/results-redis.txt; nothing
# is asserted.
set -euo pipefail
export LC_ALL=C

[[ $# -eq 1 && -x $1 ]] || { echo "usage: $0 AUDITWATCH_BIN" >&2; exit 2; }
AW=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
OUT=$BENCH/out
RUNS=${BENCH_RUNS:-3}
LINES=${BENCH_LINES:-200000}
CC=${CC:-cc}
mkdir -p "$OUT"
cd "$ROOT"

"$CC" -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o "$OUT/gen" "$BENCH/gen.c"
AUTH=$OUT/auth-1M.log
[[ -s $AUTH ]] || "$OUT/gen" auth --lines 1000000 --seed 1 --start 2026-03-01T00:00:00Z > "$AUTH"
INPUT=$OUT/auth-redis-$LINES.log
[[ -s $INPUT ]] || head -n "$LINES" "$AUTH" > "$INPUT"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DIR=$(mktemp -d /tmp/aw-bench-redis-XXXXXX)
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save '' --appendonly no \
    --logfile "$DIR/redis.log" --daemonize yes --pidfile "$DIR/redis.pid"
trap 'kill "$(cat "$DIR/redis.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$DIR"' EXIT
for _ in $(seq 50); do redis-cli -p "$PORT" ping > /dev/null 2>&1 && break; sleep 0.1; done
URL=redis://127.0.0.1:$PORT
rcli() { redis-cli -p "$PORT" "$@"; }

elapsed() { # command... -> seconds (stdout discarded, stderr kept in $OUT/last.err)
    local t0 t1
    t0=$EPOCHREALTIME
    "$@" > /dev/null 2> "$OUT/last.err"
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
better() { awk -v t="$1" -v b="$2" 'BEGIN { exit !(b == "" || t < b) }'; }

{
printf '%-46s %9s %12s\n' "run ($LINES auth lines, all shipped rules)" "best s" "events/s"
printf '%s\n' "---------------------------------------------------------------------"
m="" r="" rt="" n=0
for i in $(seq "$RUNS"); do
    t=$(elapsed "$AW" replay -q -c config/auditwatch.yaml --source auth --year 2026 --store memory "$INPUT")
    if better "$t" "$m"; then m=$t; fi
    rcli flushall > /dev/null
    rcli config resetstat > /dev/null
    cpu0=$(rcli info cpu | awk -F: '/^used_cpu_(user|sys):/{s += $2} END {print s}')
    t=$(elapsed "$AW" replay -c config/auditwatch.yaml --source auth --year 2026 --store "$URL" \
        --prefix "bench-$i" "$INPUT")
    cpu1=$(rcli info cpu | awk -F: '/^used_cpu_(user|sys):/{s += $2} END {print s}')
    rcpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.2f", b - a}')
    rcli info commandstats | grep '^cmdstat' > "$OUT/commandstats-redis-$i.txt"
    if better "$t" "$r"; then
        best_cpu=$rcpu best_i=$i
        r=$t
        rt=$(grep -Eo '[0-9]+ round trips' "$OUT/last.err" | awk '{print $1}')
    fi
done
printf '%-46s %9s %12.0f\n' "replay --store memory" "$m" "$(awk -v n="$LINES" -v t="$m" 'BEGIN{print n/t}')"
printf '%-46s %9s %12.0f\n' "replay --store redis (local redis-server)" "$r" "$(awk -v n="$LINES" -v t="$r" 'BEGIN{print n/t}')"
printf '  ratio redis / memory: %.2fx\n' "$(awk -v m="$m" -v r="$r" 'BEGIN{print m/r}')"
printf '  round trips: %s for %s events (%.0f events per round trip)\n' "$rt" "$LINES" \
    "$(awk -v n="$LINES" -v t="$rt" 'BEGIN{print (t > 0) ? n/t : 0}')"
printf '  redis-server CPU during the best Redis run: %s s (%.1f us per event)\n' "$best_cpu" \
    "$(awk -v c="$best_cpu" -v n="$LINES" 'BEGIN{print c * 1e6 / n}')"
echo "  INFO commandstats of that run (calls, usec):"
sed -E 's/^cmdstat_([^:]*):calls=([0-9]*),usec=([0-9]*),.*/    \1 \2 \3/' "$OUT/commandstats-redis-$best_i.txt" |
    sort -k3 -n -r | awk '{printf "    %-16s %9d calls %9d us\n", $1, $2, $3}'

# Memory per live window: one more run, keys kept.
rcli flushall > /dev/null
base=$(rcli info memory | awk -F: '/^used_memory:/{print $2+0}')
"$AW" replay -q -c config/auditwatch.yaml --source auth --year 2026 --store "$URL" --prefix mem "$INPUT" > /dev/null
used=$(rcli info memory | awk -F: '/^used_memory:/{print $2+0}')
# windows and their entries, counted by the server in one script
read -r windows entries < <(rcli eval "
local cursor, w, e = '0', 0, 0
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = r[1]
  for _, k in ipairs(r[2]) do
    if redis.call('TYPE', k).ok == 'hash' and redis.call('HEXISTS', k, 'g') == 1 then
      w = w + 1
      for _, f in ipairs(redis.call('HKEYS', k)) do
        if #f == 16 then e = e + 1 end
      end
    end
  end
until cursor == '0'
return w .. ' ' .. e" 0 'mem:*:h' | tr -d '"')
keys=$(rcli dbsize)
echo
echo "Redis memory after the replay (keys kept until their TTL):"
printf '  used_memory %d bytes over the empty server, %d keys, %d windows, %d entries\n' \
    "$((used - base))" "$keys" "$windows" "$entries"
if [[ $windows -gt 0 && $entries -gt 0 ]]; then
    printf '  per live window: %.0f bytes; per window entry: %.0f bytes\n' \
        "$(awk -v u="$((used - base))" -v w="$windows" 'BEGIN{print u/w}')" \
        "$(awk -v u="$((used - base))" -v e="$entries" 'BEGIN{print u/e}')"
fi
} | tee "$OUT/results-redis.txt"
