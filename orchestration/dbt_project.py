"""The dbt project handle and its manifest preparation, importable before any manifest exists."""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration import settings


def ensure_dbt_on_path() -> None:
    """Put this interpreter's bin directory on PATH, so dbt is found in an unactivated virtualenv."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def dbt_target() -> str:
    return os.environ.get("Q2C_DBT_TARGET", "duckdb")


@cache
def _project(target: str, target_path: str) -> DbtProject:
    project = DbtProject(project_dir=settings.DBT_PROJECT_DIR, profiles_dir=settings.DBT_PROJECT_DIR,
                         target=target, target_path=target_path)
    project.prepare_if_dev()
    return project


def dbt_project() -> DbtProject:
    """The project for the current settings (one per dbt target and target directory)."""
    return _project(dbt_target(), str(settings.dbt_target_path()))


def prepare_manifest() -> None:
    """Parse the dbt project so definitions can load (what ``dagster dev`` does by itself)."""
    os.environ["Q2C_WAREHOUSE_PATH"] = str(settings.warehouse_path())  # the profile reads it
    ensure_dbt_on_path()
    project = dbt_project()
    project.preparer.prepare(project)
