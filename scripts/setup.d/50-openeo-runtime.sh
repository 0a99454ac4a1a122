#!/usr/bin/env bash
# The openEO graph runtime (the `openeo-graph` process) in the development venv and the sessions' venv, where
# processes build their Dask graphs. Runs after 35-session-env.sh, which rebuilds .venv-sessions from the lock.
set -euo pipefail
cd "$1"
bash scripts/install-openeo-runtime.sh .venv
if [ -x .venv-sessions/bin/python ]; then
  bash scripts/install-openeo-runtime.sh .venv-sessions
  chmod -R go-w .venv-sessions
fi
