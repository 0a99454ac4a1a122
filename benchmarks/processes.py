"""OGC API - Processes overhead on a ~30 s job: a process run through the service (submitted over HTTP, run as a
job on the user's Dask Gateway cluster, written into the user's space, added to the user's catalogue, its result's
item fetched) against the same xarray computation a user writes, run on the same cluster from the client; and the
delay from submission to the job's first progress report (and to its first chunk report).

The job: the 5' global DEM (``formater/elevation-5min``, 80S-80N) regridded to Web Mercator at 2 km by cubic
convolution (``regrid``, odc-geo), written as Zarr: about 30 s on the platform's two single-core workers. The direct
version opens the same entry through the sessions' federation, reprojects with ``odc.geo.xr.xr_reproject`` and
writes the same store with ``to_zarr`` computed on the cluster. They take turns (``interleaved``); both stores are
compared on a sample of pixels.

Goal (docs/processes.md): service / direct <= 1.2 for a ~30 s job.

``python -m benchmarks.processes [--repeat 4] [--resolution 2000]``; ``python -m benchmarks --only processes``.
``--quick`` (``python -m benchmarks --quick``): no platform: the library's run (``gaia_lab.processing.run``) against
the same direct computation on a LocalCluster, a 20 km grid, one round: a smoke run, not figures.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import interleaved, median, print_table, record, spread

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

ENTRY = "formater/elevation-5min"
BBOX = [-180.0, -80.0, 180.0, 80.0]
# Set by `python -m benchmarks --quick` (benchmarks/__main__.py QUICK).
RESOLUTION = 2000.0
# Even: each contender goes first as often as second (the second run of a round was ~30% slower here).
REPEAT = 2
PLATFORM = True
# The processing cluster's workers (the platform's defaults: processes_workers, _worker_cores, _worker_memory).
WORKERS, WORKER_MEMORY = 2, "1 GiB"
# How often the client asks the job's status: often until its first chunk report (the latency measured), then at a
# pace closer to a user's (gl.process polls every 0.5 s); the end is seen at most this late.
FAST_POLL, POLL = 0.05, 0.2
# A report of the computation's advance ("regridding: 0/620 chunks"), after the run's own set-up reports.
CHUNK_REPORT = re.compile(r"\d+/\d+ (chunks|tasks)")


def inputs(resolution: float) -> dict[str, Any]:
    return {"entry": ENTRY, "bbox": BBOX, "target": {"crs": "EPSG:3857", "resolution": resolution},
            "resampling": "cubic", "format": "zarr"}  # fmt: skip


def lake_dir() -> Path:
    if lake := os.environ.get("GAIA_LAB_TEST_LAKE"):
        return Path(lake)
    from benchmarks.common import demo_lake

    return demo_lake()


def direct(catalog: Any, client: Any, resolution: float, out: Path) -> Path:
    """What a user writes without the process: open, reproject, write the store, computed on the cluster."""
    import odc.geo.xr  # noqa: F401  (the .odc accessor)
    from odc.geo.xr import xr_reproject

    ds = catalog[ENTRY].to_xarray(bbox=BBOX)
    lazy = xr_reproject(ds.odc.assign_crs(ds.rio.crs.to_wkt()), "EPSG:3857", resolution=resolution,
                        resampling="cubic")  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
        write = lazy.drop_encoding().to_zarr(out, mode="w", zarr_format=3, consolidated=True, compute=False)
    client.compute(write, sync=True)
    return out


def same_values(process_store: Path, direct_store: Path) -> None:
    """Both stores hold the same grid and values (a strided sample of pixels; NaN where both are empty)."""
    import numpy as np
    import xarray as xr

    got, expected = xr.open_zarr(process_store), xr.open_zarr(direct_store)
    assert dict(got.sizes) == dict(expected.sizes), (dict(got.sizes), dict(expected.sizes))
    sample = {"x": slice(None, None, 37), "y": slice(None, None, 31)}
    np.testing.assert_allclose(
        got["elevation"].isel(sample).values, expected["elevation"].isel(sample).values, equal_nan=True
    )


def busy_seconds(task_stream: Any) -> float:
    """Seconds the workers spent computing during a run (every task on the cluster: its scheduler's task stream),
    to tell more work from more waiting; the process's own task, which waits for its graph, is left out."""
    return sum(
        part["stop"] - part["start"]
        for task in task_stream.data
        if not str(task.get("key", "")).startswith(("gaia-lab-job-", "run-"))
        for part in task.get("startstops", ())
        if part.get("action") == "compute"
    )


def rounds_alternating(repeat: int, actions: dict[str, Callable[[], Any]], client: Any) -> dict[str, list[float]]:
    """``interleaved`` rounds whose order alternates (on a shared machine whose load drifts, neither contender
    always goes first); each run's wall time and the workers' busy seconds (``<name>_busy``)."""
    from distributed import get_task_stream

    times: dict[str, list[float]] = {}
    names = list(actions)
    for round_ in range(repeat):
        order = names if round_ % 2 == 0 else names[::-1]
        for name in order:
            with get_task_stream(client=client) as stream:
                ((took,), _) = interleaved(1, {name: actions[name]})[name]
            times.setdefault(name, []).append(took)
            times.setdefault(f"{name}_busy", []).append(busy_seconds(stream))
    return times


def service_run(url: str, token: str, resolution: float) -> dict[str, Any]:
    """Seconds from submission to the first progress report, the first chunk report, and the result's item."""
    import gaia_lab as gl

    started = time.perf_counter()
    job = gl.process("regrid", inputs(resolution), url=url, token=token)
    first = chunk = None
    while True:
        info = job.status()
        now = time.perf_counter() - started
        if first is None and (info.get("progress") or 0) > 0:
            first = now
        if chunk is None and CHUNK_REPORT.search(str(info.get("message", ""))):
            chunk = now
        if info["status"] in ("successful", "failed", "dismissed"):
            break
        time.sleep(FAST_POLL if chunk is None else POLL)
    if info["status"] != "successful":
        raise RuntimeError(f"the benchmark job {job.id} ended {info['status']}: {info.get('message')}")
    item = job.item()
    total = time.perf_counter() - started
    (asset,) = item["assets"].values()
    return {
        "total": total,
        "first_progress": first if first is not None else total,
        "first_chunk": chunk if chunk is not None else total,
        "store": Path(asset["alternate"]["local"]["href"]),
    }


def platform_settings() -> dict[str, Any]:
    """What the processing service needs of a platform for this benchmark (the platform benchmark's platform takes
    them too when both run: one platform start for both)."""
    return {
        # The workers import this checkout's gaia_lab (the sessions' environment may hold another).
        "processes_worker_environment": {"PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        "processes_workers": WORKERS,
        "processes_worker_memory": WORKER_MEMORY,
        # The direct runs keep the cluster busy from the client: the service must not stop it as idle meanwhile.
        "processes_idle_timeout": 1800.0,
    }


def _platform_rounds(resolution: float, repeat: int, work: Path) -> tuple[dict[str, list[float]], dict[str, Any]]:
    from gaia_lab.platform import Platform, load_config
    from gaia_lab.platform.config import PORT_NAMES

    settings = {
        "data_dir": str(work / "platform"),
        "lake_dir": str(lake_dir()),
        "user_accounts": "shared",
        **dict.fromkeys(PORT_NAMES, 0),  # free ports, whatever else runs here
        **platform_settings(),
    }
    platform = Platform(load_config(None, **settings), out=lambda s: None)
    platform.start()
    try:
        return rounds_on_platform(platform, resolution, repeat, work)
    finally:
        platform.stop(quiet=True)


def rounds_on_platform(
    platform: Any, resolution: float, repeat: int, work: Path
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """The rounds on a running platform configured with ``platform_settings()``."""
    from dask_gateway import Gateway, JupyterHubAuth
    from hubclient import HubUser

    import gaia_lab as gl

    assert platform.secrets is not None and platform.info is not None
    user = HubUser(platform.info.hub_url, "bench-proc", platform.secrets.user_password)
    user.login()
    token = user.create_token()
    url = platform.info.processes_url
    service_run(url, token, 50_000.0)  # warm-up: the user's cluster starts here, workers import gaia_lab
    gateway = Gateway(
        address=platform.info.gateway_url,
        proxy_address=platform.info.gateway_proxy_address,
        auth=JupyterHubAuth(api_token=token),
    )
    try:
        (report,) = gateway.list_clusters()
        cluster = gateway.connect(report.name)
        client = cluster.get_client(set_as_default=False)
        catalog = gl.open_catalog(platform.layout.catalog_file)
        direct(catalog, client, 50_000.0, work / "warm.zarr")  # warm-up of the client side
        runs: dict[str, Any] = {}

        def through_service() -> None:
            runs.setdefault("service", []).append(service_run(url, token, resolution))

        timings = rounds_alternating(
            repeat,
            {
                "service": through_service,
                "direct": lambda: direct(catalog, client, resolution, work / "direct.zarr"),
            },
            client,
        )
        same_values(runs["service"][-1]["store"], work / "direct.zarr")
        client.close()
    finally:
        gateway.close()
    services = runs["service"]
    times = {
        **timings,
        "first_progress": [r["first_progress"] for r in services],
        "first_chunk": [r["first_chunk"] for r in services],
    }
    return times, {"cluster": f"Dask Gateway, {WORKERS} workers of 1 core / {WORKER_MEMORY}"}


def _local_rounds(resolution: float, repeat: int, work: Path) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """The library's run on a LocalCluster (the process's own overhead, no service): the --quick path."""
    import distributed

    import gaia_lab as gl
    from gaia_lab.ogc_processes.task import Preload
    from gaia_lab.processing import ProcessContext, VariableProgress, run

    catalog = gl.open_catalog(lake_dir() / "federation.yaml")
    with (
        distributed.LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=None,
                                 host="127.0.0.1") as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):  # fmt: skip
        client.register_plugin(Preload())  # as the service's clusters do
        firsts: list[float] = []
        chunks: list[float] = []

        def process(resolution: float = resolution) -> None:
            out = work / "process"
            shutil.rmtree(out, ignore_errors=True)
            progress = VariableProgress(f"bench-{time.monotonic_ns()}")
            progress.start(client)
            context = ProcessContext(output_dir=out, catalog=lake_dir() / "federation.yaml", progress=progress)
            start = time.perf_counter()
            future = client.submit(run, "regrid", inputs(resolution), context, pure=False)
            first = chunk = None
            while not future.done():
                report = progress.read(client, timeout=0.05) or {}
                now = time.perf_counter() - start
                if first is None and report.get("message", "submitted") != "submitted":
                    first = now
                if chunk is None and CHUNK_REPORT.search(report.get("message", "")):
                    chunk = now
                time.sleep(FAST_POLL if chunk is None else POLL)
            future.result()
            total = time.perf_counter() - start
            firsts.append(first if first is not None else total)
            chunks.append(chunk if chunk is not None else total)

        process(50_000.0)  # warm-up: the workers' first run imports and opens what every run needs
        firsts.clear()
        chunks.clear()
        timings = rounds_alternating(
            repeat,
            {"service": process, "direct": lambda: direct(catalog, client, resolution, work / "direct.zarr")},
            client,
        )
        same_values(work / "process" / "regrid.zarr", work / "direct.zarr")
    times = {
        **timings,
        "first_progress": firsts,
        "first_chunk": chunks,
    }
    return times, {"cluster": f"LocalCluster, {WORKERS} workers of 1 thread (no service: gaia_lab.processing.run)"}


def main(argv: list[str] | None = None, on_platform: Any = None) -> dict[str, Any]:
    """``on_platform``: a running platform configured with ``platform_settings()`` to use instead of starting one."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=REPEAT)
    parser.add_argument("--resolution", type=float, default=RESOLUTION, help="metres (EPSG:3857)")
    parser.add_argument("--quick", action="store_true", help="no platform, a 20 km grid, one round")
    args = parser.parse_args(argv)
    quick = args.quick or not PLATFORM
    resolution = 20_000.0 if args.quick else args.resolution
    repeat = 1 if args.quick else args.repeat
    rounds: Callable[[float, int, Path], tuple[dict[str, list[float]], dict[str, Any]]]
    rounds = _local_rounds if quick else _platform_rounds
    if on_platform is not None and not quick:
        rounds = functools.partial(rounds_on_platform, on_platform)
    work = Path(tempfile.mkdtemp(prefix="gaia-lab-bench-processes-"))
    try:
        times, described = rounds(resolution, repeat, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    service, direct_s = median(times["service"]), median(times["direct"])
    ratio = service / direct_s
    what = "process run (library, no service)" if quick else "process through the service"
    rows = [
        (f"{what} (median of {repeat})", f"{service:.2f} s", spread(times["service"])),
        ("same xarray computation from the client (median)", f"{direct_s:.2f} s", spread(times["direct"])),
        ("process / direct", f"{ratio:.3f}x", "goal <= 1.2x for a ~30 s job"),
        (
            "workers' busy seconds: process | direct (median)",
            f"{median(times['service_busy']):.1f} | {median(times['direct_busy']):.1f}",
            "",
        ),
        ("submission -> first progress report (median)", f"{median(times['first_progress']):.2f} s", ""),
        ("submission -> first chunk report (median)", f"{median(times['first_chunk']):.2f} s", ""),
    ]
    print_table(f"Processes overhead: regrid of {ENTRY} to EPSG:3857 at {resolution / 1000:g} km, "
                f"{described['cluster']}", rows)  # fmt: skip
    payload: dict[str, Any] = {
        "mode": "library-local" if quick else "service-gateway",
        **described,
        "inputs": inputs(resolution),
        "service_s": [round(t, 3) for t in times["service"]],
        "direct_s": [round(t, 3) for t in times["direct"]],
        "service_busy_s": [round(t, 2) for t in times["service_busy"]],
        "direct_busy_s": [round(t, 2) for t in times["direct_busy"]],
        "first_progress_s": [round(t, 3) for t in times["first_progress"]],
        "first_chunk_s": [round(t, 3) for t in times["first_chunk"]],
        "ratio": round(ratio, 3),
        "goal_met": ratio <= 1.2,
        "quick": quick,
    }
    record("processes", payload)
    return payload


if __name__ == "__main__":
    main()
