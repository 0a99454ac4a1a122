"""The session's object-store credentials on the workers of its Dask clusters, through a worker plugin.

``gl.cluster()`` attaches the plugin to every cluster it opens, and registers it again whenever the session resolves
new credentials (a provider opened after the cluster started): workers then read with the credentials of the user
who created their cluster, and nobody sets environment variables by hand on workers (odc-stac issue 82). The
plugin's repr names providers only; its secrets travel to the user's own scheduler and workers, pickled, as any task.
With a client made some other way: ``client.register_plugin(gaia_lab.worker_credentials.plugin())``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from gaia_lab import credentials
from gaia_lab.credentials import S3Access

PLUGIN_NAME = "gaia-lab-credentials"


class CredentialsPlugin(WorkerPlugin):
    """Registers a session's credentials (by reference) in each worker process."""

    name = PLUGIN_NAME
    idempotent = False

    def __init__(self, accesses: Mapping[str, S3Access]) -> None:
        self._accesses = dict(accesses)

    def setup(self, worker: Any) -> None:
        credentials.register_all(self._accesses)

    @property
    def providers(self) -> list[str]:
        return sorted({access.label for access in self._accesses.values()})

    def __repr__(self) -> str:
        return f"CredentialsPlugin(providers={self.providers})"


def plugin() -> CredentialsPlugin:
    """A plugin carrying every credential this session has resolved so far."""
    return CredentialsPlugin(credentials.registered())


@contextmanager
def attached(client: Any) -> Iterator[None]:
    """Keep ``client``'s workers holding this session's credentials while the context lasts."""

    def push(accesses: dict[str, S3Access]) -> None:
        client.register_plugin(CredentialsPlugin(accesses), name=PLUGIN_NAME)

    if credentials.registered():
        push(credentials.registered())
    credentials.add_listener(push)
    try:
        yield
    finally:
        credentials.remove_listener(push)
