#!/usr/bin/env bash
# Checks contrib/prometheus/alerts.yml and runs its unit tests with promtool (Debian package
# `prometheus`). Skips, saying so, when promtool is not installed.
set -euo pipefail
cd "$(dirname "$0")/../contrib/prometheus"
if ! command -v promtool >/dev/null 2>&1; then
    echo "check-alerts: SKIPPED, promtool is not installed (apt-get install -y prometheus)" >&2
    exit 0
fi
promtool check rules alerts.yml
promtool test rules alerts.test.yml
# Every query of the Grafana dashboard must parse: each becomes a recording rule for promtool.
rules="$(mktemp --suffix=.yml)"
trap 'rm -f "$rules"' EXIT
python3 - ../grafana/sgevents.json "$rules" <<'PY'
import json, sys
dashboard = json.load(open(sys.argv[1]))
rules = [
    {"record": "dashboard:panel%d_%s" % (panel["id"], target["refId"]),
     "expr": target["expr"].replace("$instance", ".*")}
    for panel in dashboard["panels"] for target in panel["targets"]
]
json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[2], "w"))
PY
promtool check rules "$rules"
