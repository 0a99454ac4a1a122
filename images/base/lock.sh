#!/usr/bin/env bash
# Regenerates images/base/requirements.lock from pyproject.toml (gaia-lab[all]) and images/base/constraints.txt:
# exact pins with hashes for the image's platform (CPython 3.11, manylinux x86_64), so `pip install
# --require-hashes` installs the same bytes on every build. Needs `uv` (pip install uv) and access to PyPI.
#
#   images/base/lock.sh              # keep existing pins where still valid
#   images/base/lock.sh --upgrade    # move everything to the newest allowed releases
set -euo pipefail
cd "$(dirname "$0")/../.."
UV=${UV:-uv}
command -v "$UV" >/dev/null || UV=.venv/bin/uv
"$UV" pip compile pyproject.toml \
  --extra all \
  --constraint images/base/constraints.txt \
  --python-version 3.11 \
  --python-platform x86_64-manylinux_2_28 \
  --generate-hashes \
  --custom-compile-command "images/base/lock.sh" \
  --quiet \
  --output-file images/base/requirements.lock \
  "$@"
echo "wrote images/base/requirements.lock ($(grep -c '^[a-z0-9]' images/base/requirements.lock) pins)"
