"""OGC API - Processes overhead: a process run through the service (submit, job on the user's Gateway cluster,
outputs written, user catalogue updated, result fetched) versus the same computation (``gaia_lab.processing.run``,
xarray + Dask) submitted directly to the same cluster from the client; and submission -> first progress report.

Goal (issue 16): service / direct <= 1.2 for a ~30 s job. The demo lake's cubes are small: the jobs measured here
last what they last (printed), and the ratio says how much the service adds on top of them.
Run: python -m benchmarks.processes [--repeat 3] [--process subset]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import median, print_table, record

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

PORT_NAMES = (
    "port",
    "hub_port",
    "proxy_api_port",
    "gateway_port",
    "gateway_tcp_port",
    "gateway_api_port",
    "lake_port",
    "processes_port",
)
# The heaviest requests the demo lake allows, one per process.
REQUESTS: dict[str, dict[str, Any]] = {
    "subset": {"entry": "odatis/ostia-sst", "format": "zarr"},
    "aggregate": {"entry": "odatis/ostia-sst", "operation": "climatology", "period": "month"},
}


def lake_dir() -> Path:
    if lake := os.environ.get("GAIA_LAB_TEST_LAKE"):
        return Path(lake)
    from benchmarks.common import demo_lake

    return demo_lake()


def service_run(process_id: str, inputs: dict[str, Any], url: str, token: str) -> tuple[float, float]:
    """Seconds from submission to the first progress report, and to the result's item in hand."""
    import gaia_lab as gl

    started = time.perf_counter()
    job = gl.process(process_id, inputs, url=url, token=token)
    first = None
    while True:
        info = job.status()
        if first is None and (info["progress"] or 0) > 0:
            first = time.perf_counter() - started
        if info["status"] in ("successful", "failed", "dismissed"):
            break
        time.sleep(0.05)
    assert info["status"] == "successful", info
    job.item()
    total = time.perf_counter() - started
    return (first if first is not None else total), total


def direct_run(process_id: str, inputs: dict[str, Any], client: Any, catalog: Any) -> float:
    from gaia_lab.processing import ProcessContext, run

    with tempfile.TemporaryDirectory(prefix="gaia-lab-bench-direct-") as out:
        started = time.perf_counter()
        run(process_id, inputs, ProcessContext(output_dir=Path(out), client=client, catalog=catalog))
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--process", choices=sorted(REQUESTS), default="subset")
    args = parser.parse_args(argv)
    from dask_gateway import Gateway, JupyterHubAuth
    from hubclient import HubUser

    import gaia_lab as gl
    from gaia_lab.platform import Platform, load_config

    inputs = REQUESTS[args.process]
    with tempfile.TemporaryDirectory(prefix="gaia-lab-bench-") as data_dir:
        settings = {
            "data_dir": data_dir,
            "lake_dir": str(lake_dir()),
            "user_accounts": "shared",
            **dict.fromkeys(PORT_NAMES, 0),
            # The workers import this checkout's gaia_lab (the sessions' environment may hold another).
            "processes_worker_environment": {"PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        }
        platform = Platform(load_config(None, **settings), out=lambda s: None)
        platform.start()
        try:
            assert platform.secrets is not None and platform.info is not None
            user = HubUser(platform.info.hub_url, "bench-proc", platform.secrets.user_password)
            user.login()
            token = user.create_token()
            url = platform.info.processes_url
            service_run(args.process, inputs, url, token)  # warm-up: the user's cluster starts here
            gateway = Gateway(
                address=platform.info.gateway_url,
                proxy_address=platform.info.gateway_proxy_address,
                auth=JupyterHubAuth(api_token=token),
            )
            cluster = gateway.connect(gateway.list_clusters()[0].name)
            client = cluster.get_client(set_as_default=False)
            catalog = gl.open_catalog(platform.layout.catalog_file)
            direct_run(args.process, inputs, client, catalog)  # warm-up of the client side
            firsts, services, directs = [], [], []
            for _ in range(args.repeat):
                first, total = service_run(args.process, inputs, url, token)
                firsts.append(first)
                services.append(total)
                directs.append(direct_run(args.process, inputs, client, catalog))
            client.close()
            gateway.close()
        finally:
            platform.stop(quiet=True)
    service, direct, first = median(services), median(directs), median(firsts)
    rows = [
        (f"{args.process} through the service (median of {args.repeat})", f"{service:.2f} s", ""),
        (f"{args.process} directly on the same cluster", f"{direct:.2f} s", ""),
        ("service / direct", f"{service / direct:.2f}x", "goal <= 1.2x for a ~30 s job"),
        ("submission -> first progress report", f"{first:.2f} s", ""),
    ]
    print_table("OGC API - Processes overhead", rows)
    payload = {
        "process": args.process,
        "inputs": inputs,
        "service_s": services,
        "direct_s": directs,
        "first_progress_s": firsts,
        "ratio": service / direct,
    }
    record("processes", payload)
    return payload


if __name__ == "__main__":
    main()
