"""Hub authentication around the ASGI application: JupyterHub's HubOAuth, the ASGI counterpart of
:mod:`gaia_lab.ogc_processes.auth` (same rules, same signed cookie format).

A request is let through with the hub user it comes from, found from, in order: an ``Authorization: token|Bearer``
header, a ``?token=`` parameter, or this service's cookie (set by the OAuth login a browser goes through). The token
must carry the service's access scope (``access:services!service=gaia-lab-stac``). Without one, API clients get 401
(403 for a token that does not give access) and browsers asking for HTML are sent through the hub's OAuth, then
back. ``/login?next=<path under the service>`` starts that login for any client (a page of another hub service
fetches it once, same origin, to get this service's cookie). ``/_health`` and the OpenAPI description of the API
(``/api``, ``/api.html``: routes and parameters, no data) stay open: clients read the description before they
authenticate (stac-api-validator fetches it without the credentials it sends elsewhere).
"""

from __future__ import annotations

import json
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any

from gaia_lab.ogc_processes.auth import COOKIE_LIFETIME, Signer
from gaia_lab.stac_api.app import USER_KEY

COOKIE = "gaia-lab-stac"
# What anyone may read: no data behind these.
OPEN_PATHS = frozenset({"/api", "/api.html"})
STATE_COOKIE = "gaia-lab-stac-state"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _respond(
    send: Send, status: int, body: dict[str, Any] | None = None, headers: list[tuple[str, str]] | None = None
) -> None:
    data = json.dumps(body).encode() if body is not None else b""
    raw = [(b"content-length", str(len(data)).encode())]
    if body is not None:
        raw.append((b"content-type", b"application/json"))
    raw += [(k.lower().encode(), v.encode()) for k, v in headers or []]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


class HubAuthASGI:
    """The ASGI application ``app``, for hub users only; ``auth`` is a configured ``HubOAuth``."""

    def __init__(self, app: ASGIApp, auth: Any, *, prefix: str, cookie_secret: bytes) -> None:
        self.app = app
        self.auth = auth
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.signer = Signer(cookie_secret)

    @staticmethod
    def _headers(scope: Scope) -> dict[str, str]:
        return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}

    def _token(self, scope: Scope, headers: dict[str, str]) -> str | None:
        header = headers.get("authorization", "")
        match = self.auth.auth_header_pat.match(header) if header else None
        if match:
            return str(match.group(1)).strip()
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get("token") and not self._is_search_token(scope):
            return str(query["token"][0])
        cookies = SimpleCookie(headers.get("cookie", ""))
        if COOKIE in cookies:
            return self.signer.unsign(cookies[COOKIE].value)
        return None

    def _is_search_token(self, scope: Scope) -> bool:
        # STAC paging uses ?token= as well (search, items, collections): there it is the page's, never the hub's.
        path = self._local_path(scope)
        return path == "/search" or path.startswith("/collections")

    def _local_path(self, scope: Scope) -> str:
        path = str(scope.get("path") or "/")
        if self.prefix and (path == self.prefix or path.startswith(self.prefix + "/")):
            return path[len(self.prefix) :] or "/"
        return path

    async def user_for(self, token: str) -> str | None:
        """The hub user of ``token`` if it may use this service."""
        try:
            model = await self.auth.user_for_token(token, sync=False)
        except Exception:
            return None
        if not model or model.get("kind", "user") != "user":
            return None
        if self.auth.access_scopes and not self.auth.check_scopes(self.auth.access_scopes, model):
            return None
        return str(model["name"])

    async def _login(self, send: Send, target: str) -> None:
        state = secrets.token_urlsafe(16)
        query = urllib.parse.urlencode(
            {
                "client_id": self.auth.oauth_client_id,
                "redirect_uri": self.auth.oauth_redirect_uri,
                "response_type": "code",
                "state": state,
            }
        )
        path = self.prefix or "/"
        cookie = f"{STATE_COOKIE}={self.signer.sign(json.dumps([state, target]), 600)}; Path={path}; HttpOnly"
        location = f"{self.auth.oauth_authorization_url}?{query}"
        await _respond(send, 302, headers=[("Location", location), ("Set-Cookie", cookie)])

    async def _callback(self, scope: Scope, headers: dict[str, str], send: Send) -> None:
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        cookies = SimpleCookie(headers.get("cookie", ""))
        stored = self.signer.unsign(cookies[STATE_COOKIE].value) if STATE_COOKIE in cookies else None
        if not stored or not query.get("code") or not query.get("state"):
            await _respond(send, 400, {"code": "BadRequest", "description": "OAuth callback without a valid state"})
            return
        state, target = json.loads(stored)
        if not secrets.compare_digest(state, query["state"][0]):
            await _respond(send, 400, {"code": "BadRequest", "description": "OAuth state mismatch"})
            return
        try:
            token = await self.auth.token_for_code(query["code"][0], sync=False)
        except Exception as exc:
            await _respond(send, 403, {"code": "Forbidden", "description": f"the hub refused the login: {exc}"})
            return
        path = self.prefix or "/"
        lifetime = f"Max-Age={COOKIE_LIFETIME}"
        await _respond(
            send,
            302,
            headers=[
                ("Location", target if str(target).startswith(path) else path),
                ("Set-Cookie", f"{COOKIE}={self.signer.sign(token)}; Path={path}; {lifetime}; HttpOnly; SameSite=Lax"),
                ("Set-Cookie", f"{STATE_COOKIE}=; Path={path}; Max-Age=0"),
            ],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = self._local_path(scope)
        headers = self._headers(scope)
        if path == "/_health":
            await _respond(send, 200, {"status": "ok"})
            return
        if path == "/oauth_callback":
            await self._callback(scope, headers, send)
            return
        if path == "/login":
            wanted = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1")).get("next", [""])[0]
            home = (self.prefix or "") + "/"
            await self._login(send, wanted if wanted.startswith(home) else home)
            return
        if path in OPEN_PATHS and scope.get("method") in ("GET", "HEAD"):
            await self.app(self._behind_proxy(scope, path, headers), receive, send)
            return
        if scope.get("method") == "OPTIONS" and "access-control-request-method" in headers:
            await self.app(scope, receive, send)  # a CORS preflight carries no credentials: CORS answers it
            return
        token = self._token(scope, headers)
        user = await self.user_for(token) if token else None
        if user is None:
            if "text/html" in headers.get("accept", "") and scope.get("method") == "GET":
                here = str(scope.get("path") or "/")
                if scope.get("query_string"):
                    here += "?" + scope["query_string"].decode("latin-1")
                await self._login(send, here)
                return
            status = 403 if token else 401
            detail = (
                "this token does not give access to the STAC service"
                if token
                else "authentication required: send 'Authorization: token <JupyterHub API token>' or log in to the hub"
            )
            await _respond(
                send, status, {"code": "Unauthorized", "description": detail}, [("WWW-Authenticate", "token")]
            )
            return
        await self.app(self._behind_proxy({**scope, USER_KEY: user}, path, headers), receive, send)

    def _behind_proxy(self, scope: Scope, path: str, headers: dict[str, str]) -> Scope:
        scope = dict(scope)
        if self.prefix and path != scope.get("path"):
            # The hub's proxy keeps its route in the path: the application's links are built under it, on the host
            # and scheme the client used (the proxy's X-Forwarded-Host, port included, and X-Forwarded-Proto).
            scope["root_path"] = str(scope.get("root_path") or "") + self.prefix
            forwarded_host = headers.get("x-forwarded-host", "").split(",")[0].strip()
            if forwarded_host:
                raw = [(k, v) for k, v in scope.get("headers") or [] if k.lower() != b"host"]
                scope["headers"] = [*raw, (b"host", forwarded_host.encode("latin-1"))]
            forwarded_proto = headers.get("x-forwarded-proto", "").split(",")[0].strip()
            if forwarded_proto in ("http", "https"):
                scope["scheme"] = forwarded_proto
        return scope
