"""The dbt project handle and its manifest preparation, importable before any manifest exists."""

from __future__ import annotations

import os
from functools import cache

from dagster_dbt import DbtProject

from orchestration import settings


def dbt_target() -> str:
    return os.environ.get("Q2C_DBT_TARGET", "duckdb")


@cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=settings.DBT_PROJECT_DIR, profiles_dir=settings.DBT_PROJECT_DIR,
                         target=dbt_target())
    project.prepare_if_dev()
    return project


def prepare_manifest() -> None:
    """Parse the dbt project so definitions can load (what ``dagster dev`` does by itself)."""
    os.environ["Q2C_WAREHOUSE_PATH"] = str(settings.warehouse_path())  # the profile reads it
    project = dbt_project()
    project.preparer.prepare(project)
