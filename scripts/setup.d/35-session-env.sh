#!/usr/bin/env bash
# The Python environment of the local platform's sessions (.venv-sessions): what user servers, kernels, Dask
# schedulers and workers of `gaia-lab up` run in the tests. It holds the notebook image's exact packages
# (images/base/requirements.lock, hashes checked) plus gaia-lab itself (editable), so the tests run what the image
# ships. It is made from the system's Python 3.11 because the accounts `gaia-lab up` creates as root must be able to
# run it: a Python under /root (pyenv) cannot be. Rebuilt when the lock or this script changes.
set -euo pipefail
ROOT=$1
cd "$ROOT"
umask 022
VENV=.venv-sessions
LOCK=images/base/requirements.lock
stamp="$VENV/.gaia-lab-lock"
want=$(cat "$LOCK" "$0" images/base/jupyter_server_config.json | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi
SESSION_PYTHON=${GAIA_LAB_SESSION_PYTHON:-/usr/bin/python3.11}
if [ ! -x "$SESSION_PYTHON" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends python3.11 >/dev/null
fi
rm -rf "$VENV"
"$SESSION_PYTHON" -m venv --without-pip "$VENV"
UV=.venv/bin/uv
"$UV" pip install --quiet --python "$VENV/bin/python" --require-hashes --no-deps -r "$LOCK"
"$UV" pip install --quiet --python "$VENV/bin/python" --no-deps -e .
# As in the image: the server extensions sessions do not use stay off.
mkdir -p "$VENV/etc/jupyter/jupyter_server_config.d"
cp images/base/jupyter_server_config.json "$VENV/etc/jupyter/jupyter_server_config.d/gaia-lab.json"
"$VENV/bin/python" -c "import gaia_lab.platform, jupyterhub, dask_gateway, distributed"
# uv leaves its lock file world-writable; nothing in the sessions' environment may be.
chmod -R go-w "$VENV"
echo "$want" >"$stamp"
