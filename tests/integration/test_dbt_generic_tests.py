"""Our model-level generic tests (dbt_project/tests/generic): one node checks many columns.

q2c_not_null, q2c_accepted_values and q2c_relationships replace hundreds of per-column nodes
(each a round trip to the warehouse) with one per model and kind. These tests break a copy of a
built warehouse on purpose and read what each test returns: every broken column is named with
its count, and nothing else is reported; and the scoped tests of the big staging views read only
the rows of loads newer than those they last passed on.
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
    return _run_tests(built, PAYMENT_TESTS, expect_exit)


def _run_tests(built: Built, names: tuple[str, ...], expect_exit: int, *extra: str) -> dict[str, dict]:
    """`dbt build` of the data tests ``names`` only, failures stored: each test's status and rows."""
    proc = run_dbt(built.warehouse, built.work_dir, "build", "--select", *names, "--store-failures", *extra,
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


# ------------------------------------------------------------------ tests scoped to new loads

SPLIT_TESTS = ("not_null_stg_certinia__pse_timecard_c", "accepted_values_stg_certinia__pse_timecard_c",
               "relationships_stg_certinia__pse_timecard_c", "unique_stg_certinia__pse_timecard_c_timecard_id")
SPLIT_KINDS = ("q2c_accepted_values", "q2c_not_null", "q2c_relationships", "q2c_unique")


def _watermarks(built: Built) -> dict[str, str]:
    return dict(built.query("select test_kind, tested_through from q2c_meta.test_watermark "
                            "where model_name = 'stg_certinia__pse_timecard_c'"))


def _dlt_load(con: duckdb.DuckDBPyConnection, load_id: str) -> None:
    """Record ``load_id`` as a complete Certinia load, as dlt does when a load commits."""
    con.execute("insert into raw_certinia._dlt_loads (load_id, schema_name, status, inserted_at, schema_version_hash) "
                "select ?, schema_name, 0, now(), schema_version_hash from raw_certinia._dlt_loads limit 1", [load_id])


def test_scheduled_builds_test_only_the_rows_of_new_loads(payment_copy: Built) -> None:
    """The tests of the splits read the rows of loads newer than those they last passed on; their
    watermark moves only when they pass, and only to the loads complete when the build started. A
    full refresh reads every row."""
    built = payment_copy
    with duckdb.connect(str(built.warehouse)) as con:
        (complete,) = con.execute("select max(load_id) from raw_certinia._dlt_loads where status = 0").fetchone()
        ids = [r[0] for r in con.execute("select id from raw_certinia.pse_timecard_c order by id limit 5").fetchall()]
    # The full build of the world tested every row and set each kind's watermark.
    assert _watermarks(built) == {kind: complete for kind in SPLIT_KINDS}

    new_load = f"{float(complete) + 60:.7f}"      # complete: its rows are tested, then passed on
    in_progress = f"{float(complete) + 120:.7f}"  # no _dlt_loads record yet: a load still running
    with duckdb.connect(str(built.warehouse)) as con:
        con.execute("create table scratch_saved as select * from raw_certinia.pse_timecard_c where id in (?, ?, ?, ?, ?)",
                    ids)
        # An old row broken in place: its load was passed on, so a scheduled build does not read it.
        con.execute("update raw_certinia.pse_timecard_c set pse__project__c = 'no-such-project' where id = ?", ids[:1])
        # The rows of a new load: a null project, an unknown resource, a repeated Id.
        con.execute("update raw_certinia.pse_timecard_c set pse__project__c = null, _dlt_load_id = ? where id = ?",
                    [new_load, ids[1]])
        con.execute("update raw_certinia.pse_timecard_c set pse__resource__c = 'no-such-resource', _dlt_load_id = ? "
                    "where id = ?", [new_load, ids[2]])
        con.execute("insert into raw_certinia.pse_timecard_c select * replace (cast(? as varchar) as _dlt_load_id) "
                    "from raw_certinia.pse_timecard_c where id = ?", [new_load, ids[3]])
        # A row of the load in progress, with a status the picklist does not have.
        con.execute("update raw_certinia.pse_timecard_c set pse__status__c = 'Bogus', _dlt_load_id = ? where id = ?",
                    [in_progress, ids[4]])
        _dlt_load(con, new_load)

    scheduled = _run_tests(built, SPLIT_TESTS, 1)
    assert scheduled == {
        "not_null_stg_certinia__pse_timecard_c": {"status": "fail", "rows": [("project_id", 1)]},
        "accepted_values_stg_certinia__pse_timecard_c": {"status": "warn", "rows": [("status", "Bogus", 1)]},
        # the old row's unknown project is not read; the new row's null project is not an orphan
        "relationships_stg_certinia__pse_timecard_c": {"status": "fail", "rows": [("resource_id", 1)]},
        "unique_stg_certinia__pse_timecard_c_timecard_id": {"status": "fail", "rows": [(ids[3], 2)]},
    }
    assert _watermarks(built) == {kind: complete for kind in SPLIT_KINDS}, "a test that did not pass moved on"

    # The nightly reconciliation's full refresh reads every row, the old one too.
    nightly = _run_tests(built, SPLIT_TESTS, 1, "--full-refresh")
    assert nightly["relationships_stg_certinia__pse_timecard_c"] == {
        "status": "fail", "rows": [("project_id", 1), ("resource_id", 1)]}

    # Mended at the source (the rows rewritten by the new load): every test passes, and the
    # watermark moves to the newest load complete when the build started, not the one in progress.
    with duckdb.connect(str(built.warehouse)) as con:
        con.execute("delete from raw_certinia.pse_timecard_c where id in (?, ?, ?, ?, ?)", ids)
        con.execute("insert into raw_certinia.pse_timecard_c select * replace (cast(? as varchar) as _dlt_load_id) "
                    "from scratch_saved where id <> ?", [new_load, ids[0]])
        con.execute("insert into raw_certinia.pse_timecard_c select * from scratch_saved where id = ?", ids[:1])
        con.execute("drop table scratch_saved")
    mended = _run_tests(built, SPLIT_TESTS, 0)
    assert mended == {name: {"status": "pass", "rows": []} for name in SPLIT_TESTS}
    assert _watermarks(built) == {kind: new_load for kind in SPLIT_KINDS}
