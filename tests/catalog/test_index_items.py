"""A static collection whose items are listed in a stac-geoparquet index is searched there: the same items, in the
same order, as the same search of its item files, decoding only the rows that can match."""

from __future__ import annotations

import json
from pathlib import Path

import pystac
import pytest
import stac_geoparquet.arrow

import gaia_lab as gl
from gaia_lab.catalog.providers import index_items
from gaia_lab.cube.stac_index import write_index
from gaia_lab.errors import EntryNotFound, ProviderError
from gaia_lab.query import Query

COLLECTIONS = [("odatis", "ostia-sst-monthly"), ("theia", "land-mask-europe"), ("formater", "elevation-5min")]


def indexed(lake_dir: Path, tmp_path: Path, hub: str, collection_id: str) -> gl.Catalog:
    """Two providers of the same collection: ``files`` (the lake's item files), ``indexed`` (an index only)."""
    found = pystac.Catalog.from_file(str(lake_dir / hub / "catalog.json")).get_child(collection_id)
    assert isinstance(found, pystac.Collection)
    write_index(list(found.get_items(recursive=True)), tmp_path / "index" / "items.parquet")
    document = found.to_dict(include_self_link=False, transform_hrefs=False)
    document["links"] = []
    document["assets"] = {
        "geoparquet-items": {
            "href": "./index/items.parquet",
            "type": "application/vnd.apache.parquet",
            "roles": ["stac-items"],
        }
    }
    (tmp_path / "collection.json").write_text(json.dumps(document))
    return gl.open_catalog(
        {
            "providers": [
                {"name": "files", "hub": "land", "url": str(lake_dir / hub / "catalog.json")},
                {"name": "indexed", "hub": "land", "url": str(tmp_path / "collection.json")},
            ]
        }
    )


QUERIES = [
    {},
    {"bbox": (-30.0, -4.0, 0.0, 4.0)},
    {"bbox": (5.0, 45.0, 6.0, 46.0)},
    {"datetime": "2007-03-01/2007-09-30"},
    {"datetime": "2008-01-15/.."},
    {"bbox": (-10.0, 35.0, 30.0, 60.0), "datetime": "../2006-12-31"},
    {"bbox": (170.0, -10.0, -170.0, 10.0)},
    {"limit": 5},
    {"datetime": "2007-01-01/2009-12-31", "limit": 7},
]


@pytest.mark.parametrize(("hub", "collection_id"), COLLECTIONS)
@pytest.mark.parametrize("request_", QUERIES, ids=lambda q: ",".join(f"{k}={v}" for k, v in q.items()) or "all")
def test_the_index_finds_what_the_item_files_find(lake_dir, tmp_path, hub, collection_id, request_):
    catalog = indexed(lake_dir, tmp_path, hub, collection_id)
    query = Query.parse(collections=[collection_id], **request_)
    from_files = catalog.provider("files").search_items(query)
    from_index = catalog.provider("indexed").search_items(query)
    assert [e.id.removeprefix("files/") for e in from_files] == [e.id.removeprefix("indexed/") for e in from_index]
    for ours, theirs in zip(from_index, from_files, strict=True):
        assert (ours.bbox, ours.datetime, ours.variables, ours.assets) == (
            theirs.bbox,
            theirs.datetime,
            theirs.variables,
            theirs.assets,
        )


def test_a_cql2_filter_applies_to_the_indexed_items(lake_dir, tmp_path):
    catalog = indexed(lake_dir, tmp_path, "odatis", "ostia-sst-monthly")
    cql2 = {"op": "=", "args": [{"property": "title"}, "OSTIA SST February 2007"]}
    query = Query.parse(collections=["ostia-sst-monthly"])
    from_files = catalog.provider("files").search_items(query, cql2)
    from_index = catalog.provider("indexed").search_items(query, cql2)
    assert len(from_files) == 1
    assert [e.id.split("/")[-1] for e in from_files] == [e.id.split("/")[-1] for e in from_index]


def test_a_limited_search_decodes_the_rows_up_to_its_limit(lake_dir, tmp_path, monkeypatch):
    catalog = indexed(lake_dir, tmp_path, "odatis", "ostia-sst-monthly")
    decoded: list[int] = []
    original = stac_geoparquet.arrow.stac_table_to_items

    def counting(table, *args, **kwargs):
        decoded.append(table.num_rows)
        return original(table, *args, **kwargs)

    monkeypatch.setattr(stac_geoparquet.arrow, "stac_table_to_items", counting)
    monkeypatch.setattr(index_items, "_BATCH_ROWS", 4)
    found = catalog.provider("indexed").search_items(Query.parse(datetime="2007-01-01/..", limit=3))
    assert len(found) == 3
    assert sum(decoded) <= 4  # one batch of 4 rows holds the first three matches: nothing decoded after it
    everything = catalog.provider("indexed").search_items(Query.parse())
    assert len(everything) == 54


def test_an_indexed_item_is_found_by_its_id(lake_dir, tmp_path):
    catalog = indexed(lake_dir, tmp_path, "theia", "land-mask-europe")
    some = catalog.provider("files").search_items(Query.parse(collections=["land-mask-europe"]))[2]
    local = some.id.removeprefix("files/")
    entry = catalog[f"indexed/{local}"]
    assert (entry.bbox, entry.datetime, entry.assets) == (some.bbox, some.datetime, some.assets)
    with pytest.raises(EntryNotFound, match="no item 'nowhere'"):
        catalog["indexed/land-mask-europe/nowhere"]


def test_a_missing_index_is_an_error_naming_the_provider(lake_dir, tmp_path):
    catalog = indexed(lake_dir, tmp_path, "theia", "land-mask-europe")
    (tmp_path / "index" / "items.parquet").unlink()
    with pytest.raises(ProviderError, match=r"indexed.*cannot read the item index"):
        catalog.provider("indexed").search_items(Query.parse(bbox=(0, 40, 10, 50)))


def test_without_the_index_extra_the_search_says_what_to_install(lake_dir, tmp_path, monkeypatch):
    import sys

    import gaia_lab.catalog.providers

    catalog = indexed(lake_dir, tmp_path, "theia", "land-mask-europe")
    monkeypatch.delattr(gaia_lab.catalog.providers, "index_items")
    monkeypatch.delitem(sys.modules, "gaia_lab.catalog.providers.index_items")
    monkeypatch.setitem(sys.modules, "stac_geoparquet.arrow", None)
    with pytest.raises(ProviderError, match=r"indexed.*needs stac_geoparquet.arrow: pip install 'gaia-lab\[index\]'"):
        catalog.provider("indexed").search_items(Query.parse())
    assert catalog.provider("files").search_items(Query.parse())
