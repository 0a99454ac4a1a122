"""The OGC API - Processes server: pygeoapi's Flask application, its processes generated from the registry, its job
manager over the job runner, outputs downloadable by their owner, all behind the hub's authentication.

Run by `gaia-lab up` as a hub service::

    python -m gaia_lab.ogc_processes.server --settings <data dir>/processes/settings.json

The settings file holds addresses and limits, no secret: the service's hub token and cookie secret come from the
environment (``JUPYTERHUB_API_TOKEN``, ``GAIA_LAB_PROCESSES_COOKIE_SECRET``), as for the platform's other services.
"""

from __future__ import annotations

import argparse
import json
import logging
import mimetypes
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gaia_lab.hub_oauth import cookie_secret, service_oauth

ENV_COOKIE_SECRET = "GAIA_LAB_PROCESSES_COOKIE_SECRET"
# Where a deployment keeps the service's hub token in a file (a Kubernetes Secret volume) rather than in
# JUPYTERHUB_API_TOKEN; read once at start.
ENV_TOKEN_FILE = "GAIA_LAB_PROCESSES_TOKEN_FILE"
SERVICE_NAME = "gaia-lab-processes"
LOG = logging.getLogger("gaia_lab.ogc_processes")


@dataclass(frozen=True)
class ServiceSettings:
    host: str
    port: int
    public_url: str  # where clients reach it (through the hub's proxy, prefix included)
    prefix: str  # /services/gaia-lab-processes/
    hub_api_url: str
    gateway_address: str
    gateway_proxy_address: str
    gateway_scope: str
    state_dir: str
    catalog_source: str | None = None
    # Where each user's results go: "<homes_dir>/<home name>/gaia-lab-results"; system accounts name homes after
    # the account (prefix stripped), the shared mode after the hub user.
    homes_dir: str = ""
    account_prefix: str | None = None
    workers: int = 2
    worker_cores: int = 1
    worker_memory_gib: float = 1.0
    idle_timeout: float = 120.0
    max_duration: float = 600.0
    max_output_bytes: int = 2 * 2**30
    max_active_jobs_per_user: int = 4
    worker_environment: dict[str, str] = field(default_factory=dict)
    # Create each user's results directory before their job (Kubernetes: the service and the workers share one uid
    # and a volume, of which each user's workers mount their own directory: it must exist first). Left to the job
    # where workers run under each user's own account (the platform's system accounts).
    prepare_results_dirs: bool = False

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ServiceSettings:
        return cls(**json.loads(Path(path).read_text()))

    def dump(self, path: str | os.PathLike[str]) -> None:
        from dataclasses import asdict

        Path(path).write_text(json.dumps(asdict(self), indent=2))


def results_dir_for(settings: ServiceSettings) -> Any:
    from gaia_lab.catalog.user_results import results_dir

    if settings.account_prefix is not None:
        from gaia_lab.platform.accounts import Accounts

        accounts = Accounts(settings.account_prefix, settings.homes_dir)
        return lambda user: results_dir(accounts.home(user))
    return lambda user: results_dir(Path(settings.homes_dir) / user)


def pygeoapi_config(settings: ServiceSettings, process_ids: list[str]) -> dict[str, Any]:
    from gaia_lab.ogc_processes.plugins import plugin_name

    url = settings.public_url.rstrip("/")
    return {
        "server": {
            "bind": {"host": settings.host, "port": settings.port},
            "url": url,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "languages": ["en-US"],
            "limits": {"default_items": 20, "max_items": 100},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": "OpenStreetMap"},
            "admin": False,
            "manager": {
                "name": "gaia_lab.ogc_processes.manager.GaiaLabManager",
                "connection": None,
                "output_dir": None,
            },
        },
        "logging": {"level": "WARNING"},
        "metadata": {
            "identification": {
                "title": {"en": "GAIA Lab processes"},
                "description": {"en": "Processing of the federation's datacubes on each user's own Dask cluster"},
                "keywords": {"en": ["processes", "datacube", "dask"]},
                "keywords_type": "theme",
                "terms_of_service": "https://creativecommons.org/licenses/by/4.0/",
                "url": url,
            },
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "GAIA Lab", "url": url},
            "contact": {"name": "GAIA Lab", "email": "gaia-lab@localhost"},
        },
        "resources": {pid: {"type": "process", "processor": {"name": plugin_name(pid)}} for pid in process_ids},
    }


def write_pygeoapi_files(settings: ServiceSettings, workdir: Path) -> tuple[Path, Path]:
    """pygeoapi's config and OpenAPI document, for the registered processes."""
    from pygeoapi.openapi import get_oas

    from gaia_lab.processing import PROCESSES

    workdir.mkdir(parents=True, exist_ok=True)
    config = pygeoapi_config(settings, sorted(PROCESSES))
    config_path, openapi_path = workdir / "pygeoapi.yml", workdir / "openapi.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    openapi_path.write_text(yaml.safe_dump(get_oas(config), sort_keys=False))
    return config_path, openapi_path


def build_runner(settings: ServiceSettings) -> Any:
    from gaia_lab.ogc_processes.clusters import ClusterPool, ClusterSettings
    from gaia_lab.ogc_processes.jobs import JobStore
    from gaia_lab.ogc_processes.runner import JobRunner, RunnerSettings

    pool = ClusterPool(
        ClusterSettings(
            gateway_address=settings.gateway_address,
            gateway_proxy_address=settings.gateway_proxy_address,
            hub_api_url=settings.hub_api_url,
            service_token=os.environ["JUPYTERHUB_API_TOKEN"],
            gateway_scope=settings.gateway_scope,
            workers=settings.workers,
            worker_cores=settings.worker_cores,
            worker_memory_gib=settings.worker_memory_gib,
            idle_timeout=settings.idle_timeout,
            environment=dict(settings.worker_environment),
        )
    )
    store = JobStore(Path(settings.state_dir) / "jobs")
    return JobRunner(
        store,
        pool,
        RunnerSettings(
            results_dir=results_dir_for(settings),
            catalog_source=settings.catalog_source,
            max_duration=settings.max_duration,
            max_output_bytes=settings.max_output_bytes,
            max_active_jobs_per_user=settings.max_active_jobs_per_user,
            prepare_results_dirs=settings.prepare_results_dirs,
        ),
    )


def add_download_route(app: Any) -> None:
    """``GET /jobs/<id>/files/<name>[/<path in a Zarr store>]``: a successful job's output, for its owner only."""
    from flask import abort, send_file

    from gaia_lab.ogc_processes.auth import current_user
    from gaia_lab.ogc_processes.jobs import SUCCESSFUL, JobNotFound
    from gaia_lab.ogc_processes.manager import runner

    def download(job_id: str, rest: str) -> Any:
        name, _, inner = rest.partition("/")
        try:
            job = runner().get(current_user(), job_id)
        except JobNotFound:
            abort(404, description=f"job {job_id} not found")
        output = next((o for o in job.outputs if o.name == name), None)
        if job.status != SUCCESSFUL or output is None:
            abort(404, description=f"job {job_id} has no output {name!r}")
        base = Path(output.path).resolve()
        target = (base / inner).resolve() if inner else base
        if target != base and base not in target.parents:
            abort(404)
        if target.is_dir():  # a Zarr store: its files are read one by one under this URL
            abort(404, description=f"{rest} is a directory (a Zarr store): read the files inside it")
        if not target.is_file():
            abort(404)
        media_type = (
            output.media_type if not inner else (mimetypes.guess_type(target.name)[0] or "application/octet-stream")
        )
        return send_file(target, mimetype=media_type.split(";")[0], conditional=True)

    app.add_url_rule("/jobs/<job_id>/files/<path:rest>", "gaia_lab_job_file", download, methods=["GET", "HEAD"])


def make_app(settings: ServiceSettings) -> Any:
    """The WSGI application: hub authentication around pygeoapi with the GAIA Lab manager and processes."""

    from gaia_lab.ogc_processes import manager
    from gaia_lab.ogc_processes.auth import HubAuthMiddleware

    config_path, openapi_path = write_pygeoapi_files(settings, Path(settings.state_dir) / "pygeoapi")
    os.environ["PYGEOAPI_CONFIG"] = str(config_path)
    os.environ["PYGEOAPI_OPENAPI"] = str(openapi_path)
    manager.install(build_runner(settings), settings.public_url)
    from pygeoapi.flask_app import APP  # reads the two variables above at import

    add_download_route(APP)
    prefix = settings.prefix.rstrip("/")
    auth = service_oauth(SERVICE_NAME, prefix, settings.hub_api_url)
    secret = cookie_secret(ENV_COOKIE_SECRET)
    return HubAuthMiddleware(APP, auth, prefix=prefix, cookie_secret=secret)


def serve(settings: ServiceSettings) -> None:
    from werkzeug.serving import make_server

    app = make_app(settings)
    server = make_server(settings.host, settings.port, app, threaded=True)

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    finally:
        from gaia_lab.ogc_processes.manager import runner

        runner().close()  # the users' clusters go with the service: none is left behind


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", type=Path, required=True)
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if token_file := os.environ.get(ENV_TOKEN_FILE):
        os.environ["JUPYTERHUB_API_TOKEN"] = Path(token_file).read_text().strip()
    serve(ServiceSettings.load(arguments.settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
