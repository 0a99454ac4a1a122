#!/usr/bin/env bash
# Installs the openEO API server's virtualenv, .venv-openeo-api: openeo-driver (Flask) pins xarray 2025.1 and
# pystac 1.8, which gaia-lab's stack cannot share, so the server (gaia_lab/openeo_api/server.py, run by path) lives
# apart and imports only openeo-driver, requests and the standard library; graphs run in the OGC API - Processes
# service's `openeo-graph` process (docs/openeo.md).
# Idempotent: a venv whose stamp matches these pins is left alone.
# Usage: scripts/install-openeo-api.sh [ROOT]   (the venv goes in ROOT, default the repository)
set -euo pipefail
ROOT=$(cd "${1:-$(dirname "$0")/..}" && pwd)
PYTHON=${PYTHON:-python3}
log() { printf '[openeo-api %(%H:%M:%S)T] %s\n' -1 "$*"; }

# 0.136.0a4 is the newest release on PyPI (pre-releases only since 0.135).
OPENEO_API_PINS=("openeo-driver==0.136.0a4" "openeo==0.52.0" "xarray==2025.1.1" "pystac==1.8.4" "Flask==3.1.3")

VENV_STAMP=.openeo-api-pins
# shellcheck source=lib/pinned-venv.sh
source "$(dirname "$0")/lib/pinned-venv.sh"

make_venv .venv-openeo-api "${OPENEO_API_PINS[@]}"
"$ROOT/.venv-openeo-api/bin/python" -W ignore -c "import openeo_driver.views, openeo_driver.users.auth, requests"
