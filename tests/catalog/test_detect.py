"""Protocol detection: ``type: stac`` and ``type: auto`` name what a URL serves, from what it serves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stac_servers import RunningServer

import gaia_lab as gl
from gaia_lab.catalog.federation import parse_federation
from gaia_lab.catalog.providers import make_provider
from gaia_lab.catalog.providers.detect import DetectedProvider


def _provider(url: str, type: str = "auto") -> DetectedProvider:
    (config,) = parse_federation({"providers": [{"name": "probe", "hub": "ocean", "type": type, "url": url}]})
    provider = make_provider(config)
    assert isinstance(provider, DetectedProvider)
    return provider


def test_building_a_provider_reads_nothing(tmp_path: Path) -> None:
    provider = _provider(str(tmp_path / "absent.json"))
    assert provider.kind == "auto"  # nothing read yet: a missing file is only an error once searched


@pytest.mark.parametrize("type", ["auto", "stac"])
def test_static_catalog_is_detected(lake_dir: Path, type: str) -> None:
    provider = _provider(str(lake_dir / "odatis" / "catalog.json"), type)
    entries = provider.search(gl.catalog.Query.parse())
    assert provider.kind == "stac-static"
    assert {e.local_id for e in entries} >= {"ostia-sst", "ostia-sst-monthly"}


@pytest.mark.parametrize("type", ["auto", "stac"])
def test_stac_api_is_detected(pgstac_api: RunningServer, type: str) -> None:
    provider = _provider(pgstac_api.url, type)
    entries = provider.search(gl.catalog.Query.parse())
    assert provider.kind == "stac-api"
    assert "ostia-sst" in {e.local_id for e in entries}


def test_a_json_document_of_no_known_protocol_is_named(tmp_path: Path) -> None:
    document = tmp_path / "landing.json"
    document.write_text(json.dumps({"title": "some API", "links": [{"rel": "self", "href": "x"}]}))
    result = gl.open_catalog(
        {"providers": [{"name": "mystery", "hub": "ocean", "type": "auto", "url": str(document)}]}
    ).search("temperature")
    error = result.errors["mystery"]
    assert isinstance(error, gl.ProviderError)
    assert "neither STAC nor an OGC API - Records" in str(error)
    assert str(document) in str(error)


def test_xml_that_is_not_csw_is_named(tmp_path: Path) -> None:
    document = tmp_path / "feed.xml"
    document.write_text('<?xml version="1.0"?><rss version="2.0"><channel><title>news</title></channel></rss>')
    with pytest.raises(gl.ProviderError, match="XML document that is not OGC CSW capabilities"):
        _provider(str(document)).search(gl.catalog.Query.parse())


def test_type_stac_on_xml_says_what_it_expected(tmp_path: Path) -> None:
    document = tmp_path / "feed.xml"
    document.write_text('<?xml version="1.0"?><rss version="2.0"/>')
    with pytest.raises(gl.ProviderError, match="expected one of stac-static, stac-api"):
        _provider(str(document), "stac").search(gl.catalog.Query.parse())
