"""The backend stac-fastapi routes to: core (landing page, collections, items), item search, collection search with
free text through the thesaurus, and CQL2 filters handed to the members.

Responses carry, beside the STAC fields, ``federation:missing`` (members that did not answer, or could not take the
query) and ``federation:errors`` (why, per member); collection searches with ``q`` add ``federation:query_terms``
(the thesaurus expansion searched).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast
from urllib.parse import urlencode

import attr
from stac_fastapi.types import stac as stac_types
from stac_fastapi.types.core import BaseCoreClient
from stac_fastapi.types.errors import NotFoundError
from starlette.requests import Request

from gaia_lab.errors import GaiaLabError, InvalidQuery
from gaia_lab.query import Query, parse_bbox, parse_limit
from gaia_lab.stac_api.federation import (
    Federation,
    Rewriter,
    collection_document,
    item_document,
    localize_filter,
    parse_filter,
    search_terms,
)
from gaia_lab.stac_api.paging import FederatedItems, ItemQuery, encode_token, geometry_bbox

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
GEOJSON = "application/geo+json"


def _base_url(request: Request) -> str:
    from stac_fastapi.types.requests import get_base_url

    return str(get_base_url(request))


def _missing(errors: Mapping[str, GaiaLabError]) -> dict[str, Any]:
    return {
        "federation:missing": sorted(errors),
        "federation:errors": {name: str(error) for name, error in sorted(errors.items())},
    }


def _offset(token: str | None) -> int:
    if not token:
        return 0
    if not token.startswith("o") or not token[1:].isdigit():
        raise InvalidQuery("token", token[:40], "not a token of this API's collection listing")
    return int(token[1:])


@attr.s
class FederationClient(BaseCoreClient):
    """stac-fastapi's core client over a :class:`Federation`."""

    federation: Federation = attr.ib(kw_only=True)
    rewriter: Callable[[Request], Rewriter] = attr.ib(kw_only=True, default=lambda request: lambda href: href)

    def __attrs_post_init__(self) -> None:
        self.items = FederatedItems(self.federation.members)

    # -- landing page ---------------------------------------------------------------------------------------------
    def landing_page(self, **kwargs: Any) -> stac_types.LandingPage:
        # No child link per collection: the API does not claim "browseable", and clients list /collections.
        page: dict[str, Any] = dict(super().landing_page(**kwargs))
        listing = self.federation.listing()
        page["federation:members"] = [
            {"name": p.name, "title": p.title, "hub": p.hub, "type": p.kind} for p in self.federation.catalog
        ]
        if self.federation.skipped:
            page["federation:skipped"] = list(self.federation.skipped)
        page.update(_missing(listing.errors))
        return cast(stac_types.LandingPage, page)

    # -- collections ----------------------------------------------------------------------------------------------
    def all_collections(self, **kwargs: Any) -> stac_types.Collections:
        request: Request = kwargs["request"]
        base = _base_url(request)
        limit = parse_limit(kwargs.get("limit")) or MAX_LIMIT
        q_value = kwargs.get("q")
        q = " ".join(q_value) if isinstance(q_value, list) else q_value
        bbox = kwargs.get("bbox")
        hubs = request.query_params.get("hubs")
        entries, errors, results = self.federation.search_collections(
            q or None, list(bbox) if bbox else None, kwargs.get("datetime"), hubs
        )
        start = _offset(kwargs.get("token"))
        page = entries[start : start + limit]
        rewrite = self.rewriter(request)
        links: list[dict[str, Any]] = [
            {"rel": "root", "type": "application/json", "href": base},
            {"rel": "parent", "type": "application/json", "href": base},
            {"rel": "self", "type": "application/json", "href": str(request.url)},
        ]
        if start + limit < len(entries):
            params = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            params.append(("token", f"o{start + limit}"))
            links.append({"rel": "next", "type": "application/json", "href": f"{base}collections?{urlencode(params)}"})
        if start > 0:
            params = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            params.append(("token", f"o{max(0, start - limit)}"))
            links.append(
                {"rel": "previous", "type": "application/json", "href": f"{base}collections?{urlencode(params)}"}
            )
        documents = []
        for entry in page:
            document = collection_document(entry, base, rewrite)
            if results is not None:
                document["federation:score"] = round(entry.score, 3)
            documents.append(document)
        response: dict[str, Any] = {
            "collections": documents,
            "links": links,
            "numberMatched": len(entries),
            "numberReturned": len(documents),
            **_missing(errors),
        }
        if results is not None:
            response["federation:query_terms"] = search_terms(results)
        return cast(stac_types.Collections, response)

    def get_collection(self, collection_id: str, **kwargs: Any) -> stac_types.Collection:
        request: Request = kwargs["request"]
        entry = self.federation.entry(collection_id)
        if entry is None:
            raise NotFoundError(f"no collection {collection_id!r} in the federation")
        return cast(stac_types.Collection, collection_document(entry, _base_url(request), self.rewriter(request)))

    # -- items ----------------------------------------------------------------------------------------------------
    def item_collection(
        self,
        collection_id: str,
        bbox: Sequence[float] | None = None,
        datetime: str | None = None,
        limit: int = DEFAULT_LIMIT,
        token: str | None = None,
        **kwargs: Any,
    ) -> stac_types.ItemCollection:
        request: Request = kwargs["request"]
        if self.federation.entry(collection_id) is None:
            raise NotFoundError(f"no collection {collection_id!r} in the federation")
        return self._search(
            request,
            collections=[collection_id],
            bbox=bbox,
            datetime=datetime,
            limit=limit,
            token=token,
            method="GET",
        )

    def get_item(self, item_id: str, collection_id: str, **kwargs: Any) -> stac_types.Item:
        request: Request = kwargs["request"]
        found: dict[str, Any] = dict(
            self._search(request, collections=[collection_id], ids=[item_id], limit=1, method="GET")
        )
        features = found["features"]
        if not features:
            missing = found["federation:missing"]
            why = f"; member {missing[0]!r} did not answer" if missing else ""
            raise NotFoundError(f"no item {item_id!r} in collection {collection_id!r}{why}")
        return cast(stac_types.Item, dict(features[0]))

    def get_search(
        self,
        collections: list[str] | None = None,
        ids: list[str] | None = None,
        bbox: Sequence[float] | None = None,
        intersects: Any = None,
        datetime: str | None = None,
        limit: int | None = DEFAULT_LIMIT,
        **kwargs: Any,
    ) -> stac_types.ItemCollection:
        request: Request = kwargs["request"]
        geometry = intersects if isinstance(intersects, Mapping) or intersects is None else json.loads(intersects)
        return self._search(
            request,
            collections=collections,
            ids=ids,
            bbox=bbox,
            intersects=geometry,
            datetime=datetime,
            limit=limit,
            token=kwargs.get("token"),
            filter=parse_filter(kwargs.get("filter_expr"), kwargs.get("filter_lang")),
            method="GET",
        )

    def post_search(self, search_request: Any, **kwargs: Any) -> stac_types.ItemCollection:
        request: Request = kwargs["request"]
        intersects = search_request.intersects
        return self._search(
            request,
            collections=search_request.collections,
            ids=search_request.ids,
            bbox=search_request.bbox,
            intersects=intersects.model_dump(exclude_none=True) if intersects is not None else None,
            datetime=search_request.datetime,
            limit=search_request.limit,
            token=getattr(search_request, "token", None),
            filter=parse_filter(
                getattr(search_request, "filter_expr", None), getattr(search_request, "filter_lang", None)
            ),
            method="POST",
            body=search_request.model_dump(mode="json", by_alias=True, exclude_none=True),
        )

    def _search(
        self,
        request: Request,
        *,
        collections: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
        bbox: Sequence[float] | None = None,
        intersects: Mapping[str, Any] | None = None,
        datetime: str | None = None,
        limit: int | None = DEFAULT_LIMIT,
        token: str | None = None,
        filter: Mapping[str, Any] | None = None,
        method: str,
        body: Mapping[str, Any] | None = None,
    ) -> stac_types.ItemCollection:
        if bbox and intersects is not None:
            raise InvalidQuery("intersects", intersects, "bbox and intersects exclude each other: give one")
        size = min(parse_limit(limit) or DEFAULT_LIMIT, MAX_LIMIT)
        parsed = Query.parse(bbox=list(bbox) if bbox else None, datetime=datetime)
        members = self.federation.members_of(list(collections) if collections else None)
        query = ItemQuery(
            members=members,
            ids=list(ids) if ids else None,
            bbox=parsed.bbox,
            intersects=dict(intersects) if intersects else None,
            datetime=parsed.datetime,
            filters={name: localize_filter(filter, name, self.federation) for name in members},
        )
        if intersects is not None and geometry_bbox(intersects) is None:
            raise InvalidQuery("intersects", intersects, "a GeoJSON geometry with coordinates")
        page = self.items.page(query, size, token)
        base = _base_url(request)
        rewrite = self.rewriter(request)
        features = [item_document(provider, item, base, rewrite) for provider, item in page.items]
        features = self._matching(features, query)
        links: list[dict[str, Any]] = [
            {"rel": "root", "type": "application/json", "href": base},
            {"rel": "self", "type": GEOJSON, "href": str(request.url)},
        ]
        if page.more:
            next_token = encode_token(page.states)
            if method == "POST":
                links.append(
                    {
                        "rel": "next",
                        "type": GEOJSON,
                        "method": "POST",
                        "href": str(request.url),
                        "body": {**(body or {}), "token": next_token},
                        "merge": False,
                    }
                )
            else:
                params = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                params.append(("token", next_token))
                links.append(
                    {
                        "rel": "next",
                        "type": GEOJSON,
                        "href": f"{request.url.remove_query_params('token').replace(query=urlencode(params))}",
                    }
                )
        response = {
            "type": "FeatureCollection",
            "features": features,
            "links": links,
            "numberReturned": len(features),
            **_missing(page.missing),
        }
        return cast(stac_types.ItemCollection, response)

    @staticmethod
    def _matching(features: list[dict[str, Any]], query: ItemQuery) -> list[dict[str, Any]]:
        """Members searched whole were asked with the box around ``intersects``; items outside the box are left out
        here (an item whose box touches the box stays: footprints are compared by box)."""
        box = geometry_bbox(query.intersects) if query.intersects else None
        if box is None:
            return features
        kept = []
        for feature in features:
            footprint = parse_bbox(feature.get("bbox"), normalize=True) if feature.get("bbox") else None
            if footprint is None or footprint.intersects(box):
                kept.append(feature)
        return kept
