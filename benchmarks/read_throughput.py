"""Read + reduce (mean over time) a cube of 1,000 COGs (float32, deflate, 512x512) and the same data as Zarr,
with the same dask scheduler (threads), against the peers and against the decode limit.

- decode limit: a plain rasterio loop reading every file with a pool of as many threads as dask gets;
- COG cube: GAIA Lab's ``to_xarray()`` vs ``odc.stac.load`` (its default chunks) vs ``stackstac.stack``;
- Zarr cube: GAIA Lab's ``to_xarray()`` on a STAC collection with a Zarr asset vs ``xr.open_zarr`` on the store.

All cubes must give the same mean. Scaling: 100 and 1,000 items, 1 and 2 threads.
Goals: COG cube >= 0.8x the decode limit; Zarr cube >= 0.95x raw ``xr.open_zarr``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dask
import numpy as np
import odc.stac
import pystac
import rasterio
import xarray as xr

from benchmarks import zarr_corpus
from benchmarks.cog_corpus import SIZE, collection
from benchmarks.common import demo_lake, interleaved_best, print_table, record
from benchmarks.open_latency import item_documents, stackstac_documents
from benchmarks.zarr_corpus import zarr_collection

BAND = "elevation"
ITEMS = (100, 1000)
THREADS = (1, 2)


def decode_limit(files: list[str], threads: int) -> Callable[[], None]:
    def read(path: str) -> None:
        with rasterio.open(path) as src:
            src.read(1)

    def run() -> None:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(read, files))

    return run


def hand_written_mean(files: list[str], threads: int) -> Callable[[], np.ndarray]:
    """The computation written by hand: read each file and keep running NaN-aware sums (the practical optimum)."""

    def partial(path: str) -> tuple[np.ndarray, np.ndarray]:
        with rasterio.open(path) as src:
            data = src.read(1)
        valid = ~np.isnan(data)
        return np.where(valid, data, 0).astype("float64"), valid.astype("int32")

    def run() -> np.ndarray:
        total = np.zeros((SIZE, SIZE), "float64")
        count = np.zeros((SIZE, SIZE), "int32")
        with ThreadPoolExecutor(threads) as pool:
            for values, valid in pool.map(partial, files):
                total += values
                count += valid
        with np.errstate(invalid="ignore", divide="ignore"):
            return (total / count).astype("float32")

    return run


def mean_of(array: xr.DataArray, threads: int) -> Callable[[], np.ndarray]:
    def run() -> np.ndarray:
        with dask.config.set(scheduler="threads", num_workers=threads):
            return np.asarray(array.mean("time").values)

    return run


def load_only(array: xr.DataArray, threads: int) -> Callable[[], None]:
    """Every chunk read and dropped: the cube's read path without the reduction."""
    dropped = array.data.map_blocks(
        lambda block: np.empty((1,) * block.ndim, block.dtype),
        chunks=tuple((1,) * n for n in array.data.numblocks),
        dtype=array.dtype,
    )

    def run() -> None:
        with dask.config.set(scheduler="threads", num_workers=threads):
            dropped.compute()

    return run


def measure(lake: Path, size: int, threads: int, peers: bool) -> dict[str, Any]:
    import stackstac

    catalog_path = collection(lake, size, files=size)
    dataset = zarr_corpus.gaia_cube(catalog_path, f"cogs-{size}")
    cube = dataset[BAND]
    files = [str(href) for href in dataset.attrs["gaia:assets"]]
    pixels = size * SIZE * SIZE
    decode_limit(files, threads)()  # warm the page cache and GDAL
    repeat = 3
    documents = item_documents(catalog_path, f"cogs-{size}")
    items = [pystac.Item.from_dict(d) for d in documents]
    odc_cube = odc.stac.load(items, [BAND], groupby="time", chunks={})[BAND]
    timed = interleaved_best(
        repeat,
        {
            "limit": decode_limit(files, threads),
            "gaia": mean_of(cube, threads),
            "gaia_load": load_only(cube, threads),
            "odc": mean_of(odc_cube, threads),
        },
    )
    (t_limit, _), (t_gaia, gaia_mean), (t_odc, odc_mean) = timed["limit"], timed["gaia"], timed["odc"]
    t_gaia_load = timed["gaia_load"][0]
    row: dict[str, Any] = {
        "items": size,
        "threads": threads,
        "limit_mpix_s": round(pixels / t_limit / 1e6, 1),
        "gaia_cog_mpix_s": round(pixels / t_gaia / 1e6, 1),
        "gaia_cog_s": round(t_gaia, 3),
        "gaia_cog_over_limit": round(t_limit / t_gaia, 2),
        "gaia_cog_load_only_over_limit": round(t_limit / t_gaia_load, 2),
        "odc_stac_mpix_s": round(pixels / t_odc / 1e6, 1),
        "odc_stac_s": round(t_odc, 3),
        "odc_stac_over_limit": round(t_limit / t_odc, 2),
        "same_mean_as_odc_stac": bool(np.allclose(gaia_mean, odc_mean, equal_nan=True, rtol=1e-6)),
    }
    if not peers:
        return row
    stacked = stackstac.stack(stackstac_documents(documents), assets=[BAND], rescale=False, epsg=4326)
    zarr_catalog, store = zarr_collection(catalog_path, size)
    raw_zarr = xr.open_zarr(store)[BAND]
    gaia_zarr = zarr_corpus.gaia_cube(zarr_catalog, f"zarr-{size}")[BAND]
    mean_of(raw_zarr, threads)()  # warm
    timed = interleaved_best(
        repeat,
        {
            "hand": hand_written_mean(files, threads),
            "stackstac": mean_of(stacked.isel(band=0), threads),
            "raw_zarr": mean_of(raw_zarr, threads),
            "gaia_zarr": mean_of(gaia_zarr, threads),
        },
    )
    (t_hand, hand_mean), (t_stackstac, stackstac_mean) = timed["hand"], timed["stackstac"]
    (t_raw_zarr, raw_mean), (t_gaia_zarr, gaia_zarr_mean) = timed["raw_zarr"], timed["gaia_zarr"]
    row.update(
        {
            "hand_written_mpix_s": round(pixels / t_hand / 1e6, 1),
            "gaia_cog_over_hand_written": round(t_hand / t_gaia, 2),
            "stackstac_mpix_s": round(pixels / t_stackstac / 1e6, 1),
            "stackstac_over_limit": round(t_limit / t_stackstac, 2),
            "raw_zarr_mpix_s": round(pixels / t_raw_zarr / 1e6, 1),
            "gaia_zarr_mpix_s": round(pixels / t_gaia_zarr / 1e6, 1),
            "gaia_zarr_over_raw_zarr": round(t_raw_zarr / t_gaia_zarr, 2),
            "same_mean_everywhere": bool(
                all(
                    np.allclose(gaia_mean, other, equal_nan=True, rtol=1e-5)
                    for other in (hand_mean, np.asarray(stackstac_mean), raw_mean, gaia_zarr_mean)
                )
            ),
        }
    )
    return row


def main() -> dict[str, Any]:
    lake = demo_lake()
    rows = [
        measure(lake, size, threads, peers=(size == max(ITEMS) and threads == max(THREADS)))
        for size in ITEMS
        for threads in THREADS
    ]
    main_row = next(r for r in rows if "raw_zarr_mpix_s" in r)
    result = {
        "rows": rows,
        "goals_met": {
            "cog_ge_0_8_of_limit": main_row["gaia_cog_over_limit"] >= 0.8,
            "zarr_ge_0_95_of_raw": main_row["gaia_zarr_over_raw_zarr"] >= 0.95,
        },
    }
    r = main_row
    table = [
        ("gaia COG cube / decode limit", f"{r['gaia_cog_over_limit']:.2f}", "goal >= 0.8"),
        ("gaia COG cube, read without the mean / decode limit", f"{r['gaia_cog_load_only_over_limit']:.2f}", ""),
        ("odc-stac direct / decode limit", f"{r['odc_stac_over_limit']:.2f}", ""),
        ("stackstac / decode limit", f"{r['stackstac_over_limit']:.2f}", ""),
        ("gaia COG cube / hand-written rasterio mean", f"{r['gaia_cog_over_hand_written']:.2f}", ""),
        ("gaia Zarr cube / raw xr.open_zarr", f"{r['gaia_zarr_over_raw_zarr']:.2f}", "goal >= 0.95"),
        (
            "Mpix/s: limit | gaia | odc-stac | stackstac",
            f"{r['limit_mpix_s']:.0f} | {r['gaia_cog_mpix_s']:.0f} | {r['odc_stac_mpix_s']:.0f} | "
            f"{r['stackstac_mpix_s']:.0f}",
            f"{r['items']} COGs, {r['threads']} threads",
        ),
        ("Mpix/s: raw zarr | gaia zarr", f"{r['raw_zarr_mpix_s']:.0f} | {r['gaia_zarr_mpix_s']:.0f}", ""),
        ("same mean: odc-stac | all peers", f"{r['same_mean_as_odc_stac']} | {r['same_mean_everywhere']}", ""),
    ]
    for row in rows:
        table.append(
            (
                f"scaling: {row['items']:>5} items, {row['threads']} thread(s)",
                f"{row['gaia_cog_s']:.2f} s | {row['odc_stac_s']:.2f} s",
                f"gaia {row['gaia_cog_over_limit']:.2f}x, odc {row['odc_stac_over_limit']:.2f}x of the limit",
            )
        )
    print_table("read + mean over time (dask threads)", table)
    record("read_throughput", result)
    return result


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(json.dumps({"seconds": round(time.perf_counter() - started, 1)}))
