"""One dataset found in several catalogues is one result: the same id (mirrors), or the same hub, title and time
over nearly the same extent (a CSW / Records catalogue harvesting the hub's STAC under identifiers of its own)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from stac_servers import RunningServer

import gaia_lab as gl
from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.ranking import deduplicate
from gaia_lab.query import BBox

pytestmark = pytest.mark.slow


def test_the_hubs_records_in_csw_and_records_are_mirrors_of_their_stac(
    lake_dir: Path, pycsw_server: RunningServer, records_server: RunningServer
) -> None:
    catalog = gl.open_catalog(
        {
            "providers": [
                {"name": "odatis", "hub": "ocean", "type": "stac", "url": str(lake_dir / "odatis" / "catalog.json")},
                {"name": "sextant", "hub": "ocean", "type": "csw", "url": pycsw_server.url},
                {"name": "records", "hub": "ocean", "type": "ogcapi-records", "url": records_server.url},
            ]
        }
    )
    results = catalog.search("sea surface temperature", limit=None)
    assert not results.errors, results.errors
    by_id = {entry.id: entry for entry in results}
    # The lake's STAC says the OSTIA monthly box starts at -180.42 (it crosses the antimeridian); its ISO record
    # clips it at -180: the same dataset all the same.
    monthly = by_id["odatis/ostia-sst-monthly"]
    assert monthly.bbox is not None and monthly.bbox.crosses_antimeridian
    assert {m.split("/")[0] for m in monthly.mirrors} == {"sextant", "records"}
    assert {m.split("/")[0] for m in by_id["odatis/ostia-sst"].mirrors} == {"sextant", "records"}
    # Records of other datasets (recorded from real catalogues) stay results of their own.
    assert "sextant/org.maracoos:avhrr.sst" in by_id
    every = [entry.id for entry in results] + [m for entry in results for m in entry.mirrors]
    assert len(every) == len(set(every))


def _entry(identifier: str, **changes: object) -> Entry:
    base = Entry(
        id=identifier,
        provider=identifier.split("/")[0],
        hub="ocean",
        title="OSTIA sea surface temperature",
        bbox=BBox(-180.0, -5.0, 179.2, 4.4),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_different_extent_time_hub_or_kind_is_another_dataset() -> None:
    from datetime import UTC, datetime

    span = (datetime(2006, 4, 1, tzinfo=UTC), datetime(2010, 9, 30, tzinfo=UTC))
    first = _entry("stac/ostia", datetime=span)
    same = _entry("csw/uuid-1", datetime=span, bbox=BBox(-179.9, -5.0, 179.2, 4.4))
    elsewhere = _entry("csw/uuid-2", datetime=span, bbox=BBox(-10.0, 40.0, 10.0, 55.0))
    later = _entry("csw/uuid-3", datetime=(span[0], datetime(2012, 1, 1, tzinfo=UTC)))
    other_hub = _entry("csw/uuid-4", datetime=span, hub="atmosphere")
    scene = _entry("api/c/scene-1", datetime=span, kind="item")
    kept = deduplicate([first, same, elsewhere, later, other_hub, scene])
    assert [entry.id for entry in kept] == ["stac/ostia", "csw/uuid-2", "csw/uuid-3", "csw/uuid-4", "api/c/scene-1"]
    assert first.mirrors == ["csw/uuid-1"]
