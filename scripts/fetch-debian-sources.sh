#!/usr/bin/env bash
# Unpacks Debian packages that ship real data (no installation, no R needed):
#   r-cran-stars   -> usr/lib/R/site-library/stars/tif/L7_ETMs.tif (Landsat 7 ETM+, 6 bands)
#   r-cran-ade4    -> usr/lib/R/site-library/ade4/data/doubs.rda (fish of the Doubs river, 30 sites)
#   r-cran-vegan   -> usr/lib/R/site-library/vegan/data/{mite,mite.xy,mite.env,BCI,BCI.env}.rda
# Usage: scripts/fetch-debian-sources.sh DIR     (then GAIA_LAB_DEBIAN_SOURCES=DIR, or DIR=.cache/debian)
# Idempotent: packages already unpacked in DIR are not downloaded again.
set -euo pipefail
DEST=${1:?usage: fetch-debian-sources.sh DIR}
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
R_LIB=usr/lib/R/site-library
declare -A MARKER=(
  [r-cran-stars]="$R_LIB/stars/tif/L7_ETMs.tif"
  [r-cran-ade4]="$R_LIB/ade4/data/doubs.rda"
  [r-cran-vegan]="$R_LIB/vegan/data/BCI.env.rda"
)
missing=()
for package in r-cran-stars r-cran-ade4 r-cran-vegan; do
  [ -f "$DEST/${MARKER[$package]}" ] || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "Debian data sources already in $DEST"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download "${missing[@]}" >/dev/null 2>&1; then
  apt-get update -qq
  apt-get download "${missing[@]}" >/dev/null
fi
for deb in ./*.deb; do dpkg-deb -x "$deb" "$DEST"; done
echo "unpacked $(ls ./*.deb | xargs -n1 basename | tr '\n' ' ')into $DEST"
