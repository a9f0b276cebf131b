#!/usr/bin/env bash
# kiln.server.SoakTest for longer than CI runs it (CI: 40 s): load and faults on the default model, then the checks
# (queue and running set empty, KV slots whole, heap flat, every answer its client's own). The report line (requests,
# duration, status counts, heap before/after) is printed and kept in the report file.
#   scripts/soak.sh [SECONDS=600] [REPORT=target/soak-report.txt]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
report=${2:-target/soak-report.txt}
mkdir -p "$(dirname "$report")"
KILN_SKIP_CUDA=${KILN_SKIP_CUDA:-1} ./kiln test -q -Dtest=SoakTest -Dsurefire.failIfNoSpecifiedTests=false \
  -Dsoak.seconds="$seconds" -Dsoak.report="$(pwd)/$report"
cat "$report"
echo
