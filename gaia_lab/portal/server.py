"""The portal's server: a JupyterHub service (tornado, hub OAuth) serving the page, MapLibre GL JS, the base map,
quicklooks, the docs, and "Open in JupyterLab".

Every route but ``_health`` and the OAuth callback needs a hub login: browsers are sent through the hub's OAuth,
other clients get 403. The page itself talks to the STAC API named in the settings (``stac_api_url``), from the
browser, with the user's own login there.

    python -m gaia_lab.portal.server --settings settings.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import urllib.parse
from pathlib import Path
from typing import Any

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from gaia_lab.errors import GaiaLabError
from gaia_lab.portal import basemap, notebook, quicklook

STATIC = Path(__file__).parent / "static"
ENV_COOKIE_SECRET = "GAIA_LAB_PORTAL_COOKIE_SECRET"
HUBS = {
    "ocean": "Ocean",
    "atmosphere": "Atmosphere",
    "land": "Land",
    "solid-earth": "Solid Earth",
    "climate": "Climate",
    "biodiversity": "Biodiversity",
    "imagery": "Imagery",
}
log = logging.getLogger("gaia_lab.portal")


class Authenticated(HubOAuthenticated, web.RequestHandler):  # type: ignore[misc]
    """A handler for hub users only."""

    @property
    def portal(self) -> dict[str, Any]:
        settings: dict[str, Any] = self.settings["portal"]
        return settings

    def user_name(self) -> str:
        user: dict[str, Any] = self.current_user
        return str(user["name"])

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        reason = self._reason
        info = kwargs.get("exc_info")
        if info and isinstance(info[1], web.HTTPError) and info[1].log_message:
            reason = info[1].log_message % info[1].args if info[1].args else info[1].log_message
        self.set_header("Content-Type", "application/json")
        self.finish({"code": status_code, "description": reason})


class PageHandler(Authenticated):
    @web.authenticated
    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        xsrf = self.xsrf_token  # the hub's xsrf token of this session: cookie-authenticated POSTs must carry it
        self.render(
            str(STATIC / "index.html"),
            prefix=self.portal["prefix"],
            xsrf=xsrf.decode() if isinstance(xsrf, bytes) else xsrf,
        )


class ConfigHandler(Authenticated):
    @web.authenticated
    def get(self) -> None:
        name = self.user_name()
        self.set_header("Cache-Control", "no-store")
        self.finish(
            {
                "user": name,
                "stac_api_url": self.portal["stac_api_url"],
                "hubs": [{"id": key, "title": title} for key, title in HUBS.items()],
                "jupyterlab_url": f"/user/{urllib.parse.quote(name)}/lab",
                "hub_home_url": "/hub/home",
            }
        )


class AuthenticatedStatic(HubOAuthenticated, web.StaticFileHandler):  # type: ignore[misc]
    @web.authenticated
    async def get(self, path: str, include_body: bool = True) -> None:  # type: ignore[override]
        await super().get(path, include_body)


class BasemapHandler(Authenticated):
    @web.authenticated
    def get(self) -> None:
        path = self.settings["basemap"]
        self.set_header("Content-Type", "application/geo+json")
        self.set_header("Cache-Control", "private, max-age=86400")
        self.finish(Path(path).read_bytes())


class QuicklookHandler(Authenticated):
    @web.authenticated
    async def get(self) -> None:
        entry_id = self.get_argument("entry", "")
        try:
            notebook.check_entry_id(entry_id)
            path = await asyncio.get_running_loop().run_in_executor(
                None, quicklook.render, self.settings["catalog"](), entry_id, self.settings["quicklook_dir"]
            )
        except KeyError as error:
            raise web.HTTPError(404, "no entry %s in the federation", entry_id) from error
        except GaiaLabError as error:
            raise web.HTTPError(404, "no quicklook of %s: %s", entry_id, str(error)) from error
        except Exception as error:  # a reader's failure (a broken asset) ends here, named
            log.warning("quicklook of %s failed: %r", entry_id, error)
            raise web.HTTPError(404, "no quicklook of %s: %s", entry_id, type(error).__name__) from error
        self.set_header("Content-Type", "image/png")
        self.set_header("Cache-Control", "private, max-age=3600")
        self.finish(path.read_bytes())


class OpenHandler(Authenticated):
    """ "Open in JupyterLab": the entry's notebook written into the user's home (through their own server's contents
    API; their server is started first when needed), answered with the JupyterLab URL that opens it."""

    @web.authenticated
    async def post(self) -> None:
        try:
            body = json.loads(self.request.body or b"{}")
        except json.JSONDecodeError as error:
            raise web.HTTPError(400, "the body is not JSON") from error
        try:
            entry_id = notebook.check_entry_id(body.get("entry"))
        except GaiaLabError as error:
            raise web.HTTPError(400, "%s", str(error)) from error
        name = self.user_name()
        content = notebook.build(
            entry_id,
            title=str(body.get("title") or ""),
            description=str(body.get("description") or ""),
            hub=str(body.get("hub") or ""),
            portal_url=self.portal["prefix"] + "#/dataset/" + urllib.parse.quote(str(body.get("collection") or "")),
        )
        await self.ensure_server(name)
        path = notebook.notebook_path(entry_id)
        created = await self.write_notebook(name, path, content)
        user = urllib.parse.quote(name)
        self.finish({"path": path, "created": created, "url": f"/user/{user}/lab/tree/{path}"})

    async def hub_api(self, method: str, path: str, body: Any = None) -> Any:
        request = HTTPRequest(
            url_path_join(self.portal["hub_api_url"], path),
            method=method,
            headers={"Authorization": f"token {self.hub_auth.api_token}"},
            body=json.dumps(body) if body is not None else (b"" if method == "POST" else None),
            request_timeout=60,
        )
        response = await AsyncHTTPClient().fetch(request)
        return json.loads(response.body) if response.body else None

    async def ensure_server(self, name: str) -> None:
        timeout = float(self.portal.get("spawn_timeout", 120))
        path = f"users/{urllib.parse.quote(name)}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        requested = False
        while True:
            model = await self.hub_api("GET", path)
            server = (model.get("servers") or {}).get("", {})
            if server.get("ready"):
                return
            if not server and not requested:
                try:
                    await self.hub_api("POST", f"{path}/server")
                except HTTPClientError as error:
                    if error.code != 400:  # 400: already starting
                        raise web.HTTPError(502, "the hub could not start %s's server: %s", name, str(error)) from error
                requested = True
            if loop.time() > deadline:
                raise web.HTTPError(504, "%s's server did not start within %d s", name, timeout)
            await asyncio.sleep(0.5)

    async def contents(self, name: str, path: str, method: str, body: Any = None) -> Any:
        url = url_path_join(self.portal["hub_url"], "user", urllib.parse.quote(name), "api/contents", path)
        request = HTTPRequest(
            url,
            method=method,
            headers={"Authorization": f"token {self.hub_auth.api_token}"},
            body=json.dumps(body) if body is not None else None,
            request_timeout=60,
        )
        response = await AsyncHTTPClient().fetch(request)
        return json.loads(response.body) if response.body else None

    async def write_notebook(self, name: str, path: str, content: dict[str, Any]) -> bool:
        """Write the notebook unless the user has it already (their edits are theirs); True when written."""
        try:
            await self.contents(name, path, "GET")
            return False
        except HTTPClientError as error:
            if error.code != 404:
                raise web.HTTPError(502, "%s's server answered %s", name, str(error)) from error
        folder = path.rsplit("/", 1)[0]
        try:
            await self.contents(name, folder, "PUT", {"type": "directory"})
            await self.contents(name, path, "PUT", {"type": "notebook", "format": "json", "content": content})
        except HTTPClientError as error:
            raise web.HTTPError(502, "could not write %s in %s's home: %s", path, name, str(error)) from error
        return True


class DocsHandler(Authenticated):
    """The project's docs (docs/*.md) as HTML pages."""

    @web.authenticated
    def get(self, name: str) -> None:
        docs: Path = self.settings["docs_dir"]
        available = sorted(path.stem for path in docs.glob("*.md")) if docs.is_dir() else []
        if not name:
            self.render(str(STATIC / "docs.html"), title="Documentation", body=None, pages=available)
            return
        if name not in available:
            raise web.HTTPError(404, "no page %s in the docs", name)
        import markdown

        html = markdown.markdown((docs / f"{name}.md").read_text(), extensions=["tables", "fenced_code"])
        self.render(str(STATIC / "docs.html"), title=name, body=html, pages=available)


class DocsImageHandler(AuthenticatedStatic):
    pass


class HealthHandler(web.RequestHandler):
    def get(self) -> None:
        self.finish({"status": "ok"})


def make_app(settings: dict[str, Any]) -> web.Application:
    prefix = str(settings["prefix"])
    state = Path(settings["state_dir"])
    auth = HubOAuth(api_token=os.environ["JUPYTERHUB_API_TOKEN"], cache_max_age=60)
    catalog_holder: dict[str, Any] = {}

    def catalog() -> Any:
        if "catalog" not in catalog_holder:
            import gaia_lab as gl

            catalog_holder["catalog"] = gl.open_catalog(settings["catalog_source"])
        return catalog_holder["catalog"]

    docs = Path(settings.get("docs_dir") or "")
    routes: list[Any] = [
        (prefix + "_health", HealthHandler),
        (prefix + "oauth_callback", HubOAuthCallbackHandler),
        (prefix, PageHandler),
        (prefix + "config.json", ConfigHandler),
        (prefix + "basemap.geojson", BasemapHandler),
        (prefix + "quicklook.png", QuicklookHandler),
        (prefix + "api/open", OpenHandler),
        (prefix + r"static/(.*)", AuthenticatedStatic, {"path": str(STATIC)}),
        (prefix + r"vendor/(maplibre-gl\.(?:js|css))", AuthenticatedStatic, {"path": settings["maplibre_dir"]}),
        (prefix + r"docs/([A-Za-z0-9_-]*)(?:\.md)?", DocsHandler),
        (prefix + r"docs/(.+\.png)", DocsImageHandler, {"path": str(docs)}),
    ]
    return web.Application(
        routes,
        hub_auth=auth,
        cookie_secret=os.environ[ENV_COOKIE_SECRET].encode(),
        portal=settings,
        catalog=catalog,
        basemap=basemap.geojson(state),
        quicklook_dir=state / "quicklooks",
        docs_dir=docs,
        login_url=auth.login_url,
        xsrf_cookies=False,
    )


async def serve(settings: dict[str, Any]) -> None:
    app = make_app(settings)
    app.listen(int(settings["port"]), address=str(settings["host"]), xheaders=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "portal on http://%s:%s%s, STAC API %s",
        settings["host"],
        settings["port"],
        settings["prefix"],
        settings["stac_api_url"],
    )
    await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gaia_lab.portal.server")
    parser.add_argument("--settings", required=True, help="the settings file written by gaia_lab.platform")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = json.loads(Path(args.settings).read_text())
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
