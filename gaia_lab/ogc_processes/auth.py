"""Hub authentication around a WSGI application (pygeoapi is Flask): JupyterHub's HubOAuth, WSGI side.

A request is let through with the hub user it comes from, found from, in order: an ``Authorization: token|Bearer``
header, a ``?token=`` parameter, or this service's cookie (set by the OAuth login a browser goes through). The
token must carry the service's access scope (``access:services!service=<name>``). Without one, API clients get 401
and browsers are sent to the hub's OAuth authorisation, then back. ``/_health`` stays open (no data behind it).

The hub's proxy forwards ``/services/<name>/...`` with that prefix: it is moved to ``SCRIPT_NAME`` so the
application sees its own paths and builds links under the prefix.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import json
import secrets
import time
import urllib.parse
from collections.abc import Callable, Iterable
from http.cookies import SimpleCookie
from typing import Any

CURRENT_USER: contextvars.ContextVar[str | None] = contextvars.ContextVar("gaia_lab_processes_user", default=None)
COOKIE = "gaia-lab-processes"
STATE_COOKIE = "gaia-lab-processes-state"
COOKIE_LIFETIME = 12 * 3600

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def current_user() -> str:
    """The hub user of the request being served (set by :class:`HubAuthMiddleware`)."""
    user = CURRENT_USER.get()
    if user is None:
        raise RuntimeError("no authenticated user in this context")
    return user


class Signer:
    """HMAC-signed cookie values: ``value|expiry|signature``."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def _mac(self, payload: str) -> str:
        return hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()

    def sign(self, value: str, lifetime: float = COOKIE_LIFETIME) -> str:
        # Base64 keeps the value within the characters a cookie may hold (no quotes, commas, spaces).
        encoded = base64.urlsafe_b64encode(value.encode()).decode()
        payload = f"{encoded}|{int(time.time() + lifetime)}"
        return f"{payload}|{self._mac(payload)}"

    def unsign(self, signed: str) -> str | None:
        payload, _, mac = signed.rpartition("|")
        if not payload or not hmac.compare_digest(mac, self._mac(payload)):
            return None
        encoded, _, expiry = payload.rpartition("|")
        if not expiry.isdigit() or int(expiry) < time.time():
            return None
        try:
            return base64.urlsafe_b64decode(encoded.encode()).decode()
        except ValueError:
            return None


def _json(
    start_response: StartResponse, status: str, body: dict[str, Any], headers: list[tuple[str, str]] | None = None
) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *(headers or [])])
    return [data]


class HubAuthMiddleware:
    """The WSGI application ``app``, for hub users only; ``auth`` is a configured ``HubOAuth``."""

    def __init__(self, app: WSGIApp, auth: Any, *, prefix: str, cookie_secret: bytes) -> None:
        self.app = app
        self.auth = auth
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.signer = Signer(cookie_secret)

    # -- identity ---------------------------------------------------------------------------------------------
    def _token(self, environ: dict[str, Any]) -> str | None:
        header = environ.get("HTTP_AUTHORIZATION", "")
        match = self.auth.auth_header_pat.match(header) if header else None
        if match:
            return str(match.group(1)).strip()
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        if query.get("token"):
            return str(query["token"][0])
        cookies = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        if COOKIE in cookies:
            return self.signer.unsign(cookies[COOKIE].value)
        return None

    def user_for(self, token: str) -> str | None:
        """The hub user of ``token`` if it may use this service."""
        try:
            model = self.auth.user_for_token(token, sync=True)
        except Exception:
            return None
        if not model or model.get("kind", "user") != "user":
            return None
        if self.auth.access_scopes and not self.auth.check_scopes(self.auth.access_scopes, model):
            return None
        return str(model["name"])

    # -- OAuth for browsers -----------------------------------------------------------------------------------
    def _login(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        state = secrets.token_urlsafe(16)
        here = self.prefix + environ.get("PATH_INFO", "/")
        if environ.get("QUERY_STRING"):
            here += "?" + environ["QUERY_STRING"]
        query = urllib.parse.urlencode(
            {
                "client_id": self.auth.oauth_client_id,
                "redirect_uri": self.auth.oauth_redirect_uri,
                "response_type": "code",
                "state": state,
            }
        )
        location = f"{self.auth.oauth_authorization_url}?{query}"
        cookie = (
            f"{STATE_COOKIE}={self.signer.sign(json.dumps([state, here]), 600)}; Path={self.prefix or '/'}; HttpOnly"
        )
        start_response("302 Found", [("Location", location), ("Set-Cookie", cookie), ("Content-Length", "0")])
        return [b""]

    def _callback(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        cookies = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        stored = self.signer.unsign(cookies[STATE_COOKIE].value) if STATE_COOKIE in cookies else None
        if not stored or not query.get("code") or not query.get("state"):
            return _json(start_response, "400 Bad Request", {"detail": "OAuth callback without a valid state"})
        state, target = json.loads(stored)
        if not hmac.compare_digest(state, query["state"][0]):
            return _json(start_response, "400 Bad Request", {"detail": "OAuth state mismatch"})
        try:
            token = self.auth.token_for_code(query["code"][0], sync=True)
        except Exception as exc:
            return _json(start_response, "403 Forbidden", {"detail": f"the hub refused the login: {exc}"})
        path = self.prefix or "/"
        headers = [
            ("Location", target if str(target).startswith("/") else path),
            ("Set-Cookie", f"{COOKIE}={self.signer.sign(token)}; Path={path}; HttpOnly; SameSite=Lax"),
            ("Set-Cookie", f"{STATE_COOKIE}=; Path={path}; Max-Age=0"),
            ("Content-Length", "0"),
        ]
        start_response("302 Found", headers)
        return [b""]

    # -- WSGI -------------------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/") or "/"
        if self.prefix and (path == self.prefix or path.startswith(self.prefix + "/")):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.prefix
            path = path[len(self.prefix) :] or "/"
            environ["PATH_INFO"] = path
        if path == "/_health":
            return _json(start_response, "200 OK", {"status": "ok"})
        if path == "/oauth_callback":
            return self._callback(environ, start_response)
        token = self._token(environ)
        user = self.user_for(token) if token else None
        if user is None:
            if "text/html" in environ.get("HTTP_ACCEPT", "") and environ.get("REQUEST_METHOD") == "GET":
                return self._login(environ, start_response)
            status = "403 Forbidden" if token else "401 Unauthorized"
            detail = (
                "this token does not give access to the processes service"
                if token
                else "authentication required: send 'Authorization: token <JupyterHub API token>'"
            )
            return _json(
                start_response, status, {"type": "Unauthorized", "detail": detail}, [("WWW-Authenticate", "token")]
            )
        context = contextvars.copy_context()
        return context.run(self._serve, user, environ, start_response)

    def _serve(self, user: str, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        CURRENT_USER.set(user)
        environ["gaia_lab.user"] = user
        # The body is produced inside this context too (Flask may stream it lazily).
        result = self.app(environ, start_response)
        try:
            return list(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
