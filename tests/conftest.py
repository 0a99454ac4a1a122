"""Fixtures shared across the suite: the demo data lake, built once per session from real package data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import gaia_lab as gl
from gaia_lab.datalake import build_lake

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo lake, built once per test session (reusing $GAIA_LAB_TEST_LAKE_CACHE when set, to run faster)."""
    cache = os.environ.get("GAIA_LAB_TEST_LAKE_CACHE")
    directory = Path(cache) if cache else tmp_path_factory.mktemp("lake")
    build_lake(directory)
    return directory


@pytest.fixture(scope="session")
def lake_catalog(lake_dir: Path) -> gl.Catalog:
    return gl.open_catalog(lake_dir / "federation.yaml")


@pytest.fixture
def lake_copy(lake_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the lake that a test may damage (delete chunks, truncate files)."""
    target = tmp_path / "lake"
    shutil.copytree(lake_dir, target, ignore=shutil.ignore_patterns("*.partial"))
    return target
