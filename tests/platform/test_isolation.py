"""Two users on a platform started as root, each with a running server, kernel and Dask cluster: from inside ana's
kernel, every way into ben's work or into the platform is tried for real, and each must be refused.

Run as root only (the platform makes a system account per user then); CI runs as root.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import textwrap
from pathlib import Path

import pytest
import requests

from gaia_lab.platform.accounts import processes_of
from gaia_lab.platform.hub_config import SECRET_ENV

pytestmark = [
    pytest.mark.platform,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="system accounts need root"),
]

NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
BEN_SECRET = "ben's unpublished results 4f1c"

START_CLUSTER = """
from dask_gateway import Gateway
gateway = Gateway()
cluster = gateway.new_cluster()
cluster.scale(1)
client = cluster.get_client()
client.wait_for_workers(1, timeout=180)
print("CLUSTER" + cluster.name)
"""

# Run in ana's kernel. TARGETS is filled in by the test (paths, pids, addresses it found as root); ana's token is
# her server's, from her own environment, as any notebook has it.
ATTEMPTS = r"""
import errno, json, os, signal, socket, ssl, stat
import requests

T = json.loads(TARGETS)
TOKEN = os.environ["JUPYTERHUB_API_TOKEN"]
results = []

def record(name, refused, detail):
    results.append({"attempt": name, "refused": bool(refused), "detail": str(detail)[:200]})

def fs(name, action):
    try:
        result = action()
    except OSError as exc:
        record(name, exc.errno in (errno.EACCES, errno.EPERM), repr(exc))
    else:
        record(name, False, f"succeeded: {result!r}"[:200])

def http(name, method, url, refused=(401, 403, 404, 405), token=TOKEN, scheme="token", **kwargs):
    headers = {"Authorization": f"{scheme} {token}"} if token else {}
    try:
        answer = requests.request(method, url, headers=headers, timeout=30, allow_redirects=False, **kwargs)
    except requests.RequestException as exc:
        record(name, False, f"no answer: {exc!r}")
        return
    record(name, answer.status_code in refused, f"HTTP {answer.status_code} {answer.text[:100]!r}")

def read(path):
    with open(path, "rb") as handle:
        return handle.read(64)

def write(path, mode="ab"):
    with open(path, mode) as handle:
        handle.write(b"x")
    return "written"

# -- the platform's secrets and state
fs("read secrets.json", lambda: read(T["secrets"]))
fs("list the data directory", lambda: os.listdir(T["data_dir"]))
fs("read the hub database", lambda: read(T["hub_db"]))
fs("read the gateway database", lambda: read(T["gateway_db"]))
fs("read the hub's log", lambda: read(T["hub_log"]))
fs("read the platform's run state", lambda: read(T["state_file"]))
# -- ben's home and work
fs("list the homes (~/..)", lambda: os.listdir(os.path.expanduser("~/..")))
fs("list ben's home", lambda: os.listdir(T["ben_home"]))
fs("read ben's notebook", lambda: read(T["ben_notebook"]))
fs("write into ben's notebook", lambda: write(T["ben_notebook"]))
fs("create a file in ben's home", lambda: write(os.path.join(T["ben_home"], "from-ana.txt"), "xb"))
fs("read ben's kernel connection file (its signing key)", lambda: read(T["ben_connection_file"]))
fs("read a dotfile in ben's home", lambda: read(os.path.join(T["ben_home"], ".bashrc")))
# -- ben's processes
for who in ("server", "kernel", "scheduler", "worker"):
    pid = T["ben_pids"][who]
    fs(f"read /proc/<ben's {who}>/environ", lambda pid=pid: read(f"/proc/{pid}/environ"))
fs("read /proc/<ben's kernel>/mem", lambda: read(f"/proc/{T['ben_pids']['kernel']}/mem"))
fs("list /proc/<ben's kernel>/cwd", lambda: os.listdir(f"/proc/{T['ben_pids']['kernel']}/cwd"))
fs("list /proc/<ben's kernel>/fd", lambda: os.listdir(f"/proc/{T['ben_pids']['kernel']}/fd"))
for who in ("hub", "gateway"):
    pid = T["platform_pids"][who]
    fs(f"read /proc/<{who}>/environ", lambda pid=pid: read(f"/proc/{pid}/environ"))
for who in ("server", "kernel", "scheduler", "worker"):
    pid = T["ben_pids"][who]
    fs(f"signal ben's {who} (SIGTERM)", lambda pid=pid: os.kill(pid, signal.SIGTERM))
fs("signal the hub (SIGTERM)", lambda: os.kill(T["platform_pids"]["hub"], signal.SIGTERM))
# -- ben's Dask cluster
fs("list the clusters directory", lambda: os.listdir(T["clusters_dir"]))
fs("list ben's cluster directory", lambda: os.listdir(T["ben_cluster_dir"]))
fs("read ben's cluster TLS key", lambda: read(T["ben_cluster_key"]))
fs("read ben's cluster TLS certificate", lambda: read(T["ben_cluster_cert"]))
fs("read ben's scheduler log", lambda: read(T["ben_scheduler_log"]))

def tls_with_my_certificate():
    # Straight to ben's scheduler (not through the gateway), presenting ana's own cluster certificate.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(T["ana_cluster_cert"], T["ana_cluster_key"])
    host, port = T["ben_scheduler_address"].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with context.wrap_socket(raw) as tls:
            tls.settimeout(10)
            data = tls.recv(1)  # TLS 1.3 reports a refused client certificate here
            return f"connected, read {data!r}"

try:
    outcome = tls_with_my_certificate()
except (ssl.SSLError, ConnectionError) as exc:
    record("talk to ben's scheduler with ana's certificate", True, repr(exc))
except OSError as exc:
    record("talk to ben's scheduler with ana's certificate", False, repr(exc))
else:
    record("talk to ben's scheduler with ana's certificate", outcome == "connected, read b''", outcome)

# -- ana's token on ben's things
hub = T["hub_url"]
http("list ben's tokens", "GET", f"{hub}hub/api/users/ben/tokens")
http("create a token for ben", "POST", f"{hub}hub/api/users/ben/tokens", json={"note": "mine now"})
http("read ben's user model", "GET", f"{hub}hub/api/users/ben")
http("list every user (admin)", "GET", f"{hub}hub/api/users")
http("stop ben's server", "DELETE", f"{hub}hub/api/users/ben/server")
http("make ana an admin", "PATCH", f"{hub}hub/api/users/ana", json={"admin": True})
http("ben's server: list files", "GET", f"{hub}user/ben/api/contents")
http("ben's server: read his notebook", "GET", f"{hub}user/ben/api/contents/private.ipynb")
http("ben's server: start a kernel", "POST", f"{hub}user/ben/api/kernels", json={"name": "python3"})
http("ben's server, port reached directly", "GET", f"{T['ben_server_url']}api/contents")
http("ben's server: open a terminal", "POST", f"{hub}user/ben/api/terminals")
gateway = T["gateway_url"]
cluster = T["ben_cluster"]
# The gateway authenticates with the "jupyterhub" scheme: ana is known to it, ben's cluster is not hers.
api = f"{gateway}/api/v1/clusters/"
http("ben's cluster: read it", "GET", f"{api}{cluster}", scheme="jupyterhub")
http("ben's cluster: scale it", "POST", f"{api}{cluster}/scale", json={"count": 4}, scheme="jupyterhub")
http("ben's cluster: stop it", "DELETE", f"{api}{cluster}", scheme="jupyterhub")
mine = requests.get(api, headers={"Authorization": f"jupyterhub {TOKEN}"}, timeout=30)
listed = mine.status_code == 200 and cluster not in mine.text
record("ben's cluster: find it in the gateway's list", listed, f"HTTP {mine.status_code}")
try:
    from dask_gateway import Gateway
    Gateway().connect(cluster)
except Exception as exc:
    record("ben's cluster: connect a client", True, repr(exc))
else:
    record("ben's cluster: connect a client", False, "connected")
# -- the shared material: readable, not writable
fs("write into the workshop copy", lambda: write(T["ana_workshop_notebook"]))
workshop = os.path.dirname(T["ana_workshop_notebook"])
fs("create a file in the workshop copy", lambda: write(os.path.join(workshop, "x.txt"), "xb"))
fs("make the workshop copy writable", lambda: os.chmod(T["ana_workshop_notebook"], 0o644))
fs("write into the trainer's workshop folder", lambda: write(T["workshop_source_notebook"]))
fs("write into the lake", lambda: write(T["lake_file"]))
fs("create a file in the lake", lambda: write(os.path.join(T["lake_dir"], "planted.json"), "xb"))
fs("replace the session catalogue", lambda: write(T["catalog_file"], "wb"))
http("write into the lake over HTTP", "PUT", f"{T['lake_url']}federation.yaml", data=b"{}", token=None)
# -- what every process shows to everyone
cmdlines, environs, owners = [], 0, set()
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            cmdlines.append(open(f"/proc/{entry}/cmdline", "rb").read().decode(errors="replace"))
        except OSError:
            pass
        try:
            open(f"/proc/{entry}/environ", "rb").read(1)
            owners.add(os.stat(f"/proc/{entry}").st_uid)
            environs += 1
        except OSError:
            pass
record("read the environment of a process of another account", owners <= {os.getuid()}, f"uids {sorted(owners)}")
record("find ben's cluster name in a command line", not any(cluster in line for line in cmdlines), "")
found = {"results": results, "cmdlines": cmdlines, "uid": os.getuid(), "readable_environs": environs}
print("RESULT" + json.dumps(found))
"""


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def _environ(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(pair.decode().split("=", 1) for pair in pairs if b"=" in pair)


def _pid(uid: int, *needles: bytes) -> int:
    found = [pid for pid in processes_of({uid}) if all(needle in _cmdline(pid) for needle in needles)]
    assert len(found) == 1, (needles, found, [_cmdline(pid) for pid in processes_of({uid})])
    return found[0]


def _result(output: str) -> dict:
    line = next(line for line in output.splitlines() if line.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


@pytest.fixture(scope="module")
def two_users(platform, make_user):
    """ana and ben, each with a running server, a kernel holding a one-worker cluster; ben has a private notebook."""
    ana, ben = make_user("ana"), make_user("ben")
    users = {"ana": ana, "ben": ben}
    kernels, clusters = {}, {}
    for name, user in users.items():
        user.start_server()
        kernels[name] = user.start_kernel()
        out = user.run(START_CLUSTER, kernel_id=kernels[name], timeout=300)
        clusters[name] = re.search(r"CLUSTER(\S+)", out).group(1)
    saved = ben.api(
        "PUT",
        "user/ben/api/contents/private.ipynb",
        json={"type": "notebook", "format": "json", "content": {**NOTEBOOK, "metadata": {"secret": BEN_SECRET}}},
    )
    assert saved.status_code in (200, 201), saved.text
    yield users, kernels, clusters
    for name, user in users.items():
        user.run("cluster.shutdown()", kernel_id=kernels[name], timeout=120)
        user.stop_server()


def test_a_user_cannot_reach_another_user_or_the_platform(platform, secrets, two_users):
    users, kernels, clusters = two_users
    layout, info = platform.layout, platform.info
    accounts = platform.accounts
    assert accounts is not None, "run as root, the platform makes system accounts"
    ana_account, ben_account = accounts.ensure("ana"), accounts.ensure("ben")
    assert ana_account.uid != ben_account.uid
    assert pwd.getpwuid(ben_account.uid).pw_name == f"{platform.config.account_prefix}ben"

    ben_pids = {
        "server": _pid(ben_account.uid, b"jupyterhub-singleuser"),
        "kernel": _pid(ben_account.uid, b"ipykernel_launcher"),
        "scheduler": _pid(ben_account.uid, b"dask", b"scheduler"),
        "worker": _pid(ben_account.uid, b"dask", b"worker"),
    }
    # The kernel has its server's environment (a server forked from the warm process shows that process's start-up
    # environment in /proc/<pid>/environ, the kernel, a new program, its own).
    server_env = _environ(ben_pids["kernel"])
    ben_token = server_env["JUPYTERHUB_API_TOKEN"]
    kernel_cmdline = _cmdline(ben_pids["kernel"]).split(b"\0")
    connection_file = kernel_cmdline[kernel_cmdline.index(b"-f") + 1].decode()
    ben_cluster_dir = layout.clusters_dir / clusters["ben"]
    ana_cluster_dir = layout.clusters_dir / clusters["ana"]
    scheduler_log = (ben_cluster_dir / "logs" / "scheduler.log").read_text()
    scheduler_address = re.search(r"Scheduler at:\s+tls://(\S+)", scheduler_log).group(1)
    workshop_notebooks = sorted((ana_account.home / "workshop").glob("*.ipynb"))
    assert workshop_notebooks, "the workshop copy is missing"
    targets = {
        "secrets": str(layout.data_dir / "secrets.json"),
        "data_dir": str(layout.data_dir),
        "hub_db": str(layout.hub_dir / "jupyterhub.sqlite"),
        "gateway_db": str(layout.gateway_dir / "gateway.sqlite"),
        "hub_log": str(layout.logs_dir / "hub.log"),
        "state_file": str(layout.state_file),
        "ben_home": str(ben_account.home),
        "ben_notebook": str(ben_account.home / "private.ipynb"),
        "ben_connection_file": connection_file,
        "ben_pids": ben_pids,
        "platform_pids": {
            "hub": platform.components["jupyterhub"].pid,
            "gateway": platform.components["dask-gateway"].pid,
        },
        "clusters_dir": str(layout.clusters_dir),
        "ben_cluster": clusters["ben"],
        "ben_cluster_dir": str(ben_cluster_dir),
        "ben_cluster_key": str(ben_cluster_dir / ".certs" / "dask.pem"),
        "ben_cluster_cert": str(ben_cluster_dir / ".certs" / "dask.crt"),
        "ben_scheduler_log": str(ben_cluster_dir / "logs" / "scheduler.log"),
        "ben_scheduler_address": scheduler_address,
        "ana_cluster_key": str(ana_cluster_dir / ".certs" / "dask.pem"),
        "ana_cluster_cert": str(ana_cluster_dir / ".certs" / "dask.crt"),
        "ben_server_url": server_env["JUPYTERHUB_SERVICE_URL"],
        "hub_url": info.hub_url,
        "gateway_url": info.gateway_url,
        "lake_url": info.lake_url,
        "lake_dir": str(layout.lake_dir),
        "lake_file": str(layout.lake_dir / "federation.yaml"),
        "catalog_file": str(layout.catalog_file),
        "ana_workshop_notebook": str(workshop_notebooks[0]),
        "workshop_source_notebook": str(Path(platform.config.workshop_dir) / workshop_notebooks[0].name),
    }
    # Each target is real: the attempts below fail for want of permission, not for a wrong path.
    for key in ("secrets", "hub_db", "gateway_db", "ben_notebook", "ben_cluster_key", "lake_file", "catalog_file"):
        assert Path(targets[key]).is_file(), key
    assert BEN_SECRET in Path(targets["ben_notebook"]).read_text()

    code = f"TARGETS = {json.dumps(json.dumps(targets))}\n" + ATTEMPTS
    found = _result(users["ana"].run(code, timeout=300))
    results = found["results"]
    assert found["uid"] == ana_account.uid  # the kernel runs as ana's account, not as the platform's

    # No command line any account can read carries a secret of the platform or ben's token.
    cmdline_text = "\n".join(found["cmdlines"])
    leaked = [name for name, value in secrets.items() if value in cmdline_text]
    results.append(
        {"attempt": "find a platform secret in a command line", "refused": not leaked, "detail": f"{leaked}"}
    )
    results.append(
        {"attempt": "find ben's token in a command line", "refused": ben_token not in cmdline_text, "detail": ""}
    )
    hub_env = _environ(platform.components["jupyterhub"].pid)
    assert all(hub_env[name] for name in SECRET_ENV)  # secrets travel in the hub's environment ...
    assert all(hub_env[name] not in cmdline_text for name in SECRET_ENV)  # ... never on a command line

    refused = [r for r in results if r["refused"]]
    allowed = [r for r in results if not r["refused"]]
    print(f"\n{len(results)} attempts from ana's kernel, {len(refused)} refused:")
    for r in results:
        print(f"  {'refused' if r['refused'] else 'ALLOWED'}  {r['attempt']}: {r['detail'][:110]}")
    assert not allowed, textwrap.indent(json.dumps(allowed, indent=1), "  ")
    assert len(results) >= 50

    # ben's work survived all of it: his server, kernel and cluster still answer.
    assert users["ben"].api("GET", "user/ben/api/status").status_code == 200
    out = users["ben"].run("print(client.submit(sum, range(10)).result())", kernel_id=kernels["ben"], timeout=120)
    assert out.strip() == "45"
    assert BEN_SECRET in Path(targets["ben_notebook"]).read_text()
    assert not (ben_account.home / "from-ana.txt").exists()
    assert requests.get(f"{info.lake_url}federation.yaml", timeout=30).status_code == 200


def test_homes_and_cluster_directories_belong_to_their_accounts(platform, two_users):
    _users, _kernels, clusters = two_users
    layout = platform.layout
    assert layout.homes_dir.stat().st_mode & 0o777 == 0o711
    assert layout.clusters_dir.stat().st_mode & 0o777 == 0o711
    assert layout.data_dir.stat().st_mode & 0o777 == 0o700
    assert (layout.data_dir / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert layout.catalog_file.stat().st_mode & 0o777 == 0o644
    for name in ("ana", "ben"):
        account = platform.accounts.ensure(name)
        home = account.home.stat()
        assert (home.st_uid, home.st_mode & 0o777) == (account.uid, 0o700)
        workdir = layout.clusters_dir / clusters[name]
        for path in (workdir, workdir / ".certs", workdir / ".certs" / "dask.pem", workdir / ".certs" / "dask.crt"):
            info = path.stat()
            assert info.st_uid == account.uid, path
            assert info.st_mode & 0o077 == 0, (path, oct(info.st_mode))
        # Schedulers and workers run as the account, not as the platform's.
        scheduler = _pid(account.uid, b"dask", b"scheduler")
        assert Path(f"/proc/{scheduler}").stat().st_uid == account.uid
    # Nothing outside the cluster directories was handed to an account (upstream's LocalBackend chowns "/").
    assert Path("/").stat().st_uid == 0
    assert layout.clusters_dir.stat().st_uid == 0
