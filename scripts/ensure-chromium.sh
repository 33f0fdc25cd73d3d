#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the status page browser test, once.
# Idempotent: does nothing when /usr/bin/chromium already runs.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && chromium --version >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-chromium: chromium is missing and installing it needs root (apt-get install -y chromium)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
chromium --version
