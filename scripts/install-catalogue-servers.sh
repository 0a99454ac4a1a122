#!/usr/bin/env bash
# Installs the real metadata catalogues the CSW and OGC API - Records tests run against (tests/catalogue_servers.py),
# each in its own virtualenv so their pins never touch .venv:
#   .venv-pycsw     pycsw 2.6.2 (OGC CSW 2.0.2 + 3.0, on SQLite), run by gaia_lab/datalake/pycsw.py
#   .venv-pygeoapi  pygeoapi 0.21.0 (OGC API - Records through its TinyDB catalogue provider)
# Idempotent: a venv whose stamp matches this script's pins is left alone.
# Usage: scripts/install-catalogue-servers.sh [ROOT]   (venvs go in ROOT, default the repository; the tests look in
# $GAIA_LAB_STAC_SERVERS_ROOT, else the repository)
set -euo pipefail
ROOT=$(cd "${1:-$(dirname "$0")/..}" && pwd)
PYTHON=${PYTHON:-python3}
log() { printf '[catalogue-servers %(%H:%M:%S)T] %s\n' -1 "$*"; }
started=$(date +%s)

# pycsw 2.6.2 needs SQLAlchemy 1.x (it uses the 1.x engine API; requirements-standalone.txt leaves it unpinned).
PYCSW_PINS=("pycsw==2.6.2" "SQLAlchemy==1.4.54" "OWSLib==0.28.1")
PYGEOAPI_PINS=("pygeoapi==0.21.0" "tinydb==4.9.0")

VENV_STAMP=.catalogue-servers-pins
# shellcheck source=lib/pinned-venv.sh
source "$(dirname "$0")/lib/pinned-venv.sh"

make_venv .venv-pycsw "${PYCSW_PINS[@]}"
make_venv .venv-pygeoapi "${PYGEOAPI_PINS[@]}"

# Fail here, not in the tests, when an install is broken.
"$ROOT/.venv-pycsw/bin/python" -W ignore -c "import pycsw.server, pycsw.wsgi, pycsw.core.admin, sqlalchemy"
"$ROOT/.venv-pygeoapi/bin/python" -c "import pygeoapi.provider.tinydb_"
"$ROOT/.venv-pygeoapi/bin/pygeoapi" --version >/dev/null
log "catalogue servers ready in $(( $(date +%s) - started )) s"
