"""Import smoke test of the GAIA Lab notebook image, run at image build time and by images/check-lock.sh.

Checks that the scientific stack imports and works together (a dask-backed xarray computation, a Zarr round
trip, a GeoTIFF written and read back with its CRS), that the session and cluster entry points exist, and that
JupyterLab sees the Dask extension. Exits non-zero naming what failed.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODULES = [
    "gaia_lab",
    "numpy",
    "pandas",
    "xarray",
    "dask",
    "dask.array",
    "distributed",
    "dask_gateway",
    "zarr",
    "numcodecs",
    "rasterio",
    "rioxarray",
    "odc.stac",
    "odc.geo",
    "pystac",
    "pystac_client",
    "intake",
    "intake_esm",
    "fsspec",
    "s3fs",
    "netCDF4",
    "h5netcdf",
    "h5py",
    "hvplot.xarray",
    "bokeh",
    "matplotlib",
    "holoviews",
    "jupyterlab",
    "jupyterhub",
    "dask_labextension",
    "kubernetes",
    "eodag",
    "gaia_lab.catalog.providers.eodag",
]
COMMANDS = ["jupyterhub-singleuser", "jupyter-lab", "dask", "gaia-lab"]


def check_imports() -> list[str]:
    failures = []
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # every failure is reported, not just the first
            failures.append(f"import {name}: {type(exc).__name__}: {exc}")
    return failures


def check_commands() -> list[str]:
    return [f"command not found on PATH: {cmd}" for cmd in COMMANDS if shutil.which(cmd) is None]


def check_stack(workdir: Path) -> None:
    import numpy as np
    import rasterio
    import rioxarray
    import xarray as xr
    from rasterio.transform import from_origin

    data = xr.DataArray(
        np.arange(4 * 64 * 64, dtype="float32").reshape(4, 64, 64),
        dims=("time", "y", "x"),
        name="sst",
    ).chunk({"time": 1})
    expected = float(np.arange(4 * 64 * 64, dtype="float32").mean())
    got = float(data.mean().compute())
    assert abs(got - expected) < 1e-3, f"dask mean {got} != {expected}"

    store = workdir / "cube.zarr"
    data.to_dataset().to_zarr(store, mode="w", consolidated=True, zarr_format=2)
    back = xr.open_zarr(store, consolidated=True)
    assert back.sst.shape == (4, 64, 64), back.sst.shape

    tif = workdir / "band.tif"
    with rasterio.open(
        tif,
        "w",
        driver="GTiff",
        width=64,
        height=64,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(0, 10, 0.1, 0.1),
    ) as dst:
        dst.write(np.ones((1, 64, 64), dtype="float32"))
    raster = rioxarray.open_rasterio(tif, chunks={"x": 32, "y": 32})
    assert raster.rio.crs.to_epsg() == 4326, raster.rio.crs


def check_labextension() -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True,
        text=True,
        check=False,
    )
    text = out.stdout + out.stderr
    if "dask-labextension" not in text:
        return [f"JupyterLab does not list dask-labextension: {text[-500:]}"]
    return []


def main() -> int:
    start = time.monotonic()
    failures = check_imports() + check_commands()
    if not failures:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                check_stack(Path(tmp))
            except Exception as exc:
                failures.append(f"stack check: {type(exc).__name__}: {exc}")
        failures += check_labextension()
    report = {"ok": not failures, "failures": failures, "seconds": round(time.monotonic() - start, 1)}
    print(json.dumps(report, indent=2))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
