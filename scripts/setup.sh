#!/usr/bin/env bash
# Installs everything GAIA Lab needs on a fresh Debian machine with Python 3.11+, node/npm and pip:
# the Python virtualenv (.venv) with gaia-lab[dev], configurable-http-proxy, Debian packages used by tests
# (PostgreSQL/PostGIS, Chromium), helm, the STAC API servers' own virtualenvs, and the Debian data sources.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
log() { printf '[setup %(%H:%M:%S)T] %s\n' -1 "$*"; }
# This machine's pip config names local package indexes that may not exist; drop its warnings, keep the rest.
pip_quiet() { "$@" 2> >(grep -v "^WARNING: Location 'file:///" >&2); }

if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.gaia-lab-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ images/base/constraints.txt -nt "$stamp" ]; then
  log "installing gaia-lab[dev] into .venv"
  pip_quiet .venv/bin/pip install --quiet --upgrade pip wheel
  # The image's constraints (its JupyterHub): the platform tests run the hub the images are made for.
  pip_quiet .venv/bin/pip install --quiet -e ".[dev]" --constraint images/base/constraints.txt
  touch "$stamp"
fi

if [ "${GAIA_LAB_SETUP_MINIMAL:-0}" != "1" ]; then
  for script in scripts/setup.d/*.sh; do
    [ -e "$script" ] || continue
    log "running $script"
    bash "$script" "$ROOT"
  done
fi
log "done"
