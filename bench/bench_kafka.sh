#!/usr/bin/env bash
# bench_kafka.sh - the stream job end to end on a real Kafka broker.
#
#   tests/services.sh bench/bench_kafka.sh AUDITWATCH_BIN     (make bench-kafka)
#
# Needs AW_KAFKA_BOOTSTRAP (tests/services.sh starts a broker and sets it).
# 1. Throughput: BENCH_KAFKA_LINES generated auth.log lines (default
#    300,000) produced once to a 3-partition topic, then, best of
#    BENCH_RUNS rounds each, interleaved:
#      kcat -C -e        the raw consume limit: every record to /dev/null
#      auditwatch run    all shipped rules, memory store (or, with
#                        BENCH_KAFKA_STORE=redis, a redis-server this
#                        script starts, a fresh prefix per round), a fresh consumer
#                        group: from its first consumed record until
#                        /metrics counts every record (after the batch
#                        that holds the last one was committed)
#    and the ratio auditwatch / kcat (target: >= 0.5).
# 2. Latency: `pace` produces 5,000 lines/s for BENCH_KAFKA_SECONDS
#    (default 20) through `kcat -P`; every 50th line creates a user (a
#    single-event rule alerts on it at once).  For each alert: the alert
#    record's timestamp minus the timestamp of the input record that
#    completed it (both set by their producers), p50 / p99 / max
#    (target: p99 <= 200 ms).
# Figures go to stdout and bench/out/results-kafka.txt; nothing is asserted.
set -euo pipefail
export LC_ALL=C

[[ $# -eq 1 && -x $1 ]] || { echo "usage: $0 AUDITWATCH_BIN (run through tests/services.sh)" >&2; exit 2; }
[[ -n ${AW_KAFKA_BOOTSTRAP:-} ]] || { echo "$0: AW_KAFKA_BOOTSTRAP not set: run it through tests/services.sh" >&2; exit 2; }
AW=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
OUT=$BENCH/out
B=$AW_KAFKA_BOOTSTRAP
RUNS=${BENCH_RUNS:-3}
LINES=${BENCH_KAFKA_LINES:-300000}
SECONDS_LAT=${BENCH_KAFKA_SECONDS:-20}
STORE_KIND=${BENCH_KAFKA_STORE:-memory}
[[ $STORE_KIND == memory || $STORE_KIND == redis ]] || { echo "$0: BENCH_KAFKA_STORE is memory or redis" >&2; exit 2; }
CC=${CC:-cc}
mkdir -p "$OUT"
cd "$ROOT"
"$CC" -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o "$OUT/gen" "$BENCH/gen.c"
"$CC" -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o "$OUT/pace" "$BENCH/pace.c"
work=$(mktemp -d /tmp/aw-bench-kafka-XXXXXX)
jobs_pids=()
cleanup() {
    for p in "${jobs_pids[@]}"; do kill "$p" 2> /dev/null || true; done
    [[ -f $work/redis.pid ]] && kill "$(cat "$work/redis.pid")" 2> /dev/null
    rm -rf "$work"
}
trap cleanup EXIT
tag=b$$-$(date +%s)
STORE=memory
if [[ $STORE_KIND == redis ]]; then # no persistence, as in bench_redis.sh
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --save '' --appendonly no \
        --logfile "$work/redis.log" --daemonize yes --pidfile "$work/redis.pid"
    for _ in $(seq 50); do redis-cli -p "$port" ping > /dev/null 2>&1 && break; sleep 0.1; done
    STORE=redis://127.0.0.1:$port
fi

data=$OUT/kafka-auth-$LINES.log
[[ -s $data ]] || "$OUT/gen" auth --lines "$LINES" --seed 7 --start 2026-03-01T00:00:00Z > "$data"
# keyless records: librdkafka spreads them over the topic's 3 partitions
kcat -b "$B" -P -t "in-$tag" -l "$data"
n_in=$(kcat -b "$B" -C -t "in-$tag" -e -q -f 'x\n' | wc -l)
[[ $n_in -eq $LINES ]] || { echo "$0: produced $n_in of $LINES records" >&2; exit 1; }

# the job's configuration: shipped rules, the store, this topic
config() { # TOPIC GROUP ALERTS
    sed -e "s|brokers: .*|brokers: $B|" -e "s|group: .*|group: $2|" \
        -e "s|backend: memory |backend: $STORE |" -e "s|prefix: auditwatch |prefix: aw-$2 |" \
        -e "s|topic: host-auth|topic: $1|" -e '/topic: k8s-audit/d' \
        -e "s|alerts_topic: .*|alerts_topic: $3|" -e "s|dead_letter_topic: .*|dead_letter_topic: $3-dead|" \
        -e "s|paths: \[rules\]|paths: [$ROOT/config/rules]|" \
        -e "s|path: service-map.yaml|path: $ROOT/config/service-map.yaml|" \
        "$ROOT/config/auditwatch.yaml"
}

metric_sum() { # PORT NAME: the sum of a family's series in /metrics
    curl -sf --max-time 5 "http://127.0.0.1:$1/metrics" |
        awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%d\n", s }'
}

start_job() { # CONFIG LOG -> sets job_pid, job_port
    "$AW" run -c "$1" --metrics 127.0.0.1:0 -q 2> "$2" &
    job_pid=$!
    jobs_pids+=("$job_pid")
    job_port=""
    for _ in $(seq 200); do
        job_port=$(sed -n 's/.*healthz on port \([0-9]*\).*/\1/p' "$2" | head -1)
        [[ -n $job_port ]] && return 0
        sleep 0.05
    done
    echo "$0: the job did not start: $(cat "$2")" >&2
    exit 1
}

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

best_kcat="" best_aw="" all_kcat="" all_aw=""
for round in $(seq "$RUNS"); do
    t0=$(now)
    kcat -b "$B" -C -t "in-$tag" -e -q -o beginning > /dev/null
    t=$(elapsed "$t0" "$(now)")
    all_kcat+=" $t"
    if [[ -z $best_kcat ]] || awk -v t="$t" -v b="$best_kcat" 'BEGIN { exit !(t < b) }'; then best_kcat=$t; fi

    config "in-$tag" "g-$tag-$round" "alerts-$tag-$round" > "$work/run.yaml"
    # the alerts topic exists, as in production (auto-creating it at the
    # first alert would hold the first batches back for a second)
    echo '{"warm-up": true}' | kcat -b "$B" -P -t "alerts-$tag-$round"
    start_job "$work/run.yaml" "$work/run-$round.err"
    first=""
    while :; do
        got=$(metric_sum "$job_port" auditwatch_records_total || echo 0)
        if [[ -z $first && $got -gt 0 ]]; then first=$(now); fi
        [[ $got -ge $LINES ]] && break
        kill -0 "$job_pid" 2> /dev/null || { echo "$0: the job died: $(cat "$work/run-$round.err")" >&2; exit 1; }
        sleep 0.02
    done
    t=$(elapsed "$first" "$(now)")
    all_aw+=" $t"
    kill -TERM "$job_pid"
    wait "$job_pid" || true
    if [[ -z $best_aw ]] || awk -v t="$t" -v b="$best_aw" 'BEGIN { exit !(t < b) }'; then best_aw=$t; fi
done

# latency at a steady 5,000 lines/s
config "lat-$tag" "g-lat-$tag" "alerts-lat-$tag" > "$work/lat.yaml"
# the topics exist (as in production: auto-creating the alerts topic at the
# first alert would be measured otherwise) and the job has read from its
# input before the clock starts (100 warm-up lines, no user among them)
"$OUT/pace" 100 1 1000 | kcat -b "$B" -P -t "lat-$tag"
echo '{"warm-up": true}' | kcat -b "$B" -P -t "alerts-lat-$tag"
start_job "$work/lat.yaml" "$work/lat.err"
for _ in $(seq 400); do
    [[ $(metric_sum "$job_port" auditwatch_records_total || echo 0) -ge 100 ]] && break
    sleep 0.05
done
"$OUT/pace" 5000 "$SECONDS_LAT" 50 | kcat -b "$B" -P -t "lat-$tag" -X linger.ms=1
sleep 3
kill -TERM "$job_pid"
wait "$job_pid" || true
kcat -b "$B" -C -J -t "lat-$tag" -e -q |
    jq -r 'select(.payload | test("new user")) | [(.payload | capture("name=(?<n>bench-u[0-9]+)").n), .ts] | @tsv' |
    sort > "$work/in.tsv"
kcat -b "$B" -C -J -t "alerts-lat-$tag" -e -q |
    jq -r '(.payload | fromjson) as $a | select($a.rule.name? == "auth.user_created") | [$a.user.name, .ts] | @tsv' |
    sort > "$work/alerts.tsv"
join -t $'\t' "$work/in.tsv" "$work/alerts.tsv" | awk -F'\t' '{ print $3 - $2 }' | sort -n > "$work/lat.txt"
n_lat=$(wc -l < "$work/lat.txt")
n_want=$(wc -l < "$work/in.tsv")
pct() { awk -v p="$1" '{ v[NR] = $1 } END { if (!NR) { print "n/a"; exit } i = int(p * NR + 0.999); if (i < 1) i = 1; print v[i] }' "$work/lat.txt"; }

{
printf 'auditwatch bench-kafka (%s records, broker %s, this machine: %s cores)\n' "$LINES" "$B" "$(nproc)"
printf '%-48s %9s %12s\n' "consumer" "best s" "records/s"
printf '%s\n' "----------------------------------------------------------------------"
printf '%-48s %9s %12.0f\n' "kcat -C -e (raw consume)" "$best_kcat" "$(awk -v n="$LINES" -v t="$best_kcat" 'BEGIN { print n / t }')"
printf '%-48s %9s %12.0f\n' "auditwatch run (all rules, $STORE_KIND store)" "$best_aw" "$(awk -v n="$LINES" -v t="$best_aw" 'BEGIN { print n / t }')"
printf 'every round, s: kcat%s; auditwatch%s\n' "$all_kcat" "$all_aw"
printf 'ratio auditwatch / kcat: %.2f (target >= 0.5)\n\n' "$(awk -v a="$best_aw" -v k="$best_kcat" 'BEGIN { print k / a }')"
printf 'latency at 5,000 lines/s for %s s: %s of %s expected alerts\n' "$SECONDS_LAT" "$n_lat" "$n_want"
printf '  event-to-alert p50 %s ms, p99 %s ms, max %s ms (target p99 <= 200 ms)\n' "$(pct 0.5)" "$(pct 0.99)" "$(pct 1.0)"
} | tee "$OUT/results-kafka.txt"
