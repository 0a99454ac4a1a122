"""The federation as one STAC catalogue: its members' datasets as STAC collections (ids ``<member>.<collection>``),
their items as STAC items, and asset hrefs a caller of the API can reach.

Searches go through :mod:`gaia_lab.catalog` (its query model, its thesaurus, its ranking and de-duplication);
nothing here knows a member's protocol beyond what a :class:`~gaia_lab.catalog.providers.base.Provider` offers.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pystac

from gaia_lab.catalog import Catalog
from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.providers.base import Provider
from gaia_lab.catalog.ranking import deduplicate, rank
from gaia_lab.catalog.results import SearchResults
from gaia_lab.errors import GaiaLabError, InvalidQuery
from gaia_lab.query import Query, format_interval
from gaia_lab.stac_item import StacItem

# Members' collections change rarely: listed again at most this often.
COLLECTIONS_TTL = 60.0
MISS_RELIST = 5.0
STAC_VERSION = "1.1.0"
LICENSE_UNKNOWN = "other"


def collection_id(provider: str, local_id: str) -> str:
    """The API id of a member's dataset: ``<member>.<its id>`` (member names hold no dot; ``/`` of nested ids
    becomes ``:``, since an id is one URL path segment)."""
    return f"{provider}.{local_id.replace('/', ':')}"


def member_of(api_id: str) -> str:
    return api_id.split(".", 1)[0]


Rewriter = Callable[[str], str]


def _same(href: str) -> str:
    return href


@dataclass
class Listing:
    """The federation's collections at one moment: every member's, de-duplicated and in rank order."""

    entries: list[Entry]
    by_id: dict[str, Entry]
    errors: dict[str, GaiaLabError]
    made: float = field(default_factory=time.monotonic)


class Federation:
    """A :class:`~gaia_lab.catalog.Catalog` seen as STAC documents."""

    def __init__(self, catalog: Catalog, *, title: str = "GAIA Lab federation", skipped: Sequence[str] = ()) -> None:
        self.catalog = catalog
        self.title = title
        # Members of the configuration this service could not load (named in the landing page).
        self.skipped = list(skipped)
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._refreshing = False
        self._listing: Listing | None = None

    @property
    def members(self) -> dict[str, Provider]:
        return {p.name: p for p in self.catalog.providers}

    # -- collections ---------------------------------------------------------------------------------------------
    def listing(self, *, refresh: bool = False) -> Listing:
        """The members' collections. Past its time to live the listing is still answered at once while one thread
        lists the members again, so no request waits for the slowest member; only the first listing (and an
        explicit ``refresh``) waits."""
        with self._lock:
            current = self._listing
            if current is not None and not refresh:
                if time.monotonic() - current.made >= COLLECTIONS_TTL and not self._refreshing:
                    self._refreshing = True
                    threading.Thread(
                        target=self._refresh_in_background, args=(current,), name="gaia-lab-listing", daemon=True
                    ).start()
                return current
        return self._refresh(current)

    def _refresh_in_background(self, seen: Listing) -> None:
        try:
            self._refresh(seen)
        finally:
            with self._lock:
                self._refreshing = False

    def _refresh(self, seen: Listing | None) -> Listing:
        # One listing of the members at a time: callers arriving meanwhile take its result.
        with self._refresh_lock:
            with self._lock:
                current = self._listing
            if current is not None and current is not seen:
                return current
            answered, errors, _ = Catalog._run(self.catalog.providers, Query())
            entries = list(answered)
            if current is not None:
                # A member that did not answer this time keeps its last known collections (and is named in
                # federation:missing): one slow answer must not empty the maps and User WebMaps built on it.
                entries += [e for e in current.by_id.values() if e.provider in errors]
            by_id = {collection_id(e.provider, e.local_id): e for e in entries}
            listing = Listing(entries=rank(deduplicate(list(entries))), by_id=by_id, errors=errors)
            with self._lock:
                self._listing = listing
            return listing

    def entry(self, api_id: str) -> Entry | None:
        listing = self.listing()
        found = listing.by_id.get(api_id)
        # A member's new dataset is looked for at once, but requests for ids that do not exist list the members
        # at most once per MISS_RELIST seconds.
        if found is None and member_of(api_id) in self.members and time.monotonic() - listing.made >= MISS_RELIST:
            found = self.listing(refresh=True).by_id.get(api_id)
        return found

    def search_collections(
        self, q: str | None, bbox: object, datetime: object, hubs: object = None
    ) -> tuple[list[Entry], dict[str, GaiaLabError], SearchResults | None]:
        """Datasets matching a collection search; with ``q``, ranked by the thesaurus-expanded text."""
        if q:
            results = self.catalog.search(q, bbox=bbox, datetime=datetime, hubs=hubs, limit=None)
            return results.entries, results.errors, results
        listing = self.listing()
        query = Query.parse(bbox=bbox, datetime=datetime, hubs=hubs)
        kept = [e for e in listing.entries if e.matches(query) and (not query.hubs or e.hub in query.hubs)]
        return kept, listing.errors, None

    def members_of(self, collections: Sequence[str] | None) -> dict[str, list[str] | None]:
        """Members to ask and, per member, its own collection ids (``None``: every collection)."""
        if not collections:
            return {name: None for name in self.members}
        wanted: dict[str, list[str] | None] = {}
        for api_id in collections:
            entry = self.entry(api_id)
            if entry is None:
                continue  # an unknown collection holds no items
            local = entry.local_id
            wanted.setdefault(entry.provider, [])
            ids = wanted[entry.provider]
            assert ids is not None
            if local not in ids:
                ids.append(local)
        return wanted


def localize_filter(cql2: Mapping[str, Any] | None, member: str, federation: Federation) -> Mapping[str, Any] | None:
    """A CQL2-JSON filter as one member understands it: comparisons of ``collection`` with API ids become
    comparisons with the member's own collection ids."""
    if cql2 is None:
        return None

    def local(value: Any) -> Any:
        if isinstance(value, str) and member_of(value) == member:
            entry = federation.entry(value)
            if entry is not None:
                return entry.local_id
        return value

    def walk(node: Any) -> Any:
        if isinstance(node, Mapping) and "op" in node:
            args = list(node.get("args") or [])
            if any(isinstance(a, Mapping) and a.get("property") == "collection" for a in args):
                args = [
                    [local(v) for v in a] if isinstance(a, list) else (a if isinstance(a, Mapping) else local(a))
                    for a in args
                ]
            return {**node, "args": [walk(a) for a in args]}
        if isinstance(node, list):
            return [walk(a) for a in node]
        return node

    return dict(walk(copy.deepcopy(dict(cql2))))


def parse_filter(value: object, lang: str | None) -> dict[str, Any] | None:
    """A ``filter`` parameter as CQL2-JSON: CQL2-JSON as given (or as a JSON string, in a GET), CQL2-text parsed."""
    if value is None or value == "":
        return None
    if isinstance(value, Mapping):
        return dict(value)
    text = str(value)
    if lang in (None, "cql2-text") and not text.lstrip().startswith("{"):
        from pygeofilter.backends.cql2_json import to_cql2
        from pygeofilter.parsers.cql2_text import parse

        try:
            parsed: dict[str, Any] = json.loads(to_cql2(parse(text)))
        except Exception as error:  # pygeofilter raises lark's and its own errors, with no common base
            raise InvalidQuery("filter", text, f"not CQL2-text: {type(error).__name__}: {error}") from None
        return parsed
    try:
        document = json.loads(text)
    except ValueError:
        raise InvalidQuery("filter", text, "not CQL2-JSON") from None
    if not isinstance(document, dict):
        raise InvalidQuery("filter", text, "CQL2-JSON must be an object")
    return document


# -- STAC documents -------------------------------------------------------------------------------------------------


def _rewrite_assets(assets: Mapping[str, Any], rewrite: Rewriter) -> dict[str, Any]:
    return {
        key: {**asset, "href": rewrite(str(asset.get("href", "")))} if isinstance(asset, Mapping) else asset
        for key, asset in assets.items()
    }


def _link(rel: str, href: str, media_type: str = "application/json", **extra: Any) -> dict[str, Any]:
    return {"rel": rel, "href": href, "type": media_type, **extra}


def collection_document(entry: Entry, base_url: str, rewrite: Rewriter = _same) -> dict[str, Any]:
    """A member's dataset as a STAC collection of this API."""
    api_id = collection_id(entry.provider, entry.local_id)
    source = entry.source
    if isinstance(source, pystac.Collection):
        document = source.to_dict(include_self_link=False, transform_hrefs=False)
        for key, asset in source.assets.items():
            document.setdefault("assets", {})[key]["href"] = asset.get_absolute_href() or asset.href
        document["assets"] = _rewrite_assets(document.get("assets") or {}, rewrite)
    else:
        document = {
            "type": "Collection",
            "stac_version": STAC_VERSION,
            "description": entry.description or entry.title,
            "license": LICENSE_UNKNOWN,
            "extent": {
                "spatial": {"bbox": [list(entry.bbox) if entry.bbox else [-180.0, -90.0, 180.0, 90.0]]},
                "temporal": {
                    "interval": [
                        [
                            entry.datetime[0].isoformat().replace("+00:00", "Z")
                            if entry.datetime and entry.datetime[0]
                            else None,
                            entry.datetime[1].isoformat().replace("+00:00", "Z")
                            if entry.datetime and entry.datetime[1]
                            else None,
                        ]
                    ]
                },
            },
            "keywords": list(entry.keywords),
            "assets": {
                key: {"href": rewrite(href), "roles": ["data"], "title": key} for key, href in entry.assets.items()
            },
        }
    document["type"] = "Collection"
    document["id"] = api_id
    document["title"] = entry.title
    document.setdefault("stac_version", STAC_VERSION)
    document.setdefault("description", entry.description or entry.title)
    document.setdefault("license", LICENSE_UNKNOWN)
    member = entry._provider
    host = {"name": member.title if member else entry.provider, "roles": ["host"]}
    if member is not None and member.url.startswith(("http://", "https://")):
        host["url"] = member.url
    document["providers"] = [*(document.get("providers") or []), host]
    document["gaia:hub"] = entry.hub
    document["federation:member"] = entry.provider
    document["federation:entry"] = entry.id
    if entry.variables:
        document["gaia:variables"] = list(entry.variables)
    if entry.mirrors:
        document["federation:mirrors"] = list(entry.mirrors)
    base = base_url.rstrip("/")
    document["links"] = [
        _link("self", f"{base}/collections/{api_id}"),
        _link("root", f"{base}/"),
        _link("parent", f"{base}/"),
        _link("items", f"{base}/collections/{api_id}/items", "application/geo+json"),
    ]
    return document


def item_document(
    provider: Provider, item: StacItem, base_url: str, rewrite: Rewriter = _same, collection: str | None = None
) -> dict[str, Any]:
    """A member's item as an item of this API: its collection the API's id, its links this API's, its hrefs
    reachable."""
    document = dict(item.document)
    local_collection = item.collection or collection
    api_collection = collection_id(provider.name, local_collection) if local_collection else None
    document["type"] = "Feature"
    document.setdefault("stac_version", STAC_VERSION)
    if api_collection:
        document["collection"] = api_collection
    document["assets"] = _rewrite_assets(item.assets, rewrite)
    properties = dict(document.get("properties") or {})
    properties.setdefault("gaia:hub", provider.hub)
    properties["federation:member"] = provider.name
    if "datetime" not in properties:
        properties["datetime"] = None
    document["properties"] = properties
    base = base_url.rstrip("/")
    links = [_link("root", f"{base}/")]
    if api_collection:
        links += [
            _link("self", f"{base}/collections/{api_collection}/items/{item.id}", "application/geo+json"),
            _link("collection", f"{base}/collections/{api_collection}"),
            _link("parent", f"{base}/collections/{api_collection}"),
        ]
    document["links"] = links
    return document


def search_terms(results: SearchResults | None) -> list[dict[str, str]]:
    return [t.to_dict() for t in results.query_terms] if results is not None else []


def interval_text(value: object) -> str | None:
    """A validated STAC ``datetime`` parameter, in the form members are sent."""
    if value is None:
        return None
    parsed = Query.parse(datetime=value).datetime
    return format_interval(parsed) if parsed else None
