#!/usr/bin/env bash
# Creates .venv with shotgun-api3 and the test tools, once. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.requirements
if [[ -x .venv/bin/python && -f $stamp ]] && cmp -s python/requirements.txt "$stamp"; then
  exit 0
fi
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r python/requirements.txt
cp python/requirements.txt "$stamp"
