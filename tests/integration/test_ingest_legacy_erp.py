"""The legacy ERP source against the sandbox's SQLite file, into a real DuckDB file.

The sandbox's legacy ERP changes with the clock (new invoices, receipts, headers updated as they
are paid) but never deletes and never commits late; the scenario adds those by editing the file
the way the ERP would: rows deleted, a header updated with a stamp inside the lag window, a
receipt that arrived with a stamp older than the window, a record whose values do not convert, a
new column.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from ingestion.legacy_erp import legacy_erp_source
from ingestion.legacy_erp.helpers import TABLES, format_stamp, normalize
from ingestion.pipelines import SOURCES
from sandbox import legacy_erp as sandbox_legacy
from sandbox.server import Sandbox

DATASET = "raw_legacy_erp"
LAG = timedelta(days=5)
BAD_RECEIPT = "RUK9999998"
LATE_RECEIPT = "RUK9999999"
OLD_BAD_RECEIPT = "RUK9999997"


def _expected(kind: str, value: Any) -> Any:
    """A value of the ERP's file as the warehouse should hold it."""
    if value is None or (isinstance(value, str) and kind in ("date", "timestamp") and not value.strip()):
        return None
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "date":
        return datetime.strptime(value, "%Y%m%d").date()
    if kind == "timestamp":
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    return str(value)


@dataclass
class Snapshot:
    clock: date
    tables: dict[str, dict[tuple, dict[str, Any]]]
    truth: dict[str, list[dict[str, Any]]]
    cursors: dict[str, str | None] = field(default_factory=dict)


@dataclass
class Scenario:
    sb: Sandbox
    db: Path
    file: Path
    snaps: dict[str, Snapshot] = field(default_factory=dict)
    edits: dict[str, Any] = field(default_factory=dict)

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.db), read_only=True)


def _snapshot(sb: Sandbox, db: Path, file: Path) -> Snapshot:
    tables: dict[str, dict[tuple, dict[str, Any]]] = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for spec in TABLES.values():
            cur = con.execute(f'select * from {DATASET}."{spec.name}"')
            cols = [d[0] for d in cur.description]
            rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
            tables[spec.table] = {tuple(r[k.lower()] for k in spec.key): r for r in rows}
        cursors = dict(con.execute(f"""
            select resource, arg_max(cursor_reached, finished_at) from {DATASET}.q2c_load_metrics
            group by resource""").fetchall())
    return Snapshot(sb.clock, tables, sandbox_legacy.read(file), cursors)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    base = tmp_path_factory.mktemp("ingest-legacy")
    with Sandbox(base / "sandbox", seed=42, scale=1.0) as sb:
        sc = Scenario(sb, base / "warehouse.duckdb", sb.state_dir / sandbox_legacy.FILE_NAME)

        def step(label: str, source: Any = None) -> None:
            pipeline = dlt.pipeline("q2c_legacy_erp", destination=dlt.destinations.duckdb(str(sc.db)),
                                    dataset_name=DATASET, pipelines_dir=str(base / "pipelines"))
            info = pipeline.run(source or legacy_erp_source(database_path=str(sc.file)), loader_file_format="parquet")
            info.raise_on_failed_jobs()
            sc.snaps[label] = _snapshot(sb, sc.db, sc.file)

        # First run configured the way the orchestration does it: the sandbox link sets the path.
        from orchestration.sandbox_link import source_environment

        env = source_environment(json.loads((sb.state_dir / "sandbox.json").read_text()))
        sc.edits["env_path"] = env["SOURCES__LEGACY_ERP__DATABASE_PATH"]
        saved = os.environ.get("SOURCES__LEGACY_ERP__DATABASE_PATH")
        os.environ["SOURCES__LEGACY_ERP__DATABASE_PATH"] = env["SOURCES__LEGACY_ERP__DATABASE_PATH"]
        try:
            step("first", SOURCES["legacy_erp"]())
        finally:
            if saved is None:
                os.environ.pop("SOURCES__LEGACY_ERP__DATABASE_PATH", None)
            else:
                os.environ["SOURCES__LEGACY_ERP__DATABASE_PATH"] = saved
        step("second")
        sb.advance(30)
        step("advanced")
        sc.edits.update(_edit(sc.file, sc.snaps["advanced"]))
        step("edited")
        step("again")
        yield sc


def _edit(file: Path, snap: Snapshot) -> dict[str, Any]:
    """Change the ERP's file the way the sandbox never does; returns what was done."""
    cursor = {t: datetime.fromisoformat(snap.cursors[TABLES[t].name]) for t in ("AR_INVOICE_HDR", "AR_RECEIPT")}
    con = sqlite3.connect(str(file))
    try:
        receipt = con.execute("SELECT RCPT_NO FROM AR_RECEIPT ORDER BY RCPT_NO LIMIT 1 OFFSET 3").fetchone()[0]
        line = con.execute("SELECT INV_NO, LINE_NO FROM AR_INVOICE_LINE ORDER BY INV_NO DESC LIMIT 1").fetchone()
        old_stamp = format_stamp(cursor["AR_INVOICE_HDR"] - timedelta(days=30))
        (late_invoice,) = con.execute("SELECT INV_NO FROM AR_INVOICE_HDR WHERE LAST_UPD_TS < ? ORDER BY INV_NO "
                                      "LIMIT 1", [old_stamp]).fetchone()
        con.execute("DELETE FROM AR_RECEIPT WHERE RCPT_NO = ?", [receipt])
        con.execute("DELETE FROM AR_INVOICE_LINE WHERE INV_NO = ? AND LINE_NO = ?", list(line))
        # Committed late: stamped 3 days before the loader's high-water mark.
        con.execute("UPDATE AR_INVOICE_HDR SET STATUS = 'W', OPEN_AMT_CENTS = 0, LAST_UPD_TS = ? WHERE INV_NO = ?",
                    [format_stamp(cursor["AR_INVOICE_HDR"] - timedelta(days=3)), late_invoice])
        cols = sandbox_legacy.COLUMNS["AR_RECEIPT"]
        template = dict(zip(cols, con.execute(f"SELECT {', '.join(cols)} FROM AR_RECEIPT LIMIT 1").fetchone(),
                            strict=True))
        # Arrived long after the time it carries: older than the lag window.
        late = {**template, "RCPT_NO": LATE_RECEIPT, "RCPT_AMT": "12.34",
                "LAST_UPD_TS": format_stamp(cursor["AR_RECEIPT"] - timedelta(days=60))}
        # Values that do not convert: a date that is not one, an amount that is not a number.
        bad = {**template, "RCPT_NO": BAD_RECEIPT, "RCPT_DT": "2025XX01", "RCPT_AMT": "n/a",
               "LAST_UPD_TS": format_stamp(cursor["AR_RECEIPT"] + timedelta(hours=1))}
        # Both at once: read by key (older than the window), quarantined, and not read again.
        old_bad = {**late, "RCPT_NO": OLD_BAD_RECEIPT, "RCPT_AMT": "n/a"}
        for rec in (late, bad, old_bad):
            con.execute(f"INSERT INTO AR_RECEIPT ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        [rec[c] for c in cols])
        # A column the ERP gained, filled on one customer changed now.
        con.execute("ALTER TABLE CUSTOMER_MASTER ADD COLUMN CREDIT_LIMIT_CENTS INTEGER")
        (customer,) = con.execute("SELECT CUST_NO FROM CUSTOMER_MASTER ORDER BY CUST_NO LIMIT 1").fetchone()
        con.execute("UPDATE CUSTOMER_MASTER SET CREDIT_LIMIT_CENTS = 5000000, LAST_UPD_TS = ? WHERE CUST_NO = ?",
                    [format_stamp(cursor["AR_RECEIPT"] + timedelta(hours=2)), customer])
        con.commit()
    finally:
        con.close()
    return {"receipt": receipt, "line": tuple(line), "late_invoice": late_invoice, "customer": customer}


def _assert_mirrors(snap: Snapshot, skip: set[tuple[str, tuple]] = frozenset()) -> None:
    for table, spec in TABLES.items():
        expected = {spec.key_of(r): r for r in snap.truth[table] if (table, spec.key_of(r)) not in skip}
        loaded = snap.tables[table]
        assert set(loaded) == set(expected), f"{table} @ {snap.clock}: keys differ"
        for key, rec in expected.items():
            for col, kind in spec.kinds.items():
                assert loaded[key][col.lower()] == _expected(kind, rec[col]), f"{table} {key} {col}"


# ----------------------------------------------------------------------------- tests

def test_normalize_reads_the_erps_dates_and_stamps():
    recs = [{"D": "20250804", "T": "20250804170500", "X": "20250804"}, {"D": "   ", "T": "2025XX01", "X": None},
            {"D": "20251345", "T": ""}]
    normalize(recs, {"D": "date", "T": "timestamp", "X": "string"})
    assert recs == [{"D": "2025-08-04", "T": "2025-08-04T17:05:00Z", "X": "20250804"},
                    {"D": None, "T": "2025XX01", "X": None}, {"D": "20251345", "T": None}]


def test_the_sandbox_link_points_the_source_at_the_sandbox_file(scenario: Scenario):
    assert Path(scenario.edits["env_path"]) == scenario.file
    assert scenario.file.is_file()


def test_first_load_mirrors_the_erp_with_typed_columns(scenario: Scenario):
    _assert_mirrors(scenario.snaps["first"])
    with scenario.connect() as con:
        types = dict(con.execute(f"""select column_name, data_type from information_schema.columns
                                     where table_schema = '{DATASET}' and table_name = 'ar_invoice_hdr'""").fetchall())
        (receipt_amount,) = con.execute(f"""select data_type from information_schema.columns where table_schema =
            '{DATASET}' and table_name = 'ar_receipt' and column_name = 'rcpt_amt'""").fetchone()
    assert types["gross_amt_cents"] == types["open_amt_cents"] == "BIGINT"
    assert types["inv_dt"] == types["due_dt"] == "DATE"
    assert types["last_upd_ts"] == "TIMESTAMP WITH TIME ZONE"
    assert types["inv_no"] == types["status"] == "VARCHAR"
    assert receipt_amount == "DOUBLE"


def test_second_run_reads_only_the_lag_window(scenario: Scenario):
    first, second = scenario.snaps["first"], scenario.snaps["second"]
    _assert_mirrors(second)
    with scenario.connect() as con:
        extracted = dict(con.execute(f"""
            select resource, rows_extracted from {DATASET}.q2c_load_metrics
            qualify row_number() over (partition by resource order by finished_at) = 2""").fetchall())
    hdr_since = format_stamp(datetime.fromisoformat(first.cursors["ar_invoice_hdr"]) - LAG)
    for table, spec in TABLES.items():
        if spec.cursor is not None:
            since = format_stamp(datetime.fromisoformat(first.cursors[spec.name]) - LAG)
            window = [r for r in first.truth[table] if r[spec.cursor] >= since]
        else:  # lines follow their header's stamp
            headers = {r["INV_NO"] for r in first.truth["AR_INVOICE_HDR"] if r["LAST_UPD_TS"] >= hdr_since}
            window = [r for r in first.truth[table] if r["INV_NO"] in headers]
        assert extracted[spec.name] == len(window) < len(first.truth[table]), table
        assert len(second.tables[table]) == len(first.tables[table])


def test_rerun_after_advance_picks_up_inserts_and_updates(scenario: Scenario):
    before, after = scenario.snaps["second"], scenario.snaps["advanced"]
    _assert_mirrors(after)
    assert len(after.tables["AR_INVOICE_HDR"]) > len(before.tables["AR_INVOICE_HDR"])
    assert len(after.tables["AR_INVOICE_LINE"]) > len(before.tables["AR_INVOICE_LINE"])
    paid = [k for k, r in after.tables["AR_INVOICE_HDR"].items()
            if k in before.tables["AR_INVOICE_HDR"] and r["status"] != before.tables["AR_INVOICE_HDR"][k]["status"]]
    assert paid, "no invoice loaded before changed status with the advance"


def test_deletes_late_updates_and_late_inserts_are_reflected(scenario: Scenario):
    edited, edits = scenario.snaps["edited"], scenario.edits
    _assert_mirrors(edited, skip={("AR_RECEIPT", (BAD_RECEIPT,)), ("AR_RECEIPT", (OLD_BAD_RECEIPT,))})
    assert (edits["receipt"],) not in edited.tables["AR_RECEIPT"]
    assert edits["line"] not in edited.tables["AR_INVOICE_LINE"]
    assert edited.tables["AR_INVOICE_HDR"][(edits["late_invoice"],)]["status"] == "W"
    assert edited.tables["AR_RECEIPT"][(LATE_RECEIPT,)]["rcpt_amt"] == 12.34
    with scenario.connect() as con:
        logged = set(con.execute(f"select system, object, record_id from {DATASET}.q2c_deletions").fetchall())
        modes = dict(con.execute(f"""select resource, mode from {DATASET}.q2c_load_metrics
            qualify row_number() over (partition by resource order by finished_at) = 4""").fetchall())
    assert logged == {("legacy_erp", "ar_receipt", edits["receipt"]),
                      ("legacy_erp", "ar_invoice_line", f"{edits['line'][0]}/{edits['line'][1]}")}
    assert modes["ar_receipt"] == "incremental+gapfill"  # the receipt older than the window, read by key
    assert modes["ar_invoice_hdr"] == "incremental"


def test_bad_values_are_quarantined_with_record_id_and_field(scenario: Scenario):
    with scenario.connect() as con:
        rows = con.execute(f"""select system, object, record_id, field, raw_payload from {DATASET}.q2c_quarantine
                               order by quarantined_at, record_id, field""").fetchall()
        quarantined = con.execute(f"""select rows_quarantined from {DATASET}.q2c_load_metrics
            where resource = 'ar_receipt' order by finished_at""").fetchall()
    # One row per bad field, each time the record is read: the new one sits in the lag window on both
    # runs; the old one is read by key once and then remembered.
    bad = [("legacy_erp", "ar_receipt", BAD_RECEIPT, "RCPT_AMT"), ("legacy_erp", "ar_receipt", BAD_RECEIPT, "RCPT_DT")]
    old = [("legacy_erp", "ar_receipt", OLD_BAD_RECEIPT, "RCPT_AMT")]
    assert [(s, o, r, f) for s, o, r, f, _p in rows] == bad + old + bad
    assert all('"RCPT_AMT":"n/a"' in p for *_x, p in rows)  # the raw record
    assert all('"RCPT_DT":"2025XX01"' in p for *_x, r, _f, p in rows if r == BAD_RECEIPT)
    assert [q for (q,) in quarantined] == [0, 0, 0, 2, 1]
    for receipt in (BAD_RECEIPT, OLD_BAD_RECEIPT):
        assert (receipt,) not in scenario.snaps["again"].tables["AR_RECEIPT"]


def test_a_new_erp_column_joins_the_table(scenario: Scenario):
    customer = scenario.edits["customer"]
    with scenario.connect() as con:
        (kind,) = con.execute(f"""select data_type from information_schema.columns where table_schema =
            '{DATASET}' and table_name = 'customer_master' and column_name = 'credit_limit_cents'""").fetchone()
        values = dict(con.execute(f"""select cust_no, credit_limit_cents from {DATASET}.customer_master
                                      where credit_limit_cents is not null""").fetchall())
    assert kind == "BIGINT"
    assert values == {customer: 5000000}


def test_third_run_after_the_edits_changes_nothing(scenario: Scenario):
    edited, again = scenario.snaps["edited"], scenario.snaps["again"]
    _assert_mirrors(again, skip={("AR_RECEIPT", (BAD_RECEIPT,)), ("AR_RECEIPT", (OLD_BAD_RECEIPT,))})
    for table in TABLES:
        assert again.tables[table].keys() == edited.tables[table].keys()
    with scenario.connect() as con:
        modes = dict(con.execute(f"""select resource, arg_max(mode, finished_at) from {DATASET}.q2c_load_metrics
                                     group by resource""").fetchall())
        counts = dict(con.execute(f"""select resource, count(*) from {DATASET}.q2c_load_metrics
                                      group by resource""").fetchall())
        (deletions,) = con.execute(f"select count(*) from {DATASET}.q2c_deletions").fetchone()
    assert set(modes.values()) == {"incremental"}  # no gap: the quarantined old receipt is not re-read by key
    assert counts == {spec.name: len(scenario.snaps) for spec in TABLES.values()}
    assert deletions == 2
