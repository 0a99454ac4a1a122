#!/usr/bin/env bash
# Real metadata catalogues for the CSW / OGC API - Records tests (pycsw, pygeoapi), each in its own venv.
set -euo pipefail
bash "$1/scripts/install-catalogue-servers.sh" "$1"
