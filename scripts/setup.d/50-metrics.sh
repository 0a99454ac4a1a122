#!/usr/bin/env bash
# Prometheus for `gaia-lab up --metrics` (Debian's package; the platform starts its own instance on 127.0.0.1 with a
# config of its own, and never uses the package's service). Without recommends: the node exporter is not needed.
set -euo pipefail
if ! command -v prometheus >/dev/null 2>&1 && [ ! -x /usr/bin/prometheus ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
