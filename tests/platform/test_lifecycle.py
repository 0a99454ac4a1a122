"""Start-up failures name the component; background up/status/down; resume from the data dir; Ctrl-C stops all."""

from __future__ import annotations

import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from dask_gateway import Gateway, JupyterHubAuth
from hubclient import HubUser
from platform_support import IS_ROOT, platform_config

from gaia_lab.errors import PlatformError
from gaia_lab.platform import Platform, down, status, up
from gaia_lab.platform.accounts import processes_of
from gaia_lab.platform.processes import marked_pids

pytestmark = [pytest.mark.platform, pytest.mark.slow]


def test_a_taken_port_names_the_component_and_starts_nothing(tmp_path, lake_dir):
    lines: list[str] = []
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = platform_config(tmp_path, lake_dir, hub_port=port, user_accounts="shared")
        platform = Platform(config, out=lines.append)
        with pytest.raises(PlatformError, match=f"port {port} on 127.0.0.1 .*already in use") as info:
            platform.start()
    assert info.value.component == "jupyterhub"
    assert marked_pids(str(tmp_path.resolve())) == []
    # Without system accounts `up` says so first, in one line.
    assert lines[0].startswith("single-user mode: all sessions share this account")


def test_a_missing_proxy_says_how_to_install_it(tmp_path, lake_dir):
    config = platform_config(tmp_path, lake_dir, proxy_command=["/nonexistent/configurable-http-proxy"])
    with pytest.raises(PlatformError, match="npm install -g configurable-http-proxy") as info:
        Platform(config, out=lambda line: None).start()
    assert info.value.component == "configurable-http-proxy"


def test_a_component_dying_at_start_up_is_named_and_the_others_stopped(tmp_path, lake_dir, monkeypatch):
    from gaia_lab.platform import gateway_config

    real_render = gateway_config.render
    monkeypatch.setattr(
        gateway_config, "render", lambda *args: real_render(*args) + "\nraise SystemExit('broken on purpose')\n"
    )
    with pytest.raises(PlatformError, match="exited with code") as info:
        Platform(platform_config(tmp_path, lake_dir), out=lambda line: None).start()
    assert info.value.component == "dask-gateway"
    assert "broken on purpose" in str(info.value)
    assert marked_pids(str(tmp_path.resolve())) == []


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _cull_idle_servers(hub_url: str, token: str, name: str, timeout: float = 120) -> None:
    """Run JupyterHub's idle culler (as the platform runs it, with a 1 s idle timeout) until ``name``'s server is
    gone."""
    env = {**os.environ, "JUPYTERHUB_API_TOKEN": token, "JUPYTERHUB_API_URL": f"{hub_url}hub/api"}
    command = [sys.executable, "-m", "jupyterhub_idle_culler", "--timeout=1", "--cull-every=1"]
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as culler:
        try:
            deadline = time.monotonic() + timeout
            headers = {"Authorization": f"token {token}"}
            while time.monotonic() < deadline:
                model = requests.get(f"{hub_url}hub/api/users/{name}", headers=headers, timeout=30).json()
                if not model.get("servers") and not model.get("pending"):
                    return
                time.sleep(0.5)
            raise AssertionError(f"{name}'s server was not culled in {timeout} s: {model}")
        finally:
            culler.terminate()
            culler.wait(30)


def test_background_status_down_then_resume_in_foreground_and_ctrl_c(tmp_path, lake_dir):
    data_dir = tmp_path.resolve()
    config = platform_config(data_dir, lake_dir)
    lines: list[str] = []
    state = up(config, foreground=False, out=lines.append)
    try:
        assert "Passwords (shown once" in "\n".join(lines)
        current = status(data_dir)
        assert current["running"]
        assert all(current["healthy"].values()), current
        cli = subprocess.run(
            [str(Path(sys.executable).parent / "gaia-lab"), "status", "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert cli.returncode == 0, cli.stderr
        assert ("per-user system accounts" if IS_ROOT else "single-user mode") in cli.stdout
        secrets = json.loads((data_dir / "secrets.json").read_text())
        dave = HubUser(state["hub_url"], "dave", secrets["user_password"])
        dave.login()
        dave.create_token()
        dave.start_server()
        with Gateway(
            address=state["gateway_url"],
            proxy_address=state["gateway_proxy_address"],
            auth=JupyterHubAuth(api_token=dave.token),
        ) as gateway:
            gateway.new_cluster(shutdown_on_close=False)
        assert len(marked_pids(str(data_dir))) >= 6  # lake, proxy, gateway(+proxy), hub, culler, server, scheduler
        if IS_ROOT:
            # A process of dave's that dropped the platform marker and left its session: `down` stops it anyway.
            dave.run(
                "import subprocess\n"
                "subprocess.Popen(['sleep', '3600'], env={}, start_new_session=True, stdin=subprocess.DEVNULL,"
                " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)",
                timeout=120,
            )
            uid = pwd.getpwnam(config.account_prefix + "dave").pw_uid
            sleepers = [pid for pid in processes_of({uid}) if Path(f"/proc/{pid}/cmdline").read_bytes()[:5] == b"sleep"]
            assert sleepers
            assert not set(sleepers) & set(marked_pids(str(data_dir)))
            # The idle culler stops dave's idle server (a process of another account) through the hub, as the
            # platform's culler does; here with a one-second timeout.
            server = next(pid for pid in processes_of({uid}) if b"jupyterhub-singleuser" in _cmdline(pid))
            _cull_idle_servers(state["hub_url"], secrets["platform_token"], "dave")
            assert not _alive(server)
            assert set(sleepers) <= set(processes_of({uid}))  # what left the session is left to `down`
    finally:
        assert down(data_dir)
    assert marked_pids(str(data_dir)) == []
    if IS_ROOT:
        assert processes_of({uid}) == []  # no process of any user left behind
    assert not status(data_dir)["running"]
    assert not down(data_dir)

    # `up` again, in the foreground: same users, same secrets, passwords not printed again.
    settings = {name: getattr(config, name) for name in config.trait_names(config=True)}
    script = (
        "import sys; from gaia_lab.platform import load_config, up; "
        f"up(load_config(None, **{settings!r}), out=lambda line: print(line, flush=True))"
    )
    output = []
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                output.append(line)
                if line.startswith("Stop with Ctrl-C"):
                    break
            text = "".join(output)
            assert "GAIA Lab is up" in text, text
            assert "Passwords" not in text
            assert json.loads((data_dir / "secrets.json").read_text()) == secrets
            state = status(data_dir)
            users = requests.get(
                f"{state['hub_url']}hub/api/users/dave",
                headers={"Authorization": f"token {secrets['platform_token']}"},
                timeout=30,
            )
            assert users.status_code == 200
            assert users.json()["name"] == "dave"
            proc.send_signal(signal.SIGINT)
            assert proc.wait(90) == 0
            assert "Stopping GAIA Lab" in proc.stdout.read()
        finally:
            if proc.poll() is None:  # a failed assertion above: do not leave the platform running
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(90)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    down(data_dir)
    assert marked_pids(str(data_dir)) == []
    assert not (data_dir / "platform.pid").exists()
