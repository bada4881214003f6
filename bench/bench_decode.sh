#!/usr/bin/env bash
# bench_decode.sh - decode throughput of `auditwatch normalize`, side by side
# with the tools that bound it.
#
#   bench/bench_decode.sh AUDITWATCH_BIN
#
# On the same two generated files (cached in bench/out/, regenerated when
# gen.c changes):
#   auth-1M.log       1,000,000 auth.log lines (RFC 3164), ~110 MB
#   audit-200k.jsonl  200,000 k8s audit events (JSON Lines), ~240 MB
# it times, best of BENCH_RUNS (default 3) runs each, in interleaved rounds
# (every command once per round, so noise on a shared machine hits all):
#   cat FILE > /dev/null                        the read limit
#   auditwatch normalize --source auth|k8s      what we measure
#   sshg-parser < auth file                     sshguard's attack parser
#   jansson_loop audit file                     getline + json_loadb + json_decref
# and prints one table (also written to bench/out/results-decode.txt) with
# MB/s, lines/s, peak RSS, and the ratios auditwatch/sshguard and
# auditwatch/jansson.  auditwatch also runs on files 10x smaller so that
# the RSS columns show whether memory grows with input.
#
# Timings are reported, never asserted.  Nothing is downloaded: the tools
# are the ones `make deps` installs; a missing one gives an "n/a" row.
# The script exits 1 only when auditwatch itself fails on an input.
set -euo pipefail
export LC_ALL=C # '.' as decimal point in $EPOCHREALTIME and awk output

usage() {
    echo "usage: $0 AUDITWATCH_BIN" >&2
    echo "  env: BENCH_RUNS=N (default 3), CC (default cc)," >&2
    echo "       BENCH_RSS_TOOL=gnu-time|wrapper (default: gnu-time when /usr/bin/time exists)" >&2
    exit 2
}
[[ $# -eq 1 && $1 != -h && $1 != --help ]] || usage
[[ -x $1 ]] || { echo "bench_decode: $1 is not an executable" >&2; exit 2; }

AW=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$BENCH/out
RUNS=${BENCH_RUNS:-3}
CC=${CC:-cc}
CFLAGS=(-std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE)
SSHG=/usr/libexec/sshguard/sshg-parser

AUTH=$OUT/auth-1M.log
AUTH_SMALL=$OUT/auth-100k.log
K8S=$OUT/audit-200k.jsonl
K8S_SMALL=$OUT/audit-20k.jsonl
RESULTS=$OUT/results-decode.txt
GEN_SEED=1
GEN_START=2026-03-01T00:00:00Z

say() { echo "bench_decode: $*" >&2; }

mkdir -p "$OUT"

# --- build the helpers ---------------------------------------------------

say "building gen, rss, jansson_loop"
"$CC" "${CFLAGS[@]}" -o "$OUT/gen" "$BENCH/gen.c"
"$CC" "${CFLAGS[@]}" -o "$OUT/rss" "$BENCH/rss.c"
HAVE_JANSSON=0
if pkg-config --exists jansson 2>/dev/null; then
    # word splitting of pkg-config output is intended
    # shellcheck disable=SC2046
    "$CC" "${CFLAGS[@]}" $(pkg-config --cflags jansson) -o "$OUT/jansson_loop" \
        "$BENCH/jansson_loop.c" $(pkg-config --libs jansson)
    HAVE_JANSSON=1
else
    say "jansson development files not found (libjansson-dev): no jansson row"
fi
HAVE_SSHG=0
[[ -x $SSHG ]] && HAVE_SSHG=1 || say "$SSHG not found (Debian package sshguard): no sshguard row"

RSS_TOOL=${BENCH_RSS_TOOL:-}
if [[ -z $RSS_TOOL ]]; then
    [[ -x /usr/bin/time ]] && RSS_TOOL=gnu-time || RSS_TOOL=wrapper
fi
[[ $RSS_TOOL == gnu-time || $RSS_TOOL == wrapper ]] || usage

# --- input files, cached --------------------------------------------------

# The stamp names everything the bytes depend on; a change regenerates.
stamp="$(sha256sum "$BENCH/gen.c" | cut -d' ' -f1) seed=$GEN_SEED start=$GEN_START"
if [[ ! -s $AUTH || ! -s $K8S || ! -s $AUTH_SMALL || ! -s $K8S_SMALL ||
      "$(cat "$OUT/data.stamp" 2>/dev/null || true)" != "$stamp" ]]; then
    say "generating $AUTH and $K8S (once; cached in $OUT)"
    rm -f "$OUT/data.stamp"
    "$OUT/gen" auth --lines 1000000 --seed "$GEN_SEED" --start "$GEN_START" > "$AUTH.tmp"
    "$OUT/gen" k8s --events 200000 --seed "$GEN_SEED" --start "$GEN_START" > "$K8S.tmp"
    head -n 100000 "$AUTH.tmp" > "$AUTH_SMALL"
    head -n 20000 "$K8S.tmp" > "$K8S_SMALL"
    mv "$AUTH.tmp" "$AUTH"
    mv "$K8S.tmp" "$K8S"
    echo "$stamp" > "$OUT/data.stamp"
fi

file_bytes() { stat -c %s "$1"; }
file_lines() { wc -l < "$1" | tr -d ' '; }

# --- measuring ------------------------------------------------------------

# measure_once KEY
# One timed run of case KEY (see add_case), stdin from its input, stdout to
# /dev/null, stderr to $OUT/KEY.stderr.  Keeps in BEST_S[KEY] the fastest
# wall time (seconds), in PEAK_KB[KEY] the largest peak RSS over the runs
# (KiB), and in STATUS[KEY] 0 or the exit status of its first failing run,
# after which the case is not run again.
declare -A BEST_S PEAK_KB STATUS INPUT
measure_once() {
    local key=$1
    local -n cmd="CMD_$key"
    ((STATUS[$key] == 0)) || return 0
    local secs kb rc=0 t0 t1
    if [[ $RSS_TOOL == gnu-time ]]; then
        t0=$EPOCHREALTIME
        /usr/bin/time -f '%M' -o "$OUT/.rss" "${cmd[@]}" < "${INPUT[$key]}" > /dev/null \
            2> "$OUT/$key.stderr" || rc=$?
        t1=$EPOCHREALTIME
        secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
        kb=$(tail -n 1 "$OUT/.rss")
    else
        "$OUT/rss" "$OUT/.rss" "${cmd[@]}" < "${INPUT[$key]}" > /dev/null 2> "$OUT/$key.stderr" || rc=$?
        read -r secs kb _ < "$OUT/.rss"
    fi
    if ((rc != 0)); then
        STATUS[$key]=$rc
        return 0
    fi
    if [[ -z ${BEST_S[$key]} ]] || awk -v a="$secs" -v b="${BEST_S[$key]}" 'BEGIN { exit !(a < b) }'; then
        BEST_S[$key]=$secs
    fi
    ((kb > PEAK_KB[$key])) && PEAK_KB[$key]=$kb
    return 0
}

# add_case KEY STDIN COMMAND...   (the command goes to the array CMD_KEY)
add_case() {
    local key=$1
    INPUT[$key]=$2
    shift 2
    declare -g -a "CMD_$key"
    local -n cmd="CMD_$key"
    cmd=("$@")
    BEST_S[$key]="" PEAK_KB[$key]=0 STATUS[$key]=0
}

# run_interleaved KEY...
# Times the cases in rounds, every case once per round, $RUNS rounds.  On a
# shared machine a slow spell then slows runs of every case alike instead of
# all runs of the one case that happened to be timed during it; each case
# still reports its best run.
run_interleaved() {
    local i key
    for ((i = 1; i <= RUNS; i++)); do
        say "round $i of $RUNS: $*"
        for key in "$@"; do
            measure_once "$key"
        done
    done
}

# Rows of the table, kept to compute the ratios afterwards.
declare -A ROW_LPS ROW_MBS ROW_RSS
TABLE=""
FAILED=0

# add_row KEY LABEL FILE   (after its case was timed)
add_row() {
    local key=$1 label=$2 file=$3 bytes lines
    bytes=$(file_bytes "$file")
    lines=$(file_lines "$file")
    if ((STATUS[$key] != 0)); then
        TABLE+=$(printf '%-36s %-17s %s' "$label" "$(basename "$file")" \
            "FAILED (exit ${STATUS[$key]}, see bench/out/$key.stderr)")$'\n'
        FAILED=1
        return
    fi
    local best=${BEST_S[$key]} peak=${PEAK_KB[$key]}
    ROW_LPS[$key]=$(awk -v l="$lines" -v s="$best" 'BEGIN { printf "%.0f", l / s }')
    ROW_MBS[$key]=$(awk -v b="$bytes" -v s="$best" 'BEGIN { printf "%.1f", b / 1e6 / s }')
    ROW_RSS[$key]=$(awk -v k="$peak" 'BEGIN { printf "%.1f", k / 1024 }')
    TABLE+=$(awk -v label="$label" -v f="$(basename "$file")" -v s="$best" \
        -v mbs="${ROW_MBS[$key]}" -v lps="${ROW_LPS[$key]}" -v rss="${ROW_RSS[$key]}" '
        function group(n,   s) { s = sprintf("%d", n); while (s ~ /[0-9]{4}/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s); return s }
        BEGIN { printf "%-36s %-17s %8.3f %9s %12s %10s", label, f, s, mbs, group(lps), rss }')$'\n'
}

na_row() { # LABEL FILE REASON
    TABLE+=$(printf '%-36s %-17s n/a (%s)' "$1" "$(basename "$2")" "$3")$'\n'
}

# auth.log: auditwatch against the read limit and sshguard
add_case cat_auth /dev/null cat "$AUTH"
add_case aw_auth /dev/null "$AW" normalize --source auth --year 2026 "$AUTH"
add_case aw_auth_small /dev/null "$AW" normalize --source auth --year 2026 "$AUTH_SMALL"
auth_cases=(cat_auth aw_auth aw_auth_small)
if ((HAVE_SSHG)); then
    add_case sshguard "$AUTH" "$SSHG"
    auth_cases+=(sshguard)
fi
say "timing the auth.log cases, best of $RUNS interleaved rounds"
run_interleaved "${auth_cases[@]}"
add_row cat_auth "cat (read limit)" "$AUTH"
add_row aw_auth "auditwatch normalize --source auth" "$AUTH"
add_row aw_auth_small "  same, 10x smaller input" "$AUTH_SMALL"
if ((HAVE_SSHG)); then
    add_row sshguard "sshguard sshg-parser" "$AUTH"
else
    na_row "sshguard sshg-parser" "$AUTH" "sshguard not installed"
fi
TABLE+=$'\n'

# audit events: auditwatch against the read limit and a bare jansson loop
add_case cat_k8s /dev/null cat "$K8S"
add_case aw_k8s /dev/null "$AW" normalize --source k8s "$K8S"
add_case aw_k8s_small /dev/null "$AW" normalize --source k8s "$K8S_SMALL"
k8s_cases=(cat_k8s aw_k8s aw_k8s_small)
if ((HAVE_JANSSON)); then
    add_case jansson /dev/null "$OUT/jansson_loop" "$K8S"
    k8s_cases+=(jansson)
fi
say "timing the audit-event cases, best of $RUNS interleaved rounds"
run_interleaved "${k8s_cases[@]}"
add_row cat_k8s "cat (read limit)" "$K8S"
add_row aw_k8s "auditwatch normalize --source k8s" "$K8S"
add_row aw_k8s_small "  same, 10x smaller input" "$K8S_SMALL"
if ((HAVE_JANSSON)); then
    add_row jansson "jansson loop (parse+free)" "$K8S"
else
    na_row "jansson loop (parse+free)" "$K8S" "libjansson-dev not installed"
fi

# --- decode sanity: how many records became events ------------------------

# One untimed run on each small file: a decoder that rejects everything
# would look fast, so the table says what share of the input it decoded.
sanity() { # SOURCE FILE EXTRA_ARGS...
    local src=$1 file=$2 events rejected
    shift 2
    events=$("$AW" normalize --source "$src" "$@" "$file" 2> "$OUT/sanity-$src.stderr" | wc -l) ||
        { echo "  $src: auditwatch failed on $(basename "$file")"; FAILED=1; return 0; }
    rejected=$(grep -c '^{"error"' "$OUT/sanity-$src.stderr" || true)
    printf '  %-5s %s: %s records -> %s events, %s rejected\n' "$src" "$(basename "$file")" \
        "$(file_lines "$file")" "$events" "$rejected"
}

# --- report ---------------------------------------------------------------

ratio() { # A B -> A/B with 2 decimals, or n/a
    if [[ -n ${1:-} && -n ${2:-} ]]; then
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'
    else
        echo "n/a"
    fi
}

percent() { # A B -> 100*A/B with 2 decimals, or n/a
    if [[ -n ${1:-} && -n ${2:-} ]]; then
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f%%", 100 * a / b }'
    else
        echo "n/a"
    fi
}

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
aw_version=$("$AW" --version 2>/dev/null | head -n 1 || true)
sshg_version=$(dpkg-query -W -f '${Version}' sshguard 2>/dev/null || echo "not installed")
jansson_version=$(pkg-config --modversion jansson 2>/dev/null || echo "not installed")

{
    echo "auditwatch decode benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine:  $(uname -srm), ${cpu:-unknown CPU}, $(nproc) cores"
    echo "versions: ${aw_version:-auditwatch ?}; sshguard $sshg_version; jansson $jansson_version;" \
        "$("$CC" --version | head -n 1)"
    echo "inputs:   $(basename "$AUTH") $(file_lines "$AUTH") lines, $(file_bytes "$AUTH") bytes;" \
        "$(basename "$K8S") $(file_lines "$K8S") events, $(file_bytes "$K8S") bytes" \
        "(avg $(awk -v b="$(file_bytes "$K8S")" -v n="$(file_lines "$K8S")" 'BEGIN { printf "%.0f", b / n }') B/event)"
    echo "method:   best of $RUNS interleaved wall-clock runs, stdout to /dev/null, warm page cache;" \
        "MB = 10^6 bytes; RSS = peak resident set (MiB, via $RSS_TOOL)"
    echo
    printf '%-36s %-17s %8s %9s %12s %10s\n' "tool" "input" "best s" "MB/s" "lines/s" "RSS MiB"
    printf '%s\n' "$(printf '%.0s-' {1..97})"
    printf '%s' "$TABLE"
    echo
    echo "ratios (higher = auditwatch faster):"
    echo "  auditwatch auth / sshguard     $(ratio "${ROW_LPS[aw_auth]:-}" "${ROW_LPS[sshguard]:-}")  (lines/s)"
    echo "  auditwatch k8s  / jansson loop $(ratio "${ROW_LPS[aw_k8s]:-}" "${ROW_LPS[jansson]:-}")  (lines/s)"
    echo "share of the read limit (auditwatch MB/s / cat MB/s):"
    echo "  auth $(percent "${ROW_MBS[aw_auth]:-}" "${ROW_MBS[cat_auth]:-}"),  k8s $(percent "${ROW_MBS[aw_k8s]:-}" "${ROW_MBS[cat_k8s]:-}")"
    echo "peak RSS, full input / 10x smaller input (about 1.00x = memory does not grow with input):"
    echo "  auth  ${ROW_RSS[aw_auth]:-n/a} MiB / ${ROW_RSS[aw_auth_small]:-n/a} MiB = $(ratio "${ROW_RSS[aw_auth]:-}" "${ROW_RSS[aw_auth_small]:-}")"
    echo "  k8s   ${ROW_RSS[aw_k8s]:-n/a} MiB / ${ROW_RSS[aw_k8s_small]:-n/a} MiB = $(ratio "${ROW_RSS[aw_k8s]:-}" "${ROW_RSS[aw_k8s_small]:-}")"
    echo "decode coverage (untimed run on the small files):"
    sanity auth "$AUTH_SMALL" --year 2026
    sanity k8s "$K8S_SMALL"
} > "$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
cat "$RESULTS"
say "written to $RESULTS"
exit "$FAILED"
