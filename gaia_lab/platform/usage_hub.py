"""JupyterHub hooks recording user servers in the usage database (gaia_lab.platform.usage_store).

``install(c, path)`` in a hub config (the generated jupyterhub_config.py of `gaia-lab up`, or the chart's
gaia_lab_hub.py when the hub image has gaia_lab) sets ``Spawner.pre_spawn_hook`` and ``Spawner.post_stop_hook``,
calling any hook already configured first (pre-spawn) or last (post-stop), so other hooks keep working.

- pre-spawn: a ``session`` row opens, with the user's JupyterHub groups and the spawner's cores and memory (its
  limits, else its guarantees). The server holds its resources from then on (a pod reserves them from creation).
- once the server is ready, its cores and memory are read again: KubeSpawner applies a profile's limits in
  ``start``, after the pre-spawn hook.
- post-stop: JupyterHub calls it for every stop, including a failed spawn, a server found dead by its poll, and one
  found dead when the hub starts again (then the row closes at the hub's last heartbeat before it went down).

Standard library and JupyterHub only.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from gaia_lab.platform.usage_recorder import RecordingProcess, log, recording_process

SOURCE = "hub"
READY_POLL_SECONDS = 1.0
HOOKS_ATTRIBUTE = "gaia_lab_usage_hooks"


def server_key(spawner: Any) -> str:
    return f"{spawner.user.name}/{spawner.name or ''}"


def resources(spawner: Any) -> tuple[float | None, int | None]:
    """Cores and bytes the server may use: its limits, else what it is guaranteed; None when neither is set."""
    cores = getattr(spawner, "cpu_limit", None) or getattr(spawner, "cpu_guarantee", None)
    memory = getattr(spawner, "mem_limit", None) or getattr(spawner, "mem_guarantee", None)
    return (float(cores) if cores else None), (int(memory) if memory else None)


def group_names(spawner: Any) -> list[str]:
    return sorted(str(group.name) for group in getattr(spawner.user, "groups", []) or [])


async def _call(hook: Any, spawner: Any) -> None:
    result = hook(spawner)
    if inspect.isawaitable(result):
        await result


class HubHooks:
    def __init__(self, process: RecordingProcess, before: Any = None, after: Any = None) -> None:
        self.process = process
        self.before = before  # the pre-spawn hook configured before ours
        self.after = after  # the post-stop hook configured before ours
        self._watchers: set[asyncio.Task[None]] = set()

    async def pre_spawn(self, spawner: Any) -> None:
        if self.before is not None:
            await _call(self.before, spawner)  # its errors are the spawn's: it was configured to decide
        try:
            cores, memory = resources(spawner)
            key = server_key(spawner)
            await asyncio.to_thread(
                self.process.safely,
                "recording a server start",
                self.process.store.start,
                "session",
                SOURCE,
                key,
                spawner.user.name,
                group_names(spawner),
                cores=cores,
                memory_bytes=memory,
            )
            watcher = asyncio.ensure_future(self._when_ready(spawner, key))
            self._watchers.add(watcher)
            watcher.add_done_callback(self._watchers.discard)
        except Exception as exc:  # never fail a spawn for accounting
            spawner.log.warning("usage accounting: server start of %s not recorded: %s", spawner._log_name, exc)

    def _stopped(self, spawner: Any, cores: float | None, memory: int | None) -> None:
        # The spawner still has the resources it ran with (a profile's, if the ready watcher missed them).
        key = server_key(spawner)
        self.process.safely(
            "recording a server's resources",
            self.process.store.update,
            "session",
            key,
            cores=cores,
            memory_bytes=memory,
        )
        self.process.safely(
            "recording a server stop", self.process.store.stop, "session", key, recorder=self.process.recorder
        )

    async def _when_ready(self, spawner: Any, key: str) -> None:
        deadline = asyncio.get_running_loop().time() + float(getattr(spawner, "start_timeout", 120)) + 60
        while asyncio.get_running_loop().time() < deadline:
            if spawner.ready:
                cores, memory = resources(spawner)
                await asyncio.to_thread(
                    self.process.safely,
                    "recording a server's resources",
                    self.process.store.update,
                    "session",
                    key,
                    cores=cores,
                    memory_bytes=memory,
                )
                return
            if not spawner.pending:
                return  # the spawn failed: post-stop closes the row
            await asyncio.sleep(READY_POLL_SECONDS)

    async def post_stop(self, spawner: Any) -> None:
        try:
            await asyncio.to_thread(self._stopped, spawner, *resources(spawner))
        except Exception as exc:
            spawner.log.warning("usage accounting: server stop of %s not recorded: %s", spawner._log_name, exc)
        if self.after is not None:
            await _call(self.after, spawner)


def install(c: Any, path: str) -> HubHooks | None:
    """Record every user server of the hub configured by ``c`` in the usage database at ``path``. A database that
    cannot be opened is logged and leaves the hub as it was (None): accounting never keeps the hub from starting."""
    try:
        process = recording_process(path, SOURCE)
    except Exception as exc:
        log.warning("usage accounting disabled: cannot open %s (%s: %s)", path, type(exc).__name__, exc)
        return None
    spawner = c.Spawner
    before: Any = spawner.pre_spawn_hook if "pre_spawn_hook" in spawner else None
    after: Any = spawner.post_stop_hook if "post_stop_hook" in spawner else None
    # Loading the same config twice (the chart's snippet may be) must not record every server twice.
    if isinstance(getattr(before, HOOKS_ATTRIBUTE, None), HubHooks):
        before = getattr(before, HOOKS_ATTRIBUTE).before
    if isinstance(getattr(after, HOOKS_ATTRIBUTE, None), HubHooks):
        after = getattr(after, HOOKS_ATTRIBUTE).after
    hooks = HubHooks(process, before, after)

    # Plain functions, not bound methods: traitlets deep-copies config values into every spawner, and a deep copy
    # of a bound method copies its object (here a thread and a lock); a function is copied as itself.
    async def pre_spawn_hook(spawner: Any) -> None:
        await hooks.pre_spawn(spawner)

    async def post_stop_hook(spawner: Any) -> None:
        await hooks.post_stop(spawner)

    for function in (pre_spawn_hook, post_stop_hook):
        setattr(function, HOOKS_ATTRIBUTE, hooks)
    spawner.pre_spawn_hook = pre_spawn_hook
    spawner.post_stop_hook = post_stop_hook
    return hooks
