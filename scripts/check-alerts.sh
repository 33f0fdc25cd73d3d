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
