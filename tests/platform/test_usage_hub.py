"""usage_hub.install on a JupyterHub config: hooks chained with the operator's, and never in the hub's way."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from traitlets.config import Config

from gaia_lab.platform import usage_hub


def test_install_chains_existing_hooks(tmp_path: Path) -> None:
    c = Config()
    theirs: list[str] = []
    c.Spawner.pre_spawn_hook = lambda spawner: theirs.append("pre")
    c.Spawner.post_stop_hook = lambda spawner: theirs.append("post")
    hooks = usage_hub.install(c, str(tmp_path / "usage.sqlite"))
    assert hooks is not None and hooks.before is not None and hooks.after is not None
    assert c.Spawner.pre_spawn_hook is not hooks.before
    again = usage_hub.install(c, str(tmp_path / "usage.sqlite"))
    assert again is not None and again.before is hooks.before and again.after is hooks.after
    assert again.process is hooks.process  # one recorder run per process and database


def test_an_unusable_database_leaves_the_hub_as_it_was(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "file").write_text("")
    c = Config()
    with caplog.at_level(logging.WARNING, logger="gaia_lab.usage"):
        assert usage_hub.install(c, str(tmp_path / "file" / "usage.sqlite")) is None
    assert "pre_spawn_hook" not in c.Spawner
    assert "usage accounting disabled" in caplog.text
