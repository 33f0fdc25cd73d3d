#!/usr/bin/env bash
# Builds the sgevents wheel into dist/: the release binary packaged by maturin (`bindings = "bin"`).
#   bash scripts/wheel.sh           manylinux_2_28 x86_64, linked with zig against glibc 2.28
#   bash scripts/wheel.sh --plain   this machine's linker (tagged for this machine's glibc)
# Build tools (maturin, ziglang from PyPI) go into target/wheel-venv, never into .venv.
# The release build has its own target dir (target/wheel), so it never locks the debug builds.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-zig}
tools="maturin==1.16.0 ziglang==0.17.1"
venv=target/wheel-venv
if [[ ! -x $venv/bin/maturin ]] || [[ "$(cat "$venv/.tools" 2>/dev/null)" != "$tools" ]]; then
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $tools
  echo "$tools" >"$venv/.tools"
fi
export PATH="$PWD/$venv/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/wheel}"
out=dist/.build-$$
rm -rf "$out"
case $mode in
  zig) maturin build --release --locked --zig --compatibility manylinux_2_28 --out "$out" ;;
  --plain | plain) maturin build --release --locked --compatibility linux --out "$out" ;;
  *) echo "usage: bash scripts/wheel.sh [--plain]" >&2; exit 2 ;;
esac
wheel=$(ls "$out"/*.whl)
mv "$wheel" dist/
rmdir "$out"
echo "dist/$(basename "$wheel")"
