"""The platform's S3 server (``gaia-lab up --s3``): moto's S3 + IAM server as a component, the lake published to
its public and private buckets before it reports healthy, and the two buckets in the sessions' federation.
Sessions get their keys at spawn (``gaia_lab.platform.s3_users``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gaia_lab.datalake import s3
from gaia_lab.platform.components import base_env
from gaia_lab.platform.layout import Layout, Ports
from gaia_lab.platform.processes import Component


def state_file(layout: Layout) -> Path:
    """Where the server writes its endpoint and admin key (mode 0600, read by the hub to make session keys)."""
    return layout.data_dir / "s3" / "s3-server.json"


def prepare(layout: Layout, ip: str, ports: Ports, python: str) -> tuple[list[Component], list[dict[str, Any]]]:
    """The S3 component and the providers it adds to the sessions' federation."""
    state = state_file(layout)
    state.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    state.unlink(missing_ok=True)  # a new server: new keys
    endpoint = f"http://{ip}:{ports.s3_port}"
    component = Component(
        name="s3",
        argv=s3.server_command(state, host=ip, port=ports.s3_port, publish=layout.lake_dir, python=python),
        env=base_env(layout, python),
        cwd=layout.data_dir,
        log=layout.logs_dir / "s3.log",
        health=state.exists,
        start_timeout=120.0,
    )
    federation = s3.s3_federation(endpoint, s3.PUBLIC_BUCKET, s3.PRIVATE_BUCKET)
    return [component], list(federation["providers"])
