"""The legacy ERP source against the sandbox's SQLite file, into a real DuckDB file.

The sandbox's legacy ERP changes with the clock (new invoices, receipts, headers updated as they
are paid) but never deletes and never commits late; the scenario adds those by editing the file
the way the ERP would: rows deleted, a header updated with a stamp inside the lag window, a
receipt that arrived with a stamp older than the window, a record whose values do not convert, a
new column.

The source reads through dlt's ``sql_table`` (SQLAlchemy): the same schema copied into a throwaway
PostgreSQL server must load the same rows; a URL's password never shows, even when the database
cannot be reached.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import sqlite3
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
import psycopg2
import psycopg2.extras
import pyarrow as pa
import pytest

from ingestion.contract import Contract, to_arrow
from ingestion.legacy_erp import LegacyErpUnavailable, legacy_erp_source
from ingestion.legacy_erp.arrow import typed
from ingestion.legacy_erp.helpers import TABLES, database_url, format_stamp, normalize
from ingestion.pipelines import SOURCES
from sandbox import legacy_erp as sandbox_legacy
from sandbox.server import Sandbox
from tests.support.postgres import PostgresServer, postgres_server  # noqa: F401  (the fixture)

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


# ----------------------------------------------------------------------------- the SQL engine

@pytest.mark.parametrize(("kind", "values"), [
    ("date", ["20250804", "20250231", "20251345", "2025XX01", "   ", "", None, "2025-08-04", "2025084", "20250804 "]),
    ("timestamp", ["20250804170500", "20250804250000", "20250804170560", "2025080417050", "", "   ", None,
                   "2025-08-04T17:05:00Z", "20250229120000", "20240229120000"]),
    ("float", ["12.34", "n/a", " 1.5", "nan", "inf", "1e3", "-0.5", "1_000", "+2", "", None, 7, 2.5]),
    ("int", ["12", "12.0", " 7", "x", "", None, 5, 5.0, 5.5]),
    ("string", ["abc", "", "  ", None, 12]),
])
def test_the_vectorized_cast_agrees_with_the_contract(kind: str, values: list[Any]):
    """A value the Arrow path takes converts exactly as the contract's per-record path converts it;
    any other sends its batch to that path (which converts or quarantines it)."""
    fast_ones = 0
    for value in values:
        try:
            raw = pa.table({"K": ["k1"], "V": pa.array([value])})
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # pragma: no cover - every case above builds
            continue
        fast = typed(raw, Contract({"K": "string", "V": kind}), ["K"])
        records = [{"K": "k1", "V": value}]
        normalize(records, {"K": "string", "V": kind})
        slow = to_arrow(records, Contract({"K": "string", "V": kind}), system="t", obj="t", key="K")
        if fast is not None:
            fast_ones += 1
            assert not slow.quarantine, (kind, value)
            assert fast.column("V").to_pylist() == slow.table.column("V").to_pylist(), (kind, value)
            assert fast.schema.field("V").type == slow.table.schema.field("V").type
    assert fast_ones >= 3, "the ERP's own forms (and NULL) take the vectorized path"


def test_the_connection_comes_from_a_url_or_a_sqlite_path(tmp_path: Path):
    path = tmp_path / "erp.sqlite"
    url = database_url(database_path=str(path))
    assert url.get_backend_name() == "sqlite" and url.database == f"file:{path}"
    assert dict(url.query) == {"mode": "ro", "uri": "true"}
    # database_path wins (the sandbox link sets it); a plain sqlite URL is opened read-only too
    assert database_url("postgresql://u:p@h/db", str(path)) == url
    assert "mode=ro" in database_url(f"sqlite:///{path}").render_as_string()
    pg = database_url("postgresql://u:p@h:5432/db")
    assert pg.get_backend_name() == "postgresql" and pg.password == "p"
    with pytest.raises(ValueError, match="not configured"):
        database_url()
    with pytest.raises(ValueError) as bad:
        database_url("not a url with a secret")
    assert "secret" not in str(bad.value)
    # a missing file fails when read, naming the path, and creates nothing
    pipeline = dlt.pipeline("q2c_legacy_missing", destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
                            dataset_name=DATASET, pipelines_dir=str(tmp_path / "pipelines"))
    with pytest.raises(Exception) as failed:
        pipeline.run(legacy_erp_source(database_path=str(path)), loader_file_format="parquet")
    assert f"legacy ERP database not found at {path}" in str(failed.value)
    assert not path.exists()


def test_a_column_mixing_types_quarantines_only_its_bad_records(scenario: Scenario, tmp_path: Path):
    """SQLite keeps text in an INTEGER column: the batch cannot become Arrow, goes through the contract
    record by record, and only the bad line is quarantined, with its field."""
    file = tmp_path / "erp.sqlite"
    shutil.copy(scenario.file, file)
    con = sqlite3.connect(str(file))
    try:
        inv, line = con.execute("SELECT INV_NO, LINE_NO FROM AR_INVOICE_LINE ORDER BY INV_NO, LINE_NO LIMIT 1").fetchone()
        con.execute("UPDATE AR_INVOICE_LINE SET LINE_AMT_CENTS = 'n/a' WHERE INV_NO = ? AND LINE_NO = ?", [inv, line])
        con.commit()
        (lines,) = con.execute("SELECT count(*) FROM AR_INVOICE_LINE").fetchone()
    finally:
        con.close()
    db = tmp_path / "w.duckdb"
    pipeline = dlt.pipeline("q2c_legacy_mixed", destination=dlt.destinations.duckdb(str(db)), dataset_name=DATASET,
                            pipelines_dir=str(tmp_path / "pipelines"))
    pipeline.run(legacy_erp_source(database_path=str(file), tables=["AR_INVOICE_LINE"]),
                 loader_file_format="parquet").raise_on_failed_jobs()
    with duckdb.connect(str(db), read_only=True) as con:
        quarantined = con.execute(f"select object, record_id, field from {DATASET}.q2c_quarantine").fetchall()
        loaded = con.execute(f"select count(*), count(*) filter (where inv_no = ? and line_no = ?) "
                             f"from {DATASET}.ar_invoice_line", [inv, line]).fetchone()
        (kind,) = con.execute(f"""select data_type from information_schema.columns where table_schema = '{DATASET}'
            and table_name = 'ar_invoice_line' and column_name = 'line_amt_cents'""").fetchone()
    assert quarantined == [("ar_invoice_line", inv, "LINE_AMT_CENTS")]
    assert loaded == (lines - 1, 0)
    assert kind == "BIGINT"


def test_a_password_in_the_url_never_shows(tmp_path: Path, capfd: pytest.CaptureFixture[str]):
    """An unreachable server: the failure names the database, with the password masked, and neither the
    error (nor its chain), the logs, the output, the trace nor the pipeline's files hold the password."""
    secret = "s3cr3t-Pa55"
    records = io.StringIO()
    handler = logging.StreamHandler(records)
    handler.setLevel(logging.DEBUG)
    loggers = [logging.getLogger(), logging.getLogger("dlt")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    saved = os.environ.get("SOURCES__LEGACY_ERP__CREDENTIALS")
    os.environ["SOURCES__LEGACY_ERP__CREDENTIALS"] = f"postgresql://u:{secret}@127.0.0.1:1/db"
    try:
        pipeline = dlt.pipeline("q2c_legacy_pw", destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
                                dataset_name=DATASET, pipelines_dir=str(tmp_path / "pipelines"))
        with pytest.raises(Exception) as failed:
            pipeline.run(SOURCES["legacy_erp"](), loader_file_format="parquet")
        texts = ["".join(traceback.format_exception(failed.value)), str(failed.value), repr(failed.value),
                 str(pipeline.last_trace), json.dumps(pipeline.last_trace.asdict(), default=str)]
    finally:
        if saved is None:
            os.environ.pop("SOURCES__LEGACY_ERP__CREDENTIALS", None)
        else:
            os.environ["SOURCES__LEGACY_ERP__CREDENTIALS"] = saved
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
    out, err = capfd.readouterr()
    texts += [records.getvalue(), out, err]
    assert isinstance(_root(failed.value, LegacyErpUnavailable), LegacyErpUnavailable)
    assert "cannot connect to the legacy ERP database postgresql+psycopg2://u:***@127.0.0.1:1/db" in str(failed.value)
    assert records.getvalue(), "nothing was logged: the check would prove nothing"
    for text in texts:
        assert secret not in text
    for path in (tmp_path / "pipelines").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def _root(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    while exc is not None and not isinstance(exc, kind):
        exc = exc.__cause__ or exc.__context__
    return exc


PG_SCHEMA = "legacy_erp_src"


def _copy_to_postgres(file: Path, server: PostgresServer) -> None:
    """The ERP's tables (the sandbox's DDL; integers as BIGINT, no foreign keys) with the file's rows."""
    tables = sandbox_legacy.read(file)
    with psycopg2.connect(server.dsn) as con, con.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE; CREATE SCHEMA {PG_SCHEMA}")
        cur.execute(f"SET search_path TO {PG_SCHEMA}")
        for table, ddl in sandbox_legacy.DDL.items():
            cur.execute(re.sub(r"\s*REFERENCES \w+\(\w+\)", "", ddl).replace("INTEGER", "BIGINT"))
            rows = tables[table]
            extra = [c for c in rows[0] if c not in sandbox_legacy.COLUMNS[table]]
            for col in extra:  # the column the ERP gained in the scenario
                cur.execute(f"ALTER TABLE {table} ADD COLUMN {col} BIGINT")
            cols = list(rows[0])
            psycopg2.extras.execute_values(cur, f"INSERT INTO {table} ({', '.join(cols)}) VALUES %s",
                                           [tuple(r[c] for c in cols) for r in rows])


def _load_twice(base: Path, name: str, make_source: Any) -> tuple[Path, list[Any]]:
    db = base / f"{name}.duckdb"
    pipeline = dlt.pipeline(f"q2c_legacy_{name}", destination=dlt.destinations.duckdb(str(db)), dataset_name=DATASET,
                            pipelines_dir=str(base / f"pipelines-{name}"))
    for _ in range(2):
        pipeline.run(make_source(), loader_file_format="parquet").raise_on_failed_jobs()
    with duckdb.connect(str(db), read_only=True) as con:
        metrics = con.execute(f"""select resource, rows_extracted, rows_loaded, rows_quarantined, cursor_reached, mode
            from {DATASET}.q2c_load_metrics order by resource, finished_at""").fetchall()
    return db, metrics


def _dump(db: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for spec in TABLES.values():
            types = con.execute("""select column_name, data_type from information_schema.columns
                where table_schema = ? and table_name = ? and column_name not like '\\_dlt%' escape '\\'
                order by column_name""", [DATASET, spec.name]).fetchall()
            cols = ", ".join(c for c, _t in types)
            keys = ", ".join(k.lower() for k in spec.key)
            out[spec.name] = (types, con.execute(f"select {cols} from {DATASET}.{spec.name} order by {keys}").fetchall())
        out["q2c_quarantine"] = con.execute(f"""select object, record_id, field, reason from {DATASET}.q2c_quarantine
                                                order by all""").fetchall()
    return out


def test_the_same_schema_on_postgres_loads_the_same_rows(scenario: Scenario, postgres_server: PostgresServer,  # noqa: F811
                                                         tmp_path: Path):
    """The ERP file as edited (deletes, a late update, bad values, a new column) copied into PostgreSQL,
    whose unquoted names fold to lower case: two loads from each engine give the same tables, row for
    row and type for type, the same quarantine and the same counts per run."""
    file = tmp_path / "erp.sqlite"
    shutil.copy(scenario.file, file)
    _copy_to_postgres(file, postgres_server)
    from_sqlite, sqlite_metrics = _load_twice(tmp_path, "sqlite", lambda: legacy_erp_source(database_path=str(file)))
    from_postgres, pg_metrics = _load_twice(tmp_path, "postgres", lambda: legacy_erp_source(
        credentials=postgres_server.dsn, db_schema=PG_SCHEMA))
    sqlite_rows, pg_rows = _dump(from_sqlite), _dump(from_postgres)
    assert sqlite_rows["ar_invoice_hdr"][1], "nothing loaded: the check would prove nothing"
    assert ("credit_limit_cents", "BIGINT") in sqlite_rows["customer_master"][0]
    assert {r[1] for r in sqlite_rows["q2c_quarantine"]} == {BAD_RECEIPT, OLD_BAD_RECEIPT}
    for table in sqlite_rows:
        assert pg_rows[table] == sqlite_rows[table], table
    assert pg_metrics == sqlite_metrics  # rows extracted, loaded, quarantined, cursor reached, mode
    assert {m[5] for m in pg_metrics} == {"full", "incremental"}
