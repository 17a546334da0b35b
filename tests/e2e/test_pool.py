"""One writer at a time: overlapping scheduled runs share the pool ``duckdb_writer`` and never fail on
DuckDB's file lock; readers outside the pool wait for the lock instead of failing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e
DAGSTER = str(Path(sys.executable).parent / "dagster")
LOCK_ERRORS = ("could not set lock", "conflicting lock")
# Two schedules whose runs write the warehouse: dlt loads (Arrow from a REST API, and SQL from the legacy ERP).
SCHEDULES = ("q2c_load_stripe_schedule", "q2c_load_legacy_erp_schedule")


@pytest.fixture(scope="module")
def sandbox(q2c_env: Path):
    from orchestration.dbt_project import prepare_manifest
    from sandbox.server import Sandbox

    prepare_manifest()
    with Sandbox(q2c_env / "sandbox", seed=11, scale=0.2) as sb:
        yield sb


def _step_windows(instance, run_id: str) -> dict[str, tuple[float, float]]:
    """step key -> (start, end) from the run's event log."""
    from dagster import DagsterEventType

    starts: dict[str, float] = {}
    windows: dict[str, tuple[float, float]] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = entry.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            windows[event.step_key] = (starts[event.step_key], entry.timestamp)
    return windows


def test_overlapping_scheduled_runs_take_turns_at_the_warehouse(sandbox, q2c_env: Path):
    """Two schedules' runs, started at the same moment in two processes on the instance of the
    project's dagster.yaml (pool limit 1): both succeed, no DuckDB lock error anywhere, and their
    warehouse steps never overlap: one waited for the pool while the other wrote."""
    from dagster import DagsterInstance, DagsterRunStatus

    from orchestration.definitions import defs

    instance = DagsterInstance.get()  # DAGSTER_HOME of q2c_env, with the project's dagster.yaml
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    repo = defs.get_repository_def()
    procs = []
    for name in SCHEDULES:
        schedule = repo.get_schedule_def(name)
        tags = {"dagster/schedule_name": name, "q2c/test": "pool"}
        log = (q2c_env / f"{name}.log").open("w")
        procs.append((name, log, subprocess.Popen(
            [DAGSTER, "job", "execute", "-m", "orchestration.definitions", "-j", schedule.job_name,
             "--tags", json.dumps(tags)], cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)))
    for _, log, proc in procs:
        proc.wait(timeout=240)
        log.close()
    outputs = {name: (q2c_env / f"{name}.log").read_text() for name, _, _ in procs}
    for name, _, proc in procs:
        assert proc.returncode == 0, outputs[name][-4000:]
        assert not any(err in outputs[name].lower() for err in LOCK_ERRORS), outputs[name][-4000:]

    runs = [r for r in instance.get_runs() if r.tags.get("q2c/test") == "pool"]
    assert sorted(r.tags["dagster/schedule_name"] for r in runs) == sorted(SCHEDULES)
    assert all(r.status == DagsterRunStatus.SUCCESS for r in runs), [(r.job_name, r.status) for r in runs]
    records = {r.run_id: instance.get_run_record_by_id(r.run_id) for r in runs}
    (a, b) = records.values()
    assert a.start_time < b.end_time and b.start_time < a.end_time, "the runs did not overlap"

    messages = [e.message or "" for r in runs for e in instance.all_logs(r.run_id)]
    assert not any(err in m.lower() for m in messages for err in LOCK_ERRORS)
    assert any("blocked by limit for pool duckdb_writer" in m for m in messages), \
        "neither run waited for the pool: they never competed for the warehouse"
    # Every step of both runs writes or reads the warehouse (loads, quarantine checks): no two overlap.
    windows = sorted((start, end, f"{r.job_name}.{step}") for r in runs
                     for step, (start, end) in _step_windows(instance, r.run_id).items())
    assert len(windows) == 4, windows  # load_<system> and quarantine_<system> per run
    for (_, end, step), (start, _, next_step) in zip(windows, windows[1:], strict=False):
        assert end <= start, f"{step} and {next_step} held the warehouse at the same time"
    assert not instance.event_log_storage.get_concurrency_run_ids(), "a finished run kept its slot"
    with duckdb.connect(str(q2c_env / "warehouse" / "q2c.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from raw_stripe.invoices").fetchone()[0] > 0
        assert con.execute("select count(*) from raw_legacy_erp.customer_master").fetchone()[0] > 0


_HOLD_WRITE_LOCK = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1])
con.execute("create table if not exists t as select 1 as x")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_the_run_summary_waits_for_a_writer_instead_of_failing(tmp_path: Path):
    """The summary reads the warehouse outside the pool: while another process writes, it retries."""
    from orchestration.runner import connect_read_only, is_lock_conflict

    path = tmp_path / "busy.duckdb"
    duckdb.connect(str(path)).close()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_WRITE_LOCK, str(path), "1.5"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(duckdb.IOException) as refused:
            connect_read_only(path, wait_seconds=0.3)
        assert is_lock_conflict(refused.value)
        started = time.monotonic()
        with connect_read_only(path, wait_seconds=30) as con:
            assert con.execute("select x from t").fetchone() == (1,)
        assert time.monotonic() - started > 0.3  # it did wait for the writer
    finally:
        holder.wait(timeout=30)
