"""Items of static collections are read from their JSON files, locally and over HTTP, nested or not."""

from __future__ import annotations

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pystac
import pytest

import gaia_lab as gl
from gaia_lab.catalog.providers.stac_io import MANY_LINKS, ProviderStacIO
from gaia_lab.catalog.providers.static_items import read_item_records
from gaia_lab.errors import ProviderError

COLLECTION = "ostia-sst-monthly"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_lake(lake_copy: Path):
    handler = functools.partial(QuietHandler, directory=str(lake_copy))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def nest_half_of_the_items(collection_dir: Path) -> None:
    """Move half of the collection's item links into a child catalog, as large hubs partition by year."""
    path = collection_dir / "collection.json"
    document = json.loads(path.read_text())
    item_links = [link for link in document["links"] if link["rel"] == "item"]
    moved = item_links[::2]
    document["links"] = [link for link in document["links"] if link not in moved]
    document["links"].append({"rel": "child", "href": "./part/catalog.json", "type": "application/json"})
    path.write_text(json.dumps(document))
    (collection_dir / "part").mkdir()
    child = {
        "type": "Catalog",
        "stac_version": "1.1.0",
        "id": "part",
        "description": "every other month",
        "links": [{**link, "href": "." + link["href"]} for link in moved],
    }
    (collection_dir / "part" / "catalog.json").write_text(json.dumps(child))


def reference_items(collection_path: Path) -> list[pystac.Item]:
    collection = pystac.Collection.from_file(str(collection_path))
    return list(collection.get_items(recursive=True))


def test_records_match_pystac_items_in_nested_catalogs(lake_copy):
    collection_dir = lake_copy / "odatis" / COLLECTION
    nest_half_of_the_items(collection_dir)
    expected = {item.id: item for item in reference_items(collection_dir / "collection.json")}
    collection = pystac.Collection.from_file(str(collection_dir / "collection.json"))
    records = read_item_records(collection, lambda href: Path(href).read_text(), "odatis")
    assert sorted(r.id for r in records) == sorted(expected) and len(records) == 54
    for record in records:
        item = expected[record.id]
        assert record.datetime == item.datetime
        for key, asset in item.assets.items():
            assert record.assets[key]["href"] == asset.get_absolute_href()
            assert Path(record.assets[key]["href"]).exists()


def test_a_collection_over_http_opens_like_the_local_one(lake_copy, http_lake):
    nest_half_of_the_items(lake_copy / "odatis" / COLLECTION)
    local = gl.open_catalog(
        {"providers": [{"name": "local", "hub": "ocean", "url": str(lake_copy / "odatis" / "catalog.json")}]}
    )
    remote = gl.open_catalog(
        {"providers": [{"name": "remote", "hub": "ocean", "url": f"{http_lake}/odatis/catalog.json"}]}
    )
    query = {"bbox": (-30, -4, 0, 4), "datetime": "2008"}
    ds_local = local[f"local/{COLLECTION}"].to_xarray(**query)
    ds_remote = remote[f"remote/{COLLECTION}"].to_xarray(**query)
    assert ds_remote.sizes == ds_local.sizes and ds_remote.sizes["time"] == 12
    assert all(href.startswith(f"{http_lake}/odatis/{COLLECTION}/") for href in ds_remote.attrs["gaia:assets"])
    np.testing.assert_array_equal(ds_remote["sst"].values, ds_local["sst"].values)


def test_a_broken_item_document_names_the_provider_and_file(lake_copy):
    collection_dir = lake_copy / "odatis" / COLLECTION
    broken = next(collection_dir.glob("*/ostia-sst-2007-01.json"))
    broken.write_text('{"type": "Feature", "id": ')
    catalog = gl.open_catalog(
        {"providers": [{"name": "lake", "hub": "ocean", "url": str(lake_copy / "odatis" / "catalog.json")}]}
    )
    with pytest.raises(ProviderError) as info:
        catalog[f"lake/{COLLECTION}"].to_xarray()
    assert info.value.provider == "lake"
    assert "malformed JSON" in str(info.value) and "ostia-sst-2007-01.json" in str(info.value)


def test_a_missing_item_document_names_the_provider_and_file(lake_copy):
    collection_dir = lake_copy / "odatis" / COLLECTION
    next(collection_dir.glob("*/ostia-sst-2009-05.json")).unlink()
    catalog = gl.open_catalog(
        {"providers": [{"name": "lake", "hub": "ocean", "url": str(lake_copy / "odatis" / "catalog.json")}]}
    )
    with pytest.raises(ProviderError, match=r"ostia-sst-2009-05\.json"):
        catalog[f"lake/{COLLECTION}"].to_xarray()


def test_an_item_written_with_nan_reads_as_python_wrote_it(lake_copy):
    # Python's json writes float NaN as a bare NaN, which strict JSON parsers refuse; such catalogues exist.
    collection_dir = lake_copy / "odatis" / COLLECTION
    path = next(collection_dir.glob("*/ostia-sst-2007-01.json"))
    document = json.loads(path.read_text())
    document["properties"]["gaia:fill"] = float("nan")
    path.write_text(json.dumps(document))
    collection = pystac.Collection.from_file(str(collection_dir / "collection.json"))
    records = read_item_records(collection, lambda href: Path(href).read_text(), "odatis")
    record = next(r for r in records if r.id == document["id"])
    assert np.isnan(record.properties["gaia:fill"])


def test_a_collection_with_many_links_reads_as_pystac_reads_it(lake_copy):
    collection_dir = lake_copy / "odatis" / COLLECTION
    path = collection_dir / "collection.json"
    document = json.loads(path.read_text())
    item_links = [link for link in document["links"] if link["rel"] == "item"]
    extra = [{"rel": "related", "href": f"./related-{n}.json", "title": f"r{n}"} for n in range(MANY_LINKS)]
    document["links"] += extra
    path.write_text(json.dumps(document))
    stac_io = ProviderStacIO("odatis")
    ours = stac_io.read_stac(str(path))
    reference = pystac.read_file(str(path))
    assert isinstance(ours, pystac.Collection)
    assert ours.to_dict() == reference.to_dict()
    assert len(ours.links) == len(reference.links) > MANY_LINKS
    assert [i.id for i in ours.get_items()] == [i.id for i in reference.get_items()]
    assert len(item_links) == len(list(ours.get_items())) == 54
    unchanged = json.loads(json.dumps(document))
    stac_io.stac_object_from_dict(document, href=str(path))
    assert document == unchanged  # the caller's document is not consumed
