"""The fault campaign: the whole pipeline against the sandbox under every fault, then after crashes.

One sandbox world and one warehouse go through the cases below in order. Each case moves the
sandbox's clock (new, changed, late and deleted records), turns its faults on, runs the whole
Dagster job, turns the faults off and checks:

- the raw layer equals what the sandbox serves: every key once (no duplicates), none missing (no
  gaps), none extra, and the fields that change with a record equal (``tests/support/truth.py``);
- the marts' invoiced and paid per currency equal the sandbox's own records;
- every control rule finds exactly the anomaly ledger's cases of its kind;
- the writebacks are exactly once in effect: one CRM record per invoice holding the current
  payload, one Stripe invoice item per installment, one executed POST per installment over the
  whole campaign (retries are idempotent replays); and the case sent exactly the lines whose
  payload is new or changed since the previous case, nothing else;
- the run's summary and the raw asset's load metrics, the Stripe open amounts, the contract-terms
  snapshot's history (``docs/reliability.md`` lists them all);
- the alerts of the case are the expected ones, each raised once (and cleared once).

The kill cases run the job in a child process, SIGKILL it (process group: dbt too) at a known
point, then run it again. ``pytest -m campaign`` runs it alone; it is part of ``make test``.
The table test prints the campaign's table; ``docs/reliability.md`` holds it (rewritten with
``Q2C_CAMPAIGN_WRITE_DOCS=1``), and the test fails if the docs' figures differ from the run's.
Three tests follow on the campaign's warehouse: GX on a bad-row copy, a bad row that blocks the
CRM writeback (it stays in the world: the last test that runs the pipeline), the secret scan.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import REPO_ROOT
from tests.support.truth import compare_raw, sandbox_totals

pytestmark = [pytest.mark.campaign, pytest.mark.e2e]

SEED, SCALE = 11, 0.5
SYSTEMS = ("salesforce", "stripe", "netsuite")
DOCS = REPO_ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- campaign:table -->", "<!-- /campaign:table -->"
RUN_ONCE = ("from orchestration.runner import run_pipeline, summarize; import sys; "
            "s = summarize(run_pipeline(log_level='WARNING')); print(s.render()); sys.exit(0 if s.success else 1)")
CRM_OBJECT, CRM_KEY = "Q2C_Invoice_Status__c", "Q2C_Invoice_Id__c"
QUARANTINE_CHECK = "raw/certinia/pse_timecard_c:no_quarantined_records"
DRIFTED = {"object": "pse__Timecard__c", "field": "pse__Total_Hours__c", "to": "boolean"}


def _each(**knobs: Any) -> dict[str, dict[str, Any]]:
    return {system: dict(knobs) for system in SYSTEMS}


@dataclass(frozen=True)
class Case:
    name: str
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    days: int = 1
    kill: str | None = None  # "load", "dbt" or "writeback": SIGKILL the run there, then run again
    env: dict[str, str] = field(default_factory=dict)  # for the killed run's process
    quarantines: bool = False  # the run quarantines drifted timecards; the next case's run loads them again
    alerts: tuple[tuple[str, str, str], ...] = ()  # expected (kind, subject, status) besides control rules
    what: str = ""
    bad_input: bool = False  # plant BAD_INPUT in the sandbox before the run, put the records right after it
    until: tuple[str, int] | None = None  # ("late", n): move the clock a day at a time until n late changes
    delete_quotes: int = 0  # soft-delete this many alternative (non-primary) quotes with their lines, as sales do
    bi_reader: bool = False  # a dashboard's connection held on the serving file through the run


@dataclass(frozen=True)
class Bad:
    """One planted bad value: where, what, and the quarantine reason expected (None: it must load as is)."""

    system: str  # the sandbox's system
    obj: str
    pick: int  # which record of the object (index into the sandbox's records of a suitable kind)
    field: str
    value: Any
    reason: str | None
    what: str
    source: str = ""  # the loader's system when it differs (Certinia objects come from the Salesforce API)


# Values that load as they are go into opportunity names: account names feed the duplicate-customer
# control, which would then rightly stop matching the anomaly ledger.
BAD_INPUT = [
    Bad("netsuite", "transaction", 0, "foreigntotal", "twelve hundred", "expected a number", "wrong type"),
    Bad("salesforce", "pse__Timecard__c", 0, "pse__Project__c", None, "required field is empty",
        "missing required field", "certinia"),
    Bad("salesforce", "Opportunity", 0, "Name", "x" * 200_000, "characters long", "oversized field"),
    Bad("salesforce", "Opportunity", 1, "Name", "Zoë Ltd \u202eRTL\u202c 🎉 e\u0301 \u200bJP: 株式会社", None,
        "odd but valid unicode"),
    Bad("salesforce", "Opportunity", 2, "Name", "O'Brien & Co'); drop table raw_salesforce.account; --", None,
        "SQL in a text field"),
    Bad("salesforce", "Contact", 0, "LastName", "Brown \ud800", "not valid Unicode", "lone surrogate", "certinia"),
    Bad("salesforce", "Account", 1, "Name", "Acme\x00Ltd", "NUL character", "NUL in text"),
    Bad("salesforce", "pse__Timecard__c", 1, "pse__Total_Hours__c", -8.0, "outside 0 .. 168",
        "negative amount", "certinia"),
    Bad("stripe", "invoices", 0, "total", 10 ** 15, "outside -1e+12 .. 1e+12", "absurd amount"),
    Bad("stripe", "invoices", 1, "currency", "xyz", "not an ISO 4217 code", "unknown currency"),
    Bad("netsuite", "transaction", 1, "trandate", "2999-01-01", "outside 1970-01-01 .. 2100-12-31",
        "date out of range"),
    Bad("legacy", "AR_RECEIPT", 0, "RCPT_AMT", "-250.00", "outside 0 ..", "negative receipt"),
]


# Every fault at once. The changed types here still convert (numbers served as numeric strings):
# the one that quarantines is the schema drift case's, whose records the next case's run loads.
RETYPED = {"salesforce": {"object": "pse__Timecard__c", "field": "pse__Total_Hours__c", "to": "string"},
           "stripe": {"object": "invoices", "field": "amount_paid", "to": "string"},
           "netsuite": {"object": "transaction", "field": "foreigntotal", "to": "string"}}
ALL_TOGETHER = {
    system: {"rate_limit": 0.03, "error_rate": 0.1, "drop_rate": 0.04, "drop_after_rate": 0.03,
             "malformed_rate": 0.03, "latency_ms": [0, 60],
             "schema_drift": {"new_field": True, "changed_type": RETYPED[system]},
             **({"duplicate_events": 0.3} if system == "stripe" else {})}
    for system in SYSTEMS}

CASES = [
    Case("SIGKILL mid-writeback", kill="writeback",
         faults={"salesforce": {"latency_ms": [80, 80]}}, env={"Q2C_WRITEBACK_BATCH_SIZE_CRM_PAYMENT_STATUS": "5"},
         alerts=(("run_failed", "q2c_pipeline", "raised"), ("run_failed", "q2c_pipeline", "cleared")),
         what="the first full run, killed after the CRM accepted its first batch of 5; rerun"),
    Case("429 with Retry-After", _each(rate_limit=0.05, retry_after=1), what="5 % of requests, Retry-After: 1"),
    Case("20 % 5xx", _each(error_rate=0.2), what="500/502/503 in each vendor's error shape"),
    Case("dropped connections", _each(drop_rate=0.08, drop_after_rate=0.05, malformed_rate=0.05),
         what="8 % closed before the request is served, 5 % after it (writes took effect), "
              "5 % answered 200 with the JSON cut off half-way"),
    Case("slow API", _each(latency_ms=[20, 120]), bi_reader=True,
         what="20-120 ms added to every request; a BI connection held on the serving file throughout"),
    Case("schema drift", {
        "salesforce": {"schema_drift": {"new_field": True, "changed_type": DRIFTED}},
        "stripe": {"schema_drift": {"new_field": True, "changed_type": {
            "object": "invoices", "field": "amount_paid", "to": "string"}}},
        "netsuite": {"schema_drift": {"new_field": True, "changed_type": {
            "object": "transaction", "field": "foreigntotal", "to": "string"}}}},
         days=2, quarantines=True, alerts=(("check_failed", QUARANTINE_CHECK, "raised"),),
         what="a new field on every object; timecard hours served as booleans (quarantined until the "
              "next case's run), amounts as strings (they convert)"),
    Case("duplicate event delivery", {"stripe": {"duplicate_events": 1.0}}, days=3,
         what="every Stripe event listed twice"),
    Case("late-arriving changes and deletes", until=("late", 5), delete_quotes=3,
         what="the clock moved until 5 changes had arrived stamped before the loader's cursor; 3 "
              "alternative quotes the customer did not take deleted with their lines (soft deletes), "
              "with what the clock deleted"),
    Case("bad input", bad_input=True,
         what="; ".join(b.what for b in BAD_INPUT) + ": one record each, put right at the source for the "
              "next case's run"),
    Case("SIGKILL mid-load", kill="load", faults={"salesforce": {"latency_ms": [100, 100]}},
         alerts=(("run_failed", "q2c_pipeline", "raised"), ("run_failed", "q2c_pipeline", "cleared")),
         what="killed after 8 Salesforce requests; rerun"),
    Case("SIGKILL mid-dbt", kill="dbt",
         alerts=(("run_failed", "q2c_pipeline", "raised"), ("run_failed", "q2c_pipeline", "cleared")),
         what="killed once dbt had materialized 20 models; rerun"),
    Case("all together", ALL_TOGETHER, days=2,
         what="every fault above at once; the changed types still convert (the quarantining one is the "
              "schema drift case's)"),
]


@dataclass
class Outcome:
    case: Case
    requests: int = 0
    struck: dict[str, int] = field(default_factory=dict)
    late: int = 0
    deleted: int = 0
    quarantined: int = 0
    checked: int = 0
    duplicates: int = 0
    lost: int = 0
    crm_records: int = 0
    stripe_items: int = 0
    resent: int = 0  # CRM upserts applied again with the same values (a lost answer's retry)
    replays: int = 0  # Stripe POSTs answered from the idempotency key
    alerts: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def row(self) -> list[str]:
        struck = ", ".join(f"{k} {v}" for k, v in sorted(self.struck.items())) or "-"
        return [self.case.name, self.case.what, f"{self.requests:,}" if self.requests else "-", struck, str(self.late), str(self.deleted),
                str(self.quarantined), f"{self.checked:,}", str(self.duplicates), str(self.lost),
                f"{self.crm_records} / {self.stripe_items}", f"{self.resent} / {self.replays}",
                "; ".join(self.alerts) or "-", f"{self.seconds:.0f}"]


HEADER = ["case", "fault", "requests", "faults struck", "late changes", "deletes", "quarantined",
          "records checked", "duplicates", "lost", "writebacks in effect (CRM / Stripe)",
          "re-applied / replayed", "alerts", "seconds"]
# Columns that depend on timing (where a kill lands, how many requests a retry takes): shown, not compared.
VARIABLE = {"requests", "faults struck", "re-applied / replayed", "seconds"}


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def campaign(q2c_env: Path):
    from orchestration.dbt_project import prepare_manifest
    from sandbox.server import Sandbox

    prepare_manifest()
    with Sandbox(q2c_env / "sandbox", seed=SEED, scale=SCALE) as sb:
        yield {"sandbox": sb, "env": q2c_env, "outcomes": [], "to_clear": [], "contract_versions": {}}


def _warehouse(env: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(env / "warehouse" / "q2c.duckdb"), read_only=True)


def _alert_log(env: Path) -> list[dict[str, Any]]:
    path = env / "warehouse" / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _struck(sb) -> Counter:
    out: Counter = Counter()
    for counts in sb.fault_counts().values():
        out.update(counts)
    return out


MAX_DAYS = 20


def _delete_quotes(sb, n: int) -> int:
    """Soft-delete ``n`` live alternative quotes and their lines (what the world's sales reps do); how many records."""
    if not n:
        return 0
    stamp = datetime.combine(sb.clock, dtime(22, 0), UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    quotes = sorted((q for q in sb.records("salesforce", "SBQQ__Quote__c")
                     if not q.get("IsDeleted") and q.get("SBQQ__Primary__c") is False), key=lambda q: q["Id"])[:n]
    assert len(quotes) == n, f"only {len(quotes)} alternative quotes to delete"
    ids = {q["Id"] for q in quotes}
    lines = [ql["Id"] for ql in sb.records("salesforce", "SBQQ__QuoteLine__c")
             if ql.get("SBQQ__Quote__c") in ids and not ql.get("IsDeleted")]
    for obj, keys in (("SBQQ__Quote__c", sorted(ids)), ("SBQQ__QuoteLine__c", lines)):
        for key in keys:
            sb.patch_record("salesforce", obj, key, IsDeleted=True, SystemModstamp=stamp, LastModifiedDate=stamp)
    return len(ids) + len(lines)


def _moved(sb, clock_before, deletions_before: int) -> dict[str, int]:
    """Late-arriving changes and deletes the clock made visible since ``clock_before``."""
    return {"late": len(sb.world.late_changes(since=clock_before)),
            "deletes": len(sb.truth()["deletions"]) - deletions_before}


def _run_in_process():
    from orchestration.runner import run_pipeline, summarize

    return summarize(run_pipeline(log_level="WARNING"))


def _latest_run_id() -> str | None:
    from dagster import DagsterInstance

    runs = DagsterInstance.get().get_runs(limit=1)
    return runs[0].run_id if runs else None


def _dbt_materializations(run_id: str) -> int:
    from dagster import DagsterEventType, DagsterInstance

    records = DagsterInstance.get().all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    return sum(1 for r in records if r.dagster_event.asset_key.path[0] not in ("raw", "writeback", "serving"))


def _kill_at(case: Case, sb, env: Path) -> None:
    """Start the job in a child process and SIGKILL its process group at ``case.kill``."""
    before_run = _latest_run_id()
    requests_before = _struck(sb)["requests"]
    crm_writes_before = len(sb.writes("salesforce"))
    triggers: dict[str, Callable[[], bool]] = {
        "load": lambda: _struck(sb)["requests"] - requests_before >= 8,
        "writeback": lambda: len(sb.writes("salesforce")) > crm_writes_before,
        "dbt": lambda: (run := _latest_run_id()) not in (None, before_run) and _dbt_materializations(run) >= 20,
    }
    log = env / f"killed_{case.kill}.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-c", RUN_ONCE], cwd=REPO_ROOT, start_new_session=True,
                                env={**os.environ, **case.env}, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while not triggers[case.kill]():
            assert proc.poll() is None, f"the run ended before it could be killed {case.kill}:\n" + log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"never reached {case.kill}:\n" + log.read_text()[-3000:]
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"the run was not killed (exit {proc.returncode})"


# ------------------------------------------------------------------------------------------ bad input
def _relation(bad: Bad) -> str:
    from ingestion.salesforce import table_name

    if bad.system == "salesforce":
        return f"raw_{bad.source or 'salesforce'}.{table_name(bad.obj)}"
    if bad.system == "legacy":
        return f"raw_legacy_erp.{bad.obj.lower()}"
    return f"raw_{bad.system}.{bad.obj}"


def _check_subject(bad: Bad) -> str:
    schema, table = _relation(bad).split(".")
    return f"raw/{schema.removeprefix('raw_')}/{table}:no_quarantined_records"


def _legacy(sb) -> sqlite3.Connection:
    return sqlite3.connect(sb.status()["legacy_erp"])


def _target(sb, bad: Bad) -> tuple[str, Any]:
    """The record a bad value goes into (its key) and the value it holds now."""
    if bad.system == "legacy":  # the value and its stamp: the ERP's own rewrite of the file restores both
        with closing(_legacy(sb)) as con:
            key, value, stamp = con.execute(
                f"select RCPT_NO, {bad.field}, LAST_UPD_TS from {bad.obj} order by RCPT_NO "  # noqa: S608
                "limit 1 offset ?", [bad.pick]).fetchone()
        return key, (value, stamp)
    records = sb.records(bad.system, bad.obj)
    if bad.system == "salesforce":
        records = sorted((r for r in records if not r.get("IsDeleted")), key=lambda r: r["Id"])
        return records[bad.pick]["Id"], records[bad.pick].get(bad.field)
    if bad.system == "netsuite":
        records = sorted((r for r in records if r.get("type") == "CustInvc"), key=lambda r: int(r["id"]))
        return str(records[bad.pick]["id"]), records[bad.pick].get(bad.field)
    records = sorted((r for r in records if r.get("status") in ("open", "paid")), key=lambda r: r["id"])
    return records[bad.pick]["id"], records[bad.pick].get(bad.field)


def _put(sb, bad: Bad, key: str, value: Any, minute: int) -> None:
    """Change the record as its system would: a new modification stamp, or a Stripe event."""
    at = datetime.combine(sb.clock, dtime(23, minute), UTC)
    if bad.system == "legacy":
        with closing(_legacy(sb)) as con, con:
            con.execute(f"update {bad.obj} set {bad.field} = ?, LAST_UPD_TS = ? where RCPT_NO = ?",  # noqa: S608
                        [value, at.strftime("%Y%m%d%H%M%S"), key])
    elif bad.system == "salesforce":
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        sb.patch_record("salesforce", bad.obj, key, **{bad.field: value, "SystemModstamp": stamp,
                                                        "LastModifiedDate": stamp})
    elif bad.system == "netsuite":
        sb.patch_record("netsuite", bad.obj, key, **{bad.field: value,
                                                      "lastmodifieddate": at.strftime("%Y-%m-%dT%H:%M:%SZ")})
    else:
        before = {r["id"]: r for r in sb.records("stripe", bad.obj)}[key]
        patched = sb.patch_record("stripe", bad.obj, key, **{bad.field: value})
        sb.store.emit_event("invoice.updated", patched, int(at.timestamp()), {bad.field: before.get(bad.field)})


def _plant(sb) -> list[tuple[Bad, str, Any]]:
    planted = []
    for bad in BAD_INPUT:
        key, original = _target(sb, bad)
        _put(sb, bad, key, bad.value, 0)
        planted.append((bad, key, original))
    return planted


def _put_right(sb, planted: list[tuple[Bad, str, Any]]) -> None:
    for bad, key, original in planted:
        if bad.system == "legacy":  # back as it was: the loader re-reads the keys it quarantined
            value, stamp = original
            with closing(_legacy(sb)) as con, con:
                con.execute(f"update {bad.obj} set {bad.field} = ?, LAST_UPD_TS = ? where RCPT_NO = ?",  # noqa: S608
                            [value, stamp, key])
        else:
            _put(sb, bad, key, original, 30)


def _check_quarantine(env: Path, planted: list[tuple[Bad, str, Any]], since: datetime) -> int:
    """Exactly the planted bad values are in quarantine, with their reasons; counted; the odd text loaded as is."""
    schemas = sorted({_relation(b).split(".")[0] for b, _, _ in planted})
    with _warehouse(env) as con:
        rows = []
        for schema in schemas:
            rows += [(schema, *r) for r in con.execute(
                f"select object, record_id, field, reason from {schema}.q2c_quarantine "  # noqa: S608
                "where quarantined_at >= ?", [since]).fetchall()]
        counted = sum(con.execute(f"select coalesce(sum(rows_quarantined), 0) from {schema}.q2c_load_metrics "  # noqa: S608
                                  "where finished_at >= ?", [since]).fetchone()[0] for schema in schemas)
        for bad, key, _ in planted:
            if bad.reason is None:
                relation = _relation(bad)
                (value,) = con.execute(f"select name from {relation} where id = ?", [key]).fetchone()  # noqa: S608
                assert value == bad.value, f"{bad.what}: loaded as {value!r}"
    found = {(schema, record_id, field): reason for schema, _, record_id, field, reason in rows}
    expected = {(_relation(b).split(".")[0], key, b.field): b.reason for b, key, _ in planted if b.reason}
    assert set(found) == set(expected), (sorted(set(expected) - set(found)), sorted(set(found) - set(expected)))
    for where, reason in expected.items():
        assert reason in found[where], f"{where}: {found[where]!r} does not say {reason!r}"
    assert counted == len(expected), f"the load metrics count {counted} quarantined records, not {len(expected)}"
    return len(expected)


# ------------------------------------------------------------------------------------------ checks
def _check_warehouse(sb, env: Path, round_writes: list[dict[str, Any]], outcome: Outcome,
                     skip: dict[str, set[str]] | None = None) -> None:
    items = sb.records("stripe", "invoiceitems")
    posted_now = {w["body"].get("metadata[q2c_external_id]") for w in round_writes
                  if w["system"] == "stripe" and w["method"] == "POST"}
    pending = {i["id"] for i in items if i["metadata"].get("q2c_external_id") in posted_now}
    with _warehouse(env) as con:
        raw = compare_raw(con, sb, allowed_missing={"raw_stripe.invoiceitems": pending}, skip=skip)
        assert not raw.problems(), "the raw layer differs from the sandbox:\n" + "\n".join(raw.problems())
        outcome.checked, outcome.duplicates = raw.checked, raw.duplicates
        outcome.lost = raw.missing + raw.mismatched
        # Marts: invoiced and paid per currency, to the cent.
        invoiced, paid = sandbox_totals(sb)
        mart = {cur: (Decimal(str(t)), Decimal(str(p))) for cur, t, p in con.execute(
            "select currency, sum(total_amount), sum(paid_amount) from marts.invoice_payment_status "
            "group by currency").fetchall()}
        assert mart == {cur: (invoiced[cur], paid.get(cur, Decimal(0))) for cur in invoiced}
        # Controls: exactly the ledger's cases.
        found = Counter((kind, obj) for kind, obj in con.execute(
            "select rule_name, object_id from controls.control_exceptions").fetchall())
        assert max(found.values(), default=1) == 1, "a (rule, object) twice in the queue"
        expected = {(e["kind"], e["key"]) for e in sb.ledger()}
        assert set(found) == expected, (sorted(expected - set(found))[:10], sorted(set(found) - expected)[:10])
        crm_payload = {r[0]: r[1:] for r in con.execute(
            """select external_id, "Payment_Status__c", "Open_Amount__c"
               from reverse_etl.rev_crm_invoice_payment_status""").fetchall()}
        billing_lines = {r[0]: r[1:] for r in con.execute(
            """select external_id, stripe_customer_id, amount, currency, period_start, period_end
               from reverse_etl.rev_billing_schedule""").fetchall()}
        # Credit notes issued before payment lower what is due: Stripe's open = its amount_remaining.
        stripe_open = {cur: (Decimal(str(o)), Decimal(str(c))) for cur, o, c in con.execute(
            "select currency, sum(open_amount), sum(credited_amount) from marts.invoice_payment_status "
            "where source_system = 'stripe' group by currency").fetchall()}
    billing_keys = set(billing_lines)
    remaining: dict[str, Decimal] = defaultdict(Decimal)
    credited: dict[str, Decimal] = defaultdict(Decimal)
    for inv in sb.records("stripe", "invoices"):
        if inv["status"] not in ("draft", "void"):
            remaining[inv["currency"].upper()] += Decimal(inv["amount_remaining"]) / 100
            credited[inv["currency"].upper()] += Decimal(inv.get("pre_payment_credit_notes_amount") or 0) / 100
    assert any(credited.values()), "the world should hold pre-payment credit notes"
    assert stripe_open == {cur: (remaining[cur], credited[cur]) for cur in remaining}
    # Writebacks, exactly once in effect.
    crm = sb.records("salesforce", CRM_OBJECT)
    per_key = Counter(r[CRM_KEY] for r in crm)
    assert max(per_key.values()) == 1, [k for k, n in per_key.items() if n > 1][:5]
    assert set(crm_payload) <= set(per_key)
    for rec in crm:
        if rec[CRM_KEY] in crm_payload:
            status, open_amount = crm_payload[rec[CRM_KEY]]
            assert (rec["Payment_Status__c"], Decimal(str(rec["Open_Amount__c"]))) == (status, open_amount), rec
    item_keys = Counter(i["metadata"]["q2c_external_id"] for i in items if i["metadata"].get("q2c_external_id"))
    assert max(item_keys.values()) == 1 and billing_keys <= set(item_keys)
    for item in items:  # each item holds its line's current payload
        if (key := item["metadata"].get("q2c_external_id")) in billing_lines:
            assert (item["customer"], item["amount"], item["currency"], item["period"]["start"],
                    item["period"]["end"]) == billing_lines[key], key
    executed = Counter(w["body"].get("metadata[q2c_external_id]") for w in sb.writes("stripe")
                       if w["method"] == "POST" and not w["replayed"])
    assert executed == item_keys, "a Stripe invoice item was created twice, or not by q2c"
    outcome.crm_records, outcome.stripe_items = len(per_key), len(item_keys)
    sent = Counter((rec[CRM_KEY], rec.get("Payment_Status__c"), str(rec.get("Open_Amount__c")))
                   for w in round_writes if w["system"] == "salesforce" and w["method"] == "PATCH"
                   for rec in w["body"]["records"])
    outcome.resent = sum(n - 1 for n in sent.values())
    outcome.replays = sum(1 for w in round_writes if w["system"] == "stripe" and w.get("replayed"))


def _check_summary(summary) -> None:
    """The run did work in every layer and left what `make demo` prints: sync log, alert log, BI file."""
    assert set(summary.rows_loaded) == {"salesforce", "certinia", "stripe", "netsuite", "legacy_erp"}
    assert summary.models_built >= 80 and summary.checks_passed >= 300, summary.render()
    assert summary.sync_log_records is not None and summary.sync_log_records >= sum(summary.written_back.values())
    assert summary.alert_log and Path(summary.alert_log).exists()
    assert summary.serving_path and Path(summary.serving_path).exists() and summary.serving_tables > 0
    rendered = summary.render()
    assert "Sync log" in rendered and "Alert log" in rendered and "BI serving file" in rendered


def _check_load_metrics(quarantined: int) -> None:
    """The raw asset's materialization carries the load's figures: extracted = loaded + quarantined."""
    from dagster import AssetKey, DagsterInstance

    event = DagsterInstance.get().get_latest_materialization_event(AssetKey(["raw", "certinia", "pse_timecard_c"]))
    meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert meta["q2c/rows_extracted"] == meta["q2c/rows_loaded"] + meta["q2c/rows_quarantined"], meta
    assert meta["q2c/rows_quarantined"] == quarantined, meta
    assert meta["q2c/rows_extracted"] > 0 and meta["q2c/cursor_reached"].startswith("20"), meta


# The snapshot's tracked terms (snapshots.yml check_cols) and the CRM fields they come from.
SNAPSHOT_TERMS = {"status": "Status", "billing_model": "Billing_Model__c", "billing_frequency": "Billing_Frequency__c",
                  "payment_terms": "Payment_Terms__c", "currency": "CurrencyIsoCode", "term_months": "ContractTerm",
                  "contract_amount": "Contract_Amount__c", "contract_version": "Contract_Version__c",
                  "start_date": "StartDate", "end_date": "EndDate", "is_deleted": "IsDeleted"}


def _terms(values: dict[str, Any]) -> tuple:
    """The tracked terms of a contract, as comparable values (both sides: CRM record or snapshot row)."""
    def norm(column: str, v: Any) -> Any:
        if v is None:
            return False if column == "is_deleted" else None
        if column == "contract_amount":
            return Decimal(str(v))
        if column in ("term_months", "contract_version"):
            return int(v)
        if column in ("start_date", "end_date"):
            return str(v)[:10]
        if column == "currency":
            return str(v).upper()
        return v
    return tuple(norm(column, values.get(column)) for column in SNAPSHOT_TERMS)


def _check_snapshot(sb, env: Path, versions: dict[str, list[Decimal | None]]) -> None:
    """One current version per contract, holding the CRM's terms now; an amendment closed the old one,
    and no version repeats the terms of the one before it.

    ``versions`` collects each contract's amounts as the cases ended; the snapshot's history must be
    exactly that sequence of amounts (the world amends contracts as its clock moves)."""
    def amount(v: Any) -> Decimal | None:
        return None if v is None else Decimal(str(v))

    crm = {c["Id"]: _terms({column: c.get(field) for column, field in SNAPSHOT_TERMS.items()})
           for c in sb.records("salesforce", "Contract")}
    amount_at = list(SNAPSHOT_TERMS).index("contract_amount")
    now = {key: terms[amount_at] for key, terms in crm.items()}
    for key, value in now.items():
        if not versions.get(key) or versions[key][-1] != value:
            versions.setdefault(key, []).append(value)
    with _warehouse(env) as con:
        cursor = con.execute(f"select contract_id, dbt_valid_to is null as is_current, {', '.join(SNAPSHOT_TERMS)} "  # noqa: S608
                             "from snapshots.contract_terms_history order by contract_id, dbt_valid_from")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    history: dict[str, list[Decimal | None]] = {}
    current: dict[str, tuple] = {}
    repeated = []
    previous: dict[str, tuple] = {}
    for row in rows:
        key, terms = row["contract_id"], _terms(row)
        if previous.get(key) == terms:
            repeated.append((key, terms))
        previous[key] = terms
        value = terms[amount_at]  # a version that changed other terms only keeps the amount's run
        if not history.get(key) or history[key][-1] != value:
            history.setdefault(key, []).append(value)
        if row["is_current"]:
            assert key not in current, f"two current versions of contract {key}"
            current[key] = terms
    assert not repeated, f"a snapshot version repeats the terms before it: {repeated[:3]}"
    assert current == crm, {k: (current.get(k), v) for k, v in crm.items() if current.get(k) != v}
    assert history == versions, {k: (history.get(k), v) for k, v in versions.items() if history.get(k) != v}


PAYLOADS = {"crm": "reverse_etl.rev_crm_invoice_payment_status", "billing": "reverse_etl.rev_billing_schedule"}


def _payload_hashes(env: Path) -> dict[str, dict[str, str]]:
    """Each writeback payload's content hash per external id, as the warehouse holds them now."""
    if not (env / "warehouse" / "q2c.duckdb").exists():
        return {name: {} for name in PAYLOADS}
    with _warehouse(env) as con:
        return {name: dict(con.execute(f"select external_id, content_hash from {relation}").fetchall())  # noqa: S608
                for name, relation in PAYLOADS.items()}


def _check_sent_only_what_changed(before: dict[str, dict[str, str]], env: Path,
                                  round_writes: list[dict[str, Any]]) -> None:
    """The case's writebacks went to exactly the lines that are new or changed since the last case,
    and nowhere else (a retry may repeat a line, never add one)."""
    after = _payload_hashes(env)
    changed = {name: {k for k, h in after[name].items() if before[name].get(k) != h} for name in PAYLOADS}
    crm_sent = {rec[CRM_KEY] for w in round_writes if w["system"] == "salesforce" and w["method"] == "PATCH"
                for rec in w["body"]["records"]}
    billing_sent = {w["body"].get("metadata[q2c_external_id]") for w in round_writes
                    if w["system"] == "stripe" and w["method"] == "POST"}
    assert crm_sent == changed["crm"], (sorted(crm_sent - changed["crm"])[:5], sorted(changed["crm"] - crm_sent)[:5])
    assert billing_sent == changed["billing"], (sorted(billing_sent - changed["billing"])[:5],
                                                sorted(changed["billing"] - billing_sent)[:5])


def _run_with_a_held_reader():
    """The run, while a dashboard's connection to the serving file queries it every 0.2 s."""
    from orchestration import settings
    from tests.fixtures.serving import held_reader, new_connection, warehouse_counts

    serving = settings.serving_path()
    with duckdb.connect(str(serving), read_only=True) as con:
        opened = con.execute("select max(published_at), any_value(run_id), "
                             "(select count(*) from marts.invoice_payment_status) from serving_meta").fetchone()
    with held_reader(serving) as reader:
        summary = _run_in_process()
        new = new_connection(serving)
    assert summary.success, summary.render()
    reader.assert_undisturbed(opened)  # it read the file as it opened it, undisturbed
    assert new["run_id"] == summary.run_id  # a new connection sees this run's file
    assert new["counts"] == warehouse_counts(settings.warehouse_path())
    return summary


def _check_alerts(expected: tuple[tuple[str, str, str], ...], new: list[dict[str, Any]],
                  everything: list[dict[str, Any]], outcome: Outcome) -> None:
    seen = Counter((a["kind"], a["subject"], a["status"]) for a in new)
    assert max(seen.values(), default=1) == 1, f"an alert raised twice in one case: {seen}"
    runs_and_checks = sorted(k for k in seen if k[0] != "control_exception")
    assert runs_and_checks == sorted(expected), runs_and_checks
    # Across the campaign a failed run or check alternates raised, cleared, raised ... (never twice in
    # a row). A control rule raises again only for exceptions it has not alerted before (docs/alerts.md);
    # it clears once.
    last: dict[tuple[str, str], str] = {}
    for a in everything:
        key = (a["kind"], a["subject"])
        if a["kind"] != "control_exception" or a["status"] == "cleared":
            assert last.get(key, "cleared") != a["status"], f"{key} {a['status']} twice in a row"
        else:
            assert a["count"] > 0, a
        last[key] = a["status"]
    outcome.alerts = [f"{kind} {status}: {subject}" for kind, subject, status in
                      sorted(seen, key=lambda k: (k[0] != "run_failed", k[0], k[2] != "raised", k[1]))]


# ------------------------------------------------------------------------------------------ the cases
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(campaign, case: Case):
    sb, env = campaign["sandbox"], campaign["env"]
    outcome = Outcome(case)
    started = time.monotonic()
    writes_before, alerts_before = len(sb.writes()), len(_alert_log(env))
    struck_before = _struck(sb)
    clock_before = sb.clock
    deletions_before = len(sb.truth()["deletions"])
    if campaign["outcomes"]:  # the first case loads the world as it is
        sb.advance(case.days)
        while case.until and _moved(sb, clock_before, deletions_before)[case.until[0]] < case.until[1]:
            assert (sb.clock - clock_before).days < MAX_DAYS, f"no {case.until} within {MAX_DAYS} days"
            sb.advance(1)
        moved = _moved(sb, clock_before, deletions_before)
        outcome.late, outcome.deleted = moved["late"], moved["deletes"] + _delete_quotes(sb, case.delete_quotes)
    planted = _plant(sb) if case.bad_input else []
    payloads_before = _payload_hashes(env)
    since = datetime.now(UTC)
    for system, knobs in case.faults.items():
        sb.set_faults(system, replace=True, **knobs)
    try:
        if case.kill:
            _kill_at(case, sb, env)
            for system in case.faults:
                sb.clear_faults(system)
        summary = _run_with_a_held_reader() if case.bi_reader else _run_in_process()
    finally:
        sb.clear_faults()
    struck = _struck(sb) - struck_before
    outcome.requests = struck.pop("requests", 0)
    struck.pop("latency_ms", None)
    outcome.struck = dict(struck)
    for knobs in case.faults.values():
        for knob in ("rate_limit", "error_rate", "drop_rate", "drop_after_rate", "malformed_rate",
                     "duplicate_events", "schema_drift"):
            if knob in knobs and not case.kill:
                assert struck.get(knob, 0) > 0, f"{knob} never struck: {dict(struck)}"
    assert summary.success, summary.render()
    # What the previous case left in quarantine this run loads again: its checks clear, once.
    expected_alerts = case.alerts + tuple(("check_failed", subject, "cleared") for subject in campaign["to_clear"])
    campaign["to_clear"] = []
    skip: dict[str, set[str]] = {}
    if case.bad_input:
        subjects = sorted({_check_subject(b) for b, _, _ in planted if b.reason})
        assert sorted(summary.checks_failed) == subjects, summary.render()
        outcome.quarantined = _check_quarantine(env, planted, since)
        # Put right at the source (the next case's run loads them). Nothing else is affected: every
        # other record equals the sandbox, and the marts reconcile to it.
        _put_right(sb, planted)
        for bad, key, _ in planted:  # all changed again at the source: the next run loads them
            skip.setdefault(_relation(bad), set()).add(key)
        expected_alerts += tuple(("check_failed", subject, "raised") for subject in subjects)
        campaign["to_clear"] = subjects
    elif case.quarantines:
        assert summary.checks_failed == [QUARANTINE_CHECK], summary.render()
        with _warehouse(env) as con:
            ids = {r for (r,) in con.execute(
                "select distinct record_id from raw_certinia.q2c_quarantine "
                "where field = 'pse__Total_Hours__c' and reason like 'expected a number, got %' "
                "and quarantined_at >= ?", [since]).fetchall()}
        outcome.quarantined = len(ids)
        assert ids
        skip["raw_certinia.pse_timecard_c"] = ids
        campaign["to_clear"] = [QUARANTINE_CHECK]
    else:
        assert summary.checks_failed == [], summary.render()
    if case.kill == "writeback":
        assert summary.written_back["crm/invoice_payment_status"] > 0  # the rest of the batches, not the first
    _check_summary(summary)
    planted_timecards = sum(1 for b, _, _ in planted if b.reason and b.obj == "pse__Timecard__c")
    _check_load_metrics(planted_timecards if case.bad_input else outcome.quarantined if case.quarantines else 0)
    everything = _alert_log(env)
    round_writes = sb.writes()[writes_before:]
    _check_sent_only_what_changed(payloads_before, env, round_writes)
    _check_warehouse(sb, env, round_writes, outcome, skip=skip)
    _check_snapshot(sb, env, campaign["contract_versions"])
    _check_alerts(expected_alerts, everything[alerts_before:], everything, outcome)
    outcome.seconds = time.monotonic() - started
    campaign["outcomes"].append(outcome)
    print(dict(zip(HEADER, outcome.row(), strict=True)))


def test_the_campaign_table_is_the_one_in_the_docs(campaign):
    outcomes: list[Outcome] = campaign["outcomes"]
    assert [o.case.name for o in outcomes] == [c.name for c in CASES], "a case failed: the table is incomplete"
    amended = [k for k, amounts in campaign["contract_versions"].items() if len(amounts) > 1]
    assert amended, "no contract was amended during the campaign: the snapshot's history went untested"
    rows = [o.row() for o in outcomes]
    totals = ["**total**", "", f"{sum(o.requests for o in outcomes):,}",
              f"{sum(sum(o.struck.values()) for o in outcomes):,}", str(sum(o.late for o in outcomes)),
              str(sum(o.deleted for o in outcomes)), str(sum(o.quarantined for o in outcomes)),
              f"{sum(o.checked for o in outcomes):,}", str(sum(o.duplicates for o in outcomes)),
              str(sum(o.lost for o in outcomes)), "", f"{sum(o.resent for o in outcomes)} / "
              f"{sum(o.replays for o in outcomes)}", "", f"{sum(o.seconds for o in outcomes):.0f}"]
    table = render_table([*rows, totals])
    print("\n" + table)
    text = DOCS.read_text()
    head, rest = text.split(BEGIN)
    documented, tail = rest.split(END)
    if os.environ.get("Q2C_CAMPAIGN_WRITE_DOCS"):
        DOCS.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")
        return
    assert _stable(documented) == _stable(table), (
        "docs/reliability.md's table is not what the campaign printed: rerun with Q2C_CAMPAIGN_WRITE_DOCS=1")


# ------------------------------------------------------------------------------------------ after the campaign
def test_gx_suite_passes_on_the_mart_and_fails_on_a_bad_row(campaign, tmp_path):
    """The mart's GX suite over the campaign's warehouse passes; on a copy with one impossible row it fails."""
    import shutil

    from expectations.runner import validate_table

    warehouse = campaign["env"] / "warehouse" / "q2c.duckdb"
    good = validate_table(warehouse, "invoice_payment_status")
    assert good.success, good.summary()
    assert good.rows > 0 and good.evaluated >= 10
    bad_path = tmp_path / "bad.duckdb"
    shutil.copy(warehouse, bad_path)
    with duckdb.connect(str(bad_path)) as con:  # one invoice paid more than its total
        con.execute("""update marts.invoice_payment_status set paid_amount = total_amount + 1
                       where invoice_id = (select min(invoice_id) from marts.invoice_payment_status)""")
    bad = validate_table(bad_path, "invoice_payment_status")
    assert not bad.success
    assert [f["type"] for f in bad.failed] == ["expect_column_pair_values_a_to_be_greater_than_b"]


def test_a_bad_row_fails_the_gx_check_and_blocks_the_crm_writeback(campaign):
    """A paid Stripe invoice changed to a currency no mart allows: caught, and the CRM hears nothing.

    Last of the run tests: the world keeps the bad row."""
    sb = campaign["sandbox"]
    invoice = next(i for i in sorted(sb.records("stripe", "invoices"), key=lambda i: i["id"]) if i["status"] == "paid")
    # Not a zero-decimal currency: its amounts would stop matching its payments', which the
    # canonical reconciliations catch before the mart.
    patched = sb.patch_record("stripe", "invoices", invoice["id"], currency="chf")
    # Stripe tells of the change through an event (its objects carry no updated stamp).
    end_of_day = int(datetime.combine(sb.clock, dtime.max, UTC).timestamp())
    sb.store.emit_event("invoice.updated", patched, end_of_day, {"currency": invoice["currency"]})
    crm_writes = len(sb.writes("salesforce"))
    summary = _run_in_process()
    assert not summary.success
    # Caught four times: staging's accepted currencies and the missing FX rate (warnings), the
    # mart's GX suite and the CRM payload's (both blocking). The invoice is paid, so AR ageing
    # (a warning suite on open balances) does not see it.
    assert sorted(summary.checks_failed) == [
        "canonical/invoice:assert_every_fact_has_its_fx_rates",
        "marts/invoice_payment_status:gx_invoice_payment_status",
        "reverse_etl/rev_crm_invoice_payment_status:gx_rev_crm_invoice_payment_status",
        "staging/stg_stripe__invoices:accepted_values_stg_stripe__invoices__warn"], summary.render()
    assert "crm/invoice_payment_status" not in summary.written_back
    assert len(sb.writes("salesforce")) == crm_writes
    assert summary.written_back.get("billing/billing_schedule") == 0  # unaffected, and nothing new to send


def test_no_secret_is_left_anywhere_the_runs_wrote(campaign):
    """The sandbox's keys and the tokens it issued are in none of what the campaign's runs left:
    Dagster's run storage, event logs and compute logs, the warehouse and the BI serving file
    (every text value), the sync log, the alert log, dlt's pipeline state and load packages, dbt's
    artifacts and logs, the GX project and data docs, the killed runs' output. (The sandbox's own
    state directory holds its credentials by design and is skipped.)"""
    from tests.support.secrets import find_secrets, sandbox_secrets

    env = campaign["env"]
    scanned = [p for p in env.rglob("*") if p.is_file() and not p.is_relative_to(env / "sandbox")]
    assert any(p.suffix == ".duckdb" for p in scanned) and any(p.name.endswith(".db") for p in scanned)
    assert len(scanned) > 50
    assert find_secrets(env, sandbox_secrets(), skip=(env / "sandbox",)) == []


def render_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(" --- " for _ in HEADER) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _stable(table: str) -> list[list[str]]:
    """The table without the columns that vary from run to run."""
    keep = [i for i, name in enumerate(HEADER) if name not in VARIABLE]
    rows = [line.strip().strip("|").split(" | ") for line in table.strip().splitlines()[2:]]
    return [[row[i].strip() for i in keep] for row in rows]
