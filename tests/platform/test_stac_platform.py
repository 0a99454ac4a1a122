"""The federation's STAC API on the running platform: the hub service gaia-lab-stac, reached through the hub's proxy,
refusing requests without a hub login or token, passing stac-api-validator, searched across hubs with pystac-client,
its assets readable through the hub, each user's starred datasets kept on the server and read from a session."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from hubclient import HubUser
from pystac_client import Client
from stac_servers import VALIDATOR_VENV, validate_api

import gaia_lab as gl
from gaia_lab.catalog.providers.stac_convert import EncodedItem
from gaia_lab.catalog.starred import read_starred
from gaia_lab.errors import StarredUnavailable
from gaia_lab.stac_item import StacItem

if TYPE_CHECKING:
    from gaia_lab.platform import Platform

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stac_url(platform: Platform) -> str:
    url = platform.info.stac_url
    assert url.endswith("/services/gaia-lab-stac/"), url
    return url


@pytest.fixture(scope="module")
def alice(make_user: Callable[[str], HubUser]) -> HubUser:
    return make_user("stac-alice")


@pytest.fixture(scope="module")
def items_by_member(platform: Platform) -> Counter[str]:
    """What the sessions' federation holds, searched in Python (not through the API)."""
    catalog = gl.open_catalog(platform.layout.catalog_file)
    found = catalog.search(items=True, limit=None)
    return Counter(e.provider for e in found if e.kind == "item" and isinstance(e.source, StacItem | EncodedItem))


def test_requests_without_login_or_token_are_refused(stac_url: str):
    for path in ("", "collections", "search?limit=1", "starred", "assets/lake/federation.yaml"):
        anonymous = requests.get(stac_url + path, timeout=TIMEOUT, allow_redirects=False)
        assert anonymous.status_code == 401, (path, anonymous.status_code)
        forged = requests.get(
            stac_url + path, headers={"Authorization": "token not-a-hub-token"}, timeout=TIMEOUT, allow_redirects=False
        )
        assert forged.status_code == 403, (path, forged.status_code)
    assert requests.put(stac_url + "starred/odatis.ostia-sst", timeout=TIMEOUT).status_code == 401
    # The OpenAPI description (routes and parameters, no data) is open: clients read it before they authenticate.
    description = requests.get(stac_url + "api", timeout=TIMEOUT)
    assert description.status_code == 200 and "/search" in description.json()["paths"]
    # A browser is sent through the hub's OAuth instead.
    browser = requests.get(stac_url, headers={"Accept": "text/html"}, timeout=TIMEOUT, allow_redirects=False)
    assert browser.status_code == 302
    assert "/hub/api/oauth2/authorize" in browser.headers["Location"]
    assert "client_id=service-gaia-lab-stac" in browser.headers["Location"]


def test_links_are_under_the_hub_prefix(stac_url: str, alice: HubUser):
    landing = requests.get(stac_url, headers=alice.headers, timeout=TIMEOUT).json()
    hrefs = [link["href"] for link in landing["links"]]
    assert hrefs
    assert [h for h in hrefs if not h.startswith(stac_url)] == []
    assert landing["federation:missing"] == []


def test_pystac_client_searches_across_hubs_and_pages_through_every_member(
    stac_url: str, alice: HubUser, items_by_member: Counter[str]
):
    assert len(items_by_member) >= 3, items_by_member
    client = Client.open(stac_url, headers=alice.headers)
    limit = 2 * len(items_by_member)
    pages = list(client.search(limit=limit).pages_as_dicts())
    seen = Counter(f["properties"]["federation:member"] for page in pages for f in page["features"])
    assert seen == items_by_member
    hubs = {f["properties"]["gaia:hub"] for page in pages for f in page["features"]}
    assert len(hubs) >= 3, hubs
    # Members holding more than a page's share answered on several pages, each resumed from the token.
    for member, total in items_by_member.items():
        pages_with = sum(1 for p in pages if any(f["properties"]["federation:member"] == member for f in p["features"]))
        assert pages_with >= (2 if total > 2 else 1), (member, pages_with, total)
    assert all(page["federation:missing"] == [] for page in pages)


def test_assets_are_read_through_the_hub_with_the_same_login(stac_url: str, alice: HubUser, platform: Platform):
    found = requests.get(stac_url + "search", params={"limit": 20}, headers=alice.headers, timeout=TIMEOUT).json()
    hrefs = [a["href"] for f in found["features"] for a in f["assets"].values()]
    lake_hrefs = [h for h in hrefs if h.startswith(stac_url + "assets/lake/")]
    assert lake_hrefs, hrefs
    # no href names the lake server's own loopback port: callers reach the files through the hub only
    assert not [h for h in hrefs if f":{platform.info.ports.lake_port}/" in h]
    href = next(h for h in lake_hrefs if re.search(r"\.(tif|nc|json)$", h))
    relative = href[len(stac_url + "assets/lake/") :]
    on_disk = (platform.layout.lake_dir / relative).read_bytes()
    ranged = requests.get(href, headers={**alice.headers, "Range": "bytes=0-99"}, timeout=TIMEOUT)
    assert ranged.status_code == 206
    assert ranged.content == on_disk[:100]
    assert requests.get(href, timeout=TIMEOUT).status_code == 401


@pytest.mark.skipif(not (VALIDATOR_VENV / "bin" / "python").exists(), reason="stac-api-validator venv missing")
def test_stac_api_validator_passes_through_the_hub(stac_url: str, alice: HubUser):
    found = requests.get(stac_url + "search", params={"limit": 50}, headers=alice.headers, timeout=TIMEOUT).json()
    by_collection = Counter(f["collection"] for f in found["features"])
    collection, _ = by_collection.most_common(1)[0]
    item = next(f for f in found["features"] if f["collection"] == collection)
    assert alice.token
    result = validate_api(
        stac_url,
        ["core", "collections", "features", "item-search", "filter"],
        collection=collection,
        geometry=item["geometry"],
        # -H reaches every request of the validator, its final pystac-client walk as well (--auth-bearer-token not)
        extra_args=["-H", f"Authorization: Bearer {alice.token}"],
    )
    report = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, report
    assert "Errors: none" in result.stdout, report


def test_starred_datasets_are_per_user_and_read_from_a_session(
    stac_url: str, alice: HubUser, make_user: Callable[[str], HubUser]
):
    bob = make_user("stac-bob")
    listing = requests.get(stac_url + "collections", params={"limit": 100}, headers=alice.headers, timeout=TIMEOUT)
    collections = [c["id"] for c in listing.json()["collections"]][:2]
    assert len(collections) == 2
    for collection in collections:
        answer = requests.put(f"{stac_url}starred/{collection}", headers=alice.headers, timeout=TIMEOUT)
        assert answer.status_code in (200, 201), answer.text
    mine = requests.get(stac_url + "starred", headers=alice.headers, timeout=TIMEOUT).json()
    assert mine["user"] == alice.name
    assert [s["collection"] for s in mine["starred"]] == collections
    theirs = requests.get(stac_url + "starred", headers=bob.headers, timeout=TIMEOUT).json()
    assert theirs == {"user": bob.name, "starred": []}
    # Read from Python with the user's token, as a session does
    starred = read_starred(stac_url, alice.token)
    assert [s.collection for s in starred] == collections
    with pytest.raises(StarredUnavailable, match="refused"):
        read_starred(stac_url, "not-a-hub-token")
    # ... and from alice's own session, with the session's token and the URL the platform gives sessions
    alice.start_server()
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"  # this checkout's gaia_lab, as the workers get it
        "import json, gaia_lab as gl\n"
        "print(json.dumps([s.collection for s in gl.open_catalog().starred]))"
    )
    output = alice.run(code)
    assert json.loads(output.strip().splitlines()[-1]) == collections
    requests.delete(f"{stac_url}starred/{collections[0]}", headers=alice.headers, timeout=TIMEOUT)
    assert [s.collection for s in read_starred(stac_url, alice.token)] == collections[1:]


def test_a_browser_logged_in_to_the_hub_gets_the_service_cookie(stac_url: str, alice: HubUser):
    """What a page of the portal does (same origin, through the hub's proxy): one request to /login with the hub's
    cookie gets this service's cookie; the API then answers that cookie alone."""
    browser = alice.session  # logged in to the hub: it holds the hub's cookie, no token
    target = "/services/gaia-lab-stac/starred"
    answer = browser.get(stac_url + "login", params={"next": target}, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.url.endswith(target)
    assert answer.json()["user"] == alice.name
    assert browser.get(stac_url + "collections", timeout=TIMEOUT).status_code == 200
    plain = requests.get(stac_url + "collections", timeout=TIMEOUT)
    assert plain.status_code == 401


def test_missing_members_on_the_platform_are_none(stac_url: str, alice: HubUser):
    found: dict[str, Any] = requests.get(
        stac_url + "collections", params={"q": "sea surface temperature"}, headers=alice.headers, timeout=TIMEOUT
    ).json()
    assert found["federation:missing"] == []
    assert found["collections"] and all(c["federation:score"] > 0 for c in found["collections"])
