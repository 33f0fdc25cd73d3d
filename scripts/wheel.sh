#!/usr/bin/env bash
# Builds the sgevents wheel into dist/: the binary packaged by maturin (`bindings = "bin"`).
#   bash scripts/wheel.sh          release, manylinux_2_28 x86_64: zig links against glibc 2.28
#   bash scripts/wheel.sh --plain  release, this machine's linker (needs this machine's glibc)
#   bash scripts/wheel.sh --dev    the debug build that scripts/test.sh already made, tagged
#                                  linux_x86_64: for the install test, not for shipping
# Build tools (maturin, ziglang from PyPI) go into target/wheel-venv, never into .venv.
# Release builds use target/wheel, so they never hold the lock of the debug builds.
# Prints the wheel's path.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-zig}
tools="maturin==1.16.0"
[[ $mode == zig ]] && tools="$tools ziglang==0.17.1"
venv=target/wheel-venv
if [[ ! -x $venv/bin/maturin ]] || ! grep -qxF "$tools" "$venv/.tools" 2>/dev/null; then
  [[ -x $venv/bin/python ]] || python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $tools
  echo "$tools" >>"$venv/.tools"
fi
export PATH="$PWD/$venv/bin:$PATH"
out=dist/.build-$$
rm -rf "$out"
case $mode in
  zig)
    CARGO_TARGET_DIR="$PWD/target/wheel" maturin build --release --locked --strip --zig \
      --compatibility manylinux_2_28 --out "$out" >&2 ;;
  --plain)
    CARGO_TARGET_DIR="$PWD/target/wheel" maturin build --release --locked --strip \
      --compatibility linux --out "$out" >&2 ;;
  --dev)
    maturin build --profile dev --locked --compatibility linux --out "$out" >&2 ;;
  *) echo "usage: bash scripts/wheel.sh [--plain|--dev]" >&2; exit 2 ;;
esac
mkdir -p dist
wheel=$(ls "$out"/*.whl)
mv -f "$wheel" dist/
rmdir "$out"
echo "dist/$(basename "$wheel")"
