"""The FastAPI application: stac-fastapi's STAC API (core, item search, filter, collection search with free text,
token paging) over :class:`~gaia_lab.stac_api.backend.FederationClient`, plus

- ``GET /starred``, ``PUT /starred/{collection_id}``, ``DELETE /starred/{collection_id}``: the requesting user's
  starred datasets;
- ``GET|HEAD /assets/{name}/{path}``: the files of a data server the caller may not reach directly (the lake server
  on the platform's loopback address), with the API's own authentication; item and collection assets under that
  server point here.

Who the user is comes from the ASGI scope key ``gaia_lab.user`` (set by the hub authentication of
:mod:`gaia_lab.stac_api.auth`), or ``default_user`` when the application runs without a hub.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, cast

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gaia_lab.errors import EntryNotFound, InvalidQuery
from gaia_lab.stac_api.backend import FederationClient, _base_url
from gaia_lab.stac_api.federation import Federation, Rewriter
from gaia_lab.stac_api.starred import StarredStore, TooManyStars

USER_KEY = "gaia_lab.user"
# Headers of a data server's answer a reader needs (ranges for COG and Zarr reads, caching).
PASSED_BACK = ("content-type", "content-length", "content-range", "accept-ranges", "last-modified", "etag")
PASSED_ON = ("range", "if-modified-since", "if-none-match", "if-range")


def _asset_rewriter(proxies: Mapping[str, str]) -> Any:
    bases = {name: upstream.rstrip("/") + "/" for name, upstream in proxies.items()}

    def for_request(request: Request) -> Rewriter:
        base = _base_url(request)

        def rewrite(href: str) -> str:
            for name, upstream in bases.items():
                if href.startswith(upstream):
                    return f"{base}assets/{name}/{href[len(upstream) :]}"
            return href

        return rewrite

    return for_request


def create_app(
    federation: Federation,
    *,
    state_dir: Path,
    asset_proxies: Mapping[str, str] | None = None,
    default_user: str | None = None,
    title: str = "GAIA Lab federation",
) -> FastAPI:
    from stac_fastapi.api.app import StacApi
    from stac_fastapi.api.errors import DEFAULT_STATUS_CODES
    from stac_fastapi.api.models import (
        ItemCollectionUri,
        create_get_request_model,
        create_post_request_model,
        create_request_model,
    )
    from stac_fastapi.extensions import (
        CollectionSearchExtension,
        FreeTextExtension,
        SearchFilterExtension,
        TokenPaginationExtension,
    )
    from stac_fastapi.extensions.free_text import FreeTextConformanceClasses
    from stac_fastapi.types.config import ApiSettings

    proxies = dict(asset_proxies or {})
    search_extensions = [SearchFilterExtension(), TokenPaginationExtension()]
    collection_search = CollectionSearchExtension.from_extensions(
        [
            FreeTextExtension(conformance_classes=[FreeTextConformanceClasses.COLLECTIONS.value]),
            TokenPaginationExtension(),
        ]
    )
    items_model = create_request_model(
        model_name="ItemCollectionUri",
        base_model=ItemCollectionUri,
        extensions=[TokenPaginationExtension()],
        request_type="GET",
    )
    settings = ApiSettings(
        stac_fastapi_title=title,
        stac_fastapi_description="Every catalogue of the GAIA Lab federation searched as one STAC API.",
        stac_fastapi_landing_id="gaia-lab-federation",
        stac_fastapi_version=_version(),
    )
    client = FederationClient(
        federation=federation,
        rewriter=_asset_rewriter(proxies),
        title=title,
        description=settings.stac_fastapi_description,
        landing_page_id=settings.stac_fastapi_landing_id,
    )
    api = StacApi(
        app=FastAPI(
            title=title,
            openapi_url=settings.openapi_url,
            docs_url=settings.docs_url,
            redoc_url=None,
        ),
        settings=settings,
        client=client,
        extensions=[*search_extensions, collection_search],
        exceptions={**DEFAULT_STATUS_CODES, InvalidQuery: 400, EntryNotFound: 404},
        search_get_request_model=create_get_request_model(search_extensions),
        search_post_request_model=create_post_request_model(search_extensions),
        collections_get_request_model=collection_search.GET,
        items_get_request_model=cast(Any, items_model),
        title=title,
        description=settings.stac_fastapi_description,
        middlewares=_middlewares(),
    )
    app = api.app
    app.include_router(_starred_router(federation, StarredStore(state_dir / "starred.sqlite"), default_user))
    if proxies:
        app.include_router(_assets_router(proxies))
    return app


def _middlewares() -> list[Any]:
    """stac-fastapi's defaults without its ProxyHeaderMiddleware, which joins ``X-Forwarded-Port`` to an
    ``X-Forwarded-Host`` that already names the port (configurable-http-proxy sends both) into a host of two ports:
    :mod:`gaia_lab.stac_api.auth` takes the host from the hub's proxy instead. CORS: any origin, no credentials (a
    cross-origin caller sends a token, never the cookie), the Authorization header allowed."""
    from brotli_asgi import BrotliMiddleware
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware

    return [
        Middleware(BrotliMiddleware),
        Middleware(
            CORSMiddleware,
            allow_origins=["*"],
            allow_methods=["OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE"],
            allow_headers=["Content-Type", "Authorization", "Range"],
            expose_headers=["Content-Range", "Accept-Ranges", "Content-Length"],
            max_age=600,
        ),
    ]


def _version() -> str:
    from gaia_lab import __version__

    return str(__version__)


def user_of(request: Request, default_user: str | None) -> str | None:
    user = request.scope.get(USER_KEY)
    return str(user) if user else default_user


def _starred_router(federation: Federation, store: StarredStore, default_user: str | None) -> APIRouter:
    router = APIRouter(tags=["Starred datasets"])

    def who(request: Request) -> str | JSONResponse:
        user = user_of(request, default_user)
        if user is None:
            return JSONResponse({"code": "Unauthorized", "description": "no hub user"}, status_code=401)
        return user

    @router.get("/starred")
    def list_starred(request: Request) -> Response:
        user = who(request)
        if isinstance(user, Response):
            return user
        return JSONResponse({"user": user, "starred": store.list(user)})

    @router.put("/starred/{collection_id}")
    def star(collection_id: str, request: Request) -> Response:
        user = who(request)
        if isinstance(user, Response):
            return user
        entry = federation.entry(collection_id)
        if entry is None:
            return JSONResponse(
                {"code": "NotFoundError", "description": f"no collection {collection_id!r} in the federation"},
                status_code=404,
            )
        try:
            created = store.add(user, collection_id, entry=entry.id, title=entry.title, hub=entry.hub)
        except TooManyStars as error:
            return JSONResponse({"code": "TooManyStars", "description": str(error)}, status_code=409)
        starred = next(s for s in store.list(user) if s["collection"] == collection_id)
        return JSONResponse(starred, status_code=201 if created else 200)

    @router.delete("/starred/{collection_id}")
    def unstar(collection_id: str, request: Request) -> Response:
        user = who(request)
        if isinstance(user, Response):
            return user
        store.remove(user, collection_id)
        return Response(status_code=204)

    return router


def _assets_router(proxies: Mapping[str, str]) -> APIRouter:
    import httpx

    router = APIRouter(tags=["Assets"])
    client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0))

    async def forward(name: str, path: str, request: Request) -> Response:
        upstream = proxies.get(name)
        segments = path.split("/")
        if upstream is None or any(s in ("", ".", "..") for s in segments):
            return JSONResponse({"code": "NotFoundError", "description": "no such asset"}, status_code=404)
        url = upstream.rstrip("/") + "/" + path
        headers = {k: v for k, v in request.headers.items() if k.lower() in PASSED_ON}
        outgoing = client.build_request(request.method, url, headers=headers)
        try:
            answer = await client.send(outgoing, stream=True)
        except httpx.HTTPError as error:
            return JSONResponse(
                {"code": "BadGateway", "description": f"data server {name!r} unreachable: {type(error).__name__}"},
                status_code=502,
            )
        passed = {k: v for k, v in answer.headers.items() if k.lower() in PASSED_BACK}

        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in answer.aiter_raw():
                    yield chunk
            finally:
                await answer.aclose()

        if request.method == "HEAD":
            await answer.aclose()
            return Response(status_code=answer.status_code, headers=passed)
        return StreamingResponse(body(), status_code=answer.status_code, headers=passed)

    router.add_api_route("/assets/{name}/{path:path}", forward, methods=["GET", "HEAD"])
    return router
