#!/usr/bin/env bash
# Installs the real STAC API servers the catalogue tests run against (tests/stac_servers.py), each in its own
# virtualenv so their pins never touch .venv:
#   .venv-pgstac          stac-fastapi-pgstac + pypgstac, on Debian's PostgreSQL + PostGIS
#   .venv-geoparquet      stac-fastapi-geoparquet + stac-geoparquet, on rustac's DuckDB with bundled extensions
#   .venv-stac-validator  stac-api-validator
# Idempotent: a venv whose stamp matches this script's pins is left alone. Usage: scripts/install-stac-servers.sh [ROOT]
set -euo pipefail
ROOT=$(cd "${1:-$(dirname "$0")/..}" && pwd)
PYTHON=${PYTHON:-python3}
log() { printf '[stac-servers %(%H:%M:%S)T] %s\n' -1 "$*"; }
started=$(date +%s)

# Exact pins: these servers break on newer releases of their own dependencies (see docs/stac-servers.md).
PGSTAC_PINS=(
  "stac-fastapi-pgstac==7.2.0" "pypgstac[psycopg]==0.10.0" "uvicorn==0.38.0"
  "stac-fastapi-api==7.0.0" "stac-fastapi-types==7.0.0" "stac-fastapi-extensions==7.0.0"
  "fastapi==0.165.0" "starlette==1.10.0" "pydantic==2.14.3"
)
GEOPARQUET_PINS=(
  # stac-fastapi-geoparquet 0.0.7 imports stac_fastapi.extensions.core.* (gone in 6.0), passes extra keyword
  # arguments to FastAPI() (refused by recent FastAPI) and stac-fastapi 5's CORS middleware fails on starlette 1.x.
  "stac-fastapi-geoparquet==0.0.7" "stac-fastapi.api==5.2.1" "stac-fastapi.types==5.2.1"
  "stac-fastapi.extensions==5.2.1" "fastapi==0.115.12" "starlette==0.46.2" "pydantic==2.14.3"
  # DuckDB cannot download its spatial extension offline: rustac-duckdb-extensions ships it for DuckDB 1.5.1,
  # which is the DuckDB that rustac 0.9.9 embeds.
  "rustac==0.9.9" "rustac-duckdb-extensions==1.5.1.post0"
  "stac-geoparquet==0.8.3" "uvicorn==0.54.0"
)
VALIDATOR_PINS=("stac-api-validator==0.6.8" "stac-validator==4.1.2" "pystac==1.15.2")

# PostgreSQL + PostGIS from Debian: PostGIS for the installed PostgreSQL, else the newest pair apt knows.
pg_major() { ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1; }
major=$(pg_major)
if [ -z "$major" ] || [ ! -f "/usr/share/postgresql/$major/extension/postgis.control" ]; then
  log "installing PostgreSQL + PostGIS (apt)"
  t=$(date +%s)
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if [ -n "$major" ]; then
    candidate="postgresql-$major-postgis-3"  # PostGIS for the PostgreSQL already there
  else
    candidate=$(apt-cache search --names-only '^postgresql-[0-9]+-postgis-3$' | awk '{print $1}' | sort -V | tail -1)
  fi
  if [ -z "$candidate" ] || ! apt-cache show "$candidate" >/dev/null 2>&1; then
    echo "no PostGIS package '${candidate:-postgresql-N-postgis-3}' known to apt" >&2
    exit 1
  fi
  apt-get install -y -qq --no-install-recommends "$candidate" postgresql-common >/dev/null
  major=$(pg_major)
  log "apt: $candidate in $(( $(date +%s) - t )) s"
fi
log "PostgreSQL $("/usr/lib/postgresql/$major/bin/postgres" --version | awk '{print $3}') with PostGIS"

VENV_STAMP=.stac-servers-pins
# shellcheck source=lib/pinned-venv.sh
source "$(dirname "$0")/lib/pinned-venv.sh"

make_venv .venv-pgstac "${PGSTAC_PINS[@]}"
make_venv .venv-geoparquet "${GEOPARQUET_PINS[@]}"
make_venv .venv-stac-validator "${VALIDATOR_PINS[@]}"

# Fail here, not in the tests, when an install is broken.
"$ROOT/.venv-pgstac/bin/python" -c "import stac_fastapi.pgstac.app, pypgstac" >/dev/null 2>&1 \
  || "$ROOT/.venv-pgstac/bin/python" -c "import stac_fastapi.pgstac.app, pypgstac"
"$ROOT/.venv-geoparquet/bin/python" -c "
import rustac, rustac_duckdb_extensions, stac_geoparquet.arrow, stac_fastapi.geoparquet.api
rustac.DuckdbClient(extension_directory=str(rustac_duckdb_extensions.extension_directory()),
                    install_extensions=False, extensions=['spatial', 'icu', 'parquet'])"
"$ROOT/.venv-stac-validator/bin/stac-api-validator" --version >/dev/null
log "STAC API servers ready in $(( $(date +%s) - started )) s"
