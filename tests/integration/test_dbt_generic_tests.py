"""Our model-level generic tests (dbt_project/tests/generic): one node checks many columns.

q2c_not_null, q2c_accepted_values and q2c_relationships replace hundreds of per-column nodes
(each a round trip to the warehouse) with one per model and kind. These tests break a copy of a
built warehouse on purpose and read what each test returns: every broken column is named with
its count, and nothing else is reported.
"""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from tests.fixtures.dbt_build import AS_OF, Built, run_dbt

PAYMENT_TESTS = ("not_null_payment", "accepted_values_payment", "relationships_payment", "unique_payment_payment_id")


@pytest.fixture()
def payment_copy(world_builds, tmp_path) -> Built:
    """Seed 42's built warehouse, copied (tests here damage it)."""
    built = world_builds.get(42, 1.0)
    warehouse = tmp_path / built.warehouse.name  # DuckDB names the catalog after the file
    shutil.copy(built.warehouse, warehouse)
    return Built(built.world, warehouse, tmp_path)


def _test_payment(built: Built, expect_exit: int) -> dict[str, dict]:
    """`dbt test` of canonical.payment's key, not-null, accepted-values and relationship tests with
    failures stored; each test's status and the rows it returned."""
    proc = run_dbt(built.warehouse, built.work_dir, "test", "--select", *PAYMENT_TESTS, "--store-failures",
                   as_of=AS_OF, check=False)
    # Failing tests fail the command: that is how Dagster sees a failed check.
    assert proc.returncode == expect_exit, proc.stdout[-3000:]
    results = json.loads((built.work_dir / "target" / "run_results.json").read_text())["results"]
    manifest = json.loads((built.work_dir / "target" / "manifest.json").read_text())
    out: dict[str, dict] = {}
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        for result in results:
            if result["unique_id"].startswith("operation."):  # the on-run-start hooks (dbt_project.yml)
                continue
            node = manifest["nodes"][result["unique_id"]]
            rows = []
            if result["failures"]:
                table = f'"{node["schema"]}"."{node["alias"]}"'
                rows = sorted((tuple(r) for r in con.execute(f"select * from {table}").fetchall()), key=repr)
            out[node["name"]] = {"status": result["status"], "rows": rows}
    return out


def test_each_broken_column_is_named_with_its_count_and_nothing_else(payment_copy: Built) -> None:
    intact = _test_payment(payment_copy, expect_exit=0)
    assert intact == {name: {"status": "pass", "rows": []} for name in PAYMENT_TESTS}

    with duckdb.connect(str(payment_copy.warehouse)) as con:
        ids = [r[0] for r in con.execute("select payment_id from canonical.payment order by payment_id limit 6").fetchall()]
        con.execute("update canonical.payment set currency = null where payment_id in (?, ?)", ids[0:2])
        con.execute("update canonical.payment set source_system = 'sap' where payment_id = ?", ids[2:3])
        con.execute("update canonical.payment set customer_id = 'no-such-customer' where payment_id in (?, ?, ?)",
                    ids[3:6])
    broken = _test_payment(payment_copy, expect_exit=1)
    assert broken == {
        "not_null_payment": {"status": "fail", "rows": [("currency", 2)]},
        "accepted_values_payment": {"status": "fail", "rows": [("source_system", "sap", 1)]},
        "relationships_payment": {"status": "fail", "rows": [("customer_id", 3)]},
        "unique_payment_payment_id": {"status": "pass", "rows": []},
    }
