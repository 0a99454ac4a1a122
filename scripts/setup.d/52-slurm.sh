#!/usr/bin/env bash
# Debian's Slurm (slurmctld, slurmd, client commands) and munge for the HPC backend and its tests, plus sudo, through
# which the HPC gateway submits jobs as each user's own account. Nothing is started or configured system-wide here:
# gaia_lab.platform.slurm runs its own daemons from a private directory.
set -euo pipefail
missing=()
for binary in slurmctld slurmd sbatch munged sudo; do
  command -v "$binary" >/dev/null 2>&1 || [ -x "/usr/sbin/$binary" ] || missing+=("$binary")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge sudo >/dev/null
fi
