"""Publishing the BI-facing schemas to the read-only serving file (orchestration/serving.py), on small files."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from orchestration import serving, settings
from tests.conftest import REPO_ROOT


def _warehouse(path: Path, invoices: int = 3) -> Path:
    """A small warehouse shaped like dbt's: marts/controls tables, a view naming its catalog, raw data."""
    with duckdb.connect(str(path)) as con:
        con.execute("""
            create schema marts; create schema controls; create schema raw_stripe; create schema staging;
            create table marts.invoice_payment_status (invoice_id varchar not null, total_amount decimal(18,2),
                due_date date, paid_at timestamptz, is_paid boolean);
            comment on table marts.invoice_payment_status is 'One row per invoice';
            comment on column marts.invoice_payment_status.total_amount is 'In the invoice currency';
            create table controls.control_exceptions (rule_id varchar, object_id varchar, age_days integer);
            insert into controls.control_exceptions values ('CA-001', 'inv-1', 12);
            create table raw_stripe.invoices (id varchar);
            create view staging.stg as select 1 as x;""")
        con.execute("insert into marts.invoice_payment_status select 'inv-' || i, i * 10.25, date '2026-06-30', "
                    "timestamptz '2026-06-30 12:00:00+00', i % 2 = 0 from range(1, ? + 1) t(i)", [invoices])
        # dbt names relations with their catalog (the file's stem): the copy must resolve it.
        catalog = con.execute("select current_database()").fetchone()[0]
        con.execute(f'create view marts.open_invoices as select invoice_id, total_amount '
                    f'from "{catalog}"."marts"."invoice_payment_status" where not is_paid')
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_publish_copies_served_schemas_as_tables_with_types_comments_and_meta(tmp_path):
    warehouse = _warehouse(tmp_path / "wh.duckdb")
    target = tmp_path / "bi" / "serving.duckdb"
    published = serving.publish(warehouse, target, run_id="run-1")

    assert published.path == target and target.is_file()
    assert published.tables == {"controls.control_exceptions": 1, "marts.invoice_payment_status": 3,
                                "marts.open_invoices": 2}
    assert not (tmp_path / "bi" / "serving.duckdb.tmp").exists()
    warehouse.unlink()  # the copy stands alone: views became tables, nothing refers to the warehouse
    with duckdb.connect(str(target), read_only=True) as con:
        kinds = dict(con.execute("select schema_name || '.' || table_name, 'table' from duckdb_tables() "
                                 "union all select schema_name || '.' || view_name, 'view' from duckdb_views() "
                                 "where not internal").fetchall())
        assert kinds == {"controls.control_exceptions": "table", "marts.invoice_payment_status": "table",
                         "marts.open_invoices": "table", "main.serving_meta": "table"}
        types = dict(con.execute("select column_name, data_type from duckdb_columns() "
                                 "where table_name = 'invoice_payment_status'").fetchall())
        assert types == {"invoice_id": "VARCHAR", "total_amount": "DECIMAL(18,2)", "due_date": "DATE",
                         "paid_at": "TIMESTAMP WITH TIME ZONE", "is_paid": "BOOLEAN"}
        assert con.execute("select sum(total_amount) from marts.open_invoices").fetchone()[0] == Decimal("41.00")
        assert con.execute("select comment from duckdb_tables() where table_name = 'invoice_payment_status'"
                           ).fetchone()[0] == "One row per invoice"
        assert con.execute("select comment from duckdb_columns() where table_name = 'invoice_payment_status' "
                           "and column_name = 'total_amount'").fetchone()[0] == "In the invoice currency"
        meta = con.execute("select run_id, table_schema, table_name, source_kind, row_count, published_at "
                           "from serving_meta order by 2, 3").fetchall()
        assert [m[:5] for m in meta] == [("run-1", "controls", "control_exceptions", "table", 1),
                                         ("run-1", "marts", "invoice_payment_status", "table", 3),
                                         ("run-1", "marts", "open_invoices", "view", 2)]
        assert {m[5] for m in meta} == {published.published_at}
        # Readable by DuckDB clients older than the pipeline's (BI drivers lag): the v1.0.0 format.
        tags = con.execute("select tags from duckdb_databases() where database_name = current_database()"
                           ).fetchone()[0]
        assert tags["storage_version"].startswith("v1.0.0")


def test_a_failing_publish_leaves_the_old_file_as_it_was(tmp_path):
    warehouse = _warehouse(tmp_path / "wh.duckdb")
    target = tmp_path / "serving.duckdb"
    serving.publish(warehouse, target, run_id="good")
    before = _digest(target)

    with duckdb.connect(str(warehouse)) as con:  # a view whose table is gone: its copy fails mid-publish
        con.execute("create table marts.gone (x int); create view marts.zz_broken as select * from marts.gone; "
                    "drop table marts.gone")
    with pytest.raises(duckdb.Error):
        serving.publish(warehouse, target, run_id="bad")
    assert _digest(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["serving.duckdb", "wh.duckdb"]  # no tmp left behind

    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(RuntimeError, match="no marts"):  # an empty warehouse never replaces a good copy
        serving.publish(empty, target)
    with pytest.raises(FileNotFoundError):
        serving.publish(tmp_path / "missing.duckdb", target)
    assert _digest(target) == before
    with duckdb.connect(str(target), read_only=True) as con:
        assert con.execute("select distinct run_id from serving_meta").fetchall() == [("good",)]


def test_an_open_reader_keeps_its_file_and_a_new_connection_sees_the_new_one(tmp_path):
    warehouse = _warehouse(tmp_path / "wh.duckdb", invoices=3)
    target = tmp_path / "serving.duckdb"
    serving.publish(warehouse, target, run_id="first")
    reader = duckdb.connect(str(target), read_only=True)
    try:
        with duckdb.connect(str(warehouse)) as con:
            con.execute("insert into marts.invoice_payment_status (invoice_id) select 'new-' || i from range(5) t(i)")
        serving.publish(warehouse, target, run_id="second")  # the reader does not stop the swap
        assert reader.execute("select count(*) from marts.invoice_payment_status").fetchone() == (3,)
        assert reader.execute("select distinct run_id from serving_meta").fetchall() == [("first",)]
        # Another process (a BI tool) connecting now reads the new file. (In this process, DuckDB
        # hands back the instance still open on the old file: see docs/bi.md.)
        code = ("import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
                "print(c.execute('select count(*) from marts.invoice_payment_status').fetchone()[0], "
                "c.execute('select distinct run_id from serving_meta').fetchone()[0])")
        out = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True, check=True)
        assert out.stdout.split() == ["8", "second"]
    finally:
        reader.close()
    with duckdb.connect(str(target), read_only=True) as con:  # all closed: a reconnect sees the new file
        assert con.execute("select distinct run_id from serving_meta").fetchall() == [("second",)]


def test_serving_path_defaults_beside_the_warehouse_and_is_overridable(monkeypatch, tmp_path):
    monkeypatch.setenv("Q2C_WAREHOUSE_PATH", str(tmp_path / "w" / "q2c.duckdb"))
    monkeypatch.delenv("Q2C_SERVING_PATH", raising=False)
    assert settings.serving_path() == tmp_path / "w" / "serving.duckdb"
    monkeypatch.setenv("Q2C_SERVING_PATH", "bi/serving.duckdb")
    assert settings.serving_path() == REPO_ROOT / "bi" / "serving.duckdb"
    monkeypatch.setenv("Q2C_SERVING_PATH", str(tmp_path / "x.duckdb"))
    assert settings.serving_path() == tmp_path / "x.duckdb"


def _graph(fail_build: bool = False, fail_check: bool = False):
    """A stand-in for the dbt assets (a mart and a staging model) with a blocking check, and the serving asset."""
    from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, AssetSpec, asset_check, multi_asset

    mart, staging = AssetKey(["marts", "invoice_payment_status"]), AssetKey(["staging", "stg_x"])

    @multi_asset(specs=[AssetSpec(mart, group_name="marts"), AssetSpec(staging, group_name="staging")],
                 name="fake_dbt")
    def fake_dbt():
        if fail_build:
            raise RuntimeError("dbt build failed")
        from dagster import MaterializeResult

        yield MaterializeResult(asset_key=mart)
        yield MaterializeResult(asset_key=staging)

    @asset_check(asset=mart, blocking=True)
    def gx(_context):
        return AssetCheckResult(passed=not fail_check, severity=AssetCheckSeverity.ERROR)

    return [fake_dbt, serving.serving_asset(fake_dbt)], [gx]


@pytest.mark.parametrize("fail_build, fail_check", [(False, False), (True, False), (False, True)])
def test_the_serving_asset_publishes_only_after_a_good_build(fail_build, fail_check, tmp_path, monkeypatch):
    from dagster import AssetKey, materialize

    monkeypatch.setenv("Q2C_WAREHOUSE_PATH", str(_warehouse(tmp_path / "q2c.duckdb")))
    monkeypatch.delenv("Q2C_SERVING_PATH", raising=False)
    monkeypatch.delenv("Q2C_DBT_TARGET", raising=False)
    monkeypatch.delenv("Q2C_DESTINATION", raising=False)
    assets, checks = _graph(fail_build, fail_check)
    assert set(assets[1].dependency_keys) == {AssetKey(["marts", "invoice_payment_status"])}  # served layers only
    assert assets[1].group_names_by_key[serving.SERVING_KEY] == "serving"
    result = materialize([*assets, *checks], raise_on_error=False)
    published = [e for e in result.get_asset_materialization_events()
                 if e.asset_key == serving.SERVING_KEY]
    target = tmp_path / "serving.duckdb"
    if fail_build or fail_check:  # the failed build or check keeps the step from starting at all
        assert "serving__bi_marts" not in {e.step_key for e in result.all_events}
        assert not published and not target.exists()
    else:
        assert result.success and len(published) == 1 and target.is_file()
        meta = published[0].step_materialization_data.materialization.metadata
        assert meta["tables"].value == 3 and meta["path"].value == str(target)
