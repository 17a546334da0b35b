"""The benchmark's hand-written SQL (bench/hand_marts.sql) computes exactly the dbt marts.

For two worlds (``world_builds``: raw tables and a full `dbt build` at as-of 2026-06-30, shared
with the other dbt tests), the script runs on a copy of the warehouse, from the raw tables only,
and each of its tables must equal the dbt mart: no row of one is missing from the other
(EXCEPT ALL both ways, numeric columns compared exactly).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.hand_marts import TABLES, compare, run_script
from tests.fixtures.dbt_build import AS_OF

WORLDS = [(42, 1.0), (7, 4.0)]


@pytest.fixture(scope="module", params=WORLDS, ids=lambda p: f"seed{p[0]}-scale{p[1]:g}")
def hand_run(request, world_builds, tmp_path_factory) -> tuple[Path, dict]:
    """A copy of the world's warehouse (same file name: DuckDB names the catalog after it) with
    the script run on it."""
    seed, scale = request.param
    built = world_builds.get(seed, scale)
    warehouse = tmp_path_factory.mktemp(f"hand_seed{seed}_scale{scale:g}") / "warehouse.duckdb"
    shutil.copyfile(built.warehouse, warehouse)
    return warehouse, run_script(warehouse, AS_OF)


def test_script_reports_time_and_rows(hand_run):
    _, result = hand_run
    assert result["seconds"] > 0
    assert set(result["rows"]) == set(TABLES)


@pytest.mark.parametrize("table", TABLES)
def test_hand_table_equals_dbt_mart(hand_run, table):
    warehouse, result = hand_run
    assert result["rows"][table] > 0, f"hand.{table} is empty"
    differences = compare(warehouse, (table,))[table]
    assert differences == [], (
        f"hand.{table} differs from marts.{table} ({len(differences)} rows); first: {differences[:5]}"
    )
