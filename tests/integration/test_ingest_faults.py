"""Loads under faults: throttling, server errors and dropped connections are retried; a load killed
mid-run and run again ends with the same warehouse as a load that was never interrupted; answers that
never parse fail the load naming the system. The whole pipeline under every fault: tests/campaign."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from ingestion.pipelines import LOADER_FILE_FORMAT, make_pipeline, make_source
from ingestion.salesforce import table_name
from ingestion.salesforce.settings import PSA_OBJECTS
from orchestration.sandbox_link import source_environment
from sandbox.server import Sandbox
from tests.conftest import REPO_ROOT

LOAD = ("import sys; from ingestion.pipelines import LOADER_FILE_FORMAT, make_pipeline, make_source; "
        "from pathlib import Path; db = Path(sys.argv[1]); "
        "make_pipeline('certinia', db, db.parent / 'dlt_killed').run(make_source('certinia'), "
        "loader_file_format=LOADER_FILE_FORMAT)")


@pytest.fixture(scope="module")
def sb(q2c_env: Path) -> Iterator[Sandbox]:
    with Sandbox(q2c_env / "sandbox", scale=2) as sandbox:
        os.environ.update(source_environment(sandbox.status()))
        yield sandbox


def _load(db: Path) -> None:
    make_pipeline("certinia", db, db.parent / f"dlt_{db.stem}").run(
        make_source("certinia"), loader_file_format=LOADER_FILE_FORMAT)


def _contents(db: Path) -> dict[str, list[tuple]]:
    """Every PSA table's rows, without dlt's bookkeeping columns, sorted."""
    out = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for obj in PSA_OBJECTS:
            table = f"raw_certinia.{table_name(obj)}"
            columns = [c for (c,) in con.execute(
                "select column_name from information_schema.columns where table_schema = 'raw_certinia' "
                "and table_name = ? and column_name not like '\\_dlt%' escape '\\' order by column_name",
                [table_name(obj)]).fetchall()]
            out[obj] = sorted(con.execute(f"select {', '.join(columns)} from {table}").fetchall(), key=repr)
    return out


@pytest.fixture(scope="module")
def clean(sb: Sandbox, q2c_env: Path) -> dict[str, list[tuple]]:
    """The reference: one uninterrupted load without faults."""
    db = q2c_env / "clean.duckdb"
    _load(db)
    return _contents(db)


def test_throttling_errors_and_dropped_connections_are_retried(sb: Sandbox, q2c_env: Path, clean):
    sb.set_faults("salesforce", rate_limit=0.1, retry_after=1, error_rate=0.1, drop_rate=0.05)
    try:
        db = q2c_env / "faulty.duckdb"
        _load(db)
    finally:
        counts = sb.fault_counts()["salesforce"]
        sb.clear_faults("salesforce")
    assert counts.get("rate_limit", 0) > 0 and counts.get("error_rate", 0) > 0 and counts.get("drop_rate", 0) > 0
    assert _contents(db) == clean


def test_a_load_killed_mid_run_then_rerun_equals_an_uninterrupted_load(sb: Sandbox, q2c_env: Path, clean):
    db = q2c_env / "killed.duckdb"
    sb.set_faults("salesforce", latency_ms=150)  # slow enough to be killed half-way
    try:
        proc = subprocess.Popen([sys.executable, "-c", LOAD, str(db)], cwd=REPO_ROOT, env=dict(os.environ),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2.5)
        assert proc.poll() is None, "the load finished before it could be killed: slow it down further"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        sb.clear_faults("salesforce")
    # The rerun goes through the same pipeline directory (whatever the killed run left in it).
    subprocess.run([sys.executable, "-c", LOAD, str(db)], cwd=REPO_ROOT, env=dict(os.environ), check=True,
                   capture_output=True)
    assert _contents(db) == clean


def test_answers_that_never_parse_fail_the_load_naming_the_system_and_load_nothing(sb: Sandbox, q2c_env: Path,
                                                                                    monkeypatch):
    from dlt.pipeline.exceptions import PipelineStepFailed

    from ingestion import http
    from ingestion.http import MalformedResponse

    waits = []
    monkeypatch.setattr(http, "_sleep", waits.append)  # the backoff, without waiting 15.5 s

    db = q2c_env / "never_parses.duckdb"
    sb.set_faults("salesforce", malformed_rate=1.0)
    try:
        with pytest.raises(PipelineStepFailed) as failed:
            _load(db)
    finally:
        sb.clear_faults("salesforce")
    cause = failed.value.__cause__
    while cause is not None and not isinstance(cause, MalformedResponse):
        cause = cause.__cause__ or cause.__context__
    assert isinstance(cause, MalformedResponse), repr(failed.value)
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0]  # asked again five times, backing off
    assert str(cause).startswith("certinia: GET /services/data/") and "not valid JSON" in str(cause) and "6 times" in str(cause)
    if db.exists():
        with duckdb.connect(str(db), read_only=True) as con:
            assert con.execute("select count(*) from information_schema.tables "
                               "where table_schema = 'raw_certinia' and table_name not like '\\_dlt%' escape '\\'"
                               ).fetchone() == (0,)
