"""The openEO API of GAIA Lab: openeo-driver's Flask application over the OGC API - Processes service.

Run by path in its own virtualenv (scripts/install-openeo-api.sh: openeo-driver's pins do not fit gaia-lab's
stack), so it imports only openeo-driver, requests and the standard library, never ``gaia_lab``::

    .venv-openeo-api/bin/python gaia_lab/openeo_api/server.py --settings settings.json

- Authentication: openEO basic auth, the password being a JupyterHub API token of that user; the access token
  handed back *is* that hub token, checked against the hub on every request (openeo-driver's own basic access
  token, base64 of the user name, would let anyone claim any name).
- ``/collections``: the federation's entries, from a JSON file written by whoever starts the server (it has the
  federation; this process does not).
- ``/processes``: the openEO processes the ``openeo-graph`` process evaluates (openeo-processes-dask's specs, from
  a JSON file as well).
- ``/result``: the graph is executed as ``openeo-graph`` by the OGC API - Processes service with the user's hub
  token, so it runs on the user's Dask cluster; the result's first asset is returned.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import flask
import openeo_driver.views
import requests
from openeo_driver.backend import CollectionCatalog, OpenEoBackendImplementation, Processing
from openeo_driver.config import OpenEoBackendConfig
from openeo_driver.errors import (
    CollectionNotFoundException,
    CredentialsInvalidException,
    OpenEOApiException,
    TokenInvalidException,
)
from openeo_driver.processes import ProcessRegistry
from openeo_driver.users import User
from openeo_driver.users.auth import HttpAuthHandler

LOG = logging.getLogger("gaia_lab.openeo_api")
PROCESS_ID = "openeo-graph"
TIMEOUT = 600


class Settings:
    def __init__(self, path: Path) -> None:
        data = json.loads(path.read_text())
        self.host: str = data["host"]
        self.port: int = int(data["port"])
        self.hub_api_url: str = data["hub_api_url"].rstrip("/")
        self.processes_url: str = data["processes_url"].rstrip("/")
        # Written from the federation by gaia_lab.openeo_api.launch (or whoever starts the server).
        self.collections: list[dict[str, Any]] = json.loads(Path(data["collections_file"]).read_text())
        self.process_specs: list[dict[str, Any]] = json.loads(Path(data["processes_file"]).read_text())


def hub_user(hub_api_url: str, token: str) -> str | None:
    """The hub user a token belongs to, or None when the hub refuses it."""
    try:
        response = requests.get(f"{hub_api_url}/user", headers={"Authorization": f"token {token}"}, timeout=30)
    except requests.RequestException:
        LOG.exception("the hub did not answer")
        raise OpenEOApiException(message="the hub did not answer; try again later", status_code=503) from None
    if response.status_code != 200:
        return None
    name = response.json().get("name")
    return str(name) if name else None


def auth_handler_class(hub_api_url: str) -> type[HttpAuthHandler]:
    class HubTokenAuth(HttpAuthHandler):  # type: ignore[misc]
        """Basic auth with a hub token as the password; the token is the access token."""

        def authenticate_basic(self, request: flask.Request) -> tuple[str, str]:
            username, password = self.parse_basic_auth_header(request)
            if hub_user(hub_api_url, password) != username:
                raise CredentialsInvalidException
            return password, username

        def resolve_basic_access_token(self, access_token: str) -> User:
            name = hub_user(hub_api_url, access_token)
            if name is None:
                raise TokenInvalidException
            return User(user_id=name, internal_auth_data={"authentication_method": "basic", "hub_token": access_token})

    return HubTokenAuth


class ServiceProcessing(Processing):  # type: ignore[misc]
    """Graphs go to the OGC API - Processes service's ``openeo-graph`` process, as the requesting user."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.registry = ProcessRegistry(target_version="2.0.0")
        for spec in settings.process_specs:
            self.registry.add_spec(spec)

    def get_process_registry(self, api_version: Any) -> ProcessRegistry:
        return self.registry

    def evaluate(self, process_graph: dict[str, Any], env: Any = None) -> flask.Response:
        user = env.get("user") if env is not None else None
        token = (user.internal_auth_data or {}).get("hub_token") if user is not None else None
        if not token:
            raise TokenInvalidException
        known = {str(c["id"]) for c in self.settings.collections}
        for collection_id in _loaded_collections(process_graph):
            if collection_id not in known:
                raise CollectionNotFoundException(collection_id)
        headers = {"Authorization": f"token {token}"}
        url = f"{self.settings.processes_url}/processes/{PROCESS_ID}/execution"
        response = requests.post(
            url, json={"inputs": {"process_graph": process_graph}}, headers=headers, timeout=TIMEOUT
        )
        if response.status_code != 200:
            raise _service_error(response)
        document = response.json()
        item = document.get("result", document)
        asset = next(iter(item["assets"].values()))
        data = requests.get(asset["href"], headers=headers, timeout=TIMEOUT)
        if data.status_code != 200:
            raise _service_error(data)
        media_type = str(asset.get("type") or data.headers.get("Content-Type") or "application/octet-stream")
        return flask.Response(data.content, mimetype=media_type.split(";")[0])


def _loaded_collections(nodes: dict[str, Any]) -> list[str]:
    """The ids of every load_collection node, callbacks included."""
    found = []
    for node in nodes.values():
        arguments = node.get("arguments") or {}
        if node.get("process_id") == "load_collection" and isinstance(arguments.get("id"), str):
            found.append(arguments["id"])
        for argument in arguments.values():
            if isinstance(argument, dict) and isinstance(argument.get("process_graph"), dict):
                found += _loaded_collections(argument["process_graph"])
    return found


def _service_error(response: requests.Response) -> OpenEOApiException:
    try:
        detail = response.json().get("description") or response.json().get("detail") or response.text[:500]
    except ValueError:
        detail = response.text[:500]
    status = response.status_code if 400 <= response.status_code < 500 else 500
    code = {400: "ProcessGraphInvalid", 404: "CollectionNotFound", 401: "AuthenticationRequired"}.get(status)
    return OpenEOApiException(message=str(detail), status_code=status, code=code or "Internal")


class GaiaLabBackend(OpenEoBackendImplementation):  # type: ignore[misc]
    def file_formats(self) -> dict[str, Any]:
        # What the openeo-graph process's save_result writes.
        raster = {"gis_data_types": ["raster"], "parameters": {}}
        return {
            "input": {},
            "output": {
                "GTiff": {**raster, "title": "GeoTIFF (one COG per band)"},
                "netCDF": {**raster, "title": "NetCDF"},
                "JSON": {"gis_data_types": ["other"], "parameters": {}, "title": "JSON"},
            },
        }


def make_app(settings: Settings) -> flask.Flask:
    config = OpenEoBackendConfig(
        id="gaia-lab",
        capabilities_title="GAIA Lab",
        capabilities_description="openEO on GAIA Lab: graphs run on your own Dask cluster, over the federation.",
        enable_basic_auth=True,
        valid_basic_auth=lambda user, password: hub_user(settings.hub_api_url, password) == user,
        enable_oidc_auth=False,
        oidc_providers=[],
    )
    backend = GaiaLabBackend(
        catalog=CollectionCatalog(settings.collections), processing=ServiceProcessing(settings), config=config
    )
    # build_app makes its auth handler from this module attribute.
    openeo_driver.views.HttpAuthHandler = auth_handler_class(settings.hub_api_url)
    app: flask.Flask = openeo_driver.views.build_app(backend)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", required=True, type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings(args.settings)
    app = make_app(settings)
    from werkzeug.serving import run_simple

    run_simple(settings.host, settings.port, app, threaded=True)


if __name__ == "__main__":
    main()
