"""The real platform on loopback: login, spawn, kernels, Gateway clusters, the lake over HTTP, isolation, restart,
load. One platform for the whole module (see conftest.py)."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dask.config
import pytest
import requests
from dask_gateway import Gateway, JupyterHubAuth

from gaia_lab.errors import ClusterError, PlatformError
from gaia_lab.platform.processes import marked_pids

pytestmark = [pytest.mark.platform, pytest.mark.slow]

KERNEL_CODE = r"""
import json, os
import numpy as np
import dask.array as da
import gaia_lab as gl

lake_url = os.environ["GAIA_LAB_LAKE_URL"]
cat = gl.open_catalog()
stac = [p for p in cat.providers if p.type in ("stac", "intake-esm") and not p.name.endswith("-opendap")]
assert stac and all(p.url.startswith(lake_url) for p in stac), [p.url for p in cat.providers]
kinds = sorted({p.type for p in cat.providers})
res = cat.search(q="sea surface temperature")
assert not res.errors, res.errors
entry = next(iter(res))
ds = entry.to_xarray()
# The hubs' ISO records, over CSW and OGC API - Records, are the same datasets: found once, the others as mirrors,
# and a record opens through its online resources on the lake server.
french = cat.search(q="température de la mer")
assert not french.errors, french.errors
mirrored = {m.split("/")[0] for e in french for m in e.mirrors}
record = cat["odatis-csw/odatis:ostia-sst"].to_xarray()
record_mean = float(record["sst"].mean().compute())
stac_mean = float(cat["odatis/ostia-sst"].to_xarray()["sst"].mean().compute())
# The same cube over the platform's OPeNDAP server.
opendap_cube = cat["odatis-opendap/ostia-sst"].to_xarray()
assert opendap_cube.attrs["gaia:opendap"].startswith(os.environ["GAIA_LAB_OPENDAP_URL"]), opendap_cube.attrs
opendap_mean = float(opendap_cube["sst"].mean().compute())
name = next(iter(ds.data_vars))
variable = ds[name]
assert variable.chunks, "the cube is not lazy"

data = da.random.RandomState(42).random_sample((2000, 2000), chunks=(500, 500))
with gl.cluster(n_workers=2, adaptive=None, worker_memory="1 GiB") as client:
    kind = type(client.cluster).__name__
    workers = len(client.scheduler_info()["workers"])
    cluster_mean = float(data.mean().compute())
    cube_mean = float(variable.mean().compute())
direct_mean = float(data.compute(scheduler="synchronous").mean())
direct_cube_mean = float(variable.mean().compute(scheduler="synchronous"))
print("RESULT" + json.dumps({
    "kind": kind, "workers": workers, "entry": entry.id, "variable": name,
    "cluster_mean": cluster_mean, "direct_mean": direct_mean,
    "cube_mean": cube_mean, "direct_cube_mean": direct_cube_mean,
    "kinds": kinds, "mirrored": sorted(mirrored), "record_mean": record_mean, "stac_mean": stac_mean,
    "opendap_mean": opendap_mean,
}))
"""


def _result(output: str) -> dict:
    line = next(line for line in output.splitlines() if line.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def _gateway(platform, user) -> Gateway:
    return Gateway(
        address=platform.info.gateway_url,
        proxy_address=platform.info.gateway_proxy_address,
        auth=JupyterHubAuth(api_token=user.token),
    )


def test_login_spawn_catalog_cube_and_gateway_cluster(platform, make_user):
    alice = make_user("alice")
    spawn = alice.start_server()
    print(f"spawn to ready: {spawn:.1f} s")
    # JupyterLab is the default UI.
    lab = alice.session.get(f"{platform.info.hub_url}user/alice/lab", timeout=60)
    assert lab.status_code == 200
    assert "JupyterLab" in lab.text
    started = time.monotonic()
    result = _result(alice.run(KERNEL_CODE, timeout=240))
    print(f"kernel run (catalogue, cube, 2-worker cluster): {time.monotonic() - started:.1f} s", result)
    assert result["kind"] == "GatewayCluster"
    assert result["workers"] == 2
    assert result["cluster_mean"] == pytest.approx(result["direct_mean"], rel=1e-12)
    assert result["cube_mean"] == pytest.approx(result["direct_cube_mean"], rel=1e-9)
    assert result["kinds"] == ["csw", "intake-esm", "ogcapi-records", "stac"]
    assert {"odatis-csw", "odatis-records"} <= set(result["mirrored"])
    assert result["record_mean"] == result["stac_mean"]
    assert result["opendap_mean"] == pytest.approx(result["stac_mean"], rel=1e-6)


def test_session_environment(platform, make_user):
    alice = make_user("alice")
    alice.start_server()
    env = json.loads(alice.run("import os, json; print(json.dumps(dict(os.environ)))"))
    info = platform.info
    assert env["DASK_GATEWAY__ADDRESS"] == info.gateway_url
    assert env["DASK_GATEWAY__PROXY_ADDRESS"] == info.gateway_proxy_address
    assert env["DASK_GATEWAY__AUTH__TYPE"] == "jupyterhub"
    assert env["GAIA_LAB_CATALOG"] == str(info.catalog_file)
    assert Path(env["HOME"]) == platform.layout.homes_dir / "alice"
    # The platform's own secrets never reach a session.
    secrets = json.loads((platform.layout.data_dir / "secrets.json").read_text())
    for value in secrets.values():
        assert value not in json.dumps(env)


def test_sessions_load_the_dask_dashboard_but_not_the_unused_server_extensions(platform, make_user):
    alice = make_user("alice")
    alice.start_server()
    # dask-labextension answers (the dashboard and the "New cluster" button rely on it) ...
    assert alice.api("GET", "user/alice/dask/clusters").status_code == 200
    # ... jupyter_lsp and panel's preview server are not loaded (UNUSED_SERVER_EXTENSIONS).
    assert alice.api("GET", "user/alice/lsp/status").status_code == 404
    assert alice.api("GET", "user/alice/panel-preview/render/missing.ipynb").status_code == 404


def test_no_token_and_bad_token_are_refused_everywhere(platform, make_user):
    base = platform.info.hub_url
    bob = make_user("bob")
    bob.start_server()
    bad = {"Authorization": "token 0123456789abcdef0123456789abcdef"}
    for headers in ({}, bad):
        assert requests.get(f"{base}hub/api/users", headers=headers, timeout=30).status_code in (401, 403)
        assert requests.get(f"{base}hub/api/users/bob", headers=headers, timeout=30).status_code in (401, 403)
        # Through the proxy to a running user server: its API refuses; its pages send to the login page.
        for path in ("api/contents", "api/kernels", "api/status"):
            answer = requests.get(f"{base}user/bob/{path}", headers=headers, timeout=30, allow_redirects=False)
            assert answer.status_code in (401, 403), (path, headers, answer.status_code)
        lab = requests.get(f"{base}user/bob/lab", headers=headers, timeout=30, allow_redirects=False)
        assert lab.status_code == 302
        assert "/hub/" in lab.headers["Location"]
    proxy_api = f"http://127.0.0.1:{platform.info.ports.proxy_api_port}/api/routes"
    assert requests.get(proxy_api, timeout=30).status_code in (401, 403)
    assert requests.get(proxy_api, headers=bad, timeout=30).status_code in (401, 403)
    gateway = f"{platform.info.gateway_url}/api/v1/clusters/"
    assert requests.get(gateway, timeout=30).status_code == 401
    for scheme in ("jupyterhub", "token", "Bearer"):
        answer = requests.get(gateway, headers={"Authorization": f"{scheme} made-up-token"}, timeout=30)
        assert answer.status_code in (401, 403), (scheme, answer.status_code)
    assert requests.get(gateway, headers={"Authorization": f"jupyterhub {bob.token}"}, timeout=30).status_code == 200


def test_users_are_isolated(platform, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    bob.start_server()
    alice.start_server()
    base = platform.info.hub_url
    # Alice's token reaches her server, not Bob's.
    assert alice.api("GET", "user/alice/api/status").status_code == 200
    for path in ("user/bob/api/status", "user/bob/api/contents", "user/bob/api/kernels"):
        assert alice.api("GET", path).status_code in (403, 404), path
    assert alice.api("POST", "user/bob/api/kernels", json={"name": "python3"}).status_code in (403, 404)
    assert alice.api("DELETE", "hub/api/users/bob/server").status_code in (403, 404)
    lab = requests.get(f"{base}user/bob/lab", headers=alice.headers, timeout=30, allow_redirects=False)
    assert lab.status_code in (302, 403)

    with _gateway(platform, bob) as bob_gateway, _gateway(platform, alice) as alice_gateway:
        bob_cluster = bob_gateway.new_cluster()
        try:
            name = bob_cluster.name
            assert name not in [c.name for c in alice_gateway.list_clusters()]
            api = f"{platform.info.gateway_url}/api/v1/clusters/{name}"
            as_alice = {"Authorization": f"jupyterhub {alice.token}"}
            assert requests.get(api, headers=as_alice, timeout=30).status_code in (403, 404)
            assert requests.delete(api, headers=as_alice, timeout=30).status_code in (403, 404)
            with pytest.raises(Exception, match=r"(?i)forbidden|not found|lacks permission|403|404"):
                alice_gateway.connect(name)
            with pytest.raises(Exception, match=r"(?i)forbidden|not found|lacks permission|403|404"):
                alice_gateway.stop_cluster(name)
            # Still Bob's and still running.
            assert name in [c.name for c in bob_gateway.list_clusters()]
            # Per-user limit (max_clusters_per_user=2 in conftest): a second cluster yes, a third no.
            second = bob_gateway.submit()
            try:
                with pytest.raises(Exception, match=r"already has 2 active cluster\(s\), the limit is 2"):
                    bob_gateway.submit()
            finally:
                bob_gateway.stop_cluster(second)
        finally:
            bob_cluster.shutdown()


def test_gl_cluster_validates_options_against_the_gateway(platform, make_user):
    from gaia_lab.cluster import cluster

    alice = make_user("alice")
    settings = {
        "gateway.address": platform.info.gateway_url,
        "gateway.proxy-address": platform.info.gateway_proxy_address,
        "gateway.auth.type": "jupyterhub",
        "gateway.auth.kwargs": {"api_token": alice.token},
    }
    with dask.config.set(settings):
        with (
            pytest.raises(ClusterError, match=r"worker_cores=99 is outside .* 1 to 2") as info,
            cluster(worker_cores=99),
        ):
            pass
        assert info.value.option == "worker_cores"
        with (
            pytest.raises(ClusterError, match=r"worker_memory=64 GiB .* 0.25 to 4 GiB") as info,
            cluster(worker_memory="64 GiB"),
        ):
            pass
        assert info.value.option == "worker_memory"
        with pytest.raises(ClusterError, match="at most 4") as info, cluster(n_workers=2, adaptive=(1, 10)):
            pass
        assert info.value.option == "adaptive"
        with (
            pytest.raises(ClusterError, match=r"no such option; available: .*worker_cores") as info,
            cluster(image="x"),
        ):
            pass
        assert info.value.option == "image"


def test_lake_server_answers_range_and_head(platform):
    lake = platform.info.lake_url
    federation = platform.layout.lake_dir / "federation.yaml"
    size = federation.stat().st_size
    head = requests.head(f"{lake}federation.yaml", timeout=30)
    assert head.status_code == 200
    assert int(head.headers["Content-Length"]) == size
    assert head.headers["Accept-Ranges"] == "bytes"
    part = requests.get(f"{lake}federation.yaml", headers={"Range": "bytes=5-14"}, timeout=30)
    assert part.status_code == 206
    assert part.content == federation.read_bytes()[5:15]
    assert part.headers["Content-Range"] == f"bytes 5-14/{size}"
    tail = requests.get(f"{lake}federation.yaml", headers={"Range": "bytes=-4"}, timeout=30)
    assert tail.content == federation.read_bytes()[-4:]
    beyond = requests.get(f"{lake}federation.yaml", headers={"Range": f"bytes={size + 10}-"}, timeout=30)
    assert beyond.status_code == 416
    assert requests.get(f"{lake}no/such/file.json", timeout=30).status_code == 404
    assert requests.get(f"{lake}../secrets.json", timeout=30).status_code == 404
    assert requests.get(f"{lake}%2e%2e/secrets.json", timeout=30).status_code == 404

    import fsspec

    # What remote COG/Zarr readers do: random access through fsspec's HTTP filesystem.
    with fsspec.open(f"{lake}federation.yaml", "rb", block_size=8) as handle:
        handle.seek(size - 6)
        assert handle.read() == federation.read_bytes()[-6:]


def test_a_dead_component_is_named_and_can_be_restarted(platform):
    lake = platform.components["lake"]
    os.killpg(lake.pid, signal.SIGKILL)
    lake.proc.wait(10)
    with pytest.raises(PlatformError) as info:
        platform.check()
    assert info.value.component == "lake"
    assert "exited unexpectedly" in str(info.value)
    took = platform.restart("lake")
    platform.check()
    assert requests.get(f"{platform.info.lake_url}_health", timeout=30).status_code == 200
    print(f"lake restarted in {took:.1f} s")


def test_hub_restart_keeps_servers_and_clusters(platform, make_user):
    carol = make_user("carol")
    carol.start_server()
    kernel = carol.start_kernel()
    carol.run(
        "from dask_gateway import Gateway\n"
        "import dask.array as da\n"
        "gw = Gateway(); cl = gw.new_cluster(); cl.scale(1); client = cl.get_client()\n"
        "client.wait_for_workers(1, timeout=120); print(cl.name)",
        kernel_id=kernel,
        timeout=180,
    )
    took = platform.restart("jupyterhub")
    print(f"hub restarted in {took:.1f} s")
    # The same server (same kernel) answers through the proxy, and its cluster still computes.
    assert carol.api("GET", "user/carol/api/status").status_code == 200
    model = carol.api("GET", "hub/api/users/carol").json()
    assert model["servers"][""]["ready"]
    out = carol.run(
        # nthreads() asks the scheduler; scheduler_info() is the client's copy, refreshed every few seconds.
        "print(float(da.arange(1000, chunks=100).sum().compute()), len(client.nthreads()))\n"
        "print(len(gw.list_clusters()))\n"
        "cl.shutdown()",
        kernel_id=kernel,
        timeout=180,
    )
    assert out.split() == ["499500.0", "1", "1"]
    carol.stop_server()


def _rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


# This test's client is the test process (the development environment), its clusters run the sessions' environment
# (the image's packages): Python's patch release and cloudpickle's differ, which distributed reports.
@pytest.mark.filterwarnings("ignore::distributed.versions.VersionMismatchWarning")
def test_ten_users_at_once_each_with_a_server_and_a_cluster(platform, make_user, secrets):
    names = [f"load{i:02d}" for i in range(10)]
    before = _rss_mib(marked_pids(str(platform.layout.data_dir)))

    def one(name: str) -> dict:
        started = time.monotonic()
        user = make_user(name)
        spawn = user.start_server(timeout=300)
        with _gateway(platform, user) as gateway:
            cluster_started = time.monotonic()
            cluster = gateway.new_cluster()
            try:
                cluster.scale(1)
                with cluster.get_client(set_as_default=False) as client:
                    client.wait_for_workers(1, timeout=240)
                    total = client.submit(sum, range(100)).result(timeout=120)
                    cluster_time = time.monotonic() - cluster_started
                    peak = _rss_mib(marked_pids(str(platform.layout.data_dir)))
            finally:
                cluster.shutdown()
        return {
            "user": name,
            "spawn": spawn,
            "cluster": cluster_time,
            "total": total,
            "rss_mib": peak,
            "elapsed": time.monotonic() - started,
        }

    started = time.monotonic()
    with ThreadPoolExecutor(len(names)) as pool:
        results = list(pool.map(one, names))
    elapsed = time.monotonic() - started
    assert [r["total"] for r in results] == [4950] * 10
    peak = max(r["rss_mib"] for r in results)
    after_servers = _rss_mib(marked_pids(str(platform.layout.data_dir)))
    spawns = sorted(r["spawn"] for r in results)
    clusters = sorted(r["cluster"] for r in results)
    print(
        f"\n10 users: all done in {elapsed:.1f} s; spawn median {spawns[5]:.1f} s max {spawns[-1]:.1f} s; "
        f"cluster->result median {clusters[5]:.1f} s max {clusters[-1]:.1f} s; platform RSS before {before:.0f} MiB, "
        f"peak {peak:.0f} MiB, with 10 idle servers {after_servers:.0f} MiB"
    )
    for name in names:
        requests.delete(
            f"{platform.info.hub_url}hub/api/users/{name}/server",
            headers={"Authorization": f"token {secrets['platform_token']}"},
            timeout=60,
        )


def test_metadata_catalogues_serve_the_hubs_records(platform):
    ports = platform.info.ports
    csw = f"http://127.0.0.1:{ports.csw_port}"
    capabilities = requests.get(
        f"{csw}/odatis/csw", params={"service": "CSW", "request": "GetCapabilities"}, timeout=30
    )
    assert capabilities.status_code == 200 and "Capabilities" in capabilities.text
    # pycsw reads its config file from any query parameter naming "config": refused before pycsw sees it.
    for query in ("config=/etc/passwd", "service=CSW&request=GetCapabilities&CONFIG=/etc/shadow"):
        refused = requests.get(f"{csw}/odatis/csw?{query}", timeout=30)
        assert refused.status_code == 400, query
    assert requests.get(f"{csw}/elsewhere/csw", timeout=30).status_code == 404
    records = requests.get(
        f"http://127.0.0.1:{ports.records_port}/collections/aeris/items", params={"f": "json"}, timeout=30
    ).json()
    ids = {feature["id"] for feature in records["features"]}
    assert "aeris:meteosat-bt108" in ids
    for feature in records["features"]:  # online resources on the lake server, which sessions reach
        assert all(link["href"].startswith(platform.info.lake_url) for link in feature["links"]), feature["links"]


def test_supervisor_state_and_status(platform):
    from gaia_lab.platform import status

    state = status(platform.layout.data_dir)
    assert state["running"]
    assert state["pid"] == os.getpid()
    assert all(state["healthy"].values()), state
    assert {"csw", "records", "opendap"} <= set(state["healthy"])
    assert all(c["alive"] for c in state["components"].values())
    assert (platform.layout.data_dir / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert (platform.layout.state_file).stat().st_mode & 0o777 == 0o600
