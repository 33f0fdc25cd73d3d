#!/usr/bin/env bash
# Runs every test: the Rust workspace, then the Python suite against the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
bash scripts/ensure-chromium.sh   # the status page is tested in headless Chromium
export SGEVENTS_PYTHON="$PWD/.venv/bin/python"
cargo build --locked --bin sgevents
export SGEVENTS_BIN="$PWD/target/debug/sgevents"
cargo test --workspace --locked
.venv/bin/python -m pytest -q tests/python
bash scripts/check-alerts.sh       # contrib/prometheus/alerts.yml with promtool, if installed
