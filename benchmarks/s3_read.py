"""S3 read throughput against a local read of the same files: the benchmark COG collection and its Zarr copy,
uploaded to the private bucket of the S3 test server (moto's, on 127.0.0.1, authentication on), read through
GAIA Lab's cubes with the provider's credentials (COG: GDAL /vsis3/; Zarr: s3fs), and read from the local disk.

Both sides open the same STAC documents (relative hrefs: the same chunks) and compute the same mean with the same
dask threads; the ratio is S3 throughput over local throughput. moto is a Python server (werkzeug): the ratio
measures GAIA Lab's S3 path plus that server, an upper bound on the cost of the protocol rather than of a
production object store.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask
import numpy as np

import gaia_lab as gl
from benchmarks import cog_corpus, zarr_corpus
from benchmarks.common import demo_lake, interleaved, print_table, record, spread
from gaia_lab.datalake import s3

ITEMS = 200
THREADS = 4
REPEAT = 3
PREFIX = "bench"
ENV = "GAIA_LAB_BENCH_S3"


def _catalog(url: str, storage_options: dict[str, Any] | None = None) -> gl.Catalog:
    provider: dict[str, Any] = {"name": "bench", "hub": "land", "url": url}
    if storage_options:
        provider["storage_options"] = storage_options
    return gl.open_catalog({"providers": [provider]})


def _mean(catalog: gl.Catalog, entry: str) -> Callable[[], float]:
    def run() -> float:
        cube = catalog[f"bench/{entry}"].to_xarray()
        with dask.config.set(scheduler="threads", num_workers=THREADS):
            return float(cube[zarr_corpus.BAND].mean().compute())

    return run


def main() -> dict[str, Any]:
    lake = demo_lake()
    cog_catalog = cog_corpus.collection(lake, ITEMS)
    zarr_catalog, _ = zarr_corpus.zarr_collection(cog_catalog, ITEMS)
    megabytes = ITEMS * cog_corpus.SIZE * cog_corpus.SIZE * 4 / 1e6
    with tempfile.TemporaryDirectory(prefix="gaia-s3-bench-") as workdir:
        server = s3.start_server(Path(workdir))
        try:
            started = time.perf_counter()
            uploaded = server.upload(cog_catalog.parent, server.private_bucket, f"{PREFIX}/cog")
            uploaded += server.upload(zarr_catalog.parent, server.private_bucket, f"{PREFIX}/zarr")
            upload_s = time.perf_counter() - started
            key = server.create_user("bench", private=True)
            os.environ[f"{ENV}_KEY"], os.environ[f"{ENV}_SECRET"] = key.key_id, key.secret
            options = {"endpoint_url": server.endpoint_url, "key": f"${{{ENV}_KEY}}", "secret": f"${{{ENV}_SECRET}}"}
            base = f"s3://{server.private_bucket}/{PREFIX}"
            contenders = {
                "cog local": _mean(_catalog(str(cog_catalog)), f"cogs-{ITEMS}"),
                "cog s3": _mean(_catalog(f"{base}/cog/catalog.json", options), f"cogs-{ITEMS}"),
                "zarr local": _mean(_catalog(str(zarr_catalog)), f"zarr-{ITEMS}"),
                "zarr s3": _mean(_catalog(f"{base}/zarr/catalog.json", options), f"zarr-{ITEMS}"),
            }
            timings = interleaved(REPEAT, contenders)
        finally:
            server.stop()
    best = {name: min(times) for name, (times, _) in timings.items()}
    means = {name: result for name, (_, result) in timings.items()}
    result = {
        "items": ITEMS,
        "threads": THREADS,
        "megabytes": round(megabytes, 1),
        "files_uploaded": uploaded,
        "upload_s": round(upload_s, 2),
        "seconds": {name: round(t, 3) for name, t in best.items()},
        "mb_s": {name: round(megabytes / t, 1) for name, t in best.items()},
        "cog_s3_over_local": round(best["cog local"] / best["cog s3"], 3),
        "zarr_s3_over_local": round(best["zarr local"] / best["zarr s3"], 3),
        "same_mean": bool(np.allclose(list(means.values()), means["cog local"], rtol=1e-6)),
    }
    table = [
        (f"COG: S3 / local throughput ({ITEMS} files, {THREADS} threads)", f"{result['cog_s3_over_local']:.2f}", ""),
        (f"Zarr: S3 / local throughput ({ITEMS} steps, {THREADS} threads)", f"{result['zarr_s3_over_local']:.2f}", ""),
        *[(f"  {name} (MB/s, spread)", f"{result['mb_s'][name]:.0f}", spread(timings[name][0])) for name in contenders],
        ("same mean everywhere", str(result["same_mean"]), ""),
        ("upload to the bucket (files, s)", f"{uploaded} in {upload_s:.1f}", ""),
    ]
    print_table("S3 read vs local read of the same files (moto S3 server on 127.0.0.1)", table)
    record("s3_read", result)
    return result


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(json.dumps({"seconds": round(time.perf_counter() - started, 1)}))
