#!/usr/bin/env bash
# The platform's non-Python parts: configurable-http-proxy (npm, pinned by package-lock.json) and, for the
# browser test, Debian's Chromium (Playwright drives it; no browser download).
set -euo pipefail
ROOT=$1
cd "$ROOT"
if [ ! -x node_modules/.bin/configurable-http-proxy ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
if ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
