"""The lake's ISO 19139 records: what `gaia-lab data build` writes reads back through OWSLib as it was meant."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pystac
from lxml import etree
from owslib.iso import MD_Metadata

from gaia_lab.catalog.providers.iso import from_iso
from gaia_lab.datalake.iso import (
    CF_THESAURUS,
    GCMD_THESAURUS,
    RECORD_SUFFIX,
    collection_description,
    group_keywords,
    iso_record,
)
from gaia_lab.datalake.pycsw import command


def _read(xml: bytes) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # OWSLib's notice about its keywords attribute
        return MD_Metadata(etree.fromstring(xml))


def test_collection_record_round_trips(lake_dir: Path) -> None:
    path = lake_dir / "odatis" / "ostia-sst" / f"ostia-sst{RECORD_SUFFIX}"
    assert path.read_bytes() == iso_record(
        collection_description(
            pystac.Collection.from_file(str(lake_dir / "odatis" / "ostia-sst" / "collection.json")), "odatis", lake_dir
        )
    )  # deterministic: a rebuild writes the same bytes
    record = from_iso(_read(path.read_bytes()))
    collection = pystac.Collection.from_file(str(lake_dir / "odatis" / "ostia-sst" / "collection.json"))
    assert record.identifier == "odatis:ostia-sst"
    assert record.title == collection.title
    assert record.keyword_thesauri["sea_surface_temperature"] == CF_THESAURUS
    assert (
        record.keyword_thesauri["EARTH SCIENCE > OCEANS > OCEAN TEMPERATURE > SEA SURFACE TEMPERATURE"]
        == GCMD_THESAURUS
    )
    assert "température de surface de la mer" in record.keywords
    assert "température de surface de la mer" not in record.keyword_thesauri  # free keyword
    assert record.bbox is not None
    assert record.bbox.south == collection.extent.spatial.bboxes[0][1]
    assert record.interval == tuple(collection.extent.temporal.intervals[0])
    kinds = {link.kind: link.href for link in record.links}
    assert kinds["zarr"] == (lake_dir / "odatis" / "ostia-sst" / "ostia-sst.zarr").resolve().as_uri()
    assert kinds["stac"].endswith("/odatis/ostia-sst/collection.json")


def test_base_url_makes_links_urls(lake_dir: Path) -> None:
    collection = pystac.Collection.from_file(str(lake_dir / "aeris" / "tmy3-stations" / "collection.json"))
    description = collection_description(collection, "aeris", lake_dir, "http://127.0.0.1:8005")
    assert [r.url for r in description.online] == [
        "http://127.0.0.1:8005/aeris/tmy3-stations/tmy3-stations.zarr",
        "http://127.0.0.1:8005/aeris/tmy3-stations/collection.json",
    ]
    assert description.organisation == "AERIS"


def test_keyword_groups() -> None:
    groups = dict(group_keywords(["A > B", "sea_water_salinity", "salinité", "SST"], {"sea_water_salinity"}))
    assert groups == {GCMD_THESAURUS: ["A > B"], CF_THESAURUS: ["sea_water_salinity"], None: ["salinité", "SST"]}


def test_record_without_time_or_extent_is_valid() -> None:
    from gaia_lab.datalake.iso import IsoDescription

    xml = iso_record(IsoDescription("x:1", "Only a title", "", date=dt.date(2020, 1, 1)))
    record = from_iso(_read(xml))
    assert (record.title, record.bbox, record.interval, record.links) == ("Only a title", None, None, [])


def test_pycsw_command_lines() -> None:
    line = command("/venv/bin/python", "serve", workdir="/w", port=8010)
    assert line[:3] == ["/venv/bin/python", "-P", str(Path("gaia_lab/datalake/pycsw.py").resolve())]
    assert line[3:] == ["serve", "--workdir", "/w", "--port", "8010"]
