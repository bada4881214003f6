#!/bin/sh
# demo.sh [AUDITWATCH_BIN] - run the shipped rules over the bundled demo data.
#
# tests/data/demo/ holds ten minutes of a small company's traffic: the
# auth.log of its Linux hosts and the audit log of its Kubernetes cluster,
# benign background (people at work, cron, Ansible, CI, scanners, the
# cluster's own requests) with one attack injected per shipped rule.
# labels.jsonl lists the alerts those attacks must raise.  The files come
# from `gen scenario` (fixed seed and start; bench/README.md has the
# command that regenerates them).  Alerts are printed as text, one line
# each; the summary goes to stderr.
set -eu
cd "$(dirname "$0")/.."
bin=${1:-build/auditwatch}
demo=tests/data/demo
echo "=== auditwatch replay -c config/auditwatch.yaml --year 2026 --format text $demo/auth.log $demo/k8s-audit.jsonl"
"$bin" replay -c config/auditwatch.yaml --year 2026 --format text \
    "$demo/auth.log" "$demo/k8s-audit.jsonl"
echo
echo "For JSON alerts (one object per line), leave out --format text:" \
     "$bin replay -c config/auditwatch.yaml --year 2026 $demo/auth.log $demo/k8s-audit.jsonl | jq ."
