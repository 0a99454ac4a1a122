#!/usr/bin/env bash
# Unpacks Debian packages that ship real Earth-observation data (no installation, no R needed):
#   r-cran-stars   -> usr/lib/R/site-library/stars/tif/L7_ETMs.tif (Landsat 7 ETM+, 6 bands)
# Usage: scripts/fetch-debian-sources.sh DIR     (then GAIA_LAB_DEBIAN_SOURCES=DIR, or DIR=.cache/debian)
set -euo pipefail
DEST=${1:?usage: fetch-debian-sources.sh DIR}
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
if [ -f "$DEST/usr/lib/R/site-library/stars/tif/L7_ETMs.tif" ]; then
  echo "Debian data sources already in $DEST"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download r-cran-stars >/dev/null 2>&1; then
  apt-get update -qq
  apt-get download r-cran-stars >/dev/null
fi
for deb in ./*.deb; do dpkg-deb -x "$deb" "$DEST"; done
echo "unpacked $(ls ./*.deb | xargs -n1 basename) into $DEST"
