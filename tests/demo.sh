#!/bin/sh
# demo.sh AUDITWATCH_BIN - normalize the bundled demo data and show it.
#
# Until the detection engine lands, the demo shows the first stage of the
# pipeline: every record of tests/data/demo/ becomes a normalized ECS event
# (stdout) or a rejection with its reason (stderr).
set -eu
cd "$(dirname "$0")/.."
bin=${1:-build/auditwatch}
for f in tests/data/demo/auth.log tests/data/demo/k8s-audit.jsonl; do
    echo "=== auditwatch normalize --year 2026 $f"
    "$bin" normalize --year 2026 "$f"
    echo
done
