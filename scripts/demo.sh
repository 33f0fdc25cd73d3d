#!/usr/bin/env bash
# Runs the demo: a local site emulator with live studio activity (and a busy site's late and
# missing event ids), and the daemon running the example plugins against it, plus two faulty
# ones to act on. Sets up .venv (shotgun-api3) on first use. Ctrl-C stops it; its config,
# state and logs stay in the folder it names.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/python ]]; then
    echo "demo: creating .venv with shotgun-api3 (first run only)..."
fi
bash scripts/venv.sh
if [[ ! -x target/debug/sgevents ]]; then
    echo "demo: building sgevents; the first build takes a few minutes (cargo's progress follows)..."
else
    echo "demo: checking the sgevents build..."
fi
cargo build --locked --bin sgevents
echo "demo: starting the site emulator, the daemon and the example plugins..."
exec target/debug/sgevents demo --python "$PWD/.venv/bin/python" "$@"
