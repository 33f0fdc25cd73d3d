#!/usr/bin/env bash
# The one lint gate: run identically by developers and by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
