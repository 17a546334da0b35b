"""Shared fixtures: an isolated q2c environment (warehouse, sandbox state, Dagster home) per test module."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def q2c_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point every q2c setting at a fresh temporary directory; restore the environment after."""
    base = tmp_path_factory.mktemp("q2c")
    saved = dict(os.environ)
    dagster_home = base / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    os.environ.update({
        "Q2C_WAREHOUSE_PATH": str(base / "warehouse" / "q2c.duckdb"),
        "Q2C_SANDBOX_DIR": str(base / "sandbox"),
        "Q2C_TARGET": "sandbox",
        "DAGSTER_HOME": str(dagster_home),
        "GX_ANALYTICS_ENABLED": "false",
    })
    os.environ.pop("Q2C_AS_OF_DATE", None)
    (base / "warehouse").mkdir()
    try:
        yield base
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def world_builds(tmp_path_factory: pytest.TempPathFactory):
    """Full dbt builds of sandbox worlds, one per (seed, scale) for the whole session (tests/fixtures/dbt_build.py)."""
    from tests.fixtures.dbt_build import WorldBuilds

    return WorldBuilds(tmp_path_factory.mktemp("dbt_worlds"))
