"""The session's metrics reporting on the workers of its Dask clusters, through a worker plugin.

``gl.cluster()`` attaches it (as it attaches the session's credentials): each worker then counts its reads per
provider, as the session does, and reports them with the session's token (the user's own, on the user's own
workers). Re-registered whenever the session learns a new provider prefix, so that an entry opened after the
cluster started is still attributed on the workers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from gaia_lab import metrics


def _importable_on_cluster(client: Any) -> bool:
    """Whether the cluster's processes (its scheduler, run with the workers' environment) have this module.

    A worker receives every registered plugin when it joins and cannot join if it cannot unpickle one: an image with
    an older gaia_lab must not lose its workers for the sake of metrics. The check is sent by value."""
    try:
        return bool(client.run_on_scheduler(_by_value()))
    except Exception:  # no answer: no metrics, the cluster still works
        return False


def _by_value() -> Any:
    # cloudpickle pickles a lambda by value, so the scheduler needs no module of gaia_lab to run it.
    return lambda: __import__("importlib.util").util.find_spec("gaia_lab.metrics_plugin") is not None


class MetricsPlugin(WorkerPlugin):
    name = metrics.PLUGIN_NAME
    idempotent = False

    def __init__(self, url: str, token: str, known: dict[str, str]) -> None:
        self.url, self.token, self.known = url, token, dict(known)

    def setup(self, worker: Any) -> None:
        for prefix, provider in self.known.items():
            metrics.attribute(prefix, provider)
        metrics.configure(self.url, self.token)

    def teardown(self, worker: Any) -> None:
        metrics.flush()

    def __repr__(self) -> str:
        # The token stays out of logs and reprs.
        return f"MetricsPlugin(url={self.url!r}, providers={sorted(set(self.known.values()))})"


@contextlib.contextmanager
def attached(client: Any) -> Iterator[None]:
    """Keep ``client``'s workers reporting like this session while the context lasts (nothing when not reporting)."""
    settings = metrics.reporting()
    if settings is None:
        yield
        return
    url, token = settings
    if not _importable_on_cluster(client):
        yield
        return

    def push(known: dict[str, str]) -> None:
        client.register_plugin(MetricsPlugin(url, token, known), name=metrics.PLUGIN_NAME)

    with contextlib.suppress(Exception):  # reporting must never keep a cluster from starting
        push(metrics.prefixes())
    metrics.add_listener(push)
    try:
        yield
    finally:
        metrics.remove_listener(push)
        with contextlib.suppress(Exception):
            # What the workers read since their last report lands before the cluster goes away.
            client.run(metrics.flush)
        metrics.flush()
