"""Alerts (docs/alerts.md): real Dagster runs, a control queue in a small DuckDB file, a local webhook receiver."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest
from dagster import (
    AssetCheckResult,
    DagsterEventType,
    DagsterInstance,
    asset,
    asset_check,
    build_run_status_sensor_context,
    materialize,
)

from orchestration import alerts

SECRET = "T0000/B0000/not-a-real-token-s3cr3t"


class Receiver:
    """A Slack-compatible webhook on 127.0.0.1 that records every post and answers ``status``."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append({"path": self.path, "type": self.headers["Content-Type"],
                                       "body": json.loads(body)})
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/{SECRET}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("Q2C_WAREHOUSE_PATH", str(tmp_path / "q2c.duckdb"))
    monkeypatch.setenv("Q2C_ALERT_LOG", str(tmp_path / "alerts" / "alerts.jsonl"))
    monkeypatch.delenv("Q2C_ALERT_WEBHOOK_URL", raising=False)
    monkeypatch.setattr(alerts, "WEBHOOK_BACKOFF_S", 0.01)
    monkeypatch.setattr(alerts, "WAREHOUSE_WAIT_S", 0.01)
    return tmp_path


@pytest.fixture
def receiver(env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    rec = Receiver()
    monkeypatch.setenv("Q2C_ALERT_WEBHOOK_URL", rec.url)
    yield rec
    rec.close()


def _lines(env: Path) -> list[dict]:
    return [json.loads(line) for line in (env / "alerts" / "alerts.jsonl").read_text().splitlines()]


def _secret_nowhere(env: Path, *texts: str) -> None:
    for path in (env / "alerts").iterdir():
        assert SECRET not in path.read_text() and "127.0.0.1" not in path.read_text(), path
    for text in texts:
        assert SECRET not in text


# The world of the tiny Dagster job: what the queue holds, whether the check and the load fail.
WORLD: dict = {}
QUEUE_COLUMNS = ("rule_id", "rule_name", "control_point", "owner_team", "severity", "exception_id", "object_id",
                 "is_new", "escalation_level", "as_of_date")


def _queue_rows(**rules: tuple[str, int]) -> list[tuple]:
    """``BE_001=("high", 2)`` -> two high-severity exceptions of BE-001 (ids e-BE-001-0, e-BE-001-1)."""
    return [(rule.replace("_", "-"), f"name_{rule}", "billing_eligibility", "Billing Operations", severity,
             f"e-{rule.replace('_', '-')}-{i}", f"obj-{i}", True, 0, "2026-06-30")
            for rule, (severity, n) in rules.items() for i in range(n)]


def _write_queue(path: Path, rows: list[tuple]) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists controls")
        con.execute("create or replace table controls.control_exceptions (rule_id varchar, rule_name varchar, "
                    "control_point varchar, owner_team varchar, severity varchar, exception_id varchar, "
                    "object_id varchar, is_new boolean, escalation_level integer, as_of_date date)")
        if rows:
            con.executemany(f"insert into controls.control_exceptions values ({', '.join('?' * len(QUEUE_COLUMNS))})",
                            rows)


@asset(key=["controls", "control_exceptions"])
def control_queue() -> None:
    _write_queue(Path(WORLD["warehouse"]), WORLD["queue"])


@asset_check(asset=control_queue, name="unique_control_exceptions_exception_id")
def queue_check() -> AssetCheckResult:
    failing = WORLD["failing_rows"]
    return AssetCheckResult(passed=failing == 0, metadata={"dagster_dbt/failed_row_count": failing})


@asset(key=["writeback", "billing", "billing_schedule"], deps=[control_queue])
def writeback() -> None:
    if WORLD["load_fails"]:
        raise RuntimeError("billing API answered 503")


def _run(instance: DagsterInstance, env: Path, *, queue: list[tuple], failing_rows: int, load_fails: bool) -> str:
    WORLD.update(warehouse=str(env / "q2c.duckdb"), queue=queue, failing_rows=failing_rows, load_fails=load_fails)
    result = materialize([control_queue, queue_check, writeback], instance=instance, raise_on_error=False)
    assert result.success is not load_fails
    return result.run_id


def test_real_runs_raise_persist_silently_and_clear_once(env, receiver, caplog, capsys):
    """Failed run, failed check and new high-severity exceptions alert once each, post once each,
    stay quiet while they persist (the runner and the sensor both seeing a run), and clear once."""
    caplog.set_level(logging.DEBUG)
    instance = DagsterInstance.ephemeral()
    bad_queue = _queue_rows(BE_001=("high", 2), IR_003=("high", 1), CX_001=("medium", 4))

    first = _run(instance, env, queue=bad_queue, failing_rows=3, load_fails=True)
    raised = alerts.after_run(instance, first)
    assert {(a.kind, a.status, a.subject, a.count) for a in raised} == {
        ("run_failed", "raised", "__ephemeral_asset_job__", 1),
        ("check_failed", "raised", "controls/control_exceptions:unique_control_exceptions_exception_id", 3),
        ("control_exception", "raised", "BE-001", 2),
        ("control_exception", "raised", "IR-003", 1),
    }
    assert all(a.run_id == first for a in raised)
    run_alert = next(a for a in raised if a.kind == "run_failed")
    assert "writeback__billing__billing_schedule" in run_alert.message and "503" in run_alert.message
    assert "writeback/billing/billing_schedule" in run_alert.message  # the asset it did not materialize
    assert len(receiver.posts) == 4
    assert {p["type"] for p in receiver.posts} == {"application/json"}
    assert all(set(p["body"]) == {"text"} and first in p["body"]["text"] for p in receiver.posts)
    assert any("BE-001" in p["body"]["text"] and "2 new" in p["body"]["text"] for p in receiver.posts)

    # The daemon's failure sensor sees the same run: nothing new.
    failure = instance.all_logs(first, of_type=DagsterEventType.RUN_FAILURE)[0].dagster_event
    context = build_run_status_sensor_context(sensor_name="q2c_alerts_on_run_failure", dagster_event=failure,
                                              dagster_instance=instance,
                                              dagster_run=instance.get_run_by_id(first)).for_run_failure()
    alerts.alerts_on_run_failure(context)
    assert len(receiver.posts) == 4

    # The same conditions in a second run: they persist, no alert, no post.
    second = _run(instance, env, queue=bad_queue, failing_rows=5, load_fails=True)
    assert alerts.after_run(instance, second) == []
    assert len(receiver.posts) == 4
    assert alerts.active_conditions()["run_failed:__ephemeral_asset_job__"]["count"] == 2  # the streak

    # All fixed: each condition clears once, the medium-severity rule never alerted.
    third = _run(instance, env, queue=_queue_rows(CX_001=("medium", 4)), failing_rows=0, load_fails=False)
    cleared = alerts.after_run(instance, third)
    assert {(a.kind, a.status, a.subject, a.count) for a in cleared} == {
        ("run_failed", "cleared", "__ephemeral_asset_job__", 2),
        ("check_failed", "cleared", "controls/control_exceptions:unique_control_exceptions_exception_id", 5),
        ("control_exception", "cleared", "BE-001", 2),
        ("control_exception", "cleared", "IR-003", 1),
    }
    assert len(receiver.posts) == 8
    fourth = _run(instance, env, queue=_queue_rows(CX_001=("medium", 4)), failing_rows=0, load_fails=False)
    assert alerts.after_run(instance, fourth) == []
    assert len(receiver.posts) == 8 and alerts.active_conditions() == {}

    lines = _lines(env)
    assert [(line["status"], line["run_id"]) for line in lines] == [("raised", first)] * 4 + [("cleared", third)] * 4
    assert all(line["delivery"] == "webhook" for line in lines)
    assert set(lines[0]) >= {"ts", "kind", "status", "subject", "count", "run_id", "message"}
    _secret_nowhere(env, caplog.text, capsys.readouterr().out)


def test_log_always_written_without_webhook(env):
    obs = alerts.Observation(run_id="r1", at=1.0, job_name="q2c_pipeline", run_failed=False)
    assert alerts.evaluate(obs) == []
    assert (env / "alerts" / "alerts.jsonl").read_text() == ""  # in place even when there is nothing to say
    alerts.evaluate(alerts.Observation(run_id="r2", at=2.0, job_name="q2c_pipeline", run_failed=True,
                                       failure="step x (boom)"))
    (line,) = _lines(env)
    assert line["kind"] == "run_failed" and line["status"] == "raised" and line["subject"] == "q2c_pipeline"
    assert line["count"] == 1 and line["run_id"] == "r2" and line["delivery"] == "log_only"
    assert "boom" in line["message"]


def test_failing_webhook_is_recorded_and_never_raises(env, receiver, caplog, monkeypatch):
    receiver.status = 500
    obs = alerts.Observation(run_id="r1", at=1.0, job_name="q2c_pipeline", run_failed=True, checks=[
        alerts.CheckOutcome("marts/x", "not_null_x_id", passed=False, count=2, count_of="failing rows")])
    fired = alerts.evaluate(obs)
    assert len(fired) == 2
    assert len(receiver.posts) == 3  # the first alert: three attempts; the second not tried against a dead hook
    first, second = _lines(env)
    assert first["delivery"] == "webhook_failed" and first["delivery_error"] == "HTTP 500 after 3 attempt(s)"
    assert second["delivery"] == "webhook_skipped"
    _secret_nowhere(env, caplog.text)

    # A client error is not retried; an unreachable hook is recorded too; neither raises.
    receiver.status = 404
    assert alerts.post_webhook(receiver.url, "x") == "HTTP 404 after 1 attempt(s)"
    receiver.close()
    error = alerts.post_webhook(receiver.url, "x", attempts=2, timeout=1)
    assert error and "after 2 attempt(s)" in error and SECRET not in error and "127.0.0.1" not in error
    # The runner's hook never raises, whatever goes wrong.
    assert alerts.after_run(DagsterInstance.ephemeral(), "no-such-run") == []
    monkeypatch.setattr(alerts, "observe_run", lambda *a, **k: 1 / 0)
    assert alerts.after_run(DagsterInstance.ephemeral(), "any") == []


def test_new_exceptions_of_a_raised_rule_alert_with_the_new_count_only(env):
    def controls(*ids: str) -> dict:
        return {"BE-001": alerts.RuleExceptions("BE-001", "approved_item_not_billed", "billing_eligibility",
                                                "Billing Operations", frozenset(ids), examples=ids)}

    assert [a.count for a in alerts.evaluate(alerts.Observation("r1", at=1, controls=controls("a", "b")))] == [2]
    assert alerts.evaluate(alerts.Observation("r2", at=2, controls=controls("a", "b"))) == []
    assert alerts.evaluate(alerts.Observation("r3", at=3, controls=controls("a"))) == []  # fewer: still open
    (more,) = alerts.evaluate(alerts.Observation("r4", at=4, controls=controls("a", "c", "d")))
    assert (more.status, more.count) == ("raised", 2) and "3 open" in more.message
    (cleared,) = alerts.evaluate(alerts.Observation("r5", at=5, controls={}))
    assert (cleared.status, cleared.subject, cleared.count) == ("cleared", "BE-001", 3)
    # An older run, evaluated late, does not override what newer runs said.
    assert alerts.evaluate(alerts.Observation("r0", at=0.5, controls=controls("a"))) == []
    assert alerts.evaluate(alerts.Observation("r6", at=6, job_name="j", run_failed=True))[0].status == "raised"
    assert alerts.evaluate(alerts.Observation("r5b", at=5.5, job_name="j", run_failed=False)) == []
    assert set(alerts.active_conditions()) == {"run_failed:j"}


def test_busy_warehouse_defers_the_queue_to_the_next_evaluation(env):
    """A writer holding the warehouse: retried, then deferred (no false 'cleared'), read after the next run."""
    warehouse = env / "q2c.duckdb"
    _write_queue(warehouse, _queue_rows(BE_001=("high", 1)))
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); sys.stdin.read()", str(warehouse)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(alerts.WarehouseBusy):
            alerts.read_control_exceptions(warehouse)
        alerts.evaluate(alerts.Observation("r1", at=1, controls_unreadable=True))
        assert json.loads(alerts.settings.alert_state_path().read_text())["controls_pending"] is True
    finally:
        holder.communicate("")
    assert alerts._controls_pending()
    instance = DagsterInstance.ephemeral()
    WORLD.update(warehouse=str(warehouse), queue=_queue_rows(BE_001=("high", 1)), failing_rows=0, load_fails=False)
    run_id = materialize([writeback], instance=instance, selection=[writeback.key]).run_id  # not the queue
    (alert,) = alerts.after_run(instance, run_id)
    assert (alert.kind, alert.subject, alert.count) == ("control_exception", "BE-001", 1)
    assert not alerts._controls_pending()


def test_sensors_alert_on_the_runs_the_daemon_sees(env):
    """Through the sensors' own cursor machinery (what the daemon ticks): the failure sensor raises, the
    success sensor clears; both start RUNNING so a fresh `dagster dev` alerts without a click."""
    from dagster import DefaultSensorStatus, build_sensor_context

    assert {s.name: s.default_status for s in alerts.SENSORS} == {
        "q2c_alerts_on_run_failure": DefaultSensorStatus.RUNNING,
        "q2c_alerts_on_run_success": DefaultSensorStatus.RUNNING}
    instance = DagsterInstance.ephemeral()
    cursors = {}
    for sensor in alerts.SENSORS:  # the first tick only sets the cursor
        context = build_sensor_context(instance=instance)
        sensor.evaluate_tick(context)
        cursors[sensor.name] = context.cursor

    def tick(sensor) -> None:
        context = build_sensor_context(instance=instance, cursor=cursors[sensor.name])
        sensor.evaluate_tick(context)
        cursors[sensor.name] = context.cursor

    failed = _run(instance, env, queue=[], failing_rows=0, load_fails=True)
    tick(alerts.alerts_on_run_failure)
    tick(alerts.alerts_on_run_failure)  # a later tick does not see the run again
    assert [(line["kind"], line["status"], line["run_id"]) for line in _lines(env)] == [
        ("run_failed", "raised", failed)]
    succeeded = _run(instance, env, queue=[], failing_rows=0, load_fails=False)
    tick(alerts.alerts_on_run_success)
    assert [(line["status"], line["run_id"]) for line in _lines(env)] == [("raised", failed), ("cleared", succeeded)]
