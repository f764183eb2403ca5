#!/usr/bin/env bash
# Checks the monitoring assets in k8s/monitoring/: the rules file is valid (promtool check
# rules), every alert fires and stays quiet where its unit tests say (promtool test rules), and
# the rules, their tests, the dashboard and the README use only the metrics documented in
# docs/operations.md (plus the checker's own tests, which prove it fails on drift).
# Needs promtool (Debian: apt-get install prometheus) and Node.js. Exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if ! command -v promtool >/dev/null; then
  echo "tests/monitoring: promtool not found (Debian: apt-get install prometheus)" >&2
  exit 1
fi

cd "$root"
promtool check rules k8s/monitoring/alerts.yaml
promtool test rules tests/monitoring/alerts_test.yaml
node tests/monitoring/check-metric-names.mjs
node --test tests/monitoring/check-metric-names.test.mjs
