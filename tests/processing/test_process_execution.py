"""Running processes: on Dask's local scheduler, on a cluster through a client, and as a task on a worker (how the
OGC service runs jobs); the output-size and duration limits; cancellation (the Dask work is cancelled, nothing is
left in the output directory)."""

from __future__ import annotations

import re
import time
import uuid

import numpy as np
import pandas as pd
import pytest

import gaia_lab as gl
from gaia_lab.errors import ProcessCancelled, ProcessLimitError
from gaia_lab.processing import EventCancel, Limits, ProcessContext, VariableProgress, run

SST = "odatis/ostia-sst"
ZONES = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": "box",
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[-30.1, -4.9], [30.1, -4.9], [30.1, 4.9], [-30.1, 4.9], [-30.1, -4.9]]],
            },
        }
    ],
}
# a computation long enough (~5 s on one thread) to be cancelled while it runs: the 5' global DEM to Web Mercator
HEAVY = {"entry": "formater/elevation-5min", "bbox": [-180, -80, 180, 80],
         "target": {"crs": "EPSG:3857", "resolution": 10000}, "resampling": "cubic"}  # fmt: skip


def _advance(message: str) -> bool:
    """A report of the computation's advance: ``<label>: done/total tasks`` (or ``chunks`` written, on a cluster)."""
    return re.search(r"\d+/\d+ (tasks|chunks)$", message) is not None


def _scheduler_tasks(client):
    return client.run_on_scheduler(lambda dask_scheduler: sorted(map(str, dask_scheduler.tasks)))


def _wait_for_no_tasks(client, seconds=60.0):
    deadline = time.monotonic() + seconds
    while _scheduler_tasks(client) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _scheduler_tasks(client)


# ---- limits -----------------------------------------------------------------------------------------------------


def test_output_size_limit_is_checked_before_any_computation(context, lake_catalog, recorder):
    inputs = {"entry": SST, "datetime": "2007"}
    estimate = lake_catalog[SST].to_xarray(datetime="2007")[["sst"]].nbytes
    context.limits = Limits(max_output_bytes=estimate - 1)
    with pytest.raises(ProcessLimitError) as caught:
        run("subset", inputs, context)
    error = caught.value
    assert error.limit == "max_output_bytes" and error.value == estimate - 1 and error.process == "subset"
    assert "max_output_bytes" in str(error) and "narrow the bbox" in str(error)
    assert not any(_advance(message) for _, message in recorder.reports)  # nothing was computed
    assert not list(context.output_dir.iterdir())
    context.limits = Limits(max_output_bytes=estimate + 10_000)  # coordinates included in the estimate
    assert run("subset", inputs, context).files


@pytest.mark.parametrize(
    ("process_id", "inputs"),
    [
        ("aggregate", {"entry": SST, "operation": "anomaly", "period": "month"}),
        ("regrid", {"entry": SST, "target": {"crs": "EPSG:4326", "resolution": 0.1}}),
        ("time-series", {"entry": SST, "points": {"type": "FeatureCollection", "features": [
            {"type": "Feature", "id": "p", "geometry": {"type": "Point", "coordinates": [0, 0]}}]}}),
        ("zonal-statistics", {"entry": SST, "zones": ZONES}),
    ],
)  # fmt: skip
def test_every_process_enforces_the_output_limit(context, process_id, inputs):
    context.limits = Limits(max_output_bytes=100)
    with pytest.raises(ProcessLimitError, match="max_output_bytes=100 exceeded"):
        run(process_id, inputs, context)
    assert not list(context.output_dir.iterdir())


def test_duration_limit_locally(context):
    context.limits = Limits(max_duration=0.0)
    with pytest.raises(ProcessLimitError) as caught:
        run("subset", {"entry": SST}, context)
    assert caught.value.limit == "max_duration" and "max_duration=0 exceeded" in str(caught.value)
    assert not list(context.output_dir.iterdir())


def test_duration_limit_on_a_cluster_cancels_the_work(context, dask_client):
    context.client = dask_client
    calls = []

    def progress(fraction, message):  # the limit runs out once the work is on the cluster
        calls.append(message)
        if _advance(message):
            context.limits = Limits(max_duration=0.0)

    context.progress = progress
    with pytest.raises(ProcessLimitError, match="max_duration"):
        run("regrid", HEAVY, context)
    assert any(_advance(m) for m in calls)
    assert _wait_for_no_tasks(dask_client) == []
    assert not list(context.output_dir.iterdir())


# ---- cancellation -----------------------------------------------------------------------------------------------


def test_cancel_locally_stops_the_computation(context, recorder):
    def progress(fraction, message):
        recorder.reports.append((fraction, message))
        if _advance(message) and fraction > 0.05:
            recorder.cancel = True

    context.progress = progress
    with pytest.raises(ProcessCancelled, match="'regrid': cancelled"):
        run("regrid", HEAVY, context)
    tasks = [message for _, message in recorder.reports if _advance(message)]
    done, total = map(int, tasks[-1].split(": ")[1].split()[0].split("/"))
    assert done < total  # stopped part way
    assert not list(context.output_dir.iterdir())


def test_cancel_on_a_cluster_cancels_its_futures(context, dask_client, recorder):
    context.client = dask_client

    def progress(fraction, message):
        recorder.reports.append((fraction, message))
        if _advance(message):
            recorder.cancel = True

    context.progress = progress
    with pytest.raises(ProcessCancelled):
        run("regrid", HEAVY, context)
    assert _wait_for_no_tasks(dask_client) == []
    assert not list(context.output_dir.iterdir())


# ---- on a cluster -----------------------------------------------------------------------------------------------


def test_a_run_through_a_client_gives_the_local_values(context, dask_client, tmp_path, recorder):
    inputs = {"entry": SST, "zones": ZONES, "statistics": ["mean", "count"], "format": "csv"}
    local = pd.read_csv(run("zonal-statistics", inputs, context).files[0].path)
    context.client = dask_client
    context.output_dir = tmp_path / "cluster"
    recorder.reports.clear()
    remote = pd.read_csv(run("zonal-statistics", inputs, context).files[0].path)
    pd.testing.assert_frame_equal(local, remote)
    fractions = [f for f, m in recorder.reports if _advance(m)]
    assert fractions == sorted(fractions) and len(fractions) >= 2


def test_a_run_as_a_task_on_a_worker_reports_and_can_be_cancelled(dask_client, lake_dir, lake_catalog, tmp_path):
    """As the OGC service runs a job: the whole run is a task on the user's cluster; it opens the catalogue there,
    puts its graph on the same cluster (worker_client), reports through a Variable, is cancelled through an Event."""
    name = uuid.uuid4().hex
    progress, cancel = VariableProgress(f"progress-{name}"), EventCancel(f"cancel-{name}")
    progress.start(dask_client)
    inputs = {"entry": SST, "bbox": [-40, -5, 40, 5], "datetime": "2008"}
    context = ProcessContext(
        output_dir=tmp_path / "job", catalog=lake_dir / "federation.yaml", progress=progress, cancelled=cancel
    )
    future = dask_client.submit(run, "subset", inputs, context, pure=False)
    result = future.result(timeout=120)
    assert progress.read(dask_client) == {"fraction": 1.0, "message": "subset: done"}
    direct = lake_catalog[SST].to_xarray(bbox=inputs["bbox"], datetime="2008")
    np.testing.assert_array_equal(gl.open_datacube(str(result.item_path))["sst"].values, direct["sst"].values)

    name = uuid.uuid4().hex
    progress, cancel = VariableProgress(f"progress-{name}"), EventCancel(f"cancel-{name}")
    progress.start(dask_client)
    context = ProcessContext(output_dir=tmp_path / "job2", catalog=lake_dir / "federation.yaml", progress=progress,
                             cancelled=cancel)  # fmt: skip
    future = dask_client.submit(run, "regrid", HEAVY, context, pure=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        report = progress.read(dask_client)
        if _advance(report["message"]):
            break
        time.sleep(0.05)
    cancel.cancel(dask_client)
    with pytest.raises(ProcessCancelled):
        future.result(timeout=60)
    future.release()  # the errored task stays on the scheduler while a future refers to it
    assert _wait_for_no_tasks(dask_client) == []
    assert not list((tmp_path / "job2").iterdir())
