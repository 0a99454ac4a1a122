"""The federation's STAC API as a hub service: the application of :mod:`gaia_lab.stac_api.app` behind the hub's
authentication (:mod:`gaia_lab.stac_api.auth`), served by uvicorn.

Run by `gaia-lab up`::

    python -m gaia_lab.stac_api.server --settings <data dir>/stac/settings.json

The settings file holds addresses, no secret: the service's hub token and cookie secret come from the environment
(``JUPYTERHUB_API_TOKEN`` or the file named by ``GAIA_LAB_STAC_TOKEN_FILE``, ``GAIA_LAB_STAC_COOKIE_SECRET``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gaia_lab.hub_oauth import cookie_secret, service_oauth
from gaia_lab.stac_api import SERVICE_NAME

ENV_COOKIE_SECRET = "GAIA_LAB_STAC_COOKIE_SECRET"
ENV_TOKEN_FILE = "GAIA_LAB_STAC_TOKEN_FILE"
LOG = logging.getLogger("gaia_lab.stac_api")


@dataclass(frozen=True)
class ServiceSettings:
    host: str
    port: int
    prefix: str  # /services/gaia-lab-stac/
    hub_api_url: str
    state_dir: str
    catalog_source: str
    # name -> base URL of a data server whose files the API serves under /assets/<name>/ (the lake server)
    asset_proxies: dict[str, str] = field(default_factory=dict)
    title: str = "GAIA Lab federation"

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ServiceSettings:
        return cls(**json.loads(Path(path).read_text()))


def load_federation_catalog(source: str) -> tuple[Any, list[str]]:
    """The federation's members this service can search, and those it cannot: a member whose settings name a
    session's own credentials (``${GAIA_LAB_S3_ACCESS_KEY_ID}``, set in each user's session only) is left out."""
    import yaml

    from gaia_lab.catalog import Catalog
    from gaia_lab.catalog.federation import parse_federation
    from gaia_lab.errors import ConfigError

    document = yaml.safe_load(Path(source).read_text())
    configs = []
    skipped: list[str] = []
    for provider in document.get("providers") or []:
        try:
            configs += parse_federation({"providers": [provider]}, source=source)
        except ConfigError as error:
            skipped.append(str(provider.get("name")))
            LOG.warning("member %r left out: %s", provider.get("name"), error)
    return Catalog.from_configs(configs, source=source), skipped


def make_app(settings: ServiceSettings) -> Any:
    from gaia_lab.stac_api.app import create_app
    from gaia_lab.stac_api.auth import HubAuthASGI
    from gaia_lab.stac_api.federation import Federation

    catalog, skipped = load_federation_catalog(settings.catalog_source)
    prefix = settings.prefix.rstrip("/")
    app = create_app(
        Federation(catalog, title=settings.title, skipped=skipped),
        state_dir=Path(settings.state_dir),
        asset_proxies=settings.asset_proxies,
        title=settings.title,
    )
    auth = service_oauth(SERVICE_NAME, prefix, settings.hub_api_url)
    secret = cookie_secret(ENV_COOKIE_SECRET)
    return HubAuthASGI(app, auth, prefix=prefix, cookie_secret=secret)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", type=Path, required=True)
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if token_file := os.environ.get(ENV_TOKEN_FILE):
        os.environ["JUPYTERHUB_API_TOKEN"] = Path(token_file).read_text().strip()
    settings = ServiceSettings.load(arguments.settings)
    uvicorn.run(make_app(settings), host=settings.host, port=settings.port, log_level="info", proxy_headers=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
