"""The federation's collection listing under members that slow down or go away: answered at once from the last
listing while the members are listed again, and a member that does not answer keeps its last known collections."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import gaia_lab as gl
from gaia_lab.catalog.providers import stac_api as stac_api_provider
from gaia_lab.errors import ProviderError
from gaia_lab.stac_api import federation as federation_module
from gaia_lab.stac_api.federation import Federation
from tests.fault_servers import COLLECTION_ID, Fault, start_fault_server

DEGRADED = f"degraded.{COLLECTION_ID}"


@pytest.fixture
def always_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every listing (the federation's and the member's own cache) is past its time to live at once.
    monkeypatch.setattr(federation_module, "COLLECTIONS_TTL", 0.0)
    monkeypatch.setattr(stac_api_provider, "COLLECTIONS_TTL", 0.0)


def _federation(lake_dir: Path, url: str) -> Federation:
    providers = [
        {"name": "lake", "hub": "ocean", "type": "stac", "url": str(lake_dir / "odatis" / "catalog.json")},
        {"name": "degraded", "hub": "atmosphere", "type": "stac", "url": url, "timeout": 2},
    ]
    return Federation(gl.open_catalog({"providers": providers}))


def _next_listing(federation: Federation, after: federation_module.Listing) -> federation_module.Listing:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        current = federation.listing()
        if current is not after:
            return current
        time.sleep(0.1)
    raise AssertionError("the members were never listed again")


def test_a_stale_listing_is_answered_at_once_while_a_slow_member_is_listed_again(
    lake_dir: Path, always_stale: None
) -> None:
    server = start_fault_server(Fault("sleep", delay=5.0, after=1, paths=("/collections",)))
    try:
        federation = _federation(lake_dir, server.url)
        first = federation.listing()
        assert DEGRADED in first.by_id and first.errors == {}
        started = time.monotonic()
        again = federation.listing()
        # The member now takes 5 s (its timeout is 2 s): the caller is not made to wait for it.
        assert again is first and time.monotonic() - started < 1.0
        renewed = _next_listing(federation, first)
        assert sorted(renewed.errors) == ["degraded"]
        assert "timeout" in str(renewed.errors["degraded"])
        # Its collection is still listed, from the last answer it gave, beside the lake's own.
        assert renewed.by_id[DEGRADED].provider == "degraded"
        assert DEGRADED in {f"{e.provider}.{e.local_id}" for e in renewed.entries}
        assert {e.provider for e in renewed.entries} == {"lake", "degraded"}
    finally:
        server.stop()


def test_a_member_gone_keeps_its_collections_and_is_named(lake_dir: Path, always_stale: None) -> None:
    server = start_fault_server(Fault("none"))
    federation = _federation(lake_dir, server.url)
    first = federation.listing()
    server.stop()
    renewed = federation.listing(refresh=True)
    assert sorted(renewed.errors) == ["degraded"]
    assert isinstance(renewed.errors["degraded"], ProviderError) and server.url in str(renewed.errors["degraded"])
    assert renewed.by_id[DEGRADED] is first.by_id[DEGRADED]
    assert federation.entry(DEGRADED) is first.by_id[DEGRADED]


def test_unknown_ids_of_a_member_list_the_members_at_most_once_in_a_while(lake_dir: Path) -> None:
    server = start_fault_server(Fault("none"))
    try:
        federation = _federation(lake_dir, server.url)
        first = federation.listing()
        listed = sum(1 for _, path in server.requests if path.startswith("/collections"))
        for _ in range(20):
            assert federation.entry("degraded.no-such-collection") is None
        assert federation.listing() is first
        assert sum(1 for _, path in server.requests if path.startswith("/collections")) == listed
    finally:
        server.stop()
