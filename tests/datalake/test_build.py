"""The demo data lake: real data in the formats hubs serve, valid STAC, idempotent and fast on a second build."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pystac
import pytest
import rasterio
import xarray as xr
from rio_cogeo.cogeo import cog_validate

from gaia_lab.datalake import build_lake
from gaia_lab.datalake import sources as lake_sources
from gaia_lab.errors import DataBuildError

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / ".venv-stac-validator" / "bin" / "python"
HUBS = {"odatis": "ocean", "aeris": "atmosphere", "theia": "land", "formater": "solid-earth", "climeri": "climate"}

# stac-validator with the core STAC and GeoJSON schemas read from pystac's copies (no network here); extension
# schemas cannot be fetched offline and are reported as not checked.
VALIDATE = r"""
import json, sys
import stac_validator.utilities as utilities
from pystac.validation.local_validator import get_local_schema_cache
from stac_validator.validate import StacValidate
local, fetch, skipped = get_local_schema_cache(), utilities._schema_cache, set()
def offline(path):
    if path in local:
        return dict(local[path])
    if not path.startswith(("http://", "https://")):
        return dict(fetch(path))
    skipped.add(path)
    return {}
utilities._schema_cache = offline
validator = StacValidate(sys.argv[1], recursive=True)
ok = validator.run()
print(json.dumps({"ok": ok, "messages": validator.message, "skipped": sorted(skipped)}))
"""


def test_every_hub_has_a_catalog_of_real_data(lake_dir):
    for provider, hub in HUBS.items():
        catalog = pystac.Catalog.from_file(str(lake_dir / provider / "catalog.json"))
        assert catalog.extra_fields["gaia:hub"] == hub
        collections = list(catalog.get_collections())
        assert collections, provider
        for collection in collections:
            assert collection.license and collection.providers and collection.keywords, collection.id
            assert collection.extra_fields["gaia:hub"] == hub


@pytest.mark.skipif(not VALIDATOR.exists(), reason="run scripts/install-stac-servers.sh (stac-validator venv)")
@pytest.mark.parametrize("provider", sorted(HUBS))
def test_static_catalogs_pass_stac_validator(lake_dir, provider):
    result = subprocess.run(
        [str(VALIDATOR), "-c", VALIDATE, str(lake_dir / provider / "catalog.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    failures = [m for m in report["messages"] if not m.get("valid_stac")]
    assert report["ok"], failures[:3]
    assert len(report["messages"]) > 1  # the catalog and everything under it was validated
    assert not [s for s in report["skipped"] if "schemas.stacspec.org" in s or "geojson.org" in s]


def test_extension_fields_are_readable_by_pystac(lake_dir):
    """Offline, extension schemas cannot be fetched; pystac's extension classes check the fields instead."""
    from pystac.extensions.datacube import DatacubeExtension
    from pystac.extensions.projection import ProjectionExtension

    checked = 0
    for provider in HUBS:
        for collection in pystac.Catalog.from_file(str(lake_dir / provider / "catalog.json")).get_collections():
            if "zarr" in collection.assets:
                cube = DatacubeExtension.ext(collection)
                assert cube.dimensions and cube.variables
                asset = collection.assets["zarr"]
                if "virtual" in (asset.roles or ()):  # references to NetCDF files: no consolidated metadata
                    assert asset.extra_fields["gaia:virtual"]["format"] in ("icechunk", "kerchunk-json")
                else:
                    assert asset.extra_fields["xarray:open_kwargs"]["consolidated"] is True
                checked += 1
            for item in collection.get_items():
                proj = ProjectionExtension.ext(item)
                assert (proj.code or proj.wkt2) and proj.shape and proj.transform
                for asset in item.assets.values():
                    assert "nodata" in asset.extra_fields["raster:bands"][0]
                checked += 1
    assert checked > 60


def test_zarr_stores_in_both_formats_with_consolidated_metadata(lake_dir):
    stores = sorted(lake_dir.rglob("*.zarr"))
    formats = {}
    for store in stores:
        if (store / "zarr.json").exists():
            meta = json.loads((store / "zarr.json").read_text())
            assert meta["zarr_format"] == 3
            assert "consolidated_metadata" in meta, store
            formats[store.name] = 3
        else:
            assert (store / ".zmetadata").exists(), store
            formats[store.name] = 2
        xr.open_zarr(store, consolidated=True)  # opens from the consolidated metadata alone
    assert set(formats.values()) == {2, 3}


def test_rasters_are_valid_cogs_with_overviews_and_nodata(lake_dir):
    tifs = sorted(lake_dir.rglob("*.tif"))
    assert len(tifs) >= 57
    for tif in tifs:
        valid, errors, _ = cog_validate(str(tif), quiet=True)
        assert valid, (tif, errors)
        with rasterio.open(tif) as src:
            assert src.block_shapes[0] == (256, 256), tif  # tiled (rasterio calls a one-tile-wide image striped)
            assert src.nodata is not None or src.dtypes[0].startswith("float"), tif
            if min(src.width, src.height) > 512:
                assert src.overviews(1), tif


def test_time_steps_become_cog_items(lake_dir):
    collection = pystac.Collection.from_file(str(lake_dir / "odatis" / "ostia-sst-monthly" / "collection.json"))
    items = list(collection.get_items())
    assert len(items) == 54
    assert len({item.common_metadata.start_datetime for item in items}) == 54


def test_second_build_reuses_everything_and_is_fast(lake_dir):
    started = time.monotonic()
    report = build_lake(lake_dir)
    elapsed = time.monotonic() - started
    assert report.datasets
    assert not [d.collection for d in report.datasets if d.rebuilt]
    assert elapsed < 30, elapsed


def test_a_changed_source_rebuilds_only_its_dataset(tmp_path, monkeypatch):
    real = lake_sources.iris("E1_north_america.nc")
    copy = tmp_path / "E1_north_america.nc"
    copy.write_bytes(real.path.read_bytes())
    monkeypatch.setattr(
        lake_sources,
        "iris",
        lambda name: lake_sources.Source(
            copy
            if name == "E1_north_america.nc"
            else lake_sources.package_file(
                "iris-sample-data", "iris_sample_data", f"sample_data/{name}", "OGL-UK-3.0"
            ).path,
            "iris-sample-data",
            "OGL-UK-3.0",
        ),
    )
    lake = tmp_path / "lake"
    build_lake(lake)
    copy.touch()
    import os

    os.utime(copy, ns=(time.time_ns(), time.time_ns() + 10**9))
    rebuilt = {d.collection for d in build_lake(lake).datasets if d.rebuilt}
    assert rebuilt == {"sres-e1-tas"}


def test_a_missing_package_names_what_to_install():
    with pytest.raises(DataBuildError, match="pip install not-a-data-package"):
        lake_sources.package_file("not-a-data-package", "not_a_data_package", "x.nc", "none")


def test_cli_builds_and_reports(tmp_path, lake_dir):
    result = subprocess.run(
        [sys.executable, "-m", "gaia_lab.cli", "data", "build", "--dir", str(lake_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "odatis/ostia-sst" in result.stdout
    assert "up to date" in result.stdout
