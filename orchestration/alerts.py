"""Alerts: failed runs, failed asset checks and new high-severity control exceptions (docs/alerts.md).

One function, :func:`evaluate_run`, turns a finished Dagster run into alerts. It is called from
two places so that every run is covered:

- ``orchestration.runner.run_pipeline`` (``q2c demo``, the end-to-end tests), at the end of the
  in-process run;
- the two run status sensors below, for the runs the daemon launches (schedules, the UI).

Both may see the same run; the run id is remembered, so it is evaluated once.

Conditions, each with a key (kind + subject):

==================  =========================================  ===========================================
kind                subject                                    raised when / cleared when
==================  =========================================  ===========================================
run_failed          the job name                               a run of the job fails / a run succeeds
check_failed        ``<asset key>:<check name>``               an evaluation fails / a later one passes
control_exception   the control rule id (``BE-001``)           high-severity exceptions not alerted before
                                                               are open / none is open any more
==================  =========================================  ===========================================

A condition that persists does not alert again; it alerts once more when it clears. For
control exceptions the alerted exception ids are remembered: an exception that joins a rule
already alerted raises a new alert counting the new ones only.

Every alert is appended to a JSONL log (``settings.alert_log_path()``) and, when
``Q2C_ALERT_WEBHOOK_URL`` is set, posted to that Slack-compatible webhook (``{"text": ...}``),
with a timeout and retries. A failed post is recorded on the alert's line and never raises.
The webhook URL is a secret: it appears in no log, no alert line and no run metadata.

The dedup state (``settings.alert_state_path()``, JSON) is read and written under a file lock,
so the runner and the daemon never interleave. Alerting never fails a run: :func:`after_run`
and the sensors catch and log every error.
"""

import fcntl
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunStatusSensorContext,
    run_failure_sensor,
    run_status_sensor,
)

from orchestration import settings

log = logging.getLogger("q2c.alerts")

RUN_FAILED, CHECK_FAILED, CONTROL_EXCEPTION = "run_failed", "check_failed", "control_exception"
RAISED, CLEARED = "raised", "cleared"
CONTROL_QUEUE = ("controls", "control_exceptions")
ALERT_SEVERITY = "high"  # control exceptions of this severity alert (docs/controls.md)
SEEN_RUNS_KEPT = 500
EXAMPLES = 5

# Webhook delivery: per attempt timeout, attempts, first backoff (doubling).
WEBHOOK_TIMEOUT_S = 5.0
WEBHOOK_ATTEMPTS = 3
WEBHOOK_BACKOFF_S = 0.5
# Reading the control queue while another process writes the warehouse: retries, first wait (doubling).
WAREHOUSE_ATTEMPTS = 5
WAREHOUSE_WAIT_S = 0.5


# --------------------------------------------------------------------------- observations


@dataclass(frozen=True)
class CheckOutcome:
    """One asset check evaluation of a run."""

    asset: str  # asset key as a user string, e.g. ``marts/invoice_payment_status``
    check: str
    passed: bool
    severity: str = "ERROR"
    count: int = 1  # failing rows (dbt tests) or failed expectations (GX) when known
    count_of: str = "failures"
    description: str = ""


@dataclass(frozen=True)
class RuleExceptions:
    """The open high-severity exceptions of one control rule."""

    rule_id: str
    rule_name: str
    control_point: str
    owner_team: str
    exception_ids: frozenset[str]
    new_in_queue: int = 0  # ``is_new``: first seen by the queue on this as-of date
    max_escalation: int = 0
    as_of_date: str = ""
    examples: tuple[str, ...] = ()  # object ids


@dataclass
class Observation:
    """What one finished run tells: its outcome, its check evaluations and (if read) the control queue."""

    run_id: str
    at: float = field(default_factory=time.time)  # when the run ended: older news never overrides newer
    job_name: str | None = None
    run_failed: bool | None = None  # None: no run outcome to judge (e.g. canceled)
    failure: str = ""  # what failed, for the message
    checks: list[CheckOutcome] = field(default_factory=list)
    controls: dict[str, RuleExceptions] | None = None  # None: the queue was not read
    controls_unreadable: bool = False  # the queue should have been read but the warehouse was busy


@dataclass(frozen=True)
class Alert:
    kind: str
    status: str
    subject: str
    count: int
    run_id: str
    message: str
    details: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The webhook text (Slack mrkdwn)."""
        mark = ":rotating_light:" if self.status == RAISED else ":white_check_mark:"
        return f"{mark} *q2c {self.kind.replace('_', ' ')} {self.status}*: {self.message}"


# --------------------------------------------------------------------------- dedup state


def _load_state(path: Path) -> dict:
    try:
        state = json.loads(path.read_text())
        if not isinstance(state, dict) or not isinstance(state.get("conditions"), dict):
            raise ValueError("not an alert state")
    except FileNotFoundError:
        return {"version": 1, "conditions": {}, "seen_runs": [], "controls_pending": False}
    except (ValueError, OSError) as exc:  # corrupt: keep it aside, start afresh (may re-alert once)
        log.warning("alert state %s unreadable (%s); starting afresh", path, exc)
        path.replace(path.with_suffix(path.suffix + ".corrupt"))
        return {"version": 1, "conditions": {}, "seen_runs": [], "controls_pending": False}
    state.setdefault("seen_runs", [])
    state.setdefault("controls_pending", False)
    return state


def _save_state(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, path)


@contextmanager
def _locked_state() -> Iterator[dict]:
    path = settings.alert_state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state = _load_state(path)
            yield state
            _save_state(path, state)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def active_conditions() -> dict[str, dict]:
    """The conditions currently raised, by key (for the docs, the tests and curious operators)."""
    path = settings.alert_state_path()
    return _load_state(path)["conditions"] if path.exists() else {}


# --------------------------------------------------------------------------- transitions


def _transitions(state: dict, obs: Observation) -> list[Alert]:
    """Apply one observation to the dedup state; return the alerts it raises and clears."""
    conditions: dict[str, dict] = state["conditions"]
    observed_at: dict[str, float] = state.setdefault("observed_at", {})  # per key, raised or not
    alerts: list[Alert] = []

    def fresh(key: str) -> bool:
        """Is this observation the newest of the key? An older run, evaluated late, changes nothing."""
        if observed_at.get(key, float("-inf")) > obs.at:
            return False
        observed_at[key] = obs.at
        return True

    def keep(key: str, kind: str, subject: str, count: int, **extra) -> None:
        cond = conditions.get(key) or {"kind": kind, "subject": subject, "since": obs.at, "raised_run_id": obs.run_id}
        conditions[key] = cond | {"count": count, "last_run_id": obs.run_id, "updated_at": obs.at, **extra}

    if obs.run_failed is not None and obs.job_name and fresh(key := f"{RUN_FAILED}:{obs.job_name}"):
        cond = conditions.get(key)
        if obs.run_failed:
            streak = cond["count"] + 1 if cond else 1
            if cond is None:
                alerts.append(Alert(RUN_FAILED, RAISED, obs.job_name, 1, obs.run_id,
                                    f"run {obs.run_id} of job {obs.job_name} failed: {obs.failure or 'see the run'}",
                                    {"job": obs.job_name, "failure": obs.failure}))
            keep(key, RUN_FAILED, obs.job_name, streak)
        elif cond is not None:
            alerts.append(Alert(RUN_FAILED, CLEARED, obs.job_name, cond["count"], obs.run_id,
                                f"job {obs.job_name} succeeded again in run {obs.run_id}, after "
                                f"{cond['count']} failed run(s) since run {cond['raised_run_id']}",
                                {"job": obs.job_name, "failed_runs": cond["count"]}))
            del conditions[key]

    latest = {(c.asset, c.check): c for c in obs.checks}  # the last evaluation of each check wins
    for (asset, check), outcome in sorted(latest.items()):
        subject = f"{asset}:{check}"
        key = f"{CHECK_FAILED}:{subject}"
        if not fresh(key):
            continue
        cond = conditions.get(key)
        details = {"asset": asset, "check": check, "severity": outcome.severity}
        if not outcome.passed:
            if cond is None:
                what = f"{outcome.count} {outcome.count_of}"
                alerts.append(Alert(CHECK_FAILED, RAISED, subject, outcome.count, obs.run_id,
                                    f"check {check} on {asset} failed ({outcome.severity}, {what}) in run "
                                    f"{obs.run_id}" + (f": {outcome.description}" if outcome.description else ""),
                                    details | {"count_of": outcome.count_of}))
            keep(key, CHECK_FAILED, subject, outcome.count)
        elif cond is not None:
            alerts.append(Alert(CHECK_FAILED, CLEARED, subject, cond["count"], obs.run_id,
                                f"check {check} on {asset} passes again in run {obs.run_id}", details))
            del conditions[key]

    if obs.controls is not None:
        for rule_id, rule in sorted(obs.controls.items()):
            key = f"{CONTROL_EXCEPTION}:{rule_id}"
            if not fresh(key):
                continue
            cond = conditions.get(key)
            new = rule.exception_ids - set(cond["exception_ids"] if cond else ())
            details = {"rule_id": rule_id, "rule_name": rule.rule_name, "control_point": rule.control_point,
                       "owner_team": rule.owner_team, "severity": ALERT_SEVERITY,
                       "open": len(rule.exception_ids), "new_in_queue": rule.new_in_queue,
                       "max_escalation_level": rule.max_escalation, "as_of_date": rule.as_of_date}
            if new:
                examples = ", ".join(rule.examples[:EXAMPLES])
                alerts.append(Alert(CONTROL_EXCEPTION, RAISED, rule_id, len(new), obs.run_id,
                                    f"{len(new)} new {ALERT_SEVERITY}-severity control exception(s) for {rule_id} "
                                    f"{rule.rule_name} ({rule.control_point}, owner {rule.owner_team}); "
                                    f"{len(rule.exception_ids)} open as of {rule.as_of_date}; run {obs.run_id}"
                                    + (f"; e.g. {examples}" if examples else ""),
                                    details | {"examples": list(rule.examples[:EXAMPLES])}))
            keep(key, CONTROL_EXCEPTION, rule_id, len(rule.exception_ids),
                 exception_ids=sorted(rule.exception_ids), rule_name=rule.rule_name)
        for key, cond in sorted(conditions.items()):
            if cond["kind"] == CONTROL_EXCEPTION and cond["subject"] not in obs.controls and fresh(key):
                alerts.append(Alert(CONTROL_EXCEPTION, CLEARED, cond["subject"], cond["count"], obs.run_id,
                                    f"control {cond['subject']} {cond.get('rule_name', '')}: no open "
                                    f"{ALERT_SEVERITY}-severity exception any more (was {cond['count']}); "
                                    f"run {obs.run_id}",
                                    {"rule_id": cond["subject"], "rule_name": cond.get("rule_name")}))
                del conditions[key]
        state["controls_pending"] = False
    elif obs.controls_unreadable:
        state["controls_pending"] = True
    return alerts


# --------------------------------------------------------------------------- delivery


def _scrub(text: str, url: str) -> str:
    """Remove the webhook URL (and its host) from an error text."""
    host = urllib.parse.urlsplit(url).netloc
    for secret in (url, host):
        if secret:
            text = text.replace(secret, "<webhook>")
    return text


def post_webhook(url: str, text: str, attempts: int | None = None, timeout: float | None = None) -> str | None:
    """POST ``{"text": text}`` to a Slack-compatible webhook; None on success, else why it failed (no URL)."""
    attempts = attempts or WEBHOOK_ATTEMPTS
    body = json.dumps({"text": text}).encode()
    error = "not attempted"
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "q2c-alerts"})
        try:
            with urllib.request.urlopen(request, timeout=timeout or WEBHOOK_TIMEOUT_S) as response:
                response.read()
            return None
        except urllib.error.HTTPError as exc:
            error, retry = f"HTTP {exc.code}", exc.code >= 500 or exc.code == 429
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            error, retry = f"{type(exc).__name__}: {reason}", not isinstance(exc, ValueError)
        if not retry or attempt == attempts:
            return _scrub(f"{error} after {attempt} attempt(s)", url)
        time.sleep(WEBHOOK_BACKOFF_S * 2 ** (attempt - 1))
    return _scrub(error, url)


def _deliver(alerts: list[Alert]) -> None:
    """Post each alert (when a webhook is configured), then append its line to the JSONL log."""
    path = settings.alert_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    url = settings.alert_webhook_url()
    webhook_down = None
    with open(path, "a", encoding="utf-8") as out:
        for alert in alerts:
            line = {"ts": datetime.now(UTC).isoformat(timespec="seconds"), "kind": alert.kind,
                    "status": alert.status, "subject": alert.subject, "count": alert.count,
                    "run_id": alert.run_id, "message": alert.message, "details": alert.details}
            if not url:
                line["delivery"] = "log_only"
            elif webhook_down:  # one dead webhook must not hold the run for attempts x alerts
                line |= {"delivery": "webhook_skipped", "delivery_error": f"webhook failed earlier: {webhook_down}"}
            elif (error := post_webhook(url, alert.text)) is None:
                line["delivery"] = "webhook"
            else:
                webhook_down = error
                line |= {"delivery": "webhook_failed", "delivery_error": error}
                log.warning("alert webhook post failed (%s); the alert is in %s", error, path)
            out.write(json.dumps(line, default=str) + "\n")
            out.flush()
            log.info("alert %s %s %s (count %s, run %s)", alert.status, alert.kind, alert.subject, alert.count,
                     alert.run_id)


def evaluate(obs: Observation) -> list[Alert]:
    """Apply an observation to the persisted dedup state, deliver the alerts it produces, return them.

    The JSONL log exists afterwards even when there is nothing to say. A run already evaluated
    (by the runner, then by a sensor) adds nothing but, if a queue read was pending, the queue.
    """
    with _locked_state() as state:
        if obs.run_id in state["seen_runs"]:
            obs = replace(obs, run_failed=None, checks=[])
        else:
            state["seen_runs"] = (state["seen_runs"] + [obs.run_id])[-SEEN_RUNS_KEPT:]
        alerts = _transitions(state, obs)
        _deliver(alerts)
    return alerts


# --------------------------------------------------------------------------- reading a run


class WarehouseBusy(Exception):
    """Another process holds the warehouse's write lock."""


def read_control_exceptions(path: Path | None = None) -> dict[str, RuleExceptions] | None:
    """Open high-severity exceptions per rule from the control queue; None if there is no queue.

    Opens the warehouse read-only; while a writer holds it, retries with backoff, then raises
    :class:`WarehouseBusy`.
    """
    import duckdb
    import psycopg2

    from orchestration import warehouse

    path = path or settings.warehouse_path()
    if not warehouse.exists(path):
        return None
    schema, table = CONTROL_QUEUE
    sql = (f'select rule_id, rule_name, control_point, owner_team, exception_id, object_id, is_new, '
           f'escalation_level, cast(as_of_date as varchar) from "{schema}"."{table}" '
           f"where severity = '{ALERT_SEVERITY}' order by rule_id, object_id")
    for attempt in range(WAREHOUSE_ATTEMPTS):
        try:
            with warehouse.connect(read_only=True, path=path) as con:
                rows = con.execute(sql).fetchall()
            break
        except (duckdb.CatalogException, psycopg2.errors.UndefinedTable):  # the queue was not built yet
            return None
        except duckdb.IOException as exc:
            if attempt == WAREHOUSE_ATTEMPTS - 1:
                raise WarehouseBusy(str(exc)) from exc
            time.sleep(WAREHOUSE_WAIT_S * 2 ** attempt)
    grouped: dict[str, list[tuple]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    return {rule_id: RuleExceptions(
        rule_id=rule_id, rule_name=rs[0][1], control_point=rs[0][2], owner_team=rs[0][3],
        exception_ids=frozenset(r[4] for r in rs), new_in_queue=sum(1 for r in rs if r[6]),
        max_escalation=max(int(r[7]) for r in rs), as_of_date=rs[0][8] or "",
        examples=tuple(r[5] for r in rs[:EXAMPLES])) for rule_id, rs in grouped.items()}


def _error_line(error) -> str:
    """The innermost cause of a Dagster step error, first line."""
    while error is not None and error.cause is not None:
        error = error.cause
    lines = (error.message or "").strip().splitlines() if error is not None else []
    return lines[0][:300] if lines else ""


def _metadata_count(metadata: dict) -> tuple[int, str] | None:
    values = {k: getattr(v, "value", v) for k, v in (metadata or {}).items()}
    for key, label in (("dagster_dbt/failed_row_count", "failing rows"), ("failed_expectations", "failed expectations")):
        if isinstance(values.get(key), int):
            return values[key], label
    return None


def _controls_pending() -> bool:
    """Did an earlier evaluation fail to read the queue? (A peek without the lock: a hint only.)"""
    try:
        return bool(json.loads(settings.alert_state_path().read_text()).get("controls_pending"))
    except (OSError, ValueError, AttributeError):
        return False


def observe_run(instance: DagsterInstance, run_id: str, read_controls: bool | None = None) -> Observation | None:
    """What a finished run tells, from the instance's event log (and the control queue when the run built it)."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return None
    run = record.dagster_run
    ended = record.end_time or record.update_timestamp.timestamp()
    obs = Observation(run_id=run_id, at=ended, job_name=run.job_name,
                      run_failed={DagsterRunStatus.FAILURE: True, DagsterRunStatus.SUCCESS: False}.get(run.status))
    planned, materialized, failed_steps = set(), set(), {}
    for entry in instance.all_logs(run_id, of_type={
            DagsterEventType.STEP_FAILURE, DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
            DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_CHECK_EVALUATION}):
        event = entry.dagster_event
        if event.event_type == DagsterEventType.STEP_FAILURE:
            failed_steps[event.step_key] = _error_line(event.step_failure_data.error)
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
            planned.add(event.asset_key.to_user_string())
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            materialized.add(event.asset_key.to_user_string())
        else:
            evaluation = event.event_specific_data
            counted = _metadata_count(evaluation.metadata)
            count, count_of = counted if counted else (0 if evaluation.passed else 1, "failures")
            obs.checks.append(CheckOutcome(
                asset=evaluation.asset_key.to_user_string(), check=evaluation.check_name,
                passed=evaluation.passed, severity=evaluation.severity.value, count=count, count_of=count_of,
                description=(evaluation.description or "").strip().splitlines()[0][:200]
                if evaluation.description else ""))
    if obs.run_failed:
        missing = sorted(planned - materialized)
        parts = [f"step {step}" + (f" ({error})" if error else "") for step, error in sorted(failed_steps.items())]
        if missing:
            parts.append(f"{len(missing)} asset(s) not materialized: " + ", ".join(missing[:EXAMPLES])
                         + (f" and {len(missing) - EXAMPLES} more" if len(missing) > EXAMPLES else ""))
        obs.failure = "; ".join(parts)
    if read_controls is None:
        read_controls = "/".join(CONTROL_QUEUE) in materialized or _controls_pending()
    if read_controls:
        try:
            obs.controls = read_control_exceptions()
        except WarehouseBusy as exc:
            log.warning("control queue not read, the warehouse is busy (%s); retried after the next run", exc)
            obs.controls_unreadable = True
    return obs


def evaluate_run(instance: DagsterInstance, run_id: str) -> list[Alert]:
    """Observe a finished run and alert on what changed (the one entry point of runner and sensors)."""
    obs = observe_run(instance, run_id)
    return evaluate(obs) if obs is not None else []


def after_run(instance: DagsterInstance, run_id: str) -> list[Alert]:
    """:func:`evaluate_run` that never raises: alerting must not fail the pipeline."""
    try:
        return evaluate_run(instance, run_id)
    except Exception:  # noqa: BLE001 - reported, never propagated
        log.exception("alert evaluation of run %s failed", run_id)
        return []


def describe(alerts: list[Alert]) -> str:
    """One line for a console: how many alerts, about what, and where they are logged."""
    if not alerts:
        return f"alerts: none new (log {settings.alert_log_path()})"
    raised = sum(a.status == RAISED for a in alerts)
    subjects = ", ".join(f"{a.subject}" for a in alerts[:8]) + (" ..." if len(alerts) > 8 else "")
    return (f"alerts: {raised} raised, {len(alerts) - raised} cleared ({subjects}); "
            f"log {settings.alert_log_path()}")


# --------------------------------------------------------------------------- sensors (daemon-launched runs)


def _sensor_evaluation(context: RunStatusSensorContext) -> None:
    alerts = after_run(context.instance, context.dagster_run.run_id)
    if alerts:
        context.log.info(describe(alerts))


@run_failure_sensor(name="q2c_alerts_on_run_failure", default_status=DefaultSensorStatus.RUNNING,
                    description="Alerts on a failed run, its failed checks and the control queue it built "
                                "(docs/alerts.md).")
def alerts_on_run_failure(context: RunFailureSensorContext):
    _sensor_evaluation(context)


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, name="q2c_alerts_on_run_success",
                   default_status=DefaultSensorStatus.RUNNING,
                   description="Clears run alerts, alerts on failed non-blocking checks and new high-severity "
                               "control exceptions of a successful run (docs/alerts.md).")
def alerts_on_run_success(context: RunStatusSensorContext):
    _sensor_evaluation(context)


SENSORS = [alerts_on_run_failure, alerts_on_run_success]
