"""Item search across the members of a federation, a page at a time, with a token that keeps each member's place.

A page asks every member still holding items for its share of ``limit`` at once, each within its own timeout. The
token of the next page records, per member, where that member is: the next link it answered with (STAC APIs: its
own token, keyset or offset, whatever it uses), or an offset into its results (catalogues searched whole: static
STAC, intake, ...). A member that does not answer in time keeps its place: it is named in ``federation:missing`` and
asked again on the next page, up to :data:`RETRIES` times, so that a slow member delays its items without losing
them and a dead one does not keep a client paging forever.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.fanout import per_provider
from gaia_lab.catalog.providers.base import Provider
from gaia_lab.catalog.providers.stac_api import StacApiProvider
from gaia_lab.catalog.providers.stac_convert import as_source
from gaia_lab.errors import GaiaLabError, InvalidQuery, ProviderError
from gaia_lab.query import BBox, Interval, Query, format_interval
from gaia_lab.stac_item import StacItem

# Pages a member may miss in a row before the search goes on without it.
RETRIES = 2
# Results of a catalogue searched whole, kept for the next pages of the same search.
RESULTS_TTL = 120.0
RESULTS_CACHED = 64


@dataclass(frozen=True)
class ItemQuery:
    """One item search of the federation, in member terms: ``collections`` maps each member asked to its own
    collection ids (``None``: all of them)."""

    members: dict[str, list[str] | None]
    ids: list[str] | None = None
    bbox: BBox | None = None
    intersects: Mapping[str, Any] | None = None
    datetime: Interval | None = None
    filters: dict[str, Mapping[str, Any] | None] = field(default_factory=dict)  # per member, collection ids local

    def key(self, member: str) -> str:
        """What identifies this search for one member (its cached results)."""
        return json.dumps(
            [
                member,
                self.members.get(member),
                self.ids,
                list(self.bbox) if self.bbox else None,
                self.intersects,
                format_interval(self.datetime) if self.datetime else None,
                self.filters.get(member),
            ],
            sort_keys=True,
            default=str,
        )


@dataclass
class MemberState:
    """Where one member is in a search: at its start, at a next link, at an offset, or done."""

    start: bool = True
    link: dict[str, Any] | None = None  # {"href", "method", "body"}
    offset: int = 0
    done: bool = False
    misses: int = 0
    gave_up: bool = False

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {}
        if not self.start:
            value["s"] = 0
        if self.link is not None:
            value["l"] = self.link
        if self.offset:
            value["o"] = self.offset
        if self.done:
            value["d"] = 1
        if self.misses:
            value["r"] = self.misses
        if self.gave_up:
            value["x"] = 1
        return value

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> MemberState:
        return cls(
            start="s" not in value,
            link=value.get("l"),
            offset=int(value.get("o", 0)),
            done=bool(value.get("d")),
            misses=int(value.get("r", 0)),
            gave_up=bool(value.get("x")),
        )


def encode_token(states: Mapping[str, MemberState]) -> str:
    data = json.dumps({name: s.to_json() for name, s in states.items()}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(zlib.compress(data, 9)).decode().rstrip("=")


def decode_token(token: str, members: Sequence[str]) -> dict[str, MemberState]:
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        document = json.loads(raw)
    except (binascii.Error, zlib.error, ValueError) as error:
        raise InvalidQuery("token", token[:40], f"not a token of this API ({type(error).__name__})") from None
    if not isinstance(document, dict):
        raise InvalidQuery("token", token[:40], "not a token of this API")
    # A member the token does not name has not been searched yet (a member added to the federation meanwhile).
    return {name: MemberState.from_json(document.get(name) or {}) for name in members}


@dataclass
class Page:
    items: list[tuple[Provider, StacItem]]
    states: dict[str, MemberState]
    missing: dict[str, GaiaLabError]

    @property
    def more(self) -> bool:
        return any(not s.done and not s.gave_up for s in self.states.values())


class _ResultsCache:
    """Whole results of catalogues that cannot page (static STAC, intake, CSW), per search, for a short time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: dict[str, tuple[float, list[StacItem]]] = {}

    def get(self, key: str, compute: Callable[[], list[StacItem]]) -> list[StacItem]:
        now = time.monotonic()
        with self._lock:
            hit = self._results.get(key)
            if hit is not None and now - hit[0] < RESULTS_TTL:
                return hit[1]
        found = compute()
        with self._lock:
            self._results[key] = (now, found)
            if len(self._results) > RESULTS_CACHED:
                for stale in sorted(self._results, key=lambda k: self._results[k][0])[: len(self._results) // 2]:
                    del self._results[stale]
        return found


def geometry_bbox(geometry: Mapping[str, Any]) -> BBox | None:
    """The box around a GeoJSON geometry (for members that filter by box only; items are checked again later)."""
    xs: list[float] = []
    ys: list[float] = []

    def walk(node: Any) -> None:
        if isinstance(node, list | tuple) and node and isinstance(node[0], int | float):
            xs.append(float(node[0]))
            ys.append(float(node[1]))
        elif isinstance(node, list | tuple):
            for child in node:
                walk(child)

    if geometry.get("type") == "GeometryCollection":
        for part in geometry.get("geometries") or []:
            walk(part.get("coordinates"))
    else:
        walk(geometry.get("coordinates"))
    if not xs:
        return None
    return BBox(max(-180.0, min(xs)), max(-90.0, min(ys)), min(180.0, max(xs)), min(90.0, max(ys)))


def _with_limit(href: str, limit: int) -> str:
    parts = urlsplit(href)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "limit"]
    query.append(("limit", str(limit)))
    return urlunsplit(parts._replace(query=urlencode(query)))


class FederatedItems:
    """Pages of items from the members of a federation."""

    def __init__(self, members: Mapping[str, Provider]) -> None:
        self.members = dict(members)
        self._cache = _ResultsCache()

    # -- one member -----------------------------------------------------------------------------------------------
    def _api_page(
        self, provider: StacApiProvider, query: ItemQuery, state: MemberState, share: int
    ) -> tuple[list[StacItem], MemberState]:
        collections = query.members.get(provider.name)
        client = provider.client
        if state.start:
            kwargs = provider._search_arguments(
                collections=collections,
                bbox=None if query.intersects else query.bbox,
                datetime=query.datetime,
                filter=query.filters.get(provider.name),
                max_items=None,
            )
            kwargs.pop("max_items", None)
            kwargs["limit"] = share
            if query.ids:
                kwargs["ids"] = list(query.ids)
            if query.intersects:
                kwargs["intersects"] = dict(query.intersects)
            search = provider._call(lambda: client.search(**kwargs))
            href, method, body = search.url, search.method, search.get_parameters()
            parameters: dict[str, Any] | None = body
        else:
            assert state.link is not None
            href, method = str(state.link["href"]), str(state.link.get("method") or "GET")
            body = dict(state.link.get("body") or {})
            if method == "POST":
                body["limit"] = share
                parameters = body
            else:
                href, parameters = _with_limit(href, share), None
        stac_io = client._stac_io
        assert stac_io is not None  # a Client opened by its provider always has one
        page = provider._call(lambda: stac_io.read_json(href, method=method, parameters=parameters))
        features = page.get("features") or []
        next_link = next((link for link in page.get("links") or () if link.get("rel") == "next"), None)
        if next_link is None or not features:
            following = MemberState(start=False, done=True)
        else:
            next_method = str(next_link.get("method") or "GET").upper()
            next_body = None
            if next_method == "POST":
                link_body = dict(next_link.get("body") or {})
                next_body = {**body, **link_body} if next_link.get("merge") else (link_body or dict(body))
            following = MemberState(
                start=False, link={"href": next_link["href"], "method": next_method, "body": next_body}
            )
        return [StacItem.from_dict(f) for f in features], following

    def _whole_page(
        self, provider: Provider, query: ItemQuery, state: MemberState, share: int
    ) -> tuple[list[StacItem], MemberState]:
        def compute() -> list[StacItem]:
            bbox = query.bbox or (geometry_bbox(query.intersects) if query.intersects else None)
            collections = query.members.get(provider.name)
            search = Query(bbox=bbox, datetime=query.datetime, collections=collections)
            entries: list[Entry] = provider.search_items(search, query.filters.get(provider.name))
            found: list[StacItem] = []
            for entry in entries:
                if entry.kind != "item":
                    continue  # a catalogue of datasets only: its entries are collections of this API
                try:
                    item = as_source(entry.source)
                except ProviderError:
                    continue
                if isinstance(item, StacItem) and (not query.ids or item.id in query.ids):
                    found.append(item)
            return found

        found = self._cache.get(query.key(provider.name), compute)
        page = found[state.offset : state.offset + share]
        offset = state.offset + len(page)
        return page, MemberState(start=False, offset=offset, done=offset >= len(found))

    def _page_of(
        self, provider: Provider, query: ItemQuery, state: MemberState, share: int
    ) -> tuple[list[StacItem], MemberState]:
        if isinstance(provider, StacApiProvider):
            return self._api_page(provider, query, state, share)
        return self._whole_page(provider, query, state, share)

    # -- the federation -------------------------------------------------------------------------------------------
    def page(self, query: ItemQuery, limit: int, token: str | None = None) -> Page:
        names = [n for n in query.members if n in self.members]
        states = decode_token(token, names) if token else {n: MemberState() for n in names}
        active = [n for n in names if not states[n].done and not states[n].gave_up]
        # Each member's share of the page; when the page is smaller than the members, the first ones fill it and
        # the others keep their place for the pages after.
        shares: dict[str, int] = {}
        if active:
            base, extra = divmod(limit, len(active))
            for index, name in enumerate(active):
                share = base + (1 if index < extra else 0)
                if share:
                    shares[name] = share
        missing: dict[str, GaiaLabError] = {
            n: ProviderError(n, f"gave up after it failed to answer {RETRIES + 1} pages in a row")
            for n in names
            if states[n].gave_up
        }
        results = self._run({n: self.members[n] for n in shares}, query, states, shares)
        items: list[tuple[Provider, StacItem]] = []
        for name in shares:
            outcome = results[name]
            if isinstance(outcome, GaiaLabError):
                missing[name] = outcome
                misses = states[name].misses + 1
                states[name] = replace(states[name], misses=misses, gave_up=misses > RETRIES)
                continue
            found, states[name] = outcome
            items.extend((self.members[name], item) for item in found)
        return Page(items=items, states=states, missing=missing)

    def _run(
        self,
        providers: dict[str, Provider],
        query: ItemQuery,
        states: dict[str, MemberState],
        shares: dict[str, int],
    ) -> dict[str, tuple[list[StacItem], MemberState] | GaiaLabError]:
        answers, errors, _ = per_provider(
            list(providers.values()),
            lambda provider: self._page_of(provider, query, states[provider.name], shares[provider.name]),
            thread_name_prefix="gaia-stac-page",
        )
        return {**answers, **errors}
