"""Lazy open from a stac-geoparquet item index: 10,000, 100,000 and 1,000,000 items of the real-archive corpus.

The index of the real-archive corpus (``archive_corpus``: 10 UTM zones, a 200 m and a 400 m band, overlapping
tiles, half of the items without a grid) is written with stac-geoparquet (``gaia_lab.cube.stac_index.write_index``).
Larger indexes repeat its 10,000 rows with new ids and later dates (every 3 days, as the corpus' revisit): the
hrefs point to the same real files, which is all a lazy open looks at, and the rows are a stac-geoparquet table
(the layout, schema and metadata stac-geoparquet wrote).

GAIA Lab: ``gl.open_datacube(<index>.parquet, crs=, resolution=[, bbox=])``, with and without a bbox.
Peer: odc-stac over the same 10,000 items loaded from the same Parquet file with stac-geoparquet
(``stac_table_to_items`` -> ``pystac.Item`` -> ``odc.stac.load``, same crs, resolution, chunks and bbox), the way a
user holding an index opens it with odc-stac today.

Peer: lazycogs 0.7.0 (a cube from stac-geoparquet through rustac's DuckDB, COGs read without GDAL), which needs
Python >= 3.12: it runs in its own venv (``bash scripts/setup-lazycogs.sh``: .venv-lazycogs, rustac 0.9.17 and
the DuckDB 1.5.5 extensions from PyPI) as a worker process (``benchmarks/lazycogs_peer.py``) that times its own
opens; they take turns with GAIA Lab's in the same rounds. ``lazycogs.open`` needs a bbox in the target CRS: it is
given the bounds of GAIA Lab's grid (its full extent for "no bbox"), so both cubes should have the same grid.
Its time is with one DuckdbClient reused across opens (a user's session); an open with a new client (what
``lazycogs.open`` makes when given none) is timed once on the corpus' own 10,000 items. The read: band ``fine``,
first 50 dates, mean over time, 2 dask threads, 10,000 items with the bbox, same chunks as GAIA Lab's. lazycogs
0.7.0 masks nodata with ``arr == nodata``, never true for the corpus' NaN nodata: as released it keeps the first
item's NaN outside its footprint and loses most pixels (reported as the share of GAIA Lab's finite pixels it lacks,
one run); timed and compared is the user-level workaround, ``nodata=-9999`` then ``.where(da != -9999)``. Its
values differ from GAIA Lab's at some source-pixel edges (nearest-pixel rounding): reported as the share of GAIA
Lab's finite pixels it equals.

Checks: the index cube has the grid (a window of it with a bbox) and the values of odc-stac's cube on a sample of
chunks, and the same grid as GAIA Lab's cube opened from the item files.

Goals: 1,000,000 items indexed < 2 s to a lazy cube, 100,000 items < 3 s; open cost independent of item
count; 10,000 items, with and without a bbox, in no more than lazycogs' time (its client reused).
Without .venv-lazycogs the benchmark runs the rest and says how to set it up; ``--quick`` leaves lazycogs out.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import gaia_lab as gl
from benchmarks import archive_corpus
from benchmarks.archive_open import BANDS, BBOX, CRS, RESOLUTION, agree
from benchmarks.common import demo_lake, interleaved, print_table, record, spread
from benchmarks.open_latency import item_documents

DATES = archive_corpus.DATES
SIZES = (10_000, 100_000, 1_000_000)
REPEAT = 3
PEER_REPEAT = 1
PEER_BBOX = True  # odc-stac without a bbox on 10,000 items of 100 grids takes minutes: with the bbox only
LAZYCOGS = True  # off in --quick: a smoke run needs no second Python
ROOT = Path(__file__).resolve().parents[1]
LAZYCOGS_PYTHON = ROOT / ".venv-lazycogs" / "bin" / "python"
NOT_SET_UP = "not set up: bash scripts/setup-lazycogs.sh"
READ_BAND, READ_STEPS, READ_THREADS, READ_REPEAT = "fine", 50, 2, 2


def index_of(catalog_path: Path) -> Path:
    """The corpus' items as a stac-geoparquet index beside its catalog (cached with the corpus)."""
    from gaia_lab.cube.stac_index import write_index

    path = catalog_path.parent / "items.parquet"
    if not path.exists():
        partial = path.with_suffix(".part")
        write_index(item_documents(catalog_path, archive_corpus.NAME), partial)
        partial.rename(path)
    return path


def repeated(index: Path, items: int) -> Path:
    """An index of ``items`` rows: the corpus' rows repeated with new ids and dates after the last."""
    path = index.with_name(f"items-{items}.parquet")
    if path.exists():
        return path
    table = pq.read_table(index)
    base = len(table)
    copies = -(-items // base)
    rows = np.tile(np.arange(base), copies)[:items]
    copy = np.repeat(np.arange(copies), base)[:items]
    grown = table.take(pa.array(rows))
    suffix = pa.array(np.char.add("-r", copy.astype(str)).astype(object), type=pa.string())
    ids = pc.binary_join_element_wise(grown["id"], suffix, "")
    shift = (copy * DATES * int(archive_corpus.REVISIT.total_seconds()) * 1_000_000).astype(np.int64)
    times = pc.add(grown["datetime"].cast(pa.int64()), pa.array(shift)).cast(grown.schema.field("datetime").type)
    grown = grown.set_column(grown.schema.get_field_index("id"), "id", ids)
    grown = grown.set_column(grown.schema.get_field_index("datetime"), "datetime", times)
    partial = path.with_suffix(".part")
    pq.write_table(grown, partial)
    partial.rename(path)
    return path


def open_index(path: Path, bbox: tuple[float, ...] | None) -> Any:
    return gl.open_datacube(str(path), crs=CRS, resolution=RESOLUTION, bbox=bbox)


def odc_stac_from_parquet(path: Path, bbox: tuple[float, ...] | None, chunks: dict[str, Any]) -> Any:
    """What a user holding the index does with odc-stac: items from stac-geoparquet, then ``odc.stac.load``."""
    import odc.stac
    import pystac
    from stac_geoparquet.arrow import stac_table_to_items

    items = [pystac.Item.from_dict(d) for d in stac_table_to_items(pq.read_table(path))]
    area: dict[str, Any] = {"bbox": bbox} if bbox else {}
    return odc.stac.load(items, BANDS, groupby="time", chunks=chunks, crs=CRS, resolution=RESOLUTION, **area)


class Lazycogs:
    """The lazycogs worker (benchmarks/lazycogs_peer.py in .venv-lazycogs): one JSON request, one JSON answer."""

    def __init__(self) -> None:
        # -P: the worker's folder must not come first on sys.path (benchmarks/platform.py shadows the stdlib's).
        self.process = subprocess.Popen(
            [str(LAZYCOGS_PYTHON), "-P", str(Path(__file__).with_name("lazycogs_peer.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def ask(self, **request: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"lazycogs worker exited ({self.process.poll()}) on {request['op']}")
        answer: dict[str, Any] = json.loads(line)
        if not answer.pop("ok"):
            raise RuntimeError(f"lazycogs worker, {request['op']}: {answer['error']}")
        return answer

    def timed(self, seconds: list[float], **request: Any) -> Callable[[], dict[str, Any]]:
        """An action for ``interleaved`` asking ``request``: the worker's own time of it goes to ``seconds`` (not
        the pipe's)."""

        def action() -> dict[str, Any]:
            answer = self.ask(**request)
            seconds.append(answer["seconds"])
            return answer

        return action

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def bounds_of(cube: Any) -> list[float]:
    """(minx, miny, maxx, maxy) of a cube's grid: given to lazycogs.open as its bbox, it yields the same grid."""
    box = cube.odc.geobox
    left, bottom, right, top = box.boundingbox
    return [float(left), float(bottom), float(right), float(top)]


def grid_matches(cube: Any, answer: dict[str, Any]) -> bool:
    box = cube.odc.geobox
    return list(box.shape) == answer["shape"] and np.allclose(list(box.affine)[:6], answer["transform"])


def chunks_of(cube: Any) -> dict[str, int]:
    return dict(zip(("time", "y", "x"), (int(c) for c in cube[BANDS[0]].data.chunksize), strict=True))


def gaia_mean(cube: Any) -> Any:
    import dask

    part = cube[READ_BAND].isel(time=slice(0, READ_STEPS))

    def mean() -> np.ndarray:
        with dask.config.set(scheduler="threads", num_workers=READ_THREADS):
            return np.asarray(part.mean("time").values)

    return mean


def compare_read(lazycogs: Lazycogs, index: Path) -> dict[str, Any]:
    """GAIA Lab's and lazycogs' mean on the same grid, interleaved, best of READ_REPEAT; lazycogs as released once."""
    cube = open_index(index, BBOX)
    ours = gaia_mean(cube)
    request = {
        "op": "mean",
        "path": str(index),
        "bbox": bounds_of(cube),
        "crs": CRS,
        "resolution": RESOLUTION,
        "chunks": chunks_of(cube),
        "band": READ_BAND,
        "steps": READ_STEPS,
        "threads": READ_THREADS,
    }
    with tempfile.TemporaryDirectory() as folder:
        theirs_path, released_path = Path(folder) / "lazycogs.npy", Path(folder) / "released.npy"
        worker_s: list[float] = []

        def theirs() -> dict[str, Any]:
            answer = lazycogs.ask(**request, mode="workaround", out=str(theirs_path))
            worker_s.append(answer["seconds"])
            return answer

        ours()  # warm: the page cache, which both read the same files through
        runs = interleaved(READ_REPEAT, {"gaia": ours, "lazycogs": theirs})
        reference, answer = runs["gaia"][1], runs["lazycogs"][1]
        values = np.load(theirs_path)
        released = lazycogs.ask(**request, mode="released", out=str(released_path))
        released_values = np.load(released_path)
    finite = np.isfinite(reference)
    close = np.abs(values.astype(np.float64) - reference) <= 1e-5 * np.abs(reference.astype(np.float64))
    gaia_s, lazycogs_s = min(runs["gaia"][0]), min(worker_s)
    return {
        "items": pq.ParquetFile(index).metadata.num_rows,
        "bbox": BBOX,
        "steps": READ_STEPS,
        "threads": READ_THREADS,
        "chunks": request["chunks"],
        "gaia_s": round(gaia_s, 3),
        "lazycogs_s": round(lazycogs_s, 3),
        "spreads": [spread(runs["gaia"][0]), spread(worker_s)],
        "gaia_over_lazycogs": round(gaia_s / lazycogs_s, 2),
        "same_time_steps": answer["times"] == [str(t)[:19] for t in cube.time.values[:READ_STEPS]],
        "same_nan_mask": bool(np.array_equal(np.isnan(values), np.isnan(reference))),
        # of GAIA Lab's finite pixels: the NaN ones, outside every footprint, would only pad the share
        "equal_pixels_share": round(float(np.sum(close & finite) / finite.sum()), 5),
        "max_abs_diff": float(np.nanmax(np.abs(values.astype(np.float64) - reference))),
        "released_s_one_run": round(released["seconds"], 3),
        "released_finite_lost_share": round(1 - float(np.sum(np.isfinite(released_values) & finite) / finite.sum()), 4),
    }


def open_request(path: Path, cube: Any) -> dict[str, Any]:
    """lazycogs' open of ``path`` on the grid of GAIA Lab's ``cube`` (its bounds as the bbox), same chunks."""
    return {
        "op": "open",
        "path": str(path),
        "bbox": bounds_of(cube),
        "crs": CRS,
        "resolution": RESOLUTION,
        "chunks": chunks_of(cube),
    }


def with_lazycogs(enabled: bool, measure: Callable[[Lazycogs | None], dict[str, Any]]) -> dict[str, Any]:
    """``measure`` given a running lazycogs worker (None when off or not set up), stopped after."""
    lazycogs = Lazycogs() if enabled and LAZYCOGS_PYTHON.exists() else None
    try:
        return measure(lazycogs)
    finally:
        if lazycogs is not None:
            lazycogs.stop()


def indexes(index: Path, sizes: Sequence[int]) -> dict[int, Path]:
    """An index of each of ``sizes`` not below the corpus' own item count, and the corpus' own, smallest first."""
    base_items = pq.ParquetFile(index).metadata.num_rows
    wanted = sorted({base_items, *(s for s in sizes if s >= base_items)})
    return {n: index if n == base_items else repeated(index, n) for n in wanted}


def main() -> dict[str, Any]:
    return with_lazycogs(LAZYCOGS, measure)


def measure(lazycogs: Lazycogs | None) -> dict[str, Any]:
    lake = demo_lake()
    catalog_path = archive_corpus.collection(lake, DATES)
    started = time.perf_counter()
    index = index_of(catalog_path)
    write_s = time.perf_counter() - started
    paths = indexes(index, SIZES)
    sizes = list(paths)
    base_items = sizes[0]
    warm = open_index(index, None)  # warm: imports, PROJ database
    hello: dict[str, Any] = {}
    if lazycogs:
        hello = lazycogs.ask(op="hello")
        lazycogs.ask(**open_request(index, warm), client="shared")  # warm: imports, PROJ database, a COG header
    rows = []
    for bbox in (None, BBOX):
        actions: dict[str, Any] = {}
        lazycogs_s: dict[int, list[float]] = {n: [] for n in sizes}
        new_client_s: dict[int, list[float]] = {n: [] for n in sizes}
        for n in sizes:
            actions[str(n)] = lambda p=paths[n], b=bbox: open_index(p, b)
            if lazycogs:
                # GAIA Lab's grid of this case, untimed: lazycogs gets its bounds
                request = open_request(paths[n], open_index(paths[n], bbox))
                actions[f"lazycogs {n}"] = lazycogs.timed(lazycogs_s[n], **request, client="shared")
                if n == base_items:  # a new client adds its construction, the same at every size
                    actions[f"lazycogs new client {n}"] = lazycogs.timed(new_client_s[n], **request, client="new")
        runs = interleaved(REPEAT, actions, once=[name for name in actions if "new client" in name])
        for n in sizes:
            times, cube = runs[str(n)]
            row = {
                "items": n,
                "bbox": bbox,
                "gaia_s": round(min(times), 3),
                "spread": spread(times),
                "shape": [int(s) for s in cube[BANDS[0]].shape],
                "chunks": int(cube[BANDS[0]].data.npartitions),
            }
            if lazycogs:
                best = min(lazycogs_s[n])
                answer = runs[f"lazycogs {n}"][1]
                row["lazycogs"] = {
                    "s": round(best, 3),
                    "spread": spread(lazycogs_s[n]),
                    "new_client_s": round(new_client_s[n][0], 3) if new_client_s[n] else None,
                    "gaia_over_lazycogs": round(min(times) / best, 2),
                    "same_grid": bool(grid_matches(cube, answer)),
                    "same_time_steps": answer["times"] == len(cube.time),
                }
            rows.append(row)
    # the peer, and the checks, on the corpus' own items
    peer: dict[str, Any] = {}
    ours = open_index(index, BBOX if PEER_BBOX else None)
    chunks = dict(zip(("time", "y", "x"), ours[BANDS[0]].data.chunksize, strict=True))
    bbox = BBOX if PEER_BBOX else None
    runs = interleaved(
        PEER_REPEAT,
        {
            "gaia": lambda: open_index(index, bbox),
            "odc_stac": lambda: odc_stac_from_parquet(index, bbox, chunks),
        },
    )
    t_gaia, ours = min(runs["gaia"][0]), runs["gaia"][1]
    t_odc, reference = min(runs["odc_stac"][0]), runs["odc_stac"][1]
    ours_box, odc_box = ours.odc.geobox, reference.odc.geobox
    same_grid = odc_box[odc_box.overlap_roi(ours_box)] == ours_box if bbox else ours_box == odc_box
    catalog = gl.open_catalog({"providers": [{"name": "bench", "hub": "land", "url": str(catalog_path)}]})
    from_files = catalog[f"bench/{archive_corpus.NAME}"].to_xarray(bbox=bbox, crs=CRS, resolution=RESOLUTION)
    if bbox:
        # With a bbox odc-stac's grid is wider (GAIA Lab clips the box to the footprints) and nearest resampling of
        # a neighbouring zone's tile at other window offsets picks other edge pixels: values are compared with the
        # item-file cube on the same grid, which archive_open compares with odc-stac on that grid.
        reference = from_files
    peer = {
        "items": base_items,
        "bbox": bbox,
        "gaia_s": round(t_gaia, 3),
        "odc_stac_s": round(t_odc, 3),
        "odc_over_gaia": round(t_odc / t_gaia, 1),
        "same_grid_as_odc_stac": bool(same_grid),
        "values_agree": bool(same_grid) and agree(ours, reference),
        "same_grid_as_item_files": bool(from_files.odc.geobox == ours.odc.geobox),
    }
    largest = max(sizes)
    by = {(r["items"], r["bbox"] is not None): r for r in rows}
    theirs: dict[str, Any] | str = "off (--quick)" if not LAZYCOGS else NOT_SET_UP
    if lazycogs:
        theirs = {**hello, "read": compare_read(lazycogs, index)}
    result = {
        "corpus": f"real-archive corpus, {base_items:,} items repeated to {largest:,}",
        "index_write_s": round(write_s, 2),
        "rows": rows,
        "peer": peer,
        "lazycogs": theirs,
        "goals_met": {
            "10k_le_lazycogs": all(by[(10_000, b)]["gaia_s"] <= by[(10_000, b)]["lazycogs"]["s"] for b in (False, True))
            if lazycogs and (10_000, False) in by
            else None,
            "1m_under_2_s": all(by[(largest, b)]["gaia_s"] < 2 for b in (False, True)) if largest >= 10**6 else None,
            "100k_under_3_s": all(by[(100_000, b)]["gaia_s"] < 3 for b in (False, True))
            if (100_000, False) in by
            else None,
            "same_cube": peer["values_agree"] and peer["same_grid_as_item_files"],
        },
        "cpu_count": os.cpu_count(),
    }
    table = []
    for row in rows:
        where = "bbox" if row["bbox"] else "no bbox"
        table.append(
            (
                f"index open, {row['items']:,} items, {where} ({row['chunks']:,} chunks a band)",
                f"{row['gaia_s']:.2f} s",
                row["spread"],
            )
        )
    table += [
        (
            f"odc-stac (items from stac-geoparquet) / gaia index open, {base_items:,} items, bbox",
            f"{peer['odc_over_gaia']}x",
            f"{peer['odc_stac_s']:.1f} s vs {peer['gaia_s']:.2f} s",
        ),
        (
            "same grid as odc-stac (window) | values agree"
            + (" (with the item-file cube)" if PEER_BBOX else "")
            + " | grid of the item-file cube",
            f"{peer['same_grid_as_odc_stac']} | {peer['values_agree']} | {peer['same_grid_as_item_files']}",
            "",
        ),
    ]
    for row in rows if lazycogs else []:
        where, lc = "bbox" if row["bbox"] else "no bbox", row["lazycogs"]
        table.append(
            (
                f"lazycogs index open, {row['items']:,} items, {where} (GAIA Lab's bounds), reused client",
                f"{lc['s']:.3f} s",
                f"GAIA/lazycogs {lc['gaia_over_lazycogs']}x, same grid {lc['same_grid']}, {lc['spread']}"
                + (f", new client {lc['new_client_s']:.2f} s" if lc["new_client_s"] is not None else ""),
            )
        )
    if isinstance(theirs, dict):
        read = theirs["read"]
        table += [
            (
                f"read + mean, {read['items']:,} items, bbox, {read['steps']} dates, {read['threads']} threads: "
                "GAIA Lab | lazycogs (nodata -9999)",
                f"{read['gaia_s']:.2f} | {read['lazycogs_s']:.2f} s",
                f"GAIA/lazycogs {read['gaia_over_lazycogs']}x",
            ),
            (
                "lazycogs read: pixels equal (1e-5 rel.) | same NaN mask | GAIA Lab's finite pixels lost as released",
                f"{read['equal_pixels_share']:.2%} | {read['same_nan_mask']} | "
                f"{read['released_finite_lost_share']:.1%}",
                "",
            ),
        ]
    else:
        table.append(("lazycogs", theirs, ""))
    print_table("lazy open from a stac-geoparquet item index (real-archive corpus)", table)
    record("index_open", result)
    return result


if __name__ == "__main__":
    began = time.perf_counter()
    main()
    print(json.dumps({"seconds": round(time.perf_counter() - began, 1)}))
