"""The async-tiff reader gives the GDAL reader's cube bit for bit (same dtype, NaN where no data, same chunks and
graph), decodes what it can, says why GDAL read the rest, and fails on bad input as the GDAL path does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.transform import from_origin

import gaia_lab as gl
from benchmarks.cog_corpus import collection
from gaia_lab.cube import async_tiff_reads, stac_index
from gaia_lab.errors import AssetError, InvalidQuery
from tests.cube.test_stac_index import lake_items


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    async_tiff_reads.FALLBACKS.clear()
    async_tiff_reads.DECODED.clear()


def values(ds: xr.Dataset) -> dict[str, np.ndarray]:
    with dask.config.set(scheduler="threads", num_workers=2):
        return {name: ds[name].values for name in ds.data_vars}


def assert_same_cube(gdal: xr.Dataset, rust: xr.Dataset) -> None:
    assert list(gdal.data_vars) == list(rust.data_vars)
    for name in gdal.data_vars:
        assert gdal[name].dtype == rust[name].dtype
        assert gdal[name].data.chunks == rust[name].data.chunks
        # the same graph: one task per chunk and the same layers, only the reader differs
        assert len(gdal[name].data.__dask_graph__()) == len(rust[name].data.__dask_graph__())
    xr.testing.assert_identical(gdal.drop_vars(list(gdal.data_vars)), rust.drop_vars(list(rust.data_vars)))
    expected, got = values(gdal), values(rust)
    for name, array in expected.items():
        # bit for bit: NaN payloads included
        assert array.tobytes() == got[name].tobytes(), name


LAKE_CASES = [
    ("odatis/ostia-sst-monthly", {}),  # float32, floating-point predictor, partial tiles (18 x 432 pixels)
    ("odatis/ostia-sst-monthly", {"bbox": (-30, -4, 0, 4), "chunks": {"time": 7, "y": 5, "x": 13}}),
    ("formater/elevation-5min", {}),  # int16 with a nodata sentinel -> float32 and NaN, 17 x 9 tiles
    ("formater/elevation-5min", {"bbox": (-7.3, 41.1, 11.9, 52.2), "chunks": {"y": 50, "x": 70}}),
    ("theia/land-mask-europe", {}),  # uint8, four tiles on four grids in one time step (fused)
    ("theia/land-mask-europe", {"chunks": {"y": 300, "x": 1000}}),
]


@pytest.mark.parametrize(("entry", "query"), LAKE_CASES)
def test_lake_cogs_read_bit_for_bit_as_gdal_reads_them(lake_catalog, entry, query):
    gdal = lake_catalog[entry].to_xarray(reader="gdal", **query)
    rust = lake_catalog[entry].to_xarray(reader="async-tiff", **query)
    assert_same_cube(gdal, rust)
    assert async_tiff_reads.DECODED, "no source was decoded by async-tiff"
    assert not async_tiff_reads.FALLBACKS, dict(async_tiff_reads.FALLBACKS)


def test_benchmark_corpus_reads_bit_for_bit_with_edge_chunks(lake_dir):
    catalog = gl.open_catalog({"providers": [{"name": "bench", "hub": "land", "url": str(collection(lake_dir, 100))}]})
    entry = catalog["bench/cogs-100"]
    for chunks in (None, {"time": 7, "y": 200, "x": 300}):
        gdal = entry.to_xarray(reader="gdal", chunks=chunks)
        rust = entry.to_xarray(reader="async-tiff", chunks=chunks)
        assert_same_cube(gdal, rust)
    # every source into every chunk: 100 files x (1 chunk, then 2 x 3 chunks of 200 x 300 over 512 x 512)
    assert async_tiff_reads.DECODED["reads"] == 100 + 600
    assert not async_tiff_reads.FALLBACKS


def test_a_reprojected_cube_is_read_by_gdal_and_says_why(lake_catalog):
    query: dict[str, Any] = {"crs": "EPSG:3035", "resolution": 5000}
    gdal = lake_catalog["theia/land-mask-europe"].to_xarray(reader="gdal", **query)
    rust = lake_catalog["theia/land-mask-europe"].to_xarray(reader="async-tiff", **query)
    assert_same_cube(gdal, rust)
    assert set(async_tiff_reads.FALLBACKS) == {"needs reprojection, resampling or an overview"}
    assert not async_tiff_reads.DECODED


def test_a_striped_file_in_a_user_defined_crs_is_read_by_gdal(lake_catalog):
    gdal = lake_catalog["aeris/meteosat-bt108"].to_xarray(reader="gdal")
    rust = lake_catalog["aeris/meteosat-bt108"].to_xarray(reader="async-tiff")
    assert_same_cube(gdal, rust)
    assert set(async_tiff_reads.FALLBACKS) == {"CRS not given as an EPSG code"}


def write_item(folder: Path, name: str, data: np.ndarray, **profile: Any) -> Path:
    """A GeoTIFF of ``data`` (bands, rows, cols) on a 0.01-degree grid, and a STAC item describing it."""
    bands, rows, cols = data.shape
    west, north, step = 2.0, 48.0, 0.01
    tif = folder / f"{name}.tif"
    options = {"driver": "GTiff", "width": cols, "height": rows, "count": bands, "dtype": data.dtype.name}
    options |= {"crs": "EPSG:4326", "transform": from_origin(west, north, step, step)}
    with rasterio.open(tif, "w", **(options | profile)) as dst:
        dst.write(data)
    east, south = west + cols * step, north - rows * step
    band_meta = {"data_type": data.dtype.name, **({"nodata": profile["nodata"]} if "nodata" in profile else {})}
    item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        ],
        "id": name,
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
        },
        "bbox": [west, south, east, north],
        "properties": {
            "datetime": "2024-01-01T00:00:00Z",
            "proj:code": "EPSG:4326",
            "proj:shape": [rows, cols],
            "proj:transform": [step, 0.0, west, 0.0, -step, north],
        },
        "links": [],
        "assets": {
            "data": {
                "href": tif.name,
                "type": "image/tiff; application=geotiff",
                "roles": ["data"],
                "raster:bands": [band_meta] * bands,
            }
        },
    }
    path = folder / f"{name}.json"
    path.write_text(json.dumps(item))
    return path


def random_data(dtype: str, shape: tuple[int, int, int]) -> np.ndarray:
    rng = np.random.default_rng(7)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is None:
        return rng.normal(size=shape).astype(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


TILED = {"tiled": True, "blockxsize": 256, "blockysize": 256}
FILES = [
    # name, dtype, bands, creation options, reason GDAL reads it (None: async-tiff decodes it)
    ("uint16-zstd", "uint16", 1, {**TILED, "compress": "zstd", "nodata": 0}, None),
    ("int8-lzw-predictor", "int8", 1, {**TILED, "compress": "lzw", "predictor": 2}, None),
    ("float64-deflate", "float64", 1, {**TILED, "compress": "deflate", "predictor": 3}, None),
    ("rgb-pixel-interleaved", "uint8", 3, {**TILED, "compress": "deflate", "interleave": "pixel"}, None),
    ("rgb-band-interleaved", "uint8", 3, {**TILED, "compress": "lzw", "interleave": "band"}, None),
    ("int32-with-nodata", "int32", 1, {**TILED, "compress": "deflate", "nodata": -1}, "int32 to float32 may round"),
    ("striped", "float32", 1, {"compress": "deflate"}, "not tiled (strips)"),
    ("jpeg", "uint8", 1, {**TILED, "compress": "jpeg"}, "compression ModernJPEG"),
]


@pytest.mark.parametrize(("name", "dtype", "bands", "profile", "reason"), FILES, ids=[f[0] for f in FILES])
def test_sample_types_layouts_and_compressions(tmp_path, name, dtype, bands, profile, reason):
    item = write_item(tmp_path, name, random_data(dtype, (bands, 600, 700)), **profile)
    for chunks in (None, {"y": 250, "x": 333}):
        gdal = gl.open_datacube(str(item), reader="gdal", chunks=chunks)
        rust = gl.open_datacube(str(item), reader="async-tiff", chunks=chunks)
        assert_same_cube(gdal, rust)
    if reason is None:
        assert async_tiff_reads.DECODED and not async_tiff_reads.FALLBACKS
    else:
        assert not async_tiff_reads.DECODED
        assert any(why.startswith(reason) for why in async_tiff_reads.FALLBACKS), dict(async_tiff_reads.FALLBACKS)


def test_a_truncated_file_fails_naming_its_href(tmp_path):
    item = write_item(tmp_path, "cut", random_data("float32", (1, 600, 700)), **TILED, compress="deflate")
    tif = tmp_path / "cut.tif"
    tif.write_bytes(tif.read_bytes()[: tif.stat().st_size // 2])
    cube = gl.open_datacube(str(item), reader="async-tiff")
    with pytest.raises(AssetError, match=r"cut\.tif"):
        values(cube)
    assert any(why.startswith("async-tiff failed") for why in async_tiff_reads.FALLBACKS)


def test_a_missing_file_fails_naming_its_href(tmp_path):
    item = write_item(tmp_path, "gone", random_data("uint8", (1, 300, 300)), **TILED)
    (tmp_path / "gone.tif").unlink()
    cube = gl.open_datacube(str(item), reader="async-tiff")
    with pytest.raises(AssetError, match=r"gone\.tif"):
        values(cube)


def test_an_unknown_reader_is_refused(lake_catalog):
    with pytest.raises(InvalidQuery, match="reader"):
        lake_catalog["formater/elevation-5min"].to_xarray(reader="rust-please")


def test_the_reader_defaults_to_the_environment(lake_catalog, monkeypatch):
    monkeypatch.setenv(async_tiff_reads.READER_VARIABLE, "async-tiff")
    values(lake_catalog["odatis/ostia-sst-monthly"].to_xarray(datetime="2007"))
    assert async_tiff_reads.DECODED["reads"] == 12
    async_tiff_reads.DECODED.clear()
    values(lake_catalog["odatis/ostia-sst-monthly"].to_xarray(datetime="2007", reader="gdal"))
    assert not async_tiff_reads.DECODED  # the keyword wins
    monkeypatch.setenv(async_tiff_reads.READER_VARIABLE, "fast")
    with pytest.raises(InvalidQuery, match=async_tiff_reads.READER_VARIABLE):
        lake_catalog["odatis/ostia-sst-monthly"].to_xarray()


def test_the_default_reader_is_gdal(lake_catalog, monkeypatch):
    monkeypatch.delenv(async_tiff_reads.READER_VARIABLE, raising=False)
    values(lake_catalog["odatis/ostia-sst-monthly"].to_xarray(datetime="2007"))
    assert not async_tiff_reads.DECODED


def test_local_paths_and_remote_hrefs():
    assert async_tiff_reads.local_path("file:///data/a%20b.tif") == "/data/a b.tif"
    assert async_tiff_reads.local_path("/data/x.tif") == "/data/x.tif"
    assert async_tiff_reads.local_path("s3://bucket/x.tif") is None
    assert async_tiff_reads.local_path("https://example.org/x.tif") is None


def test_async_tiffs_own_inflate_gives_the_same_pixels(lake_catalog, monkeypatch):
    """Without imagecodecs, deflate tiles are inflated by async-tiff itself, on its thread pool."""
    monkeypatch.setattr(async_tiff_reads, "_registry", lambda compression, tile_bytes: None)
    for entry in ("odatis/ostia-sst-monthly", "formater/elevation-5min"):
        assert_same_cube(
            lake_catalog[entry].to_xarray(reader="gdal"), lake_catalog[entry].to_xarray(reader="async-tiff")
        )
    assert async_tiff_reads.DECODED and not async_tiff_reads.FALLBACKS


@pytest.mark.parametrize(("hub", "collection"), [("odatis", "ostia-sst-monthly"), ("theia", "land-mask-europe")])
def test_cubes_opened_from_a_stac_geoparquet_index_read_alike(lake_dir, tmp_path, hub, collection):
    index = stac_index.write_index(lake_items(lake_dir, hub, collection), tmp_path / "items.parquet")
    chunks = {"time": 5, "y": 300, "x": 300}
    gdal = gl.open_datacube(str(index), chunks=chunks, reader="gdal")
    rust = gl.open_datacube(str(index), chunks=chunks, reader="async-tiff")
    assert_same_cube(gdal, rust)
    assert async_tiff_reads.DECODED and not async_tiff_reads.FALLBACKS
