"""The gaia-lab command, run as users run it: a real subprocess against the demo lake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def gaia_lab(*args, lake_dir, check=True):
    env = {**os.environ, "GAIA_LAB_CATALOG": str(lake_dir / "federation.yaml"), "GAIA_LAB_LAKE": str(lake_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "gaia_lab.cli", *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_search_prints_a_table_in_french_and_english(lake_dir):
    french = gaia_lab("search", "température de surface de la mer", "--hub", "ocean", lake_dir=lake_dir)
    english = gaia_lab("search", "sst", "--hub", "ocean", lake_dir=lake_dir)
    assert "odatis/ostia-sst" in french.stdout
    assert french.stdout.splitlines()[2:] == english.stdout.splitlines()[2:]  # same rows, different terms line


def test_search_json_has_entries_and_errors(lake_dir):
    out = gaia_lab("search", "relief", "--bbox", "-10,35,30,60", "--json", lake_dir=lake_dir)
    payload = json.loads(out.stdout)
    assert payload["entries"][0]["hub"] in ("solid-earth", "land")
    assert payload["errors"] == {}
    assert "surface_altitude" in payload["query_terms"]


def test_info_describes_the_cube_without_reading_pixels(lake_dir, lake_copy):
    for tif in (lake_copy / "formater").rglob("*.tif"):
        tif.write_bytes(b"")  # any pixel read would fail now
    env_lake = lake_copy
    out = gaia_lab("info", "formater/elevation-5min", "--json", lake_dir=env_lake)
    info = json.loads(out.stdout)
    cube = info["cube"]
    assert cube["dims"] == {"time": 1, "latitude": 2160, "longitude": 4320}
    assert cube["crs"] == "EPSG:4326"
    assert cube["variables"]["elevation"]["dtype"] == "float32"
    assert 2160 * 4320 * 4 <= cube["nbytes"] < 2160 * 4320 * 4 * 1.01  # the data, plus small coordinates
    text = gaia_lab("info", "odatis/ostia-sst", lake_dir=lake_dir).stdout
    assert "cube: dims" in text
    assert "sst" in text


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("info", "odatis/nope"), "no collection 'nope'"),
        (("search", "sst", "--bbox", "1,2,3"), "invalid bbox"),
        (("search", "--hub", "moon"), "unknown hub"),
        (("info", "odatis/ostia-sst", "--datetime", "1990"), "datetime"),
    ],
)
def test_bad_input_is_one_clear_line(lake_dir, args, words):
    result = gaia_lab(*args, lake_dir=lake_dir, check=False)
    assert result.returncode == 2
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_providers_lists_the_federation(lake_dir):
    out = gaia_lab("providers", lake_dir=lake_dir).stdout
    for name in ("odatis", "aeris", "theia", "formater", "climeri", "climeri-esm"):
        assert name in out


def _modules_after(code: str, **env_vars: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code`` (this checkout's gaia_lab first on the path)."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
    env.update(env_vars)
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


# What `gaia-lab --help` has no use for: array and raster stacks, catalogue and cube code, the platform's servers.
HEAVY = {
    "xarray",
    "pandas",
    "dask",
    "distributed",
    "rioxarray",
    "rasterio",
    "odc.stac",
    "pystac",
    "jupyterhub",
    "dask_gateway",
    "dask_gateway_server",
    "gaia_lab.catalog",
    "gaia_lab.cube",
}


def test_help_imports_nothing_heavy():
    code = (
        "import contextlib, io\n"
        "from gaia_lab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "assert 'search' in out.getvalue() and 'up' in out.getvalue(), out.getvalue()\n"
    )
    assert _modules_after(code) & HEAVY == set()


# What a search of local catalogues (the demo lake: static STAC and an intake-esm datastore) has no use for: the
# array stack, intake-esm's (pydantic, polars, pandas), HTTP clients and the platform.
SEARCH_UNNEEDED = (HEAVY - {"pystac", "gaia_lab.catalog"}) | {
    "numpy",
    "intake",
    "intake_esm",
    "polars",
    "pyarrow",
    "zarr",
    "requests",
    "fsspec",
    "gaia_lab.platform.api",
}


def test_search_imports_only_what_it_uses(lake_dir):
    # Dates, bboxes and the intake-esm datastore's rows are all read: entries of every provider, filtered in time.
    code = (
        "import contextlib, io\n"
        "from gaia_lab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    assert main(['search', 'temperature', '--datetime', '2000/2009', '--bbox', '-100,20,0,60']) == 0\n"
        "assert 'climeri/sres-a1b-tas' in out.getvalue(), out.getvalue()\n"
        "assert 'climeri-esm/SRES.MOHC.UM-6.05.A1B.mon' in out.getvalue(), out.getvalue()\n"
    )
    loaded = _modules_after(code, GAIA_LAB_CATALOG=str(lake_dir / "federation.yaml"))
    assert loaded & SEARCH_UNNEEDED == set()


def test_import_stays_light_and_extensions_register_when_their_targets_load():
    assert _modules_after("import gaia_lab") & HEAVY == set()
    # The ds.gaia accessor appears as soon as xarray is imported, whoever imports it, and results.explore() with the
    # catalogue; importlib.util.find_spec (an optional-dependency check) must not use the registration up.
    code = (
        "import importlib.util, gaia_lab as gl\n"
        "assert importlib.util.find_spec('xarray') is not None\n"
        "import xarray as xr\n"
        "assert xr.Dataset(attrs={'gaia:provider': 'p'}).gaia.provenance == {'provider': 'p'}\n"
        "assert callable(gl.SearchResults.explore) and callable(gl.open_datacube) and callable(gl.cluster)\n"
    )
    assert "gaia_lab.viz.accessor" in _modules_after(code)
    for first in ("from gaia_lab.catalog import open_catalog", "import gaia_lab.cube", "import xarray, gaia_lab"):
        code = (
            f"{first}\n"
            "import xarray as xr\n"
            "from gaia_lab.catalog import SearchResults\n"
            "assert xr.Dataset().gaia.provenance == {}, 'accessor missing'\n"
            "assert callable(SearchResults.explore), 'explore missing'\n"
        )
        _modules_after(code)
