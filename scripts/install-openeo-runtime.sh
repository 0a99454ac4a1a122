#!/usr/bin/env bash
# Installs the openEO graph runtime (scripts/openeo-runtime.txt: openeo-pg-parser-networkx and the dependencies of
# openeo-processes-dask's implementations that gaia-lab[all] lacks) into each virtualenv given, hashes checked,
# without dependency resolution (see the file for why). Idempotent: a venv whose stamp matches the file is left alone.
# Usage: scripts/install-openeo-runtime.sh VENV [VENV...]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REQUIREMENTS="$HERE/openeo-runtime.txt"
UV=${UV:-$HERE/../.venv/bin/uv}
command -v "$UV" >/dev/null || UV=uv
want=$(cat "$REQUIREMENTS" "$0" | sha256sum | cut -d' ' -f1)
for venv in "$@"; do
  stamp="$venv/.gaia-lab-openeo-runtime"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    continue
  fi
  "$UV" pip install --quiet --python "$venv/bin/python" --require-hashes --no-deps -r "$REQUIREMENTS"
  # Fail here, not in a job, when the runtime cannot import.
  "$venv/bin/python" -W ignore -c "import logging; logging.disable(logging.WARNING); import openeo_pg_parser_networkx, openeo_processes_dask.process_implementations"
  echo "$want" >"$stamp"
done
