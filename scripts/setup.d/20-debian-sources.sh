#!/usr/bin/env bash
# Debian packages that carry real data for the demo lake (Landsat 7 ETM+ from r-cran-stars; the
# biodiversity tables of r-cran-ade4 and r-cran-vegan), unpacked into
# .cache/debian without installing R. Optional: the lake builds from PyPI data alone.
set -euo pipefail
ROOT=$1
bash "$ROOT/scripts/fetch-debian-sources.sh" "$ROOT/.cache/debian" || echo "Debian data sources unavailable; the lake is built from PyPI data only"
