"""Fixtures of the processing tests: the lake's catalogue (tests/conftest.py) and one Dask cluster per session."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import distributed
import pytest

from gaia_lab.processing import Limits, ProcessContext


@pytest.fixture(scope="session")
def dask_client() -> Iterator[distributed.Client]:
    """A real multi-process LocalCluster: tasks and errors cross process boundaries as on a Gateway cluster."""
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=True, dashboard_address="127.0.0.1:0", host="127.0.0.1"
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        # fresh worker processes import the stack (xarray, zarr, rasterio, odc) on their first task: do it here
        client.run(importlib.import_module, "gaia_lab.processing")
        yield client


class Recorder:
    """Progress reports of a run, and a cancellation switch."""

    def __init__(self) -> None:
        self.reports: list[tuple[float, str]] = []
        self.cancel = False

    def progress(self, fraction: float, message: str) -> None:
        self.reports.append((fraction, message))

    def cancelled(self) -> bool:
        return self.cancel


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def context(lake_catalog, tmp_path: Path, recorder: Recorder) -> ProcessContext:
    return ProcessContext(
        output_dir=tmp_path / "out",
        catalog=lake_catalog,
        progress=recorder.progress,
        cancelled=recorder.cancelled,
        limits=Limits(),
    )
