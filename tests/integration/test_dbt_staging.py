"""The staging layer on a warehouse loaded from the sandbox by the real ingestion pipelines.

One module fixture starts the sandbox, loads every source system with ``ingestion.pipelines``
(the code the Dagster raw assets run) into a fresh DuckDB file, then runs ``dbt build`` of the
staging models with their tests, and the dbt unit tests. The tests compare staging with the raw
tables and the sandbox's records: one staging model per raw business table, every raw row kept
(deleted ones flagged, not dropped), explicit types, amounts in major units.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.fixtures.dbt_build import dbt_executable

_REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = _REPO_ROOT / "dbt_project"
AS_OF = "2026-06-30"  # the sandbox world's default clock
SYSTEMS = ("salesforce", "certinia", "stripe", "netsuite", "legacy_erp")
NOT_BUSINESS = re.compile(r"^(_dlt_|q2c_)")  # dlt's bookkeeping, our quarantine/metrics/deletions


def run_dbt(warehouse: Path, work_dir: Path, *args: str) -> str:
    """`dbt <args>` against `warehouse` (target and logs under `work_dir`); its stdout. Fails the test on error."""
    env = dict(os.environ, Q2C_WAREHOUSE_PATH=str(warehouse.resolve()), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    cmd = [dbt_executable(), *args, "--target", "duckdb",
           "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
           "--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs"),
           "--vars", f'{{as_of_date: "{AS_OF}"}}']
    proc = subprocess.run(cmd, cwd=_REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@dataclass
class Staged:
    sb: object  # sandbox.server.Sandbox (its records stay readable)
    con: duckdb.DuckDBPyConnection  # read-only, on the built warehouse
    unit_test_output: str

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def raw_tables(self) -> set[tuple[str, str]]:
        rows = self.query("select table_schema, table_name from information_schema.tables "
                          "where table_schema in ({})".format(", ".join(f"'raw_{s}'" for s in SYSTEMS)))
        return {(schema.removeprefix("raw_"), table) for schema, table in rows if not NOT_BUSINESS.match(table)}

    def staging_columns(self, model: str) -> dict[str, str]:
        rows = self.query("select column_name, data_type from information_schema.columns "
                          "where table_schema = 'staging' and table_name = ? order by ordinal_position", [model])
        return dict(rows)


@pytest.fixture(scope="module")
def staged(q2c_env: Path) -> Iterator[Staged]:
    from ingestion import pipelines
    from orchestration import sandbox_link
    from sandbox.server import Sandbox

    warehouse = Path(os.environ["Q2C_WAREHOUSE_PATH"])
    with Sandbox(q2c_env / "sandbox", seed=42, scale=1.0) as sb:
        sandbox_link.configure()  # SOURCES__* for every connector, from the sandbox's state file
        for system in SYSTEMS:
            pipelines.run(system, warehouse_path=warehouse, pipelines_dir=q2c_env / "dlt").raise_on_failed_jobs()
        run_dbt(warehouse, q2c_env, "build", "--select", "staging", "--exclude", "test_type:unit")
        unit = run_dbt(warehouse, q2c_env, "test", "--select", "test_type:unit,staging")
        with duckdb.connect(str(warehouse), read_only=True) as con:
            yield Staged(sb, con, unit)


def _model(system: str, table: str) -> str:
    return f"stg_{system}__{table}"


# ------------------------------------------------------------------------------------- coverage
def test_every_raw_business_table_has_one_staging_model(staged):
    from ingestion.pipelines import SOURCES
    from orchestration.ingestion import _PLACEHOLDER_ARGS

    raw = staged.raw_tables()
    declared = {(system, name) for system, source in SOURCES.items()
                for name in source(**_PLACEHOLDER_ARGS[system]).resources}
    assert raw == declared  # every resource of every source lands as a table, even an empty one
    staging = {name for (name,) in staged.query(
        "select table_name from information_schema.tables where table_schema = 'staging' and table_name like 'stg_%'")}
    assert staging == {_model(system, table) for system, table in raw}


def test_row_counts_equal_the_raw_tables(staged):
    for system, table in sorted(staged.raw_tables()):
        (raw,), = staged.query(f"select count(*) from raw_{system}.{table}")
        (stg,), = staged.query(f"select count(*) from staging.{_model(system, table)}")
        assert stg == raw, f"{_model(system, table)}: {stg} rows, raw has {raw}"


def test_deleted_records_are_flagged_not_dropped(staged):
    """Salesforce soft deletes (queryAll) stay in staging with is_deleted, as many as the sandbox has."""
    from ingestion.salesforce import table_name
    from ingestion.salesforce.settings import CRM_OBJECTS, PSA_OBJECTS

    flagged_total = 0
    for system, objects in (("salesforce", CRM_OBJECTS), ("certinia", PSA_OBJECTS)):
        for obj in objects:
            records = staged.sb.records("salesforce", obj)
            deleted = sum(1 for r in records if r.get("IsDeleted"))
            (rows, flagged), = staged.query(
                f"select count(*), count(*) filter (where is_deleted) from staging.{_model(system, table_name(obj))}")
            assert (rows, flagged) == (len(records), deleted), obj
            flagged_total += flagged
    assert flagged_total > 0  # the world discards alternative quotes and duplicate opportunities
    # Voided Stripe invoices are a status, not a deletion.
    (void_kept,), = staged.query("select count(*) from staging.stg_stripe__invoices where status = 'void' and not is_deleted")
    assert void_kept == sum(1 for i in staged.sb.records("stripe", "invoices") if i["status"] == "void")


# ------------------------------------------------------------------------------------------ types
def test_columns_have_explicit_types(staged):
    for system, table in sorted(staged.raw_tables()):
        model = _model(system, table)
        cols = staged.staging_columns(model)
        assert cols.get("source_system") == "VARCHAR" and cols.get("is_deleted") == "BOOLEAN", model
        flags = [name for name in cols if name.startswith("is_")]
        nulls = staged.query(f"select {', '.join(f'count(*) - count({f})' for f in flags)} from staging.{model}")[0]
        assert dict(zip(flags, nulls, strict=True)) == dict.fromkeys(flags, 0), f"{model}: flags with nulls"
        for name, data_type in cols.items():
            where = f"{model}.{name}"
            if name.startswith("is_"):
                assert data_type == "BOOLEAN", where
            elif name.endswith("_id"):
                assert data_type == "VARCHAR", where
            elif name.endswith("_at") or name == "system_modstamp":
                assert data_type == "TIMESTAMP", where  # naive UTC
            elif name.endswith("_date"):
                assert data_type == "DATE", where
            elif "amount" in name or name in ("balance", "unit_price", "list_price", "net_price", "net_total",
                                               "total_price", "bill_rate", "cost_rate", "suggested_bill_rate"):
                assert data_type == "DECIMAL(18,2)", where
        (systems,), = staged.query(f"select string_agg(distinct source_system, ',') from staging.{model}")
        assert systems in (system, None), model  # None: an empty table (Stripe invoice items)


def test_amounts_are_major_units(staged):
    # Stripe: minor units / 100 (the world's currencies all have two decimals; JPY is in the unit test).
    raw = {i["id"]: i for i in staged.sb.records("stripe", "invoices")}
    for invoice_id, total, paid, currency in staged.query(
            "select stripe_invoice_id, total_amount, amount_paid, currency from staging.stg_stripe__invoices"):
        assert total == Decimal(raw[invoice_id]["total"]) / 100, invoice_id
        assert paid == Decimal(raw[invoice_id]["amount_paid"]) / 100, invoice_id
        assert currency == raw[invoice_id]["currency"].upper()
    # Legacy ERP: integer cents / 100, YYYYMMDD text -> dates.
    headers = {h["INV_NO"]: h for h in staged.sb.world.legacy["AR_INVOICE_HDR"]}
    rows = staged.query("select legacy_invoice_id, gross_amount, open_amount, invoice_date, status "
                        "from staging.stg_legacy_erp__ar_invoice_hdr")
    assert len(rows) == len(headers)
    for inv_no, gross, open_amount, invoice_date, status in rows:
        h = headers[inv_no]
        assert gross == Decimal(h["GROSS_AMT_CENTS"]) / 100 and open_amount == Decimal(h["OPEN_AMT_CENTS"]) / 100
        assert invoice_date.strftime("%Y%m%d") == h["INV_DT"]
        assert status == {"O": "Open", "P": "Paid"}[h["STATUS"]]


def test_netsuite_flags_and_ids(staged):
    lines = {str(r["id"]): r for r in staged.sb.records("netsuite", "transactionline")}
    for line_id, transaction_id, is_main, is_tax in staged.query(
            "select transaction_line_id, transaction_id, is_main_line, is_tax_line "
            "from staging.stg_netsuite__transactionline"):
        r = lines[line_id]
        assert transaction_id == str(r["transaction"])
        assert (is_main, is_tax) == (r["mainline"] == "T", r["taxline"] == "T"), line_id


# --------------------------------------------------------------------------------- unit tests
def test_stripe_invoice_unit_test_reads_both_api_shapes(staged):
    out = staged.unit_test_output
    assert re.search(r"PASS\s+stg_stripe__invoices::stg_stripe__invoices_reads_both_api_shapes", out), out[-3000:]
