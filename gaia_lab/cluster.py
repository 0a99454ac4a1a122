"""``gl.cluster()``: a Dask cluster from the platform's Dask Gateway when one is configured, else a LocalCluster.

>>> with gl.cluster(n_workers=2, worker_memory="2 GiB") as client:  # doctest: +SKIP
...     ds.sst.mean().compute()
"""

from __future__ import annotations

import os
import sys
import types
import warnings
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from typing import Any

from dask.utils import parse_bytes

from gaia_lab.errors import ClusterError

GIB = 2**30
# The packages whose versions must agree between a client and its scheduler/workers for pickled tasks to work.
CHECKED_PACKAGES = ("python", "dask", "distributed", "numpy", "pandas", "cloudpickle", "msgpack", "toolz", "xarray")


class VersionMismatchWarning(UserWarning):
    """The client and the cluster's scheduler or workers run different package versions."""


# gl.cluster(profile=...): where each kind of cluster runs. "hpc": the platform's second gateway, whose schedulers and
# workers are Slurm jobs (gaia_lab.platform.hpc_gateway); its address reaches sessions in these variables.
PROFILES = ("default", "hpc")
HPC_ADDRESS_ENV = "GAIA_LAB_HPC_GATEWAY_ADDRESS"
HPC_PROXY_ADDRESS_ENV = "GAIA_LAB_HPC_GATEWAY_PROXY_ADDRESS"
HPC_PUBLIC_ADDRESS_ENV = "GAIA_LAB_HPC_GATEWAY_PUBLIC_ADDRESS"


def _gateway_configured() -> bool:
    if os.environ.get("DASK_GATEWAY__ADDRESS"):
        return True
    import dask.config

    return bool(dask.config.get("gateway.address", None))


@contextmanager
def cluster(
    n_workers: int = 2,
    worker_memory: str | int | None = "2 GiB",
    worker_cores: int | None = None,
    adaptive: tuple[int, int] | None = (1, 4),
    environment: Mapping[str, str] | None = None,
    *,
    wait: bool = True,
    timeout: float = 180.0,
    profile: str = "default",
    **options: Any,
) -> Iterator[Any]:
    """A ``distributed.Client`` on a new cluster, shut down on exit.

    Dask Gateway (``DASK_GATEWAY__ADDRESS`` set, as in platform sessions) or a LocalCluster otherwise.
    ``n_workers`` start at once; ``adaptive=(minimum, maximum)`` then lets the cluster scale between the two
    (``None``: fixed size). ``environment``: variables set on the workers. The
    object-store credentials the session's catalogues resolved reach the workers by a worker plugin
    (``gaia_lab.worker_credentials``), kept up to date while the cluster lives. Further ``options`` are Gateway cluster
    options by name. With ``wait``, returns once ``n_workers`` (or the adaptive minimum, if lower) have joined.

    ``profile="hpc"``: the platform's HPC gateway (``GAIA_LAB_HPC_GATEWAY_ADDRESS``), scheduler and workers as Slurm
    jobs of the user's own account; its further options are ``partition`` and ``walltime_minutes``. A job Slurm
    refuses (unknown partition, over a partition's limits) raises ClusterError with Slurm's reason.
    """
    if profile not in PROFILES:
        raise ClusterError(f"profile={profile!r}: choose one of {list(PROFILES)}", option="profile")
    if n_workers < 0:
        raise ClusterError(f"n_workers={n_workers}: must be 0 or more", option="n_workers")
    if adaptive is not None:
        low, high = adaptive
        if not 0 <= low <= high:
            raise ClusterError(
                f"adaptive={adaptive!r}: expected (minimum, maximum) with 0 <= minimum <= maximum", option="adaptive"
            )
    memory = None
    if worker_memory is not None:
        try:
            memory = parse_bytes(worker_memory)
        except (ValueError, TypeError) as exc:
            raise ClusterError(
                f"worker_memory={worker_memory!r}: not a memory size such as '2 GiB'", option="worker_memory"
            ) from exc
    with ExitStack() as stack:
        if profile == "hpc":
            gateway = _hpc_gateway()
            client = _gateway_client(stack, n_workers, memory, worker_cores, adaptive, environment, options, gateway)
        elif _gateway_configured():
            client = _gateway_client(stack, n_workers, memory, worker_cores, adaptive, environment, options)
        else:
            client = _local_client(stack, n_workers, memory, worker_cores, adaptive, environment, options)
        from gaia_lab.worker_credentials import attached

        # The workers read object stores with the credentials this session resolved, and with no one else's.
        stack.enter_context(attached(client))
        from gaia_lab import metrics_plugin

        # ... and report their reads to the platform's metrics as the session does (when it reports).
        stack.enter_context(metrics_plugin.attached(client))
        expected = min(n_workers, adaptive[0]) if adaptive is not None else n_workers
        if wait and expected:
            try:
                client.wait_for_workers(expected, timeout=timeout)
            except TimeoutError as exc:
                raise ClusterError(
                    f"{expected} worker(s) did not join within {timeout:.0f} s; the machine may be out "
                    "of memory or cores, or worker start-up failed (see the cluster logs)"
                ) from exc
            check_versions(client)
        yield client


def _gateway_client(
    stack: ExitStack,
    n_workers: int,
    memory: int | None,
    worker_cores: int | None,
    adaptive: tuple[int, int] | None,
    environment: Mapping[str, str] | None,
    options: dict[str, Any],
    gateway: Any = None,
) -> Any:
    if gateway is None:
        try:
            gateway = _new_gateway()
        except Exception as exc:
            raise ClusterError(f"cannot configure Dask Gateway: {_reason(exc)}") from exc
    stack.callback(_close_gateway, gateway)
    try:
        cluster_options = gateway.cluster_options()
    except Exception as exc:
        raise ClusterError(
            f"cannot reach Dask Gateway at {gateway.address}: {exc}. In a platform session this means the gateway "
            "is down or your token lacks access (log out and in again); elsewhere unset DASK_GATEWAY__ADDRESS to "
            "use a local cluster."
        ) from exc
    requested: dict[str, Any] = dict(options)
    if memory is not None:
        requested["worker_memory"] = memory / GIB
    if worker_cores is not None:
        requested["worker_cores"] = worker_cores
    if environment:
        requested["environment"] = dict(environment)
    for name, value in requested.items():
        _set_option(cluster_options, name, value)

    largest = max(n_workers, adaptive[1] if adaptive else 0)
    limit = _field_range(cluster_options, "max_workers")[1]
    if limit is not None and largest > limit:
        option = "adaptive" if adaptive and adaptive[1] == largest and largest > n_workers else "n_workers"
        raise ClusterError(
            f"{option} asks for {largest} workers; this gateway allows at most {limit:g} per cluster", option=option
        )
    if "max_workers" in cluster_options and "max_workers" not in requested and limit is not None:
        cluster_options["max_workers"] = int(limit)
    try:
        gateway_cluster = gateway.new_cluster(cluster_options)
    except Exception as exc:
        raise ClusterError(f"Dask Gateway refused to create a cluster: {exc}") from exc
    stack.callback(_shutdown_cluster, gateway_cluster)
    try:
        if n_workers:
            gateway_cluster.scale(n_workers)
        if adaptive is not None:
            gateway_cluster.adapt(minimum=adaptive[0], maximum=adaptive[1])
        client = gateway_cluster.get_client(set_as_default=True)
    except Exception as exc:
        raise ClusterError(f"cluster {gateway_cluster.name} did not start: {exc}") from exc
    stack.callback(client.close)
    return client


def _hpc_gateway() -> Any:
    """The HPC gateway of this session's platform, authenticated like the default one (the hub's token)."""

    address = os.environ.get(HPC_ADDRESS_ENV)
    if not address:
        raise ClusterError(
            f"profile='hpc': no HPC gateway here ({HPC_ADDRESS_ENV} is not set); the platform runs one when started "
            "with `gaia-lab up --slurm`",
            option="profile",
        )
    try:
        return _new_gateway(
            address=address,
            proxy_address=os.environ.get(HPC_PROXY_ADDRESS_ENV) or None,
            public_address=os.environ.get(HPC_PUBLIC_ADDRESS_ENV) or None,
        )
    except Exception as exc:
        raise ClusterError(f"cannot configure the HPC gateway at {address}: {_reason(exc)}", option="profile") from exc


# The client starts an IO-loop thread and gives it 10 s (distributed's LoopRunner); on a machine where a class is
# compiling at once that can pass, and the client fails with a bare AssertionError. Starting again is harmless.
_GATEWAY_CLIENT_ATTEMPTS = 3


def _new_gateway(**kwargs: Any) -> Any:
    from dask_gateway import Gateway

    for _ in range(_GATEWAY_CLIENT_ATTEMPTS - 1):
        with suppress(AssertionError):
            return Gateway(**kwargs)
    try:
        return Gateway(**kwargs)
    except AssertionError:
        raise RuntimeError(
            f"the gateway client's IO loop did not start within 10 s, {_GATEWAY_CLIENT_ATTEMPTS} times (the machine "
            "is overloaded)"
        ) from None


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _close_gateway(gateway: Any) -> None:
    with suppress(RuntimeError):  # already closed (its loop stopped)
        gateway.close()
    # dask-gateway 2026.3: Gateway.__del__ closes again, and with its loop already stopped that raises (printed as
    # "Exception ignored in Gateway.__del__" when the kernel collects it). Once closed, a second close is a no-op.
    gateway.close = lambda: None


def _shutdown_cluster(gateway_cluster: Any) -> None:
    try:
        gateway_cluster.shutdown()
    finally:
        inner = getattr(gateway_cluster, "gateway", None)
        if inner is not None:
            _close_gateway(inner)


def _field_range(cluster_options: Any, name: str) -> tuple[float | None, float | None]:
    field = getattr(cluster_options, "_fields", {}).get(name)
    return getattr(field, "min", None), getattr(field, "max", None)


def _set_option(cluster_options: Any, name: str, value: Any) -> None:
    fields = getattr(cluster_options, "_fields", {})
    if name not in fields:
        raise ClusterError(
            f"{name}={value!r}: the gateway offers no such option; available: {', '.join(sorted(fields)) or 'none'}",
            option=name,
        )
    low, high = _field_range(cluster_options, name)
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if numeric and ((low is not None and value < low) or (high is not None and value > high)):
        unit = " GiB" if name == "worker_memory" else ""  # the platform's gateway counts memory in GiB
        shown = f"{value:g}{unit}"
        raise ClusterError(f"{name}={shown} is outside what the gateway allows: {low:g} to {high:g}{unit}", option=name)
    choices = getattr(fields[name], "options", None)
    if choices is not None and value not in choices:
        raise ClusterError(f"{name}={value!r}: choose one of {list(choices)}", option=name)
    try:
        cluster_options[name] = value
    except (ValueError, TypeError) as exc:
        raise ClusterError(f"{name}={value!r}: {exc}", option=name) from exc


def _local_client(
    stack: ExitStack,
    n_workers: int,
    memory: int | None,
    worker_cores: int | None,
    adaptive: tuple[int, int] | None,
    environment: Mapping[str, str] | None,
    options: dict[str, Any],
) -> Any:
    from distributed import Client, LocalCluster

    kwargs: dict[str, Any] = {
        "n_workers": n_workers,
        "threads_per_worker": worker_cores or 1,
        "processes": True,
        # The defaults listen on all interfaces (dashboard :8787); a laptop cluster stays on loopback.
        "host": "127.0.0.1",
        "dashboard_address": "127.0.0.1:0",
        **options,
    }
    if memory is not None:
        kwargs["memory_limit"] = memory
    if environment:
        kwargs["env"] = dict(environment)
    try:
        local = LocalCluster(**kwargs)
    except TypeError as exc:
        raise ClusterError(
            f"LocalCluster does not take these options: {exc}", option=next(iter(options), None)
        ) from exc
    stack.callback(local.close)
    if adaptive is not None:
        local.adapt(minimum=adaptive[0], maximum=adaptive[1])
    client = Client(local, set_as_default=True)
    stack.callback(client.close)
    return client


def check_versions(client: Any) -> list[str]:
    """Warn (VersionMismatchWarning) when scheduler or workers run other package versions than this client."""
    try:
        versions = client.get_versions(check=False)
    except Exception:  # an unreachable scheduler shows up on the first compute; not the place to fail
        return []
    mine = versions.get("client", {}).get("packages", {})
    others = {"scheduler": versions.get("scheduler", {})}
    others.update({f"worker {address}": info for address, info in (versions.get("workers") or {}).items()})
    mismatches = []
    for where, info in others.items():
        theirs = (info or {}).get("packages", {})
        for package in CHECKED_PACKAGES:
            if package in mine and package in theirs and mine[package] != theirs[package]:
                mismatches.append(f"{package} {mine[package]} here vs {theirs[package]} on the {where}")
    if mismatches:
        warnings.warn(
            "client and cluster package versions differ (results may be wrong or tasks fail to unpickle): "
            + "; ".join(sorted(set(mismatches))),
            VersionMismatchWarning,
            stacklevel=3,
        )
    return mismatches


class _CallableModule(types.ModuleType):
    """Importing ``gaia_lab.cluster`` makes the package attribute ``gl.cluster`` this module (the import system
    sets it), so the module itself answers ``gl.cluster(...)``: it works whatever was imported first."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return cluster(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["VersionMismatchWarning", "check_versions", "cluster"]
