"""A process run (``gaia_lab.processing.run``) against the same xarray computation on the same Dask cluster, and
the delay from submitting a run as a task on the cluster to its first progress reports.

The job: the 5' global DEM (``formater/elevation-5min``) regridded to Web Mercator by cubic convolution (odc-geo),
about 30 s on two single-threaded workers at 5 km; the direct version opens the same entry, reprojects with
``odc.geo.xr.xr_reproject``, computes on the cluster and writes the same Zarr store. The process adds input
validation, the size estimate, progress polling (0.1 s), the STAC item and its file.

Goal: a process run takes at most 1.2x the direct computation.

``python -m benchmarks.process_overhead [--quick]``
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import distributed
import numpy as np
import xarray as xr

import gaia_lab as gl
from benchmarks.common import demo_lake, interleaved, median, print_table, record, spread
from gaia_lab.processing import ProcessContext, VariableProgress, run

ENTRY = "formater/elevation-5min"
BBOX = [-180.0, -80.0, 180.0, 80.0]


def _inputs(resolution: float) -> dict[str, Any]:
    return {"entry": ENTRY, "bbox": BBOX, "target": {"crs": "EPSG:3857", "resolution": resolution},
            "resampling": "cubic"}  # fmt: skip


def direct(catalog: gl.Catalog, client: distributed.Client, resolution: float, out: Path) -> xr.Dataset:
    """What a user writes without the process: open, reproject, compute on the cluster, write."""
    import odc.geo.xr  # noqa: F401
    from odc.geo.xr import xr_reproject

    ds = catalog[ENTRY].to_xarray(bbox=BBOX)
    lazy = xr_reproject(ds.odc.assign_crs(ds.rio.crs.to_wkt()), "EPSG:3857", resolution=resolution,
                        resampling="cubic")  # fmt: skip
    result: xr.Dataset = client.compute(lazy, sync=True)
    shutil.rmtree(out, ignore_errors=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
        result.drop_encoding().to_zarr(out, mode="w", zarr_format=3, consolidated=True)
    return result


def process(catalog: gl.Catalog, client: distributed.Client, resolution: float, out: Path) -> xr.Dataset:
    shutil.rmtree(out, ignore_errors=True)
    result = run("regrid", _inputs(resolution), ProcessContext(output_dir=out, catalog=catalog, client=client))
    return gl.open_datacube(str(result.item_path))


def first_reports(client: distributed.Client, lake: Path, resolution: float, out: Path) -> dict[str, float]:
    """Seconds from submitting the run as a task to its first report (started) and first chunk report."""
    progress = VariableProgress(f"bench-{uuid.uuid4().hex}")
    context = ProcessContext(output_dir=out, catalog=lake / "federation.yaml", progress=progress)
    progress.start(client)
    start = time.perf_counter()
    future = client.submit(run, "regrid", _inputs(resolution), context, pure=False)
    first = chunks = None
    while not future.done():
        report = progress.read(client, timeout=0.05)
        now = time.perf_counter() - start
        if report is not None and report["message"] != "submitted" and first is None:
            first = now
        if report is not None and "tasks" in report["message"] and chunks is None:
            chunks = now
            break
        time.sleep(0.01)
    future.result()
    total = time.perf_counter() - start
    return {"first_report_s": round(first or total, 3), "first_chunk_report_s": round(chunks or total, 3)}


def main(quick: bool = False) -> dict[str, Any]:
    resolution = 20_000.0 if quick else 5_000.0
    repeat = 1 if quick else 3
    lake = demo_lake()
    catalog = gl.open_catalog(lake / "federation.yaml")
    work = Path(tempfile.mkdtemp(prefix="gaia-process-bench-"))
    try:
        with (
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                     host="127.0.0.1") as cluster,
            distributed.Client(cluster, set_as_default=False) as client,
        ):  # fmt: skip
            client.run(__import__, "gaia_lab.processing")
            process(catalog, client, 50_000.0, work / "warm")  # imports and first reads out of the timings
            timings = interleaved(
                repeat,
                {
                    "direct": lambda: direct(catalog, client, resolution, work / "direct.zarr"),
                    "process": lambda: process(catalog, client, resolution, work / "process"),
                },
            )
            direct_times, expected = timings["direct"]
            process_times, got = timings["process"]
            # the DEM's nodata (-32768) fills where nothing maps; reading the process's Zarr masks it to NaN
            nodata = expected["elevation"].attrs.get("nodata", np.nan)
            wanted = expected["elevation"].where(expected["elevation"] != nodata)
            np.testing.assert_allclose(got["elevation"].values, wanted.values, equal_nan=True)
            reports = first_reports(client, lake, resolution, work / "submitted")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = median(process_times) / median(direct_times)
    payload = {
        "resolution_m": resolution,
        "direct_s": [round(t, 3) for t in direct_times],
        "process_s": [round(t, 3) for t in process_times],
        "process_over_direct": round(ratio, 3),
        **reports,
        "goal_met": ratio <= 1.2,
        "quick": quick,
    }
    print_table(
        f"Process overhead: regrid of {ENTRY} to EPSG:3857 at {resolution / 1000:g} km, 2 workers",
        [
            ("direct xarray on the cluster (median)", f"{median(direct_times):.2f} s", spread(direct_times)),
            ("process run on the cluster (median)", f"{median(process_times):.2f} s", spread(process_times)),
            ("process / direct", f"{ratio:.2f}x", "goal <= 1.2x"),
            ("submitted task -> first progress report", f"{reports['first_report_s']:.2f} s", ""),
            ("submitted task -> first chunk report", f"{reports['first_chunk_report_s']:.2f} s", ""),
        ],
    )
    record("process_overhead", payload)
    return payload


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small job, one round (a smoke run)")
    main(quick=parser.parse_args().quick)
