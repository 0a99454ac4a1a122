"""``python -m benchmarks``: every benchmark in one run, then one table, ratios first.

Each benchmark also prints its own table and appends a JSON line to benchmarks/runs/ (untracked), and the summary
table goes to benchmarks/runs/summary-<time>.md: a run never dirties the tree. ``--record`` appends this run's lines
to the tracked history in benchmarks/results/ too (commit them deliberately). ``--only NAME`` runs a subset;
``--markdown FILE`` also writes the summary as the Markdown table docs/performance.md shows. ``--quick`` is a smoke
run for CI (small corpora, one round, no platform): it checks that every benchmark runs and its contenders agree;
its figures are not for the docs.
"""

from __future__ import annotations

import argparse
import os
import platform as host
import statistics
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import common

Row = tuple[str, str, str, str]  # what, value, goal, met


def _open_latency() -> list[Row]:
    from benchmarks import open_latency

    result = open_latency.main()
    rows: list[Row] = []
    for size in result["sizes"]:
        n = f"{size['items']:,}"
        goal = "≥ 5x" if size["items"] == 10_000 else ""
        met = _yes(size["odc_over_gaia"] >= 5) if goal else ""
        rows.append(
            (f"lazy open, {n} COG items: odc-stac time / GAIA Lab time", f"{size['odc_over_gaia']}x", goal, met)
        )
    largest = result["sizes"][-1]
    previous = result["sizes"][-2]
    rows.append(
        (
            f"lazy open growth {previous['items']:,} -> {largest['items']:,} items, GAIA Lab | odc-stac "
            f"({largest['items'] // previous['items']}x is linear)",
            f"{largest['gaia_s'] / previous['gaia_s']:.1f}x | {largest['odc_stac_s'] / previous['odc_stac_s']:.1f}x",
            "",
            "",
        )
    )
    rows += [
        (
            f"lazy open, {largest['items']:,} items: GAIA Lab | odc-stac | stackstac",
            f"{largest['gaia_s']} s | {largest['odc_stac_s']} s | {largest['stackstac_s']} s",
            "GAIA Lab < 1.5 s",
            _yes(result["goals_met"]["10k_under_1_5_s"]),
        ),
        (
            "lazy open: same cube as odc-stac, no pixel read",
            f"{result['goals_met']['identical_cubes']}, {result['goals_met']['no_pixel_read']}",
            "both",
            _yes(result["goals_met"]["identical_cubes"] and result["goals_met"]["no_pixel_read"]),
        ),
    ]
    return rows


def _archive_open() -> list[Row]:
    from benchmarks import archive_open

    result = archive_open.main()
    rows: list[Row] = []
    for row in result["rows"]:
        where = "bbox" if row["bbox"] else "no bbox"
        n = f"{row['items']:,}"
        rows += [
            (
                f"lazy open, real-archive corpus, {n} items, {where}: odc-stac time (one run) / GAIA Lab time"
                " (best of 2)",
                f"{row['odc_over_gaia']}x",
                "≥ 5x",
                _yes(row["odc_over_gaia"] >= 5),
            ),
            (
                f"lazy open, real-archive corpus, {n} items, {where}: GAIA Lab | odc-stac | stackstac",
                f"{row['gaia_s']} s | {row['odc_stac_s']} s | {row['stackstac_s']} s",
                "GAIA Lab < 1.5 s",
                _yes(row["gaia_s"] < 1.5),
            ),
        ]
    rows.append(
        (
            "lazy open, real-archive corpus: odc-stac's grid (a window of it with a bbox) and values",
            str(result["goals_met"]["same_cubes"]),
            "yes",
            _yes(result["goals_met"]["same_cubes"]),
        )
    )
    return rows


def _archive_read() -> list[Row]:
    from benchmarks import archive_read

    r = archive_read.main()
    what = f"real-archive corpus, bbox across 3 UTM zones, {r['steps']} dates, {r['source_files']} source files"
    return [
        (
            f"read + mean, {what}, 2 threads: GAIA Lab / source-window decode limit (no warp) | odc-stac / limit",
            f"{r['gaia_over_limit']} | {r['odc_stac_over_limit']}",
            "",
            "",
        ),
        (
            "read + mean, real-archive corpus: odc-stac (same grid and chunks) time / GAIA Lab time; same mean",
            f"{r['gaia_over_odc_stac']}x; {r['same_mean_as_odc_stac']}",
            "",
            _yes(r["same_mean_as_odc_stac"]),
        ),
    ]


def _index_search() -> list[Row]:
    from benchmarks import index_search

    result = index_search.main()
    rows: list[Row] = []
    for row in result["rows"]:
        rustac = "rustac_s" in row
        rows.append(
            (
                f"item search over a stac-geoparquet index, {row['search']}, {row['items']:,} items "
                f"({row['found']} found): GAIA Lab | "
                + ("rustac (DuckDB) | " if rustac else "")
                + "pyarrow + stac-geoparquet; same items",
                f"{row['gaia_s']} s | "
                + (f"{row['rustac_s']} s | " if rustac else "")
                + f"{row['pyarrow_s']} s; "
                + (f"{row['rustac_same_items']}, " if rustac else "")
                + f"{row['same_items_as_pyarrow']}",
                "",
                "",
            )
        )
    if not isinstance(result["rustac"], dict):
        rows.append(("item search over a stac-geoparquet index: rustac", result["rustac"], "", ""))
    return rows


def _index_open() -> list[Row]:
    from benchmarks import index_open

    result = index_open.main()
    rows: list[Row] = []
    for row in result["rows"]:
        where = "bbox" if row["bbox"] else "no bbox"
        goal = {1_000_000: "< 2 s", 100_000: "< 3 s"}.get(row["items"], "")
        limit = {1_000_000: 2.0, 100_000: 3.0}.get(row["items"])
        rows.append(
            (
                f"lazy open from a stac-geoparquet index, real-archive corpus, {row['items']:,} items, {where}",
                f"{row['gaia_s']} s",
                goal,
                _yes(row["gaia_s"] < limit) if limit else "",
            )
        )
    for row in result["rows"]:
        if "lazycogs" not in row:
            continue
        where, theirs = "bbox" if row["bbox"] else "no bbox", row["lazycogs"]
        goal = "≤ lazycogs" if row["items"] == 10_000 else ""
        new = theirs["new_client_s"]
        rows.append(
            (
                f"lazy open from the index, real-archive corpus, {row['items']:,} items, {where}: GAIA Lab | lazycogs, "
                f"DuckDB client reused{' (new client)' if new is not None else ''}, GAIA/lazycogs; same grid",
                f"{row['gaia_s']} s | {theirs['s']} s{f' ({new} s)' if new is not None else ''}, "
                f"{theirs['gaia_over_lazycogs']}x; {theirs['same_grid']}",
                goal,
                _yes(row["gaia_s"] <= theirs["s"]) if goal else "",
            )
        )
    if isinstance(result["lazycogs"], dict):
        read = result["lazycogs"]["read"]
        rows += [
            (
                f"read + mean from the index, {read['items']:,} items, bbox, {read['steps']} dates, {read['threads']} "
                "threads: GAIA Lab | lazycogs (nodata=-9999 workaround)",
                f"{read['gaia_s']} s | {read['lazycogs_s']} s",
                "",
                "",
            ),
            (
                "read + mean from the index: lazycogs' pixels equal to GAIA Lab's (1e-5 rel.), same NaN mask | "
                "GAIA Lab's finite pixels lazycogs loses as released (NaN nodata)",
                f"{read['equal_pixels_share']:.2%}, {read['same_nan_mask']} | {read['released_finite_lost_share']:.1%}",
                "",
                "",
            ),
        ]
    else:
        rows.append(("lazy open from the index: lazycogs", result["lazycogs"], "", ""))
    peer = result["peer"]
    rows.append(
        (
            f"lazy open from the index, {peer['items']:,} items, bbox: odc-stac (items from stac-geoparquet) time / "
            "GAIA Lab time",
            f"{peer['odc_over_gaia']}x",
            "",
            "",
        )
    )
    rows.append(
        (
            "lazy open from the index: odc-stac's grid (a window of it) and values, the item files' grid",
            str(result["goals_met"]["same_cube"]),
            "yes",
            _yes(result["goals_met"]["same_cube"]),
        )
    )
    return rows


def _read_throughput() -> list[Row]:
    from benchmarks import read_throughput

    result = read_throughput.main()
    main_row = next(r for r in result["rows"] if "raw_zarr_mpix_s" in r)
    goals = result["goals_met"]
    n, threads = f"{main_row['items']:,}", main_row["threads"]
    rows: list[Row] = [
        (
            f"decode limit, {n} COGs, {threads} threads: best of {len(read_throughput.LIMITS)} rasterio configurations",
            main_row["limit_configuration"],
            "",
            "",
        ),
        (
            f"read + mean, {n} COGs, {threads} threads: GAIA Lab / decode limit, warm",
            f"{main_row['gaia_cog_over_limit']}",
            "≥ 1.0",
            _yes(goals["cog_ge_1_0_of_limit_warm"]),
        ),
        (
            "read + mean, same: GAIA Lab / decode limit, cold (host-cached disk: close to warm)",
            f"{main_row['cold_gaia_cog_over_limit']}",
            "≥ 1.0",
            _yes(goals["cog_ge_1_0_of_limit_cold"]),
        ),
        (
            "read + mean limit, same: best hand-written read + NaN-aware mean (plain | fused) / decode limit",
            f"{main_row['read_mean_limit_over_decode_limit']} ({main_row['plain_hand_written_s']} s | "
            f"{main_row['fused_s']} s)",
            "",
            "",
        ),
        (
            "read + mean, same: GAIA Lab / read + mean limit, warm",
            f"{main_row['gaia_cog_over_read_mean_limit']}",
            "",
            "",
        ),
        (
            "read only (every chunk read, no mean), same: GAIA Lab / decode limit, warm | cold",
            f"{main_row['gaia_cog_load_only_over_limit']} | {main_row['cold_gaia_cog_load_only_over_limit']}",
            "",
            "",
        ),
        (
            'read + mean, same, Rust decode (reader="async-tiff", same chunks): GAIA Lab / limit, warm | cold',
            f"{main_row['async_tiff_over_limit']} | {main_row['cold_async_tiff_over_limit']}",
            "≥ 1.3",
            _yes(goals["async_tiff_ge_1_3_of_limit_warm"] and goals["async_tiff_ge_1_3_of_limit_cold"]),
        ),
        (
            "read only, same, Rust decode: GAIA Lab / decode limit, warm | cold",
            f"{main_row['async_tiff_load_only_over_limit']} | {main_row['cold_async_tiff_load_only_over_limit']}",
            "",
            "",
        ),
        (
            "read + mean, same, Rust decode: mean equal to the GDAL reader's, bit for bit",
            str(main_row["async_tiff_same_mean"]),
            "yes",
            _yes(goals["async_tiff_same_mean"]),
        ),
        (
            "read + mean, same: odc-stac (GAIA Lab's chunks) time / GAIA Lab time, warm | cold",
            f"{main_row['gaia_over_odc_stac']}x | {main_row['cold_gaia_over_odc_stac']}x",
            "",
            "",
        ),
        ("read + mean, same: odc-stac (same chunks) / decode limit", f"{main_row['odc_stac_over_limit']}", "", ""),
        (
            "read + mean, same: odc-stac (its default chunks) / decode limit",
            f"{main_row['odc_stac_default_chunks_over_limit']}",
            "",
            "",
        ),
        (
            "read + mean, same: stackstac (float32) / decode limit",
            f"{main_row['stackstac_over_limit']}",
            "",
            "",
        ),
        (
            "read + mean, Zarr: GAIA Lab / raw xr.open_zarr",
            f"{main_row['gaia_zarr_over_raw_zarr']}",
            "≥ 0.95",
            _yes(goals["zarr_ge_0_95_of_raw"]),
        ),
    ]
    for row in result["rows"]:
        rows.append(
            (
                f"read + mean scaling: {row['items']:,} items, {row['threads']} thread(s): GAIA Lab | odc-stac",
                f"{row['gaia_cog_s']} s | {row['odc_stac_s']} s",
                "",
                "",
            )
        )
    seconds = {(r["items"], r["threads"]): r["gaia_cog_s"] for r in result["rows"]}
    small, large = min(read_throughput.ITEMS), max(read_throughput.ITEMS)
    one, two = min(read_throughput.THREADS), max(read_throughput.THREADS)
    if large > small:
        growth = seconds[(large, two)] / seconds[(small, two)]
        rows.append(
            (
                f"read + mean growth {small:,} -> {large:,} items, GAIA Lab ({large // small}x is linear)",
                f"{growth:.1f}x",
                "",
                "",
            )
        )
    if two > one:
        rows.append(
            (
                f"read + mean speed-up {one} -> {two} threads, {large:,} items, GAIA Lab",
                f"{seconds[(large, one)] / seconds[(large, two)]:.2f}x",
                "",
                "",
            )
        )
    return rows


def _federated_search() -> list[Row]:
    from benchmarks import federated_search

    result = federated_search.main()
    return [
        (
            "federated search, 5 APIs: GAIA Lab / slowest single API",
            f"{result['federated_over_slowest']}",
            "≤ 1.15",
            _yes(result["federated_over_slowest"] <= 1.15),
        ),
        (
            "federated search, 5 APIs: thread-pool pystac-client / slowest single API (no ranking)",
            f"{result['pooled_over_slowest']}",
            "",
            "",
        ),
        (
            "federated search, 5 APIs: thread-pool pystac-client (clients opened once, dicts) / GAIA Lab "
            "(ranks, de-duplicates)",
            f"{result['pooled_over_federated']}x",
            "≥ 1.0x",
            _yes(result["pooled_over_federated"] >= 1.0),
        ),
        (
            "federated search, 5 APIs: sequential pystac-client (Client.open per run) / GAIA Lab",
            f"{result['sequential_over_federated']}x",
            "≥ 3x",
            _yes(result["sequential_over_federated"] >= 3),
        ),
        (
            f"federated search, 5 APIs: GAIA Lab / EODAG {result['eodag_version']} (thread pool, same pages; one run"
            " after a warm-up)",
            f"{result['federated_over_eodag']}",
            "",
            "",
        ),
        (
            "federated search, 5 APIs: CPU s per search, GAIA Lab | its 5 servers (slowest API alone: client | server)",
            f"{result['cpu_s']['federated']['client']} | {result['cpu_s']['federated']['servers']} "
            f"({result['cpu_s']['slowest_single']['client']} | {result['cpu_s']['slowest_single']['servers']})",
            "",
            "",
        ),
        (
            "federated search, 5 APIs, servers answering encoded pages (servers' CPU ~0): GAIA Lab | thread-pool "
            "pystac-client / slowest single API",
            f"{result['cached_servers']['federated_over_slowest']} | {result['cached_servers']['pooled_over_slowest']}",
            "",
            "",
        ),
    ]


def _federated_catalogues() -> list[Row]:
    from benchmarks import federated_catalogues

    result = federated_catalogues.main()
    return [
        (
            f"federated search, 5 STAC APIs + CSW + OGC API - Records ({result['iso_records_per_server']} ISO records "
            f"each), q={result['query']!r}: GAIA Lab / slowest single member ({result['slowest_single']})",
            f"{result['federated_over_slowest']}",
            "≤ 1.3",
            _yes(result["federated_over_slowest"] <= 1.3),
        ),
    ]


def _cli_latency() -> list[Row]:
    from benchmarks import cli_latency

    result = cli_latency.main()
    seconds, goals = result["seconds"], result["goals_met"]
    return [
        (
            f"CLI: gaia-lab --help | stac-client --help | eodag --help (fresh process, best of {result['repeat']};"
            " stac-client and import pystac_client: one run)",
            f"{seconds['gaia-lab --help']} s | {seconds['stac-client --help']} s | {seconds['eodag --help']} s",
            "< 0.5 s",
            _yes(goals["help_lt_0_5_s"]),
        ),
        (
            "CLI: import gaia_lab | import pystac_client | import eodag",
            f"{seconds['import gaia_lab']} s | {seconds['import pystac_client']} s | {seconds['import eodag']} s",
            "",
            "",
        ),
        (
            "CLI: gaia-lab search sst on the demo lake",
            f"{seconds['gaia-lab search sst (demo lake)']} s",
            "< 1.5 s",
            _yes(goals["search_lt_1_5_s"]),
        ),
    ]


# Benchmarks this run will run (set by main), and what one benchmark measured for another that shares its set-up.
SELECTED: set[str] = set()
SHARED: dict[str, Any] = {}


def _platform() -> list[Row]:
    from benchmarks import platform, processes

    def processes_on(running: Any) -> None:
        begun = time.perf_counter()
        SHARED["processes"] = processes.main([], on_platform=running)
        SHARED["processes_s"] = time.perf_counter() - begun

    # One platform start for both when both run (the processes benchmark's own start-up is ~30 s of a 10 min run).
    then = processes_on if "processes" in SELECTED and processes.PLATFORM else None
    result: dict[str, Any] = platform.main([], then=then)
    goals = result["goals_met"]
    return [
        (
            "platform: Dask Gateway cluster / LocalCluster, request -> first result",
            f"{result['gateway_over_local']}x",
            "",
            "",
        ),
        (
            "platform: Chromium sign in -> notebook kernel idle, p50 | p95 of 10 new users",
            f"{result['browser_usable_p50_s']} s | {result['browser_usable_p95_s']} s",
            "< 3 s | < 5 s",
            _yes(goals["usable_lab_p50_lt_3s"] and goals["usable_lab_p95_lt_5s"]),
        ),
        (
            "platform: where a login goes (medians): sign in -> /lab page (spawn) | -> launcher (JupyterLab in the "
            "browser) | -> kernel idle",
            " | ".join(f"{took} s" for took in result["browser_login_steps_median_s"].values()),
            "",
            "",
        ),
        (
            "platform: HTTP login -> /lab answered, median of 3 new users: warm_processes on | off (JupyterLab servers "
            "forked | started)",
            f"{result['login_to_lab_median_s']} s | {result['login_to_lab_cold_median_s']} s "
            f"({result['login_cold_over_warm']}x)",
            "",
            "",
        ),
        (
            "platform: Dask Gateway request -> first result (warm processes)",
            f"{result['gateway_median_s']} s",
            "< 2 s",
            _yes(goals["gateway_lt_2s"]),
        ),
        (
            "platform: Dask Gateway, warm_processes off / on, request -> first result",
            f"{result['gateway_cold_over_warm']}x",
            "",
            "",
        ),
    ]


def _s3_read() -> list[Row]:
    from benchmarks import s3_read

    result = s3_read.main()
    n, threads = result["items"], result["threads"]
    return [
        (
            f"S3 / local read throughput, {n} COGs, {threads} threads (moto server)",
            f"{result['cog_s3_over_local']}x",
            "",
            "",
        ),
        (f"S3 / local read throughput, Zarr, {n} steps, {threads} threads", f"{result['zarr_s3_over_local']}x", "", ""),
    ]


def _virtual_zarr() -> list[Row]:
    from benchmarks import virtual_zarr

    r = virtual_zarr.main()
    goals = r["goals_met"]
    n = f"{r['files']:,}"
    return [
        (
            f"open {n} NetCDF files: open_mfdataset (fastest configuration) time / virtual Zarr (Icechunk) time",
            f"{r['open_ratio']}x",
            "≥ 20x",
            _yes(goals["open_ge_20x"]),
        ),
        (
            f"open {n} NetCDF files: open_mfdataset | Icechunk | kerchunk JSON",
            f"{r['open_mfdataset_s']} s | {r['open_virtual_s']} s | {r['open_kerchunk_s']} s",
            "",
            "",
        ),
        (
            f"read + mean, {n} NetCDF files, {r['threads']} threads: virtual Zarr / NetCDF read directly "
            "(xarray's file cache holding every file)",
            f"{r['read_ratio']}x",
            "≥ 0.9x",
            _yes(goals["read_ge_0_9x"] and goals["same_mean"]),
        ),
        (
            "read + mean, same: virtual Zarr / NetCDF read directly, xarray's default file cache (128 files)",
            f"{r['read_ratio_default_cache']}x",
            "",
            "",
        ),
    ]


def _processes() -> list[Row]:
    from benchmarks import processes

    r = SHARED.pop("processes", None) or processes.main([])
    quick = " (library run on a LocalCluster, no service)" if r["quick"] else ""
    what = f"regrid {r['inputs']['entry']} to EPSG:3857 at {r['inputs']['target']['resolution'] / 1000:g} km"
    return [
        (
            f"OGC API - Processes: process run / same xarray computation on the same cluster, {what}{quick}",
            f"{r['ratio']}x ({statistics.median(r['service_s']):.1f} s | {statistics.median(r['direct_s']):.1f} s)",
            "≤ 1.2x",
            _yes(r["goal_met"]),
        ),
        (
            "OGC API - Processes: submission -> first progress report | first chunk report",
            f"{statistics.median(r['first_progress_s']):.2f} s | {statistics.median(r['first_chunk_s']):.2f} s",
            "",
            "",
        ),
    ]


BENCHMARKS: dict[str, Callable[[], list[Row]]] = {
    "open_latency": _open_latency,
    "archive_open": _archive_open,
    "archive_read": _archive_read,
    "index_open": _index_open,
    "index_search": _index_search,
    "read_throughput": _read_throughput,
    "federated_search": _federated_search,
    "federated_catalogues": _federated_catalogues,
    "cli_latency": _cli_latency,
    "s3_read": _s3_read,
    "virtual_zarr": _virtual_zarr,
    "platform": _platform,
    "processes": _processes,
}

# --quick: module constants set before the benchmarks run (name -> {constant: value}).
QUICK: dict[str, dict[str, Any]] = {
    "open_latency": {"SIZES": (100, 1000), "REPEAT": 1},
    "archive_open": {"DATES": 5, "REPEAT": 1},
    "archive_read": {"DATES": 5, "STEPS": 5, "REPEAT": 1},
    "index_open": {"DATES": 5, "SIZES": (500, 5_000), "REPEAT": 1, "LAZYCOGS": False},
    "index_search": {"DATES": 5, "SIZES": (500, 5_000), "REPEAT": 1, "LAZYCOGS": False},
    "read_throughput": {"ITEMS": (100,), "THREADS": (2,), "REPEAT": 1},
    "federated_search": {"ITEMS": 200, "ROUNDS": 1, "REPEAT": 1},
    "federated_catalogues": {"RECORDS": 40, "ROUNDS": 1},
    "cli_latency": {"REPEAT": 1},
    "s3_read": {"ITEMS": 50, "REPEAT": 1},
    "virtual_zarr": {"FILES": 100, "REPEAT": 1},
    "processes": {"PLATFORM": False, "RESOLUTION": 20_000.0, "REPEAT": 1},
}


def _quick() -> None:
    import importlib

    for name, constants in QUICK.items():
        module = importlib.import_module(f"benchmarks.{name}")
        for constant, value in constants.items():
            setattr(module, constant, value)


def _yes(met: bool) -> str:
    return "yes" if met else "NO"


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{host.machine()}, {os.cpu_count()} cores, {memory:.0f} GiB, {host.system()} {host.release()}, "
        f"Python {host.python_version()}"
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def durations(took: dict[str, float]) -> str:
    """``name m:ss`` of each benchmark run, in run order: where the run's minutes went."""
    return ", ".join(f"{name} {round(s) // 60}:{round(s) % 60:02d}" for name, s in took.items())


def markdown(rows: list[Row], seconds: float, took: dict[str, float]) -> str:
    lines = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; "
        f"`python -m benchmarks` took {seconds / 60:.1f} min ({durations(took)}).",
        "",
        "| measure | result | goal | met |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {_cell(what)} | {_cell(value)} | {_cell(goal)} | {met} |" for what, value, goal, met in rows]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these")
    parser.add_argument("--markdown", type=Path, help="write the summary table as Markdown to this file")
    parser.add_argument(
        "--record", action="store_true", help="also append this run to the tracked history in benchmarks/results/"
    )
    parser.add_argument("--quick", action="store_true", help="CI smoke run: small corpora, one round, no platform")
    args = parser.parse_args()
    common.RECORD = args.record
    if args.quick:
        if args.record:
            parser.error("--quick runs are not recorded")
        _quick()
    started = time.perf_counter()
    rows: list[Row] = []
    failed = []
    took: dict[str, float] = {}
    SELECTED.update(
        name
        for name in BENCHMARKS
        if not ((args.only and name not in args.only) or (args.quick and not args.only and name not in QUICK))
    )
    for name, run in BENCHMARKS.items():
        if name not in SELECTED:
            continue
        print(f"\n=== {name} ===", flush=True)
        begun = time.perf_counter()
        try:
            rows += run()
        except Exception:
            traceback.print_exc()
            failed.append(name)
            rows.append((f"{name}: failed, see the log", "", "", "NO"))
        took[name] = took.get(name, 0.0) + time.perf_counter() - begun
        if name == "platform" and "processes_s" in SHARED:  # processes ran on this platform: its minutes are its own
            took["processes"] = SHARED.pop("processes_s")
            took[name] -= took["processes"]
            print(f"=== processes, on the platform benchmark's platform: {took['processes']:.0f} s ===")
        print(f"=== {name}: {took[name]:.0f} s ===", flush=True)
    seconds = time.perf_counter() - started
    mode = " (--quick: smoke run, not figures)" if args.quick else ""
    print(f"\nGAIA Lab benchmarks on {machine()} ({seconds / 60:.1f} min){mode}")
    print(f"  {durations(took)}")
    width = max(len(r[0]) for r in rows)
    for what, value, goal, met in rows:
        print(f"  {what.ljust(width)}  {value:>28}  {goal:>8}  {met}")
    table = markdown(rows, seconds, took)
    common.RUNS.mkdir(exist_ok=True)
    summary = common.RUNS / f"summary-{datetime.now(UTC):%Y%m%dT%H%M%S}.md"
    summary.write_text(table, encoding="utf-8")
    print(f"\nsummary: {summary}" + (" (history appended to benchmarks/results/)" if args.record else ""))
    if args.markdown:
        args.markdown.write_text(table, encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
