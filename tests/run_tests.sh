#!/bin/sh
# run_tests.sh BIN... - run Criterion test programs from the repository root
# and print one closing line "N passed, N failed".  AW_BIN names the
# auditwatch binary for tests that run the command line.
set -u
cd "$(dirname "$0")/.."
passed=0 failed=0
for t in "$@"; do
    echo "== $t"
    if "$t" --jobs=2 --short-filename; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAILED: $t"
    fi
done
echo "programs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
