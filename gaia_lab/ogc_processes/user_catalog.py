"""The user's results catalogue: a static STAC catalogue (pystac) in the user's space, one item per result.

Written on the user's worker, as the user, at the end of each job; a lock file serialises jobs finishing at once.
``gl.open_catalog()`` adds it as the provider ``user-results`` (:mod:`gaia_lab.catalog.user_results`), so a result
opens as ``cat["user-results/results/<job id>"]`` like any entry (one collection, ``results``, holds every result).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gaia_lab.catalog.user_results import CATALOG_NAME

ITEM_NAME = "item.json"
COLLECTION = "results"


def entry_id(job_id: str) -> str:
    """The federation id of a job's result."""
    from gaia_lab.catalog.user_results import PROVIDER

    return f"{PROVIDER}/{COLLECTION}/{job_id}"


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _catalog(root: Path) -> Any:
    import pystac

    path = root / CATALOG_NAME
    if path.exists():
        return pystac.Catalog.from_file(str(path))
    catalog = pystac.Catalog(
        id="user-results",
        title="My processing results",
        description="Outputs of the processes I ran (OGC API - Processes, gl.process)",
    )
    catalog.set_self_href(str(path))
    return catalog


def _collection(catalog: Any) -> Any:
    import pystac

    collection = catalog.get_child(COLLECTION)
    if collection is None:
        extent = pystac.Extent(
            pystac.SpatialExtent([[-180.0, -90.0, 180.0, 90.0]]), pystac.TemporalExtent([[datetime.now(UTC), None]])
        )
        collection = pystac.Collection(COLLECTION, "Results of my process runs", extent, title="Process results")
        catalog.add_child(collection)
    return collection


def _save(catalog: Any, collection: Any) -> None:
    import pystac

    items = list(collection.get_items())
    if items:
        collection.extent = pystac.Extent.from_items(items)
    # Asset hrefs stay absolute paths: the files are read where they are, in the user's space.
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)


def add_result(root: Path, item: dict[str, Any], output_dir: Path) -> dict[str, Any]:
    """Add (or replace) a result's STAC item in the catalogue under ``root``; the item as stored."""
    import pystac

    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _locked(root):
        catalog = _catalog(root)
        collection = _collection(catalog)
        stac_item = pystac.Item.from_dict(item, preserve_dict=False)
        if collection.get_item(stac_item.id) is not None:
            collection.remove_item(stac_item.id)
        collection.add_item(stac_item)
        stac_item.set_self_href(str(output_dir / ITEM_NAME))
        _save(catalog, collection)
        stored: dict[str, Any] = stac_item.to_dict(include_self_link=False)
    return stored


def remove_result(root: Path, item_id: str) -> bool:
    """Drop a result's item from the catalogue (its files are removed by the caller)."""
    if not (root / CATALOG_NAME).exists():
        return False
    with _locked(root):
        catalog = _catalog(root)
        collection = catalog.get_child(COLLECTION)
        if collection is None or collection.get_item(item_id) is None:
            return False
        collection.remove_item(item_id)
        _save(catalog, collection)
    return True
