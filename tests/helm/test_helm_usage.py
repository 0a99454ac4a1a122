"""Usage accounting in the chart: the hub settings carry it, files/hub/gaia_lab_hub.py installs gaia_lab's hooks, and a
real (mocked, no API server) KubeSpawner's session is recorded with the cores and memory of its profile."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
from pathlib import Path

from helmtools import HUB_FILE, NAMESPACE, exec_file, hub_settings, load_values, z2jh_hub_config

from gaia_lab.platform.usage_store import UsageStore


def test_settings_and_hooks(rendered, hub_config, tmp_path: Path) -> None:
    assert hub_settings(rendered["default"])["usage"] == {"enabled": True, "database": "/srv/jupyterhub/usage.sqlite"}
    c = hub_config("default")
    hooks = c.Spawner.pre_spawn_hook.gaia_lab_usage_hooks
    assert hooks.process.store.path == tmp_path / "usage.sqlite"  # $GAIA_LAB_USAGE_DB (set by conftest)
    assert c.Spawner.post_stop_hook.gaia_lab_usage_hooks is hooks
    # traitlets deep-copies config values into every spawner: the hook must survive it as itself.
    assert copy.deepcopy(c.Spawner.pre_spawn_hook) is c.Spawner.pre_spawn_hook
    exec_file(HUB_FILE, {"c": c})  # a second load installs no second recorder around the first
    assert c.Spawner.pre_spawn_hook.gaia_lab_usage_hooks.before is None


def test_switched_off(hub_config) -> None:
    hub_config("default")  # writes the rendered settings where $GAIA_LAB_HUB_SETTINGS points
    settings_file = Path(os.environ["GAIA_LAB_HUB_SETTINGS"])
    settings = json.loads(settings_file.read_text())
    settings["usage"]["enabled"] = False
    settings_file.write_text(json.dumps(settings))
    c = z2jh_hub_config(load_values("default"))
    exec_file(HUB_FILE, {"c": c})
    assert "pre_spawn_hook" not in c.Spawner and "post_stop_hook" not in c.Spawner


def test_kubespawner_session_is_recorded_with_its_profile(hub_config, kubeconfig, tmp_path: Path) -> None:
    from kubespawner import KubeSpawner

    c = z2jh_hub_config(load_values("default"))
    operator_calls: list[str] = []
    c.Spawner.pre_spawn_hook = lambda spawner: operator_calls.append(spawner.user_options["profile"])
    hub_config("default")  # the settings file and $GAIA_LAB_USAGE_DB
    exec_file(HUB_FILE, {"c": c})  # an operator's hook set before ours is kept and called first

    async def session() -> None:
        spawner = KubeSpawner(_mock=True, config=copy.deepcopy(c))
        spawner.namespace = NAMESPACE
        spawner.log.setLevel(logging.WARNING)
        spawner.user_options = {"profile": "power-user"}
        await spawner.pre_spawn_hook(spawner)  # JupyterHub runs it before start(), which loads the profile
        await spawner.load_user_options()
        await spawner.post_stop_hook(spawner)

    asyncio.run(session())
    assert operator_calls == ["power-user"]
    (row,) = UsageStore(tmp_path / "usage.sqlite").snapshot().intervals
    assert row.kind == "session" and row.stopped is not None and row.stopped >= row.started
    profile = next(
        p for p in load_values("default")["jupyterhub"]["singleuser"]["profileList"] if p["slug"] == "power-user"
    )
    override = profile["kubespawner_override"]
    assert row.cores == override["cpu_limit"]
    assert override["mem_limit"] == "32G"
    assert row.memory_bytes == 32 * 2**30  # JupyterHub's byte specifications are binary: G is GiB
