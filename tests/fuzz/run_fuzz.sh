#!/bin/sh
# run_fuzz.sh SECONDS BIN... - run each libFuzzer target for SECONDS,
# starting from its seed folder (tests/fuzz/seeds/NAME) and keeping the
# grown corpus in tests/fuzz/corpus-run/NAME (ignored by git).  A crash
# fails the run and leaves the reproducer in build-fuzz/.
set -eu
cd "$(dirname "$0")/../.."
seconds=$1
shift
passed=0 failed=0
for bin in "$@"; do
    name=$(basename "$bin")
    seeds=tests/fuzz/seeds/${name#fuzz_}
    work=tests/fuzz/corpus-run/$name
    mkdir -p "$work"
    [ -d "$seeds" ] || seeds=
    echo "== fuzz $name for ${seconds}s"
    if "$bin" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix=build-fuzz/"$name"- -print_final_stats=0 "$work" $seeds 2>build-fuzz/"$name".log; then
        passed=$((passed + 1))
        tail -n 1 build-fuzz/"$name".log
    else
        failed=$((failed + 1))
        tail -n 40 build-fuzz/"$name".log
        echo "FAILED: $name (log: build-fuzz/$name.log)"
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
