#!/usr/bin/env bash
# Installs images/base/requirements.lock into a fresh virtualenv exactly as images/base/Dockerfile does
# (--require-hashes, then gaia-lab itself with --no-deps) and runs the image's smoke test in it. On success,
# records the lock's hash in images/base/requirements.lock.sha256 (see images/lock-changed.sh).
#
# Slow (a ~1.5 GB install): CI runs it only when the lock changed:  images/lock-changed.sh && images/check-lock.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
LOCK=images/base/requirements.lock
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
echo "[check-lock] fresh venv with $("$PYTHON" --version)"
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --require-hashes --no-deps -r "$LOCK" 2>&1 | { grep -v '^WARNING: Location' || true; }
"$work/venv/bin/pip" install --quiet --no-deps . 2>&1 | { grep -v '^WARNING: Location' || true; }
installed=$(date +%s)
"$work/venv/bin/pip" check
# As in the image: the venv's bin first on PATH, run from outside the source tree.
(cd "$work" && PATH="$work/venv/bin:$PATH" "$work/venv/bin/python" "$OLDPWD/images/base/smoke_test.py")
end=$(date +%s)
sha256sum "$LOCK" | cut -d' ' -f1 >"$LOCK.sha256"
echo "[check-lock] ok: install $((installed - start)) s, smoke test $((end - installed)) s, total $((end - start)) s"
