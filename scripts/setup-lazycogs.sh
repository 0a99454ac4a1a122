#!/usr/bin/env bash
# The environment of the lazycogs peer in benchmarks/index_open.py: .venv-lazycogs, a venv of Python >= 3.12
# (lazycogs 0.7.0 needs it; the project's .venv is 3.11) with lazycogs and its DuckDB extensions, offline from
# extensions.duckdb.org.
#
# Pins: rustac's DuckdbClient LOADs spatial, icu and parquet when it is constructed, downloading them from
# extensions.duckdb.org unless an extension directory holds them. PyPI's duckdb-extension-* packages stop at 1.5.5
# and DuckDB refuses an extension built for another version; rustac 0.9.18 embeds DuckDB v1.5.6, rustac 0.9.17
# embeds v1.5.5: so rustac 0.9.17 with the 1.5.5 extension packages, laid out as DuckDB's extension directory
# (.venv-lazycogs/duckdb-extensions/v1.5.5/<platform>/<name>.duckdb_extension, symlinks into the packages).
#
# The interpreter: our own build under .cache/python3.13 if one is there, else python3.13/python3.12 on PATH or
# under $PYENV_ROOT/versions with the stdlib modules a venv and lazycogs need, else CPython 3.13.5 built from
# Debian's source tarball (python.org is not reachable here; about 5 minutes on 2 cores).
#
# Idempotent: a second run only checks a stamp and the extension links.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=$ROOT/.venv-lazycogs
VENV_STAMP=.lazycogs-pins
PYENV_ROOT=${PYENV_ROOT:-/root/.pyenv}
PREFIX=$ROOT/.cache/python3.13
PY_VERSION=3.13.5
PY_URL="http://deb.debian.org/debian/pool/main/p/python3.13/python3.13_${PY_VERSION}.orig.tar.xz"
PY_SHA256=93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640
DUCKDB_VERSION=v1.5.5 # the DuckDB rustac 0.9.17 embeds; the extension files must be built for exactly this one
PINS=(
  "lazycogs[dask]==0.7.0"
  "rustac[arrow]==0.9.17"
  "duckdb-extension-spatial==1.5.5"
  "duckdb-extension-icu==1.5.5"
  "duckdb-extension-parquet==1.5.5"
)
EXTENSIONS=(spatial icu parquet)
# ensurepip/venv: Debian's own python3.x lacks them unless python3.x-venv is installed.
CHECK='import sys, ssl, sqlite3, ctypes, lzma, bz2, zlib, ensurepip, venv; assert sys.version_info >= (3, 12)'
log() { printf '[setup-lazycogs %(%H:%M:%S)T] %s\n' -1 "$*"; }

case "$(uname -m)" in
  x86_64) PLATFORM=linux_amd64 ;;
  aarch64 | arm64) PLATFORM=linux_arm64 ;;
  *) echo "setup-lazycogs: no duckdb-extension wheels for $(uname -m)" >&2; exit 1 ;;
esac
EXTDIR=$VENV/duckdb-extensions/$DUCKDB_VERSION/$PLATFORM

links_ok() {
  local name
  for name in "${EXTENSIONS[@]}"; do [ -e "$EXTDIR/$name.duckdb_extension" ] || return 1; done
}

want=$(printf '%s\n' "${PINS[@]}")
if "$VENV/bin/python" -c 'import sys' 2>/dev/null && [ "$(cat "$VENV/$VENV_STAMP" 2>/dev/null)" = "$want" ] && links_ok; then
  log ".venv-lazycogs: up to date"
  exit 0
fi

usable() { [ -n "$1" ] && "$1" -c "$CHECK" >/dev/null 2>&1; }

build_python() {
  local work=$ROOT/.cache/python3.13-build
  local deps="build-essential pkg-config libssl-dev zlib1g-dev libbz2-dev liblzma-dev libsqlite3-dev libffi-dev
              libreadline-dev libncurses-dev libgdbm-dev uuid-dev xz-utils curl"
  local missing="" p
  for p in $deps; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    log "apt-get install:$missing"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
  fi
  mkdir -p "$work"
  local tarball=$work/python3.13_${PY_VERSION}.orig.tar.xz
  if ! echo "$PY_SHA256  $tarball" | sha256sum -c --status 2>/dev/null; then
    log "downloading $PY_URL"
    curl -fsSL --retry 3 -o "$tarball.part" "$PY_URL"
    mv "$tarball.part" "$tarball"
  fi
  echo "$PY_SHA256  $tarball" | sha256sum -c --quiet -
  rm -rf "$work/Python-$PY_VERSION"
  tar -C "$work" -xf "$tarball"
  log "building CPython $PY_VERSION into $PREFIX (logs in $work)"
  # No --enable-optimizations/--with-lto: they triple the build time, and the peer's time is in Rust and numpy.
  (
    cd "$work/Python-$PY_VERSION"
    ./configure --prefix="$PREFIX" --with-ensurepip=install >"$work/configure.log" 2>&1
    make -j"${JOBS:-2}" >"$work/make.log" 2>&1
    make install >"$work/install.log" 2>&1
  )
  if ! usable "$PREFIX/bin/python3.13"; then
    echo "setup-lazycogs: the built Python lacks a stdlib module, see $work/make.log" >&2
    exit 1
  fi
  rm -rf "$work"
}

find_python() {
  local candidate
  for candidate in "$PREFIX/bin/python3.13" "$(command -v python3.13 || true)" "$(command -v python3.12 || true)" \
    "$PYENV_ROOT"/versions/3.13*/bin/python3.13 "$PYENV_ROOT"/versions/3.12*/bin/python3.12; do
    if usable "$candidate"; then
      PYTHON=$candidate
      return 0
    fi
  done
  return 1
}

PYTHON=""
if ! find_python; then
  build_python
  PYTHON=$PREFIX/bin/python3.13
fi
log "interpreter: $PYTHON ($("$PYTHON" -c 'import sys; print(sys.version.split()[0])'))"

# A venv whose base interpreter is gone (a cleaned .cache, a removed pyenv version) cannot be repaired in place.
if [ -e "$VENV" ] && ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
  log "removing .venv-lazycogs: its interpreter does not run"
  rm -rf "$VENV"
fi
# shellcheck source=lib/pinned-venv.sh
source "$ROOT/scripts/lib/pinned-venv.sh"
make_venv .venv-lazycogs "${PINS[@]}"

mkdir -p "$EXTDIR"
for name in "${EXTENSIONS[@]}"; do
  source_file=$("$VENV/bin/python" -c "import duckdb_extension_$name as m, pathlib; print(pathlib.Path(m.__file__).parent)")
  source_file=$source_file/extensions/$DUCKDB_VERSION/$name.duckdb_extension
  [ -f "$source_file" ] || { echo "setup-lazycogs: $source_file missing" >&2; exit 1; }
  ln -sfn "$source_file" "$EXTDIR/$name.duckdb_extension"
done

# The client loads the three extensions at construction: it fails here, not in the benchmark, if they do not fit.
"$VENV/bin/python" -c "
import lazycogs, rustac
rustac.DuckdbClient(extension_directory='$VENV/duckdb-extensions', install_extensions=False)
"
log ".venv-lazycogs: ready"
