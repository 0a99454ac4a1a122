#!/usr/bin/env bash
# Real STAC API servers for the federation tests (pgstac on PostgreSQL/PostGIS, geoparquet), each in its own venv.
set -euo pipefail
bash "$1/scripts/install-stac-servers.sh" "$1"
