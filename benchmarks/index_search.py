"""Item search over a stac-geoparquet index: 10,000, 100,000 and 1,000,000 items of the real-archive corpus.

The indexes are ``index_open``'s (the corpus' 10,000 items, repeated at later dates with new ids). Each is the only
item listing of a static collection (an asset of role ``stac-items``), as the Planetary Computer's
``geoparquet-items``; the same search runs three ways:

- GAIA Lab: ``catalog.search(bbox=, datetime=, items=True, limit=)`` on a catalogue of that collection (the static
  provider searches the index: ``gaia_lab.catalog.providers.index_items``), entries made, matched and ranked;
- rustac 0.9.17 (``DuckdbClient.search(href, bbox=, datetime=, limit=)``, DuckDB 1.5.5, the client reused), in
  lazycogs' venv (``scripts/setup-lazycogs.sh``), timed by its worker (``benchmarks/lazycogs_peer.py``);
- pyarrow + stac-geoparquet, as a user holding the file writes it: ``pyarrow.dataset`` with a filter on the bbox and
  datetime columns, ``Dataset.head(limit, filter=)`` (which stops scanning at the limit), then
  ``stac_table_to_items``.

Searches: the Alps' bbox (tiles of zones 31-33) with the corpus' first month, with a limit of 100 (fewer match: all
are returned) and without one; the bbox alone, limit 100 (the first matches in the file's order). The contenders
take turns, best of ``REPEAT``. Checks: the same item ids as pyarrow's for GAIA Lab and rustac (as sets: each
orders its own way).
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

import gaia_lab as gl
from benchmarks import archive_corpus
from benchmarks.archive_open import BBOX
from benchmarks.common import demo_lake, interleaved, print_table, record, spread
from benchmarks.index_open import NOT_SET_UP, Lazycogs, index_of, indexes, with_lazycogs

DATES = archive_corpus.DATES
SIZES = (10_000, 100_000, 1_000_000)
REPEAT = 3
LAZYCOGS = True  # off in --quick
MONTH = ("2021-03-01T00:00:00Z", "2021-03-31T23:59:59Z")
SEARCHES = {
    "bbox + month, limit 100": {"bbox": BBOX, "datetime": MONTH, "limit": 100},
    "bbox + month, no limit": {"bbox": BBOX, "datetime": MONTH, "limit": None},
    "bbox, limit 100": {"bbox": BBOX, "datetime": None, "limit": 100},
}


def collection_of(index: Path) -> Path:
    """A static collection listing its items only in ``index``."""
    path = index.with_name(f"{index.stem}-collection.json")
    document = {
        "type": "Collection",
        "stac_version": "1.1.0",
        "id": archive_corpus.NAME,
        "description": "The real-archive corpus, items listed in a stac-geoparquet index",
        "license": "other",
        "extent": {"spatial": {"bbox": [[-12.0, 40.0, 45.0, 60.0]]}, "temporal": {"interval": [[None, None]]}},
        "links": [],
        "assets": {
            "geoparquet-items": {
                "href": f"./{index.name}",
                "type": "application/vnd.apache.parquet",
                "roles": ["stac-items"],
            }
        },
    }
    path.write_text(json.dumps(document))
    return path


def gaia_search(catalog: Any, search: dict[str, Any]) -> list[str]:
    interval = "/".join(search["datetime"]) if search["datetime"] else None
    results = catalog.search(bbox=search["bbox"], datetime=interval, items=True, limit=search["limit"])
    if results.errors:
        raise RuntimeError(f"GAIA Lab search failed: {results.errors}")
    return [entry.id.rsplit("/", 1)[-1] for entry in results]


def pyarrow_search(path: Path, search: dict[str, Any]) -> list[str]:
    from stac_geoparquet.arrow import stac_table_to_items

    west, south, east, north = search["bbox"]
    expression = (
        (pc.field("bbox", "xmin") <= east)
        & (pc.field("bbox", "xmax") >= west)
        & (pc.field("bbox", "ymin") <= north)
        & (pc.field("bbox", "ymax") >= south)
    )
    if search["datetime"]:
        start, end = (_timestamp(moment) for moment in search["datetime"])
        expression &= (pc.field("datetime") >= start) & (pc.field("datetime") <= end)
    dataset = pads.dataset(path, format="parquet")
    if search["limit"] is None:
        table = dataset.to_table(filter=expression)
    else:
        table = dataset.head(search["limit"], filter=expression)
    return [item["id"] for item in stac_table_to_items(table)]


def _timestamp(moment: str) -> Any:
    return pa.scalar(datetime.fromisoformat(moment.replace("Z", "+00:00")), type=pa.timestamp("us", tz="UTC"))


def rustac_request(path: Path, search: dict[str, Any]) -> dict[str, Any]:
    """The worker's request for rustac's search of ``path``."""
    return {
        "op": "search",
        "path": str(path),
        "bbox": list(search["bbox"]),
        "datetime": "/".join(search["datetime"]) if search["datetime"] else None,
        "limit": search["limit"],
    }


def main() -> dict[str, Any]:
    return with_lazycogs(LAZYCOGS, measure)


def measure(lazycogs: Lazycogs | None) -> dict[str, Any]:
    lake = demo_lake()
    paths = indexes(index_of(archive_corpus.collection(lake, DATES)), SIZES)
    sizes = list(paths)
    base_items = sizes[0]
    catalogs = {
        n: gl.open_catalog({"providers": [{"name": "indexed", "hub": "land", "url": str(collection_of(paths[n]))}]})
        for n in sizes
    }
    hello = lazycogs.ask(op="hello") if lazycogs else {}
    rows = []
    for label, search in SEARCHES.items():
        actions: dict[str, Any] = {}
        rustac_s: dict[int, list[float]] = {n: [] for n in sizes}
        for n in sizes:
            actions[f"gaia {n}"] = lambda c=catalogs[n], s=search: gaia_search(c, s)
            actions[f"pyarrow {n}"] = lambda p=paths[n], s=search: pyarrow_search(p, s)
            if lazycogs:
                actions[f"rustac {n}"] = lazycogs.timed(rustac_s[n], **rustac_request(paths[n], search))
        for action in actions.values():  # warm: imports, the catalogue's collection, the files' footers
            action()
        for times in rustac_s.values():
            times.clear()
        runs = interleaved(REPEAT, actions)
        for n in sizes:
            gaia_times, gaia_ids = runs[f"gaia {n}"]
            arrow_times, arrow_ids = runs[f"pyarrow {n}"]
            row: dict[str, Any] = {
                "search": label,
                "items": n,
                "found": len(gaia_ids),
                "gaia_s": round(min(gaia_times), 4),
                "gaia_spread": spread(gaia_times),
                "pyarrow_s": round(min(arrow_times), 4),
                "same_items_as_pyarrow": sorted(gaia_ids) == sorted(arrow_ids),
            }
            if lazycogs:
                rustac_ids = runs[f"rustac {n}"][1]["ids"]
                row |= {
                    "rustac_s": round(min(rustac_s[n]), 4),
                    "rustac_found": len(rustac_ids),
                    "rustac_same_items": sorted(rustac_ids) == sorted(arrow_ids),
                    "gaia_over_rustac": round(min(gaia_times) / min(rustac_s[n]), 2),
                }
            rows.append(row)
    result = {
        "corpus": f"real-archive corpus, {base_items:,} items repeated to {max(sizes):,}",
        "bbox": list(BBOX),
        "month": list(MONTH),
        "rows": rows,
        "rustac": hello or ("off (--quick)" if not LAZYCOGS else NOT_SET_UP),
        "cpu_count": os.cpu_count(),
    }
    table = []
    for row in rows:
        rustac = f" | {row['rustac_s']:.3f}" if "rustac_s" in row else ""
        table.append(
            (
                f"search, {row['search']}, {row['items']:,} items ({row['found']} found): GAIA Lab | pyarrow"
                + (" | rustac" if rustac else "")
                + " (s)",
                f"{row['gaia_s']:.3f} | {row['pyarrow_s']:.3f}{rustac}",
                f"same items: pyarrow {row['same_items_as_pyarrow']}"
                + (f", rustac {row['rustac_same_items']} ({row['rustac_found']})" if rustac else ""),
            )
        )
    print_table("item search over a stac-geoparquet index (real-archive corpus)", table)
    record("index_search", result)
    return result


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"{time.perf_counter() - started:.0f} s")
