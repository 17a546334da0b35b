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
def built_copy(world_builds, tmp_path) -> Built:
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


def test_each_broken_column_is_named_with_its_count_and_nothing_else(built_copy: Built) -> None:
    intact = _test_payment(built_copy, expect_exit=0)
    assert intact == {name: {"status": "pass", "rows": []} for name in PAYMENT_TESTS}

    with duckdb.connect(str(built_copy.warehouse)) as con:
        ids = [r[0] for r in con.execute("select payment_id from canonical.payment order by payment_id limit 6").fetchall()]
        con.execute("update canonical.payment set currency = null where payment_id in (?, ?)", ids[0:2])
        con.execute("update canonical.payment set source_system = 'sap' where payment_id = ?", ids[2:3])
        con.execute("update canonical.payment set customer_id = 'no-such-customer' where payment_id in (?, ?, ?)",
                    ids[3:6])
    broken = _test_payment(built_copy, expect_exit=1)
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
SPLITS = "raw_certinia.pse_timecard_c"


def _watermarks(built: Built) -> dict[str, str]:
    return dict(built.query("select test_kind, tested_through from q2c_meta.test_watermark "
                            "where model_name = 'stg_certinia__pse_timecard_c'"))


def _dlt_load(con: duckdb.DuckDBPyConnection, load_id: str) -> None:
    """Record ``load_id`` as a complete Certinia load, as dlt does when a load commits."""
    con.execute("insert into raw_certinia._dlt_loads (load_id, schema_name, status, inserted_at, schema_version_hash) "
                "select ?, schema_name, 0, now(), schema_version_hash from raw_certinia._dlt_loads limit 1", [load_id])


def _break(con: duckdb.DuckDBPyConnection, split_id: str, load_id: str | None, **fields: str | None) -> None:
    """Set ``fields`` of one raw split; with ``load_id``, as if that load had rewritten it."""
    sets = [f"{column} = ?" for column in fields] + (["_dlt_load_id = ?"] if load_id else [])
    con.execute(f"update {SPLITS} set {', '.join(sets)} where id = ?",  # noqa: S608
                [*fields.values(), *([load_id] if load_id else []), split_id])


def test_scheduled_builds_test_only_the_rows_of_new_loads(built_copy: Built) -> None:
    """The tests of the splits read the rows of loads newer than those they last passed on; their
    watermark moves only when they pass, and only to the loads complete when the build started. A
    full refresh, or a changed definition, reads every row."""
    built = built_copy
    with duckdb.connect(str(built.warehouse)) as con:
        (complete,) = con.execute("select max(load_id) from raw_certinia._dlt_loads where status = 0").fetchone()
        ids = [r[0] for r in con.execute(f"select id from {SPLITS} order by id limit 9").fetchall()]  # noqa: S608
        con.execute(f"create table scratch_saved as select * from {SPLITS} where id in ({', '.join('?' * 9)})",  # noqa: S608
                    ids)
    # The full build of the world tested every row and set each kind's watermark.
    assert _watermarks(built) == {kind: complete for kind in SPLIT_KINDS}

    new_load = f"{float(complete) + 60:.7f}"      # complete: its rows are tested, then passed on
    in_progress = f"{float(complete) + 120:.7f}"  # no _dlt_loads record yet: a load still running
    with duckdb.connect(str(built.warehouse)) as con:
        # Old rows broken in place, one for each test: their loads were passed on.
        _break(con, ids[0], None, pse__project__c="no-such-project")
        _break(con, ids[5], None, pse__project__c=None)
        _break(con, ids[6], None, pse__status__c="Bogus")
        con.execute(f"insert into {SPLITS} select * from scratch_saved where id = ?", ids[7:8])  # noqa: S608
        # The rows of a new load: a null project, an unknown resource, a repeated Id.
        _break(con, ids[1], new_load, pse__project__c=None)
        _break(con, ids[2], new_load, pse__resource__c="no-such-resource")
        con.execute(f"insert into {SPLITS} select * replace (cast(? as varchar) as _dlt_load_id) "  # noqa: S608
                    "from scratch_saved where id = ?", [new_load, ids[3]])
        # A row of the load in progress, with a status the picklist does not have.
        _break(con, ids[4], in_progress, pse__status__c="Bogus")
        _dlt_load(con, new_load)

    scheduled = _run_tests(built, SPLIT_TESTS, 1)
    assert scheduled == {  # the new loads' rows and nothing else
        "not_null_stg_certinia__pse_timecard_c": {"status": "fail", "rows": [("project_id", 1)]},
        "accepted_values_stg_certinia__pse_timecard_c": {"status": "warn", "rows": [("status", "Bogus", 1)]},
        "relationships_stg_certinia__pse_timecard_c": {"status": "fail", "rows": [("resource_id", 1)]},
        "unique_stg_certinia__pse_timecard_c_timecard_id": {"status": "fail", "rows": [(ids[3], 2)]},
    }
    assert _watermarks(built) == {kind: complete for kind in SPLIT_KINDS}, "a test that did not pass moved on"

    # The nightly reconciliation's full refresh reads every row, the old ones too.
    nightly = _run_tests(built, SPLIT_TESTS, 1, "--full-refresh")
    assert nightly == {
        "not_null_stg_certinia__pse_timecard_c": {"status": "fail", "rows": [("project_id", 2)]},
        "accepted_values_stg_certinia__pse_timecard_c": {"status": "warn", "rows": [("status", "Bogus", 2)]},
        "relationships_stg_certinia__pse_timecard_c": {"status": "fail", "rows": [("project_id", 1), ("resource_id", 1)]},
        "unique_stg_certinia__pse_timecard_c_timecard_id": {
            "status": "fail", "rows": sorted([(ids[3], 2), (ids[7], 2)], key=repr)},
    }

    # The new rows mended at the source (rewritten by the new load), the row of the load in progress
    # mended but still in progress: every test passes, and the watermark moves to the newest load
    # complete when the build started, not to the one in progress.
    with duckdb.connect(str(built.warehouse)) as con:
        con.execute(f"delete from {SPLITS} where id in (?, ?, ?, ?)", ids[1:5])  # noqa: S608
        con.execute(f"insert into {SPLITS} select * replace (cast(? as varchar) as _dlt_load_id) "  # noqa: S608
                    "from scratch_saved where id in (?, ?, ?)", [new_load, *ids[1:4]])
        con.execute(f"insert into {SPLITS} select * replace (cast(? as varchar) as _dlt_load_id) "  # noqa: S608
                    "from scratch_saved where id = ?", [in_progress, ids[4]])
    mended = _run_tests(built, SPLIT_TESTS, 0)
    assert mended == {name: {"status": "pass", "rows": []} for name in SPLIT_TESTS}
    assert _watermarks(built) == {kind: new_load for kind in SPLIT_KINDS}

    # The load in progress is still read: its row broken again is found again.
    with duckdb.connect(str(built.warehouse)) as con:
        _break(con, ids[4], None, pse__status__c="Bogus")
    again = _run_tests(built, SPLIT_TESTS[1:2], 0)
    assert again == {SPLIT_TESTS[1]: {"status": "warn", "rows": [("status", "Bogus", 1)]}}

    # A watermark holds for one definition of the model and its tests: after a change (here, the
    # recorded definition no longer matches) the next scheduled build reads every row.
    with duckdb.connect(str(built.warehouse)) as con:
        con.execute("update q2c_meta.test_watermark set definition_hash = 'before the deploy' "
                    "where model_name = 'stg_certinia__pse_timecard_c' and test_kind = 'q2c_not_null'")
        con.execute("drop table scratch_saved")
    redefined = _run_tests(built, SPLIT_TESTS[:1], 1)
    assert redefined == {SPLIT_TESTS[0]: {"status": "fail", "rows": [("project_id", 1)]}}  # the old row's
