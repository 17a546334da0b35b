"""The NetSuite source against the sandbox over HTTPS, into a real DuckDB file, across clock advances.

One scenario (module fixture) runs the pipeline as the clock moves and snapshots the warehouse
after each run; the tests compare every snapshot with the sandbox's records and its truth
(deletions, late-arriving changes), value by value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from ingestion.netsuite import netsuite_source
from ingestion.netsuite.helpers import TABLES, key_after, normalize_dates
from sandbox.server import Sandbox

DATASET = "raw_netsuite"
LAG = timedelta(days=5)
DRIFT = {"new_field": True, "objects": ["customer", "job"],
         "changed_type": {"object": "transaction", "field": "foreigntotal", "to": "boolean"}}


# ----------------------------------------------------------------------------- helpers

def _expected(kind: str, value: Any) -> Any:
    """A sandbox record's value as the warehouse should hold it."""
    if value is None:
        return None
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return value == "T"
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "timestamp":
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return str(value)


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class Snapshot:
    clock: date
    tables: dict[str, dict[tuple, dict[str, Any]]]  # warehouse rows by key
    truth: dict[str, list[dict[str, Any]]]  # the sandbox's records at the same time
    cursors: dict[str, str | None] = field(default_factory=dict)


@dataclass
class Scenario:
    sb: Sandbox
    db: Path
    snaps: dict[str, Snapshot] = field(default_factory=dict)

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.db), read_only=True)


def _run(sb: Sandbox, base: Path, **kwargs: Any) -> None:
    pipeline = dlt.pipeline("q2c_netsuite", destination=dlt.destinations.duckdb(str(base / "warehouse.duckdb")),
                            dataset_name=DATASET, pipelines_dir=str(base / "pipelines"))
    creds = sb.credentials["netsuite"]
    source = netsuite_source(base_url=sb.urls["netsuite"], client_id=creds["client_id"],
                             client_secret=creds["client_secret"], ca_bundle=str(sb.ca_bundle), **kwargs)
    info = pipeline.run(source, loader_file_format="parquet")
    info.raise_on_failed_jobs()


def _snapshot(sb: Sandbox, db: Path) -> Snapshot:
    tables: dict[str, dict[tuple, dict[str, Any]]] = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for name, spec in TABLES.items():
            cur = con.execute(f'select * from {DATASET}."{name}"')
            cols = [d[0] for d in cur.description]
            rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
            tables[name] = {tuple(r[k] for k in spec.key): r for r in rows}
        cursors = dict(con.execute(f"""
            select resource, arg_max(cursor_reached, finished_at) from {DATASET}.q2c_load_metrics
            group by resource""").fetchall())
    truth = {name: sb.records("netsuite", name) for name in TABLES}
    return Snapshot(sb.clock, tables, truth, cursors)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    base = tmp_path_factory.mktemp("ingest-netsuite")
    with Sandbox(base / "sandbox", seed=42, scale=1.0) as sb:
        sc = Scenario(sb, base / "warehouse.duckdb")

        def step(label: str, **kwargs: Any) -> None:
            _run(sb, base, **kwargs)
            sc.snaps[label] = _snapshot(sb, sc.db)

        step("first")                      # 2026-06-30: full load
        step("second")                     # same clock: only the lag window again
        sb.advance(16)                     # 2026-07-16: a credit memo keyed in error appears...
        step("created")
        sb.advance(3)                      # 2026-07-19: ...and is deleted
        step("deleted")
        sb.advance(17)                     # 2026-08-05: a payment stamped 08-03 is still invisible
        step("before_late")
        sb.advance(5)                      # 2026-08-10: it became visible on 08-07, stamped 08-03
        step("late")
        step("asked", reconcile=True)
        sb.set_faults("netsuite", schema_drift=DRIFT)  # last: a later run would merge the rows back undrifted
        try:
            step("drift")
        finally:
            sb.clear_faults("netsuite")
        yield sc


def _assert_mirrors(snap: Snapshot) -> None:
    """Every table holds exactly the sandbox's records, every declared column equal."""
    for name, spec in TABLES.items():
        expected = {spec.key_of(r): r for r in snap.truth[name]}
        loaded = snap.tables[name]
        assert set(loaded) == set(expected), f"{name} @ {snap.clock}: keys differ"
        for key, rec in expected.items():
            row = loaded[key]
            for col, kind in spec.kinds.items():
                assert row[col] == _expected(kind, rec.get(col)), f"{name} {key} {col} @ {snap.clock}"


# ----------------------------------------------------------------------------- pure helpers

def test_key_after_spells_out_row_value_comparison():
    assert key_after(["id"], [42]) == "id > 42"
    assert key_after(["transaction", "id"], ["9007", 15]) == "(transaction > 9007) OR (transaction = 9007 AND id > 15)"
    with pytest.raises(ValueError):
        key_after(["id"], ["1 OR 1=1"])


def test_us_format_dates_are_rewritten_as_iso():
    recs = [{"trandate": "8/4/2025", "lastmodifieddate": "8/4/2025 5:07 pm", "memo": "1/2/2025"},
            {"trandate": "2025-08-04", "lastmodifieddate": "13/45/2025"}]
    normalize_dates(recs, {"trandate": "date", "lastmodifieddate": "timestamp", "memo": "string"})
    assert recs[0] == {"trandate": "2025-08-04", "lastmodifieddate": "2025-08-04T17:07:00Z", "memo": "1/2/2025"}
    assert recs[1] == {"trandate": "2025-08-04", "lastmodifieddate": "13/45/2025"}  # left for the contract


# ----------------------------------------------------------------------------- loads

def test_every_table_the_sandbox_serves_has_a_resource(scenario: Scenario):
    assert set(TABLES) == set(scenario.sb.world.netsuite)
    assert {"transactionline", "currencyrate", "accountingperiod", "salestaxitem", "nexus", "term", "account",
            "job"} <= set(TABLES)


def test_first_load_mirrors_the_sandbox_with_typed_columns(scenario: Scenario):
    _assert_mirrors(scenario.snaps["first"])
    with scenario.connect() as con:
        types = dict(con.execute(f"""select column_name, data_type from information_schema.columns
                                     where table_schema = '{DATASET}' and table_name = 'transaction'""").fetchall())
    assert types["id"] == "BIGINT" and types["entity"] == "BIGINT"
    assert types["foreigntotal"] == "DOUBLE"
    assert types["trandate"] == "DATE"
    assert types["lastmodifieddate"] == "TIMESTAMP WITH TIME ZONE"
    assert types["memo"] == "VARCHAR"


def test_second_run_reads_only_the_lag_window_and_duplicates_nothing(scenario: Scenario):
    first, second = scenario.snaps["first"], scenario.snaps["second"]
    _assert_mirrors(second)
    for name in TABLES:
        assert len(second.tables[name]) == len(first.tables[name]) == len(second.truth[name])
    with scenario.connect() as con:
        metrics = con.execute(f"""
            select resource, rows_extracted, mode, cursor_reached from {DATASET}.q2c_load_metrics
            qualify row_number() over (partition by resource order by finished_at) = 2""").fetchall()
    by_resource = {r: (n, mode, cursor) for r, n, mode, cursor in metrics}
    for name, spec in TABLES.items():
        n, mode, cursor = by_resource[name]
        if spec.cursor is None:
            assert mode == "full" and n == len(first.truth[name])
            continue
        assert mode.startswith("incremental")
        newest = max(_ts(r[spec.cursor]) for r in first.truth[name])
        assert _ts(cursor) == newest
        in_window = [r for r in first.truth[name] if _ts(r[spec.cursor]) >= newest - LAG]
        assert n == len(in_window) < len(first.truth[name]), name


def test_rerun_after_advance_picks_up_inserts_and_updates(scenario: Scenario):
    before, after = scenario.snaps["second"], scenario.snaps["created"]
    _assert_mirrors(after)
    assert len(after.tables["transaction"]) > len(before.tables["transaction"])
    updated = [k for k, row in after.tables["transaction"].items()
               if k in before.tables["transaction"]
               and row["lastmodifieddate"] != before.tables["transaction"][k]["lastmodifieddate"]]
    assert updated, "the advance updated no transaction that was already loaded"
    assert (9414,) in after.tables["transaction"]  # the credit memo that the next advance deletes


def test_deletions_match_the_sandbox_truth(scenario: Scenario):
    created, deleted = scenario.snaps["created"], scenario.snaps["deleted"]
    _assert_mirrors(deleted)
    truth = [d for d in scenario.sb.truth()["deletions"] if d["system"] == "netsuite"]
    gone_now = {(d["object"], d["id"]) for d in truth
                if datetime.fromtimestamp(d["visible_at"], UTC).date() > created.clock
                and datetime.fromtimestamp(d["visible_at"], UTC).date() <= deleted.clock}
    assert gone_now == {("transaction", "9414"), ("transactionline", "1103"), ("transactionline", "1104")}
    for obj, rid in gone_now:
        assert any(k[-1] == int(rid) for k in created.tables[obj]), (obj, rid)
        assert not any(k[-1] == int(rid) for k in deleted.tables[obj]), (obj, rid)
    with scenario.connect() as con:
        logged = set(con.execute(f"select object, record_id from {DATASET}.q2c_deletions").fetchall())
        modes = dict(con.execute(f"""
            select resource, mode from {DATASET}.q2c_load_metrics
            qualify row_number() over (partition by resource order by finished_at) = 4""").fetchall())
    assert logged == {("transaction", "9414"), ("transactionline", "9414/1103"), ("transactionline", "9414/1104")}
    # The one-row count probe showed fewer rows in NetSuite than loaded: the keys were scanned.
    assert modes["transaction"] == modes["transactionline"] == "incremental+keyscan"
    assert modes["customer"] == "incremental"


def test_late_arriving_changes_are_caught_by_the_lag_window(scenario: Scenario):
    before, late = scenario.snaps["before_late"], scenario.snaps["late"]
    _assert_mirrors(late)
    changes = [c for c in scenario.sb.truth(since=before.clock)["late_changes"] if c["system"] == "netsuite"]
    assert {c["object"] for c in changes} == {"transaction", "transactionline"}
    for c in changes:
        spec = TABLES[c["object"]]
        # The loader's high-water mark had passed the change's stamp before the change was visible...
        assert datetime.fromtimestamp(c["cursor"], UTC) < _ts(before.cursors[c["object"]])
        # ...and the rerun still loaded it, with the stamp it carries.
        rows = [r for k, r in late.tables[c["object"]].items() if k[-1] == int(c["id"])]
        assert len(rows) == 1
        assert rows[0][spec.cursor] >= datetime.fromtimestamp(c["cursor"], UTC)


def test_schema_drift_adds_a_column_and_quarantines_values_that_do_not_convert(scenario: Scenario):
    before, drift = scenario.snaps["asked"], scenario.snaps["drift"]
    # The load went through; rows whose total came as a boolean kept their last good version.
    _assert_mirrors(drift)

    def window(name: str) -> set[int]:
        start = _ts(before.cursors[name]) - LAG
        return {int(r["id"]) for r in drift.truth[name] if _ts(r["lastmodifieddate"]) >= start}

    with scenario.connect() as con:
        quarantined = con.execute(f"""
            select system, object, record_id, field, reason, raw_payload from {DATASET}.q2c_quarantine""").fetchall()
        drifted = {name: dict(con.execute(f"""
            select id, custbody_q2c_drift from {DATASET}."{name}" where custbody_q2c_drift is not null""").fetchall())
            for name in ("customer", "job")}
        drift_types = set(con.execute(f"""select data_type from information_schema.columns where table_schema =
            '{DATASET}' and column_name = 'custbody_q2c_drift'""").fetchall())
        (rows_quarantined,) = con.execute(f"""
            select rows_quarantined from {DATASET}.q2c_load_metrics where resource = 'transaction'
            order by finished_at desc limit 1""").fetchone()
    # A changed type that does not convert: each record of the window in quarantine, with its id and field.
    assert window("transaction")
    assert {(s, o, f) for s, o, _r, f, _why, _p in quarantined} == {("netsuite", "transaction", "foreigntotal")}
    assert sorted(int(r) for _s, _o, r, _f, _why, _p in quarantined) == sorted(window("transaction"))
    assert all("number" in why and '"foreigntotal":false' in payload for *_x, why, payload in quarantined)
    assert rows_quarantined == len(window("transaction"))
    # A new column: added as text, filled on the rows read while it was served.
    assert drift_types == {("VARCHAR",)}
    assert window("customer") or window("job")
    for name in ("customer", "job"):
        assert drifted[name] == dict.fromkeys(window(name), "drift"), name


def test_asked_reconciliation_scans_every_incremental_table(scenario: Scenario):
    _assert_mirrors(scenario.snaps["asked"])
    with scenario.connect() as con:
        modes = dict(con.execute(f"""
            select resource, mode from {DATASET}.q2c_load_metrics
            qualify row_number() over (partition by resource order by finished_at) = 7""").fetchall())
    for name, spec in TABLES.items():
        assert modes[name] == ("full" if spec.cursor is None else "incremental+keyscan"), name


def test_a_metrics_row_per_resource_and_run(scenario: Scenario):
    with scenario.connect() as con:
        counts = dict(con.execute(f"""
            select resource, count(*) from {DATASET}.q2c_load_metrics where system = 'netsuite'
            group by resource""").fetchall())
        incremental_cursors = con.execute(f"""
            select count(*) from {DATASET}.q2c_load_metrics
            where resource in ('customer', 'job', 'transaction', 'transactionline') and cursor_reached is null""").fetchone()
    assert counts == dict.fromkeys(TABLES, len(scenario.snaps))
    assert incremental_cursors == (0,)
