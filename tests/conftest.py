"""Shared fixtures: an isolated q2c environment (warehouse, sandbox state, Dagster home) per test module."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
RAM_DISK = Path("/dev/shm")
RAM_DISK_MIN_FREE = 8 * 2 ** 30  # a whole run writes about 2 GB of warehouses, logs and Dagster storage
_RAM_BASETEMP = pytest.StashKey[str]()  # the RAM-disk basetemp this process made (the xdist controller's)


def pytest_configure(config: pytest.Config) -> None:
    """Temporary directories on the RAM disk when there is one with room (unless --basetemp is given).

    The tests write DuckDB files, dlt packages and Dagster's SQLite storage, which sync to disk on
    every commit: on tmpfs a whole pipeline run is about 8 % faster. Set Q2C_TEST_TMP=disk to keep
    them on disk, Q2C_KEEP_TEST_TMP=1 to keep them after the run.
    """
    if config.option.basetemp or os.environ.get("Q2C_TEST_TMP") == "disk" or not RAM_DISK.is_dir():
        return
    try:
        stat = os.statvfs(RAM_DISK)
    except OSError:
        return
    if stat.f_bavail * stat.f_frsize < RAM_DISK_MIN_FREE or not os.access(RAM_DISK, os.W_OK):
        return
    config.option.basetemp = tempfile.mkdtemp(prefix="q2c-pytest-", dir=RAM_DISK)
    config.stash[_RAM_BASETEMP] = config.option.basetemp


def pytest_unconfigure(config: pytest.Config) -> None:
    path = config.stash.get(_RAM_BASETEMP, None)
    if path and not os.environ.get("Q2C_KEEP_TEST_TMP"):
        shutil.rmtree(path, ignore_errors=True)  # RAM, not disk: never left behind


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
