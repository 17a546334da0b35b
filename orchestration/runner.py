"""Run the whole asset graph once through Dagster and summarize what it did.

Used by ``q2c demo`` and the end-to-end tests. The run goes through the ``q2c_pipeline`` job on
the Dagster instance of ``DAGSTER_HOME`` (an ephemeral one if unset), so it shows in the UI.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from dagster import DagsterInstance, DagsterRunStatus, ExecuteInProcessResult, RunsFilter

from orchestration import alerts, settings
from orchestration import warehouse as wh

# The unified control exception queue (docs/controls.md): the summary counts its rows per rule.
CONTROL_QUEUE = ("controls", "control_exceptions")
PID_TAG = "q2c/pid"
HOST_TAG = "q2c/host"
# How long the summary waits for another process's write lock on the warehouse (a scheduled or
# automation run writing it) before it gives up counting the control queue.
LOCK_WAIT_SECONDS = 60.0


@dataclass
class RunSummary:
    success: bool
    run_id: str
    rows_loaded: dict[str, int] = field(default_factory=dict)  # per source system
    tables_loaded: dict[str, int] = field(default_factory=dict)  # per raw table
    models_built: int = 0
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)
    control_exceptions: dict[str, int] = field(default_factory=dict)  # open exceptions per rule name
    control_rule_ids: dict[str, str] = field(default_factory=dict)  # rule name -> rule id
    written_back: dict[str, int] = field(default_factory=dict)  # records sent per target
    writeback_failed: dict[str, int] = field(default_factory=dict)
    serving_path: str | None = None  # the BI serving file this run published, and its table count
    serving_tables: int = 0
    warehouse_busy: bool = False  # another process held the warehouse's write lock past LOCK_WAIT_SECONDS
    sync_log_records: int | None = None  # rows of q2c_sync.sync_log (None: no writeback has run yet)
    alert_log: str | None = None  # the JSONL alert log and its line count
    alert_lines: int = 0

    def render(self) -> str:
        lines = [f"q2c run {self.run_id}: {'SUCCESS' if self.success else 'FAILURE'}", "",
                 "Rows loaded per source"]
        lines += [f"  {system:<12} {rows:>8}" for system, rows in sorted(self.rows_loaded.items())]
        lines += ["", f"dbt models built       {self.models_built:>8}",
                  f"checks passed          {self.checks_passed:>8}",
                  f"checks failed          {len(self.checks_failed):>8}"]
        lines += [f"  failed: {name}" for name in self.checks_failed]
        if self.warehouse_busy:
            lines += ["", "Control exceptions     not counted: another run was writing the warehouse"]
        else:
            lines += ["", f"Control exceptions     {sum(n for n in self.control_exceptions.values() if n > 0):>8}"]
        lines += [f"  {self.control_rule_ids.get(name, ''):<7} {name:<41} {n:>6}"
                  for name, n in sorted(self.control_exceptions.items(),
                                        key=lambda item: (self.control_rule_ids.get(item[0], ''), item[0]))]
        lines += ["", "Records written back"]
        for target, n in sorted(self.written_back.items()):
            failed = self.writeback_failed.get(target, 0)
            lines.append(f"  {target:<28} {n:>6}" + (f"  ({failed} rejected)" if failed else ""))
        if self.sync_log_records is not None:
            lines += ["", f"Sync log (q2c_sync.sync_log, view q2c_sync.writeback_log): {self.sync_log_records} records"]
        if self.alert_log:
            lines += [f"Alert log ({self.alert_lines} alerts): {self.alert_log}"]
        if self.serving_path:
            lines += [f"BI serving file ({self.serving_tables} tables, read-only): {self.serving_path}"]
        return "\n".join(lines)


def instance() -> DagsterInstance:
    return DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_dead_runs(dagster_instance: DagsterInstance) -> dict[str, bool]:
    """Free the pool slots of runs that can no longer release them, and fail runs whose process is gone.

    A run killed hard (SIGKILL, a lost machine) keeps its claim on the ``duckdb_writer`` pool,
    and with a limit of 1 every later run would wait for it forever. A claim is stale when its
    run has finished, or when the q2c process that started it on this host no longer exists;
    such a run is marked failed, with the reason. So is a run of this host left STARTED by a
    process that is gone, whether or not it held a slot. Returns, per run released or marked
    failed, whether it held a pool slot.
    """
    storage = dagster_instance.event_log_storage
    holding = set(storage.get_concurrency_run_ids())
    started = {run.run_id for run in dagster_instance.get_runs(
        filters=RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING]), limit=100)}
    released: dict[str, bool] = {}
    for run_id in sorted(holding | started):
        run = dagster_instance.get_run_by_id(run_id)
        stale = run is None or run.is_finished
        if run is not None and not run.is_finished:
            pid = run.tags.get(PID_TAG)
            if run.tags.get(HOST_TAG) == socket.gethostname() and pid and not _alive(int(pid)):
                dagster_instance.report_run_failed(
                    run, message=f"process {pid} that ran it is gone (killed?)"
                                 + ("; its pool slots were released" if run_id in holding else ""))
                stale = True
        if stale:
            if run_id in holding:
                storage.free_concurrency_slots_for_run(run_id)
            released[run_id] = run_id in holding
    return released


def run_pipeline(dagster_instance: DagsterInstance | None = None, raise_on_error: bool = False,
                 log_level: str = "INFO") -> ExecuteInProcessResult:
    from orchestration.definitions import defs  # after the manifest exists

    dagster_instance = dagster_instance or instance()
    for run_id, held_slot in release_dead_runs(dagster_instance).items():
        print(f"released the warehouse pool slot held by dead run {run_id}" if held_slot
              else f"marked run {run_id} failed: the process that ran it is gone")
        # The dead run never reached its own alerting: it alerts now, once (docs/alerts.md).
        print(alerts.describe(alerts.after_run(dagster_instance, run_id)))
    job = defs.resolve_job_def("q2c_pipeline")
    result = job.execute_in_process(
        instance=dagster_instance,
        raise_on_error=raise_on_error,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        tags={PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()},
    )
    print(alerts.describe(alerts.after_run(dagster_instance, result.run_id)))  # never raises (docs/alerts.md)
    return result


def is_lock_conflict(error: BaseException) -> bool:
    """Is ``error`` DuckDB refusing the file because another process holds its write lock?"""
    return isinstance(error, duckdb.IOException) and "could not set lock" in str(error).lower()


def connect_read_only(path: str | Path, wait_seconds: float = LOCK_WAIT_SECONDS,
                      sleep: Callable[[float], None] = time.sleep) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse, waiting (backoff 0.1 s doubling to 2 s) while another
    process writes it.

    The summary reads outside the ``duckdb_writer`` pool: while a run writes the file, DuckDB
    refuses every other process, readers included. Raises the lock error after ``wait_seconds``.
    """
    deadline = time.monotonic() + wait_seconds
    delay = 0.1
    while True:
        try:
            return duckdb.connect(str(path), read_only=True)
        except duckdb.IOException as exc:
            if not is_lock_conflict(exc) or time.monotonic() + delay > deadline:
                raise
        sleep(delay)
        delay = min(delay * 2, 2.0)


def summarize(result: ExecuteInProcessResult) -> RunSummary:
    summary = RunSummary(success=result.success, run_id=result.run_id)
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        path = mat.asset_key.path
        meta = {k: v.value for k, v in mat.metadata.items()}
        if path[0] == "raw":
            rows = int(meta.get("rows_loaded") or 0)
            summary.rows_loaded[path[1]] = summary.rows_loaded.get(path[1], 0) + rows
            summary.tables_loaded["/".join(path[1:])] = rows
        elif path[0] == "writeback":
            target = "/".join(path[1:])
            summary.written_back[target] = int(meta.get("records_sent") or 0)
            summary.writeback_failed[target] = int(meta.get("failed") or 0)
        elif path[0] == "serving":
            summary.serving_path, summary.serving_tables = str(meta.get("path")), int(meta.get("tables") or 0)
        else:
            summary.models_built += 1
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            summary.checks_passed += 1
        else:
            summary.checks_failed.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
    alert_log = settings.alert_log_path()
    if alert_log.exists():
        with alert_log.open(encoding="utf-8") as lines:
            summary.alert_log, summary.alert_lines = str(alert_log), sum(1 for line in lines if line.strip())
    if not wh.exists():
        return summary
    if wh.kind() == wh.DUCKDB:
        try:
            con = connect_read_only(settings.warehouse_path())
        except duckdb.IOException as exc:
            if not is_lock_conflict(exc):
                raise
            summary.warehouse_busy = True
            return summary
    else:
        con = wh.connect(read_only=True)
    with con:
        schema, table = CONTROL_QUEUE
        try:
            rows = con.execute(f'select rule_id, rule_name, count(*) from "{schema}"."{table}" '
                               'group by rule_id, rule_name').fetchall()
        except wh.errors():  # the queue was not built: say so instead of a count of 0
            summary.control_exceptions[table] = -1
        else:
            for rule_id, rule_name, count in rows:
                summary.control_exceptions[rule_name] = int(count)
                summary.control_rule_ids[rule_name] = rule_id
        try:
            summary.sync_log_records = con.execute("select count(*) from q2c_sync.sync_log").fetchone()[0]
        except wh.errors():  # no writeback has run against this warehouse yet
            summary.sync_log_records = None
    return summary

