#!/usr/bin/env bash
# The openEO API server's own virtualenv (openeo-driver's pins conflict with .venv).
set -euo pipefail
bash "$1/scripts/install-openeo-api.sh" "$1"
