"""Salesforce and Certinia ingestion against the sandbox: every object, increments, lag window, drift, metrics."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from ingestion.contract import METRICS_TABLE, QUARANTINE_TABLE
from ingestion.pipelines import LOADER_FILE_FORMAT, make_pipeline, make_source
from ingestion.salesforce import table_name
from ingestion.salesforce.settings import CRM_OBJECTS, PSA_OBJECTS
from orchestration.sandbox_link import source_environment
from sandbox.server import Sandbox

SYSTEM_OBJECTS = {"salesforce": CRM_OBJECTS, "certinia": PSA_OBJECTS}


@pytest.fixture(scope="module")
def sb(q2c_env: Path) -> Iterator[Sandbox]:
    with Sandbox(q2c_env / "sandbox", scale=2) as sandbox:
        os.environ.update(source_environment(sandbox.status()))
        yield sandbox


def _load(system: str, warehouse: Path) -> None:
    pipeline = make_pipeline(system, warehouse, warehouse.parent / "dlt")
    pipeline.run(make_source(system), loader_file_format=LOADER_FILE_FORMAT)


def _sql(warehouse: Path, query: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(query).fetchall()


def _warehouse_ids(warehouse: Path, system: str, obj: str) -> dict[str, object]:
    rows = _sql(warehouse, f"select id, system_modstamp from raw_{system}.{table_name(obj)}")
    return {rid: stamp for rid, stamp in rows}


def _assert_mirror(sb: Sandbox, warehouse: Path) -> None:
    for system, objects in SYSTEM_OBJECTS.items():
        for obj in objects:
            records = sb.records("salesforce", obj)  # queryAll serves deleted rows too
            ids = _warehouse_ids(warehouse, system, obj)
            assert len(ids) == len(records), f"{system}.{obj}: {len(ids)} rows, sandbox has {len(records)}"
            dup = _sql(warehouse, f"select count(*) - count(distinct id) from raw_{system}.{table_name(obj)}")
            assert dup == [(0,)], f"duplicate ids in {obj}"
            stale = [r["Id"] for r in records
                     if ids[r["Id"]].strftime("%Y-%m-%dT%H:%M:%S.000+0000") != r["SystemModstamp"]]
            assert not stale, f"{obj}: {len(stale)} rows behind the sandbox, e.g. {stale[:3]}"


@pytest.fixture(scope="module")
def warehouse(q2c_env: Path) -> Path:
    return Path(os.environ["Q2C_WAREHOUSE_PATH"])


def test_full_load_mirrors_every_object_with_typed_columns(sb: Sandbox, warehouse: Path):
    for system in SYSTEM_OBJECTS:
        _load(system, warehouse)
    _assert_mirror(sb, warehouse)
    types = dict(_sql(warehouse, "select column_name, data_type from information_schema.columns "
                                 "where table_schema = 'raw_certinia' and table_name = 'pse_timecard_c'"))
    assert types["system_modstamp"] == "TIMESTAMP WITH TIME ZONE" and types["pse__start_date__c"] == "DATE"
    assert types["pse__total_hours__c"] == "DOUBLE" and types["pse__billable__c"] == "BOOLEAN"
    metrics = _sql(warehouse, f"select resource, mode, rows_extracted, rows_loaded, rows_quarantined, cursor_reached "
                              f"from raw_certinia.{METRICS_TABLE}")
    assert {m[0] for m in metrics} == set(PSA_OBJECTS)
    for resource, mode, extracted, loaded, quarantined, cursor in metrics:
        assert mode == "full" and extracted == loaded == len(sb.records("salesforce", resource))
        assert quarantined == 0 and cursor


def test_a_rerun_reads_only_the_lag_window_and_changes_nothing(sb: Sandbox, warehouse: Path):
    before = {obj: _warehouse_ids(warehouse, "certinia", obj) for obj in PSA_OBJECTS}
    _load("certinia", warehouse)
    assert {obj: _warehouse_ids(warehouse, "certinia", obj) for obj in PSA_OBJECTS} == before
    latest = dict(_sql(warehouse, f"select resource, rows_extracted from raw_certinia.{METRICS_TABLE} "
                                  "where mode = 'incremental'"))
    assert set(latest) == set(PSA_OBJECTS)
    total = sum(len(sb.records("salesforce", o)) for o in PSA_OBJECTS)
    assert sum(latest.values()) < total / 2  # the window, not everything


def test_after_the_clock_moves_inserts_updates_deletes_and_late_changes_arrive(sb: Sandbox, warehouse: Path):
    before = sb.clock
    sb.advance(9)
    late = [c for c in sb.world.late_changes(since=before) if c["system"] == "salesforce"]
    assert late, "the world should have late-arriving Salesforce changes in nine days"
    for system in SYSTEM_OBJECTS:
        _load(system, warehouse)
    _assert_mirror(sb, warehouse)
    deleted = _sql(warehouse, "select count(*) from raw_salesforce.opportunity where is_deleted")
    assert deleted[0][0] == sum(1 for r in sb.records("salesforce", "Opportunity") if r["IsDeleted"])


def test_drift_adds_columns_and_quarantines_values_that_no_longer_fit(sb: Sandbox, warehouse: Path):
    sb.set_faults("salesforce", schema_drift={
        "new_field": True, "objects": ["pse__Timecard_Header__c"],
        "changed_type": {"object": "pse__Timecard__c", "field": "pse__Total_Hours__c", "to": "boolean"}})
    try:
        _load("certinia", warehouse)
    finally:
        sb.clear_faults("salesforce")
    window = _sql(warehouse, f"select rows_extracted, rows_loaded, rows_quarantined from raw_certinia.{METRICS_TABLE} "
                             "where resource = 'pse__Timecard__c' order by finished_at desc limit 1")[0]
    extracted, loaded, quarantined = window
    assert extracted > 0 and quarantined == extracted and loaded == 0
    rows = _sql(warehouse, f"select system, object, record_id, field, reason, raw_payload from "
                           f"raw_certinia.{QUARANTINE_TABLE}")
    assert len(rows) == quarantined and {r[:2] + (r[3],) for r in rows} == {
        ("certinia", "pse__Timecard__c", "pse__Total_Hours__c")}
    assert all(r[2] in r[5] and "expected a number" in r[4] for r in rows)
    columns = {c for (c,) in _sql(warehouse, "select column_name from information_schema.columns where "
                                             "table_schema = 'raw_certinia' and table_name = 'pse_timecard_header_c'")}
    assert "q2_c_drift__c" in columns  # dlt's snake_case of Q2C_Drift__c
    drifted = _sql(warehouse, "select count(*) from raw_certinia.pse_timecard_header_c where q2_c_drift__c = 'drift'")
    assert drifted[0][0] > 0
    types = dict(_sql(warehouse, "select column_name, data_type from information_schema.columns where "
                                 "table_schema = 'raw_certinia' and table_name = 'pse_timecard_c'"))
    assert types["pse__total_hours__c"] == "DOUBLE"  # the pinned type, not the drifted one
    # Drift over: the next run loads the quarantined records' current versions again.
    _load("certinia", warehouse)
    _assert_mirror(sb, warehouse)


def test_credentials_never_reach_logs_or_errors(sb: Sandbox, q2c_env: Path, caplog, capfd):
    """A load with a wrong secret fails naming the system and request, never showing either secret."""
    import logging

    from dlt.pipeline.exceptions import PipelineStepFailed

    right = os.environ["SOURCES__CERTINIA__CLIENT_SECRET"]
    wrong = "wrong-secret-value-3f9a1c"
    caplog.set_level(logging.DEBUG)
    os.environ["SOURCES__CERTINIA__CLIENT_SECRET"] = wrong
    try:
        with pytest.raises(PipelineStepFailed) as failure:
            _load("certinia", q2c_env / "creds.duckdb")
    finally:
        os.environ["SOURCES__CERTINIA__CLIENT_SECRET"] = right
    message = str(failure.value)
    assert "certinia: OAuth2 token request failed with HTTP 400" in message
    out, err = capfd.readouterr()
    for secret in (wrong, right):
        assert secret not in message and secret not in caplog.text and secret not in out + err
    # A successful load logs nothing secret either.
    caplog.clear()
    _load("certinia", q2c_env / "creds.duckdb")
    out, err = capfd.readouterr()
    assert right not in caplog.text and right not in out + err
