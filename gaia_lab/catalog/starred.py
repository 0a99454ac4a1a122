"""A user's starred datasets (the portal's "User WebMap"), kept per user by the platform's STAC service and read here
with the session's own hub token: ``gl.open_catalog().starred``."""

from __future__ import annotations

import os
from dataclasses import dataclass

from gaia_lab.errors import StarredUnavailable

ENV_URL = "GAIA_LAB_STAC_URL"  # set in every session by `gaia-lab up` (the service's root, through the hub)
ENV_TOKEN = "JUPYTERHUB_API_TOKEN"
TIMEOUT = 10.0


@dataclass(frozen=True)
class StarredDataset:
    """One starred dataset: ``collection`` is its id in the STAC API, ``entry`` its id in the catalogue
    (``catalog[entry]`` opens it)."""

    collection: str
    entry: str
    title: str
    hub: str
    starred_at: str


def read_starred(url: str | None = None, token: str | None = None) -> list[StarredDataset]:
    """The session user's starred datasets, oldest first."""
    url = url or os.environ.get(ENV_URL)
    token = token or os.environ.get(ENV_TOKEN)
    if not url:
        raise StarredUnavailable(
            f"no STAC service: ${ENV_URL} is not set; starred datasets are kept by the platform, read them from a "
            "JupyterLab session of `gaia-lab up`"
        )
    if not token:
        raise StarredUnavailable(f"no hub token: ${ENV_TOKEN} is not set (not a hub session)", url=url)
    endpoint = url.rstrip("/") + "/starred"
    import requests  # only here: every catalogue imports this module, few read starred datasets

    try:
        answer = requests.get(endpoint, headers={"Authorization": f"token {token}"}, timeout=TIMEOUT)
    except requests.RequestException as error:
        raise StarredUnavailable(f"service unreachable: {type(error).__name__}", url=endpoint) from None
    if answer.status_code in (401, 403):
        raise StarredUnavailable(
            f"HTTP {answer.status_code}: the service refused this session's token",
            url=endpoint,
            status=answer.status_code,
        )
    if answer.status_code != 200:
        raise StarredUnavailable(
            f"HTTP {answer.status_code}: {answer.text[:200]}", url=endpoint, status=answer.status_code
        )
    try:
        rows = answer.json()["starred"]
        return [
            StarredDataset(
                collection=str(r["collection"]),
                entry=str(r["entry"]),
                title=str(r["title"]),
                hub=str(r["hub"]),
                starred_at=str(r["starred_at"]),
            )
            for r in rows
        ]
    except (ValueError, KeyError, TypeError) as error:
        raise StarredUnavailable(f"malformed answer: {type(error).__name__}: {error}", url=endpoint) from None
