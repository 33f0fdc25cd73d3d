#!/usr/bin/env bash
# Runs the demo: a local site emulator with live studio activity, and the daemon running the
# example plugins against it. Sets up .venv (shotgun-api3) on first use. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
exec cargo run --quiet --locked --bin sgevents -- demo --python "$PWD/.venv/bin/python" "$@"
