#!/usr/bin/env bash
# Benchmarks sgevents (and upstream shotgunEvents when UPSTREAM_SGEVENTS points at a checkout).
# Usage: bash scripts/bench.sh [--quick] [--reps N] [--events N] [--rate R] [--only SECTIONS]
#        [--instructions] [--profile] [--work-dir DIR]   (all options: scripts/bench/run.py --help)
# Builds release binaries, then runs scripts/bench/run.py; results go to bench-results/.
# See BENCHMARKS.md. Never run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    bash scripts/venv.sh
fi
cargo build --release --bin sgevents
cargo build --release -p sgevents-daemon --example native_catchup
exec .venv/bin/python scripts/bench/run.py "$@"
