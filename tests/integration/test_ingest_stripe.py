"""The Stripe source against the sandbox over HTTPS on loopback, into a DuckDB file.

One sandbox and one warehouse go through a story, one step per fixture (each step depends on the
one before, so any test can run alone): the first load, a rerun with nothing new, the clock
advanced (new invoices, payments, a void, a canceled subscription, a client-written invoice
item), the same with every event delivered twice, a reconciliation compared with a fresh full
load, the periodic reconciliation, an event cursor past Stripe's 30-day retention, schema drift
and a deleted customer. Each step keeps what it saw (warehouse rows, metrics, the sandbox's
records), so the tests compare snapshots, not a sandbox that later steps have moved on.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from ingestion.stripe import LAG_SECONDS, STRIPE_API_VERSION, stripe_source
from ingestion.stripe.helpers import API_VERSION_COLUMN, STRIPE_OBJECTS, StripeClient, flatten
from sandbox.server import Sandbox

TABLES = tuple(STRIPE_OBJECTS)
DATASET = "raw_stripe"

Rows = dict[str, dict[str, dict[str, Any]]]  # table -> id -> row


@dataclass
class Step:
    metrics: dict[str, dict[str, Any]]  # resource -> its q2c_load_metrics row of this load
    load_id: str
    tables: Rows  # the warehouse after the step (no _dlt_ columns)
    truth: dict[str, list[dict[str, Any]]]  # the sandbox's records after the step
    notes: dict[str, Any] = field(default_factory=dict)


class Harness:
    """A pipeline loading the sandbox's Stripe into its own DuckDB file (and its own dlt state)."""

    def __init__(self, sb: Sandbox, base: Path, name: str = "q2c_stripe_test") -> None:
        self.sb, self.name = sb, name
        self.warehouse = base / f"{name}.duckdb"
        self.pipelines_dir = base / f"{name}_pipelines"

    def run(self, **source_args: Any) -> Step:
        pipeline = dlt.pipeline(pipeline_name=self.name, destination=dlt.destinations.duckdb(str(self.warehouse)),
                                dataset_name=DATASET, pipelines_dir=str(self.pipelines_dir))
        source = stripe_source(base_url=self.sb.urls["stripe"], api_key=self.sb.credentials["stripe"]["api_key"],
                               ca_bundle=str(self.sb.ca_bundle), **source_args)
        info = pipeline.run(source, loader_file_format="parquet")
        assert not info.has_failed_jobs
        load_id = info.loads_ids[-1]
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            metrics = {r["resource"]: r for r in _dicts(con, f"select * from {DATASET}.q2c_load_metrics "
                                                              "where _dlt_load_id = ?", [load_id])}
            tables = {t: {r["id"]: r for r in _dicts(con, f"select * from {DATASET}.{t}")} for t in TABLES}
        return Step(metrics, load_id, tables, {t: self.sb.records("stripe", t) for t in TABLES})

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return _dicts(con, sql, params)


def _dicts(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _content(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_dlt_")}


def assert_matches(tables: Rows, truth: dict[str, list[dict[str, Any]]], *, ignore: tuple[str, ...] = ()) -> None:
    """Each table holds exactly the sandbox's records: same ids, every field equal, nothing else set."""
    for table, spec in STRIPE_OBJECTS.items():
        expected = {r["id"]: flatten(r, spec) for r in truth[table]}
        rows = tables[table]
        assert set(rows) == set(expected), table
        for object_id, fields in expected.items():
            row = rows[object_id]
            for column, value in fields.items():
                got = row[column]
                if isinstance(value, dict | list) and got is not None:
                    got = json.loads(got)
                assert got == value, (table, object_id, column)
            extra = {c: v for c, v in _content(row).items()
                     if c not in fields and c not in (API_VERSION_COLUMN, *ignore) and v is not None}
            assert extra == {}, (table, object_id)


def clock_end(sb: Sandbox) -> int:
    """The last second of the sandbox clock's day (unix time)."""
    return int(datetime.combine(sb.clock + timedelta(days=1), time(0), tzinfo=UTC).timestamp()) - 1


def void_old_invoice(sb: Sandbox) -> str:
    """Void the oldest open invoice as Stripe would (status, amounts, transition time, ``invoice.voided``)."""
    invoice = min((i for i in sb.records("stripe", "invoices") if i["status"] == "open"), key=lambda i: i["created"])
    at = clock_end(sb) - 3600
    invoice.update(status="void", amount_remaining=0,
                   status_transitions={**invoice["status_transitions"], "voided_at": at})
    with sb.store.lock:
        sb.store.put("stripe", "invoices", invoice)
        sb.store.emit_event("invoice.voided", invoice, at)
    return invoice["id"]


# ---------------------------------------------------------------------------------------------- the story
@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("stripe-sandbox"), seed=42, scale=1.0) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stripe-warehouse")


@pytest.fixture(scope="module")
def harness(sb: Sandbox, base: Path) -> Harness:
    return Harness(sb, base)


@pytest.fixture(scope="module")
def stripe_client(sb: Sandbox) -> StripeClient:
    return StripeClient(sb.urls["stripe"], sb.credentials["stripe"]["api_key"], str(sb.ca_bundle))


@pytest.fixture(scope="module")
def first(harness: Harness) -> Step:
    return harness.run()


@pytest.fixture(scope="module")
def rerun(first: Step, harness: Harness) -> Step:
    return harness.run()


@pytest.fixture(scope="module")
def advanced(rerun: Step, harness: Harness, sb: Sandbox, stripe_client: StripeClient) -> Step:
    """Five days later (still inside every event cursor's retention), an old invoice voided, a new invoice item.

    The world voids invoices a few days after creating them, inside the ``created[gte]`` window; the
    void of a months-old invoice reaches the warehouse through its ``invoice.voided`` event only.
    """
    sb.advance(5)
    voided = void_old_invoice(sb)
    customer = next(c for c in sb.records("stripe", "customers") if c["currency"] == "usd")
    resp = stripe_client.post("/v1/invoiceitems", {"customer": customer["id"], "amount": 125000,
                                                   "description": "Milestone 1", "metadata[q2c_external_id]": "bs-1"},
                              str(uuid.uuid4()))
    assert resp.status_code == 200, resp.text
    step = harness.run()
    step.notes["voided_old_invoice"] = voided
    return step


@pytest.fixture(scope="module")
def duplicated(advanced: Step, harness: Harness, sb: Sandbox, stripe_client: StripeClient) -> Step:
    """Five more days and an invoice item update, read with every event delivered twice."""
    item = sb.records("stripe", "invoiceitems")[0]
    resp = stripe_client.post(f"/v1/invoiceitems/{item['id']}", {"amount": 130000}, str(uuid.uuid4()))
    assert resp.status_code == 200, resp.text
    sb.advance(5)
    sb.set_faults("stripe", duplicate_events=1.0)
    try:
        return harness.run()
    finally:
        sb.clear_faults("stripe")


@pytest.fixture(scope="module")
def reconciled(duplicated: Step, harness: Harness) -> Step:
    return harness.run(reconcile=True)


@pytest.fixture(scope="module")
def fresh(reconciled: Step, sb: Sandbox, base: Path) -> Step:
    """A fresh full load of the same sandbox into another warehouse."""
    return Harness(sb, base, name="q2c_stripe_fresh").run()


@pytest.fixture(scope="module")
def periodic(fresh: Step, harness: Harness) -> tuple[Step, Step]:
    """Two runs with a reconciliation every 2 runs: the run after the last full list reads events, the next lists."""
    return harness.run(reconcile_every=2), harness.run(reconcile_every=2)


@pytest.fixture(scope="module")
def expired(periodic: tuple[Step, Step], harness: Harness, sb: Sandbox) -> Step:
    """40 days later: every event cursor has left the 30-day retention."""
    sb.advance(40)
    return harness.run()


@pytest.fixture(scope="module")
def drifted(expired: Step, harness: Harness, sb: Sandbox) -> Step:
    """A new field on invoices, and tax rate percentages served as booleans."""
    sb.advance(5)
    sb.set_faults("stripe", schema_drift={"new_field": True, "objects": ["invoice"],
                                          "changed_type": {"object": "tax_rate", "field": "percentage",
                                                           "to": "boolean"}})
    try:
        return harness.run()
    finally:
        sb.clear_faults("stripe")


# ---------------------------------------------------------------------------------------------- tests
def test_first_run_lists_every_object(first: Step):
    assert {r: m["mode"] for r, m in first.metrics.items()} == dict.fromkeys(TABLES, "full")
    for table in TABLES:
        assert len(first.tables[table]) == len(first.truth[table]), table
        assert first.metrics[table]["rows_loaded"] == len(first.truth[table]) == first.metrics[table]["rows_extracted"]
        assert first.metrics[table]["rows_quarantined"] == 0
    assert first.tables["invoiceitems"] == {}  # none yet, but the table exists (the harness read it)
    assert_matches(first.tables, first.truth)
    # canceled subscriptions are hidden by the default list: asked for with status=all
    assert len(first.truth["subscriptions"]) == len(first.tables["subscriptions"])


def test_raw_columns_keep_both_invoice_shapes_and_the_api_version(first: Step, harness: Harness):
    columns = {r["column_name"]: r["data_type"] for r in harness.query(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'raw_stripe' and table_name = 'invoices'")}
    # what staging reads
    for name in ("metadata__salesforce_contract_id", "metadata__legal_entity", "status_transitions__paid_at",
                 "status_transitions__voided_at", "deleted", "due_date", "amount_paid"):
        assert name in columns, name
    assert columns["total"] == columns["created"] == columns["status_transitions__finalized_at"] == "BIGINT"
    # the Basil shape served, and the older one declared
    for name in ("parent__type", "parent__subscription_details", "total_taxes", "lines__data",
                 "subscription", "subscription_details__metadata", "charge", "payment_intent", "paid"):
        assert name in columns, name
    invoice = next(iter(first.tables["invoices"].values()))
    assert invoice[API_VERSION_COLUMN] == STRIPE_API_VERSION
    assert invoice["parent__type"] == "subscription_details" and invoice["subscription"] is None
    assert json.loads(invoice["lines__data"])[0]["object"] == "line_item"


def test_rerun_without_changes_reads_events_only(first: Step, rerun: Step):
    assert {r: m["mode"] for r, m in rerun.metrics.items()} == dict.fromkeys(TABLES, "events")
    for table in TABLES:
        assert {i: _content(r) for i, r in rerun.tables[table].items()} == \
            {i: _content(r) for i, r in first.tables[table].items()}, table
    for table in ("invoices", "invoice_payments", "customers"):  # only the created[gte] lag window is read again
        assert rerun.metrics[table]["rows_extracted"] < len(first.truth[table]) // 4, table
    assert json.loads(rerun.metrics["invoices"]["cursor_reached"]) == \
        json.loads(first.metrics["invoices"]["cursor_reached"])


def test_advance_brings_new_invoices_and_status_changes(rerun: Step, advanced: Step):
    for table in ("invoices", "invoice_payments", "subscriptions", "invoiceitems"):
        assert advanced.metrics[table]["mode"] == "events", table
    before = {i["id"]: i for i in rerun.truth["invoices"]}
    now = {i["id"]: i for i in advanced.truth["invoices"]}
    new = set(now) - set(before)
    paid = {i for i in before if before[i]["status"] != "paid" and now[i]["status"] == "paid"}
    voided = {i for i in now if now[i]["status"] == "void" and (i in new or before[i]["status"] != "void")}
    old = advanced.notes["voided_old_invoice"]
    assert new and paid and old in voided and voided - {old}
    # the old invoice was not listed again (created long before the created[gte] window): its event voided it
    created_cursor = json.loads(rerun.metrics["invoices"]["cursor_reached"])["created"]
    assert now[old]["created"] < created_cursor - LAG_SECONDS
    assert advanced.metrics["invoices"]["rows_extracted"] < len(now) // 2
    rows = advanced.tables["invoices"]
    assert all(rows[i]["status"] == "void" and rows[i]["status_transitions__voided_at"] for i in voided)
    assert all(rows[i]["status"] == "paid" and rows[i]["amount_remaining"] == 0 for i in paid)
    canceled = [s["id"] for s in advanced.truth["subscriptions"] if s["status"] == "canceled"]
    assert canceled and all(advanced.tables["subscriptions"][s]["status"] == "canceled" for s in canceled)
    assert len(advanced.tables["invoiceitems"]) == 1
    assert_matches(advanced.tables, advanced.truth)


def test_duplicate_events_neither_duplicate_nor_regress(advanced: Step, duplicated: Step, sb: Sandbox):
    for table in ("invoices", "invoice_payments", "subscriptions", "invoiceitems"):
        assert duplicated.metrics[table]["mode"] == "events", table
    assert sb.fault_counts()["stripe"].get("duplicate_events", 0) > 0
    assert_matches(duplicated.tables, duplicated.truth)
    assert next(iter(duplicated.tables["invoiceitems"].values()))["amount"] == 130000
    # nothing went back: every invoice paid or voided before is still so
    for object_id, row in advanced.tables["invoices"].items():
        if row["status"] in ("paid", "void"):
            assert duplicated.tables["invoices"][object_id]["status"] == row["status"]


def test_no_duplicate_rows_after_duplicate_events(duplicated: Step, harness: Harness):
    for table in TABLES:
        (dupes,) = harness.query(f"select count(*) - count(distinct id) as n from raw_stripe.{table}")
        assert dupes["n"] == 0, table


def test_reconciliation_gives_the_warehouse_of_a_fresh_full_load(duplicated: Step, reconciled: Step, fresh: Step):
    assert {r: m["mode"] for r, m in reconciled.metrics.items()} == dict.fromkeys(TABLES, "reconcile")
    assert {r: m["mode"] for r, m in fresh.metrics.items()} == dict.fromkeys(TABLES, "full")
    for table in TABLES:
        fresh_rows = {i: _content(r) for i, r in fresh.tables[table].items()}
        assert {i: _content(r) for i, r in reconciled.tables[table].items()} == fresh_rows, table
        # the events had already brought the warehouse there
        assert {i: _content(r) for i, r in duplicated.tables[table].items()} == fresh_rows, table


def test_reconciliation_every_n_runs(periodic: tuple[Step, Step]):
    events_run, reconcile_run = periodic
    assert {m["mode"] for m in events_run.metrics.values()} == {"events"}
    assert {m["mode"] for m in reconcile_run.metrics.values()} == {"reconcile"}
    assert_matches(reconcile_run.tables, reconcile_run.truth)


def test_event_cursor_past_retention_reconciles(expired: Step):
    # every table with events had its newest one more than 30 days before the new clock
    for table in ("invoices", "invoice_payments", "subscriptions"):
        assert expired.metrics[table]["mode"] == "reconcile", table
    assert_matches(expired.tables, expired.truth)


def test_schema_drift_new_field_arrives_as_a_column(expired: Step, drifted: Step, harness: Harness):
    assert drifted.metrics["invoices"]["mode"] == "events"
    # the rows this run loaded (new and changed invoices, the created[gte] window) carry the new field
    with_drift = {i for i, r in drifted.tables["invoices"].items() if r["q2c_drift"] is not None}
    before = {i["id"]: i for i in expired.truth["invoices"]}
    changed = {i["id"] for i in drifted.truth["invoices"] if before.get(i["id"]) != i}
    assert changed and changed <= with_drift
    assert len(with_drift) == drifted.metrics["invoices"]["rows_loaded"]
    assert {drifted.tables["invoices"][i]["q2c_drift"] for i in with_drift} == {"drift"}
    assert_matches(drifted.tables, drifted.truth, ignore=("q2c_drift",))
    # a value that no longer fits its pinned column: the record is quarantined, the column keeps its type
    reread = drifted.metrics["tax_rates"]["rows_extracted"]
    assert reread > 0 and drifted.metrics["tax_rates"]["rows_quarantined"] == reread
    quarantined = harness.query("select * from raw_stripe.q2c_quarantine where _dlt_load_id = ?", [drifted.load_id])
    assert {(q["object"], q["field"]) for q in quarantined} == {("tax_rates", "percentage")}
    assert all(isinstance(r["percentage"], float) for r in drifted.tables["tax_rates"].values())


def test_deleted_customer_is_kept_and_flagged(drifted: Step, harness: Harness, sb: Sandbox):
    customer = sb.records("stripe", "customers")[-1]
    with sb.store.lock:  # what Stripe does on DELETE /v1/customers/{id}
        sb.store.delete("stripe", "customers", customer["id"])
        sb.store.emit_event("customer.deleted", customer, clock_end(sb))
    step = harness.run()
    assert step.metrics["customers"]["mode"] in ("events", "reconcile")
    row = step.tables["customers"][customer["id"]]
    assert row["deleted"] is True and row["email"] == customer["email"]


# ---------------------------------------------------------------------------------------------- credit notes, schedules
def test_credit_notes_and_schedules_columns(first: Step, harness: Harness):
    def columns(table: str) -> dict[str, str]:
        return {r["column_name"]: r["data_type"] for r in harness.query(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'raw_stripe' and table_name = ?", [table])}

    notes = columns("credit_notes")
    for name in ("amount", "subtotal", "total", "pre_payment_amount", "post_payment_amount", "out_of_band_amount",
                 "created", "effective_at", "voided_at", "lines__total_count"):
        assert notes[name] == "BIGINT", name
    for name in ("invoice", "customer", "status", "type", "reason", "number", "memo", "lines__data", "refunds",
                 "total_taxes", "metadata__salesforce_contract_id"):
        assert name in notes, name
    schedules = columns("subscription_schedules")
    for name in ("created", "canceled_at", "completed_at", "released_at", "current_phase__start_date",
                 "current_phase__end_date"):
        assert schedules[name] == "BIGINT", name
    for name in ("subscription", "customer", "status", "end_behavior", "phases", "released_subscription",
                 "default_settings__invoice_settings", "metadata__salesforce_contract_id"):
        assert name in schedules, name
    invoices = columns("invoices")
    assert invoices["pre_payment_credit_notes_amount"] == invoices["post_payment_credit_notes_amount"] == "BIGINT"
    note = next(iter(first.tables["credit_notes"].values()))
    assert json.loads(note["lines__data"])[0]["object"] == "credit_note_line_item"
    schedule = next(iter(first.tables["subscription_schedules"].values()))
    assert json.loads(schedule["phases"])[0]["items"][0]["price"].startswith("price_")
    assert {r["status"] for r in first.tables["subscription_schedules"].values()} == {"active"}


@pytest.fixture(scope="module")
def clock_story(tmp_path_factory: pytest.TempPathFactory) -> list[Step]:
    """The world's clock alone moving credit notes and schedules, loaded after each move (every event cursor
    still within the 30-day retention): the first load (2026-06-30), then +10 days (a year-old schedule
    completed), +18 (a credit note issued; a schedule released, another created), +7 (two more credit notes),
    +9 (the credit note of day 27 voided, its invoice's amounts restored)."""
    with Sandbox(tmp_path_factory.mktemp("stripe-clock-sandbox"), seed=42, scale=1.0) as sandbox:
        story = Harness(sandbox, tmp_path_factory.mktemp("stripe-clock-warehouse"), name="q2c_stripe_clock")
        steps = [story.run()]
        for days in (10, 18, 7, 9):
            sandbox.advance(days)
            steps.append(story.run())
        return steps


def _created_cursor(step: Step, table: str) -> int:
    return json.loads(step.metrics[table]["cursor_reached"])["created"]


def test_the_clocks_credit_notes_and_schedules_arrive_through_events(clock_story: list[Step]):
    for after in clock_story[1:]:
        for table in ("credit_notes", "subscription_schedules", "invoices", "subscriptions"):
            assert after.metrics[table]["mode"] == "events", table
        assert_matches(after.tables, after.truth)
    first, _, moved, more, voided = clock_story
    # after 28 days: a new credit note; schedules ended, one of them made long before (only its event tells)
    notes = {cn["id"]: cn for cn in moved.truth["credit_notes"]}
    assert set(notes) - {cn["id"] for cn in first.truth["credit_notes"]}
    old = {s["id"]: s for s in first.truth["subscription_schedules"]}
    ended = {s["id"]: s for s in moved.truth["subscription_schedules"]
             if s["id"] in old and s["status"] != old[s["id"]]["status"]}
    assert {s["status"] for s in ended.values()} >= {"completed", "released"}
    cursor = _created_cursor(first, "subscription_schedules")
    assert any(s["created"] < cursor - LAG_SECONDS for s in ended.values())
    assert clock_story[1].metrics["subscription_schedules"]["rows_extracted"] < len(old)
    assert all(moved.tables["subscription_schedules"][s]["status"] == ended[s]["status"] for s in ended)
    released = next(s for s in ended.values() if s["status"] == "released")
    assert moved.tables["subscriptions"][released["released_subscription"]]["schedule"] is None
    # +7 days: more credit notes, so the one of day 27 falls out of the created[gte] window
    assert len(more.truth["credit_notes"]) > len(moved.truth["credit_notes"])
    # +9 days: that credit note voided - read from its credit_note.voided event only - and its invoice restored
    now = {cn["id"]: cn for cn in voided.truth["credit_notes"]}
    gone = [cn for cn_id, cn in now.items() if cn["status"] == "void" and cn_id in notes
            and notes[cn_id]["status"] == "issued"]
    assert gone, "the clock voids a credit note loaded as issued"
    for cn in gone:
        assert cn["created"] < _created_cursor(more, "credit_notes") - LAG_SECONDS
        row = voided.tables["credit_notes"][cn["id"]]
        assert row["status"] == "void" and row["voided_at"] == cn["voided_at"]
        invoice = voided.tables["invoices"][cn["invoice"]]
        assert invoice["pre_payment_credit_notes_amount"] == invoice["post_payment_credit_notes_amount"] == 0
        assert invoice["amount_due"] == invoice["total"]
    assert voided.metrics["credit_notes"]["rows_extracted"] < len(voided.truth["credit_notes"])
