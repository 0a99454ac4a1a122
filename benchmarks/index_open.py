"""Lazy open from a stac-geoparquet item index: 10,000, 100,000 and 1,000,000 items of the real-archive corpus.

The index of the real-archive corpus (``archive_corpus``: 10 UTM zones, a 200 m and a 400 m band, overlapping
tiles, half of the items without a grid) is written with stac-geoparquet (``gaia_lab.cube.stac_index.write_index``).
Larger indexes repeat its 10,000 rows with new ids and later dates (every 3 days, as the corpus' revisit): the
hrefs point to the same real files, which is all a lazy open looks at, and the rows are a stac-geoparquet table
(the layout, schema and metadata stac-geoparquet wrote).

GAIA Lab: ``gl.open_datacube(<index>.parquet, crs=, resolution=[, bbox=])``, with and without a bbox.
Peer: odc-stac over the same 10,000 items loaded from the same Parquet file with stac-geoparquet
(``stac_table_to_items`` -> ``pystac.Item`` -> ``odc.stac.load``, same crs, resolution, chunks and bbox), the way a
user holding an index opens it with odc-stac today. lazycogs (a cube from stac-geoparquet without GDAL) needs
Python >= 3.12, which neither this project's environment (3.11) nor Debian 12's packages offer: not run.

Checks: the index cube has the grid (a window of it with a bbox) and the values of odc-stac's cube on a sample of
chunks, and the same grid as GAIA Lab's cube opened from the item files.

Goals: 1,000,000 items indexed < 2 s to a lazy cube, 100,000 items < 3 s; open cost independent of item
count.
"""

from __future__ import annotations

import json
import os
import time
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


def odc_stac_from_parquet(path: Path, bbox: tuple[float, ...] | None, chunks: dict[str, int]) -> Any:
    """What a user holding the index does with odc-stac: items from stac-geoparquet, then ``odc.stac.load``."""
    import odc.stac
    import pystac
    from stac_geoparquet.arrow import stac_table_to_items

    items = [pystac.Item.from_dict(d) for d in stac_table_to_items(pq.read_table(path))]
    area = {"bbox": bbox} if bbox else {}
    return odc.stac.load(items, BANDS, groupby="time", chunks=chunks, crs=CRS, resolution=RESOLUTION, **area)


def main() -> dict[str, Any]:

    lake = demo_lake()
    catalog_path = archive_corpus.collection(lake, DATES)
    started = time.perf_counter()
    index = index_of(catalog_path)
    write_s = time.perf_counter() - started
    base_items = pq.ParquetFile(index).metadata.num_rows
    sizes = sorted({base_items, *(s for s in SIZES if s >= base_items)})
    paths = {n: index if n == base_items else repeated(index, n) for n in sizes}
    open_index(index, None)  # warm: imports, PROJ database
    rows = []
    for bbox in (None, BBOX):
        runs = interleaved(REPEAT, {str(n): (lambda p=paths[n], b=bbox: open_index(p, b)) for n in sizes})
        for n in sizes:
            times, cube = runs[str(n)]
            rows.append(
                {
                    "items": n,
                    "bbox": bbox,
                    "gaia_s": round(min(times), 3),
                    "spread": spread(times),
                    "shape": [int(s) for s in cube[BANDS[0]].shape],
                    "chunks": int(cube[BANDS[0]].data.npartitions),
                }
            )
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
    result = {
        "corpus": f"real-archive corpus, {base_items:,} items repeated to {largest:,}",
        "index_write_s": round(write_s, 2),
        "rows": rows,
        "peer": peer,
        "goals_met": {
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
    print_table("lazy open from a stac-geoparquet item index (real-archive corpus)", table)
    record("index_open", result)
    return result


if __name__ == "__main__":
    began = time.perf_counter()
    main()
    print(json.dumps({"seconds": round(time.perf_counter() - began, 1)}))
