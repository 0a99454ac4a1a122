"""gl.cluster(): LocalCluster without a gateway, option validation against a gateway's options, version checks.
(The Dask Gateway path against the real platform is exercised in tests/platform/test_platform.py.)"""

from __future__ import annotations

import socket

import dask
import dask.array as da
import numpy as np
import pytest
from dask_gateway.options import Float, Integer, Mapping, Options, Select

from gaia_lab.cluster import VersionMismatchWarning, _set_option, check_versions, cluster
from gaia_lab.errors import ClusterError


@pytest.fixture(autouse=True)
def no_gateway(monkeypatch):
    monkeypatch.delenv("DASK_GATEWAY__ADDRESS", raising=False)
    with dask.config.set({"gateway.address": None}):
        yield


@pytest.mark.slow
def test_local_cluster_with_fixed_workers_computes_and_shuts_down():
    data = da.random.RandomState(0).random_sample((1000, 1000), chunks=250)
    with cluster(n_workers=2, adaptive=None, worker_memory="1 GiB", environment={"GAIA_TEST": "1"}) as client:
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 2
        assert all(w["memory_limit"] == 2**30 for w in workers.values())
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert type(client.cluster).__name__ == "LocalCluster"
        assert client.run(lambda: __import__("os").environ.get("GAIA_TEST")) == dict.fromkeys(workers, "1")
        result = float(data.mean().compute())
        local_cluster = client.cluster
    assert result == pytest.approx(float(data.compute(scheduler="synchronous").mean()), rel=1e-12)
    assert client.status == "closed"
    assert local_cluster.status.name == "closed"


@pytest.mark.slow
def test_local_cluster_adaptive():
    with cluster(n_workers=1, adaptive=(1, 2), worker_cores=1) as client:
        assert 1 <= len(client.scheduler_info()["workers"]) <= 2
        assert client.submit(sum, [1, 2, 3]).result() == 6


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"n_workers": -1}, "n_workers"),
        ({"adaptive": (3, 1)}, "adaptive"),
        ({"worker_memory": "lots"}, "worker_memory"),
    ],
)
def test_invalid_arguments_raise_cluster_error(kwargs, option):
    with pytest.raises(ClusterError) as info, cluster(**kwargs):
        pass
    assert info.value.option == option
    assert option in str(info.value)


def test_unreachable_gateway_is_a_cluster_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = {"gateway.address": f"http://127.0.0.1:{port}", "gateway.auth.type": "basic"}
    unreachable = pytest.raises(ClusterError, match=f"cannot reach Dask Gateway at .*:{port}")
    with dask.config.set(settings), unreachable, cluster():
        pass


def _options():
    return Options(
        Integer("worker_cores", 1, min=1, max=2),
        Float("worker_memory", 2.0, min=0.25, max=4.0),
        Integer("max_workers", 4, min=1, max=4),
        Select("profile", "small", options=["small", "large"]),
        Mapping("environment", {}),
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("worker_cores", 8, r"worker_cores=8 is outside what the gateway allows: 1 to 2"),
        ("worker_memory", 16.0, r"worker_memory=16 GiB is outside what the gateway allows: 0.25 to 4 GiB"),
        ("profile", "huge", r"profile='huge': choose one of \['small', 'large'\]"),
        ("image", "x", r"image='x': the gateway offers no such option; available: environment, max_workers"),
    ],
)
def test_options_are_checked_against_what_the_gateway_offers(name, value, message):
    with pytest.raises(ClusterError, match=message) as info:
        _set_option(_options(), name, value)
    assert info.value.option == name


def test_valid_options_are_set():
    options = _options()
    _set_option(options, "worker_cores", 2)
    _set_option(options, "environment", {"A": "1"})
    assert options.worker_cores == 2
    assert options.environment == {"A": "1"}


class FakeClient:
    def __init__(self, worker_numpy: str) -> None:
        self.worker_numpy = worker_numpy

    def get_versions(self, check: bool = False) -> dict:
        mine = {"packages": {"python": "3.11.7", "dask": "2026.8.0", "numpy": np.__version__}}
        theirs = {"packages": {"python": "3.11.7", "dask": "2026.8.0", "numpy": self.worker_numpy}}
        return {"client": mine, "scheduler": mine, "workers": {"tcp://127.0.0.1:1": theirs}}


def test_version_mismatch_warns():
    with pytest.warns(VersionMismatchWarning, match=r"numpy .* here vs 1\.0\.0 on the worker tcp://127\.0\.0\.1:1"):
        assert check_versions(FakeClient("1.0.0"))
    assert check_versions(FakeClient(np.__version__)) == []
    assert issubclass(VersionMismatchWarning, UserWarning)


def test_gl_cluster_stays_callable_whatever_was_imported_first():
    import subprocess
    import sys

    code = (
        "import gaia_lab as gl\n"
        "first = gl.cluster\n"
        "import gaia_lab.cluster\n"
        "assert callable(gl.cluster) and gl.cluster is first, gl.cluster\n"
        "import importlib; importlib.reload(gl)\n"
        "assert callable(gl.cluster), gl.cluster\n"
        "from gaia_lab.cluster import cluster\n"
        "assert callable(gaia_lab.cluster)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
