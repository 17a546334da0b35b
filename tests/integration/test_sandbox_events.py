"""Stripe events over HTTPS: the world's lifecycle, client writes, filters, paging, retention, restart."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sandbox.server import Sandbox
from sandbox.testing import SandboxClient


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("events-sandbox")) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def client(sb: Sandbox) -> Iterator[SandboxClient]:
    c = SandboxClient(sb)
    yield c
    c.close()


def cutoff(sb: Sandbox) -> int:
    end_of_clock_day = datetime.combine(sb.clock + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return int((end_of_clock_day - timedelta(days=30)).timestamp())


def all_events(client: SandboxClient, **params: object) -> list[dict]:
    return client.stripe_list("events", **params)


def test_world_lifecycle_events_within_retention(client: SandboxClient, sb: Sandbox):
    events = all_events(client)
    everything = sb.store.events.all()
    assert events and len(everything) > len(events)  # older ones are kept but not listed
    assert events == [e for e in reversed(everything) if e["created"] >= cutoff(sb)]
    assert [(e["created"]) for e in events] == sorted((e["created"] for e in events), reverse=True)
    for event in events:
        assert event["object"] == "event" and event["livemode"] is False and event["pending_webhooks"] == 0
        assert event["api_version"] == "2026-10-28.endive" and event["request"] == {"id": None,
                                                                                    "idempotency_key": None}
    # The world's history, dated by the objects: every invoice was created, finalized and, if paid, paid then.
    by_invoice: dict[str, list[tuple[str, int]]] = {}
    for event in everything:
        if event["type"].startswith("invoice."):
            by_invoice.setdefault(event["data"]["object"]["id"], []).append((event["type"], event["created"]))
    for inv in sb.world.stripe["invoices"]:
        expected = [("invoice.created", inv["created"]), ("invoice.finalized", inv["status_transitions"]["finalized_at"])]
        if inv["status"] == "paid":
            expected.append(("invoice.paid", inv["status_transitions"]["paid_at"]))
        elif inv["status"] == "void":  # the world voids (and re-issues) a few invoices
            expected.append(("invoice.voided", inv["status_transitions"]["voided_at"]))
        assert by_invoice[inv["id"]] == expected
    customers = {e["data"]["object"]["id"]: e for e in everything if e["type"] == "customer.created"}
    assert {c["id"]: c["created"] for c in sb.world.stripe["customers"]} == {
        k: e["created"] for k, e in customers.items()}


def test_the_latest_snapshot_is_the_object_as_served(client: SandboxClient, sb: Sandbox):
    paid = [e for e in all_events(client, type="invoice.paid")]
    assert paid
    for event in paid:
        served = client.stripe("GET", f"/v1/invoices/{event['data']['object']['id']}").json()
        assert event["data"]["object"] == served and served["status"] == "paid"


def test_type_filters_and_created_bounds(client: SandboxClient, sb: Sandbox):
    events = all_events(client)
    invoice_events = all_events(client, type="invoice.*")
    assert invoice_events == [e for e in events if e["type"].startswith("invoice.")]
    chosen = all_events(client, **{"types[0]": "invoice.paid", "types[1]": "customer.created"})
    assert chosen == [e for e in events if e["type"] in ("invoice.paid", "customer.created")]
    assert all_events(client, **{"types[]": "invoice.paid"}) == [e for e in events if e["type"] == "invoice.paid"]
    middle = events[len(events) // 2]["created"]
    assert all_events(client, **{"created[gte]": middle}) == [e for e in events if e["created"] >= middle]
    assert all_events(client, **{"created[lt]": middle}) == [e for e in events if e["created"] < middle]
    assert all_events(client, delivery_success="false") == []


def test_paging_both_ways_and_retrieve(client: SandboxClient, sb: Sandbox):
    events = all_events(client)
    ids = [e["id"] for e in events]
    page = client.stripe("GET", "/v1/events", params={"limit": 2}).json()
    assert page["url"] == "/v1/events" and page["object"] == "list" and page["has_more"] is True
    assert [e["id"] for e in page["data"]] == ids[:2]
    back = client.stripe("GET", "/v1/events", params={"limit": 2, "ending_before": ids[4]}).json()
    assert [e["id"] for e in back["data"]] == ids[2:4] and back["has_more"] is True
    assert client.stripe("GET", f"/v1/events/{ids[3]}").json() == events[3]
    expired = next(e for e in sb.store.events.all() if e["created"] < cutoff(sb))
    gone = client.stripe("GET", f"/v1/events/{expired['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "resource_missing"


@pytest.mark.parametrize(("params", "param"), [
    ({"object_id": "x"}, "object_id"),
    ({"type": "invoice.paid", "types[0]": "invoice.paid"}, "type"),
    ({"limit": 0}, "limit"),
    ({"starting_after": "evt_nope"}, "starting_after"),
    ({"expand[]": "data.data.object"}, "expand[]"),
    ({"delivery_success": "maybe"}, "delivery_success"),
])
def test_bad_event_list_parameters(client: SandboxClient, params: dict, param: str):
    r = client.stripe("GET", "/v1/events", params=params)
    assert r.status_code == 400 and r.json()["error"]["param"] == param


def test_client_writes_emit_events(client: SandboxClient, sb: Sandbox):
    customer = sb.world.stripe["customers"][3]
    key = str(uuid.uuid4())
    created = client.stripe("POST", "/v1/invoiceitems", headers={"Idempotency-Key": key},
                            data={"customer": customer["id"], "amount": 4200, "description": "retainer"})
    item = created.json()
    replay = client.stripe("POST", "/v1/invoiceitems", headers={"Idempotency-Key": key},
                           data={"customer": customer["id"], "amount": 4200, "description": "retainer"})
    assert replay.headers["Idempotent-Replayed"] == "true"
    updated = client.stripe("POST", f"/v1/invoiceitems/{item['id']}", data={"amount": 4300})
    events = all_events(client, type="invoiceitem.*")
    mine = [e for e in events if e["data"]["object"]["id"] == item["id"]]
    assert [e["type"] for e in mine] == ["invoiceitem.updated", "invoiceitem.created"]  # one create, no replay
    upd, crt = mine
    assert crt["data"] == {"object": item} and crt["created"] == item["created"]
    assert crt["request"] == {"id": created.headers["Request-Id"], "idempotency_key": key}
    assert upd["data"]["object"] == updated.json()
    assert upd["data"]["previous_attributes"] == {"amount": 4200, "unit_amount_decimal": "4200"}
    assert upd["request"] == {"id": updated.headers["Request-Id"], "idempotency_key": None}
    assert events[0]["id"] == upd["id"]  # newest first: after the world's events


def test_emit_event_is_listed(client: SandboxClient, sb: Sandbox):
    invoice = next(i for i in sb.records("stripe", "invoices") if i["status"] == "open")
    at = int(datetime.combine(sb.clock, datetime.min.time(), tzinfo=UTC).timestamp()) + 3600
    voided = {**invoice, "status": "void", "status_transitions": {**invoice["status_transitions"], "voided_at": at}}
    event = sb.store.emit_event("invoice.voided", voided, at)
    update = sb.store.emit_event("invoice.updated", voided, at, previous_attributes={"status": "open"})
    listed = all_events(client, type="invoice.*")
    assert event in listed and update in listed
    assert listed.index(update) < listed.index(event)  # same second: emission order
    assert client.stripe("GET", f"/v1/events/{update['id']}").json()["data"]["previous_attributes"] == {
        "status": "open"}
    assert sb.store.emit_event("invoice.voided", voided, at) == event  # emitting it again is a no-op
    assert sb.status()["events"] == len(sb.store.events)


def test_events_survive_a_restart_with_the_same_ids(tmp_path: Path):
    with Sandbox(tmp_path) as sb:
        c = SandboxClient(sb)
        customer = sb.world.stripe["customers"][0]["id"]
        item = c.stripe("POST", "/v1/invoiceitems", data={"customer": customer, "amount": 100}).json()
        c.stripe("POST", f"/v1/invoiceitems/{item['id']}", data={"description": "changed"})
        at = int(datetime.combine(sb.clock, datetime.min.time(), tzinfo=UTC).timestamp())
        sb.store.emit_event("customer.updated", {**sb.world.stripe["customers"][0], "delinquent": True}, at,
                            previous_attributes={"delinquent": False})
        before = all_events(c)
        everything = sb.store.events.all()
        c.close()
    assert (tmp_path / "events.jsonl").read_text().count("\n") == 3
    with Sandbox(tmp_path) as sb:
        c = SandboxClient(sb)
        assert all_events(c) == before and sb.store.events.all() == everything
        c.close()
    with Sandbox(tmp_path, seed=7) as sb:  # another world does not inherit them
        assert not [e for e in sb.store.events.all() if e["type"].startswith(("invoiceitem.", "customer.updated"))]


# ----------------------------------------------------------------------------- credit notes and schedules

def test_world_credit_notes_and_schedules_have_their_created_events(client: SandboxClient, sb: Sandbox):
    everything = sb.store.events.all()
    for obj, kind in (("credit_notes", "credit_note"), ("subscription_schedules", "subscription_schedule")):
        records = sb.world.stripe[obj]
        created = {e["data"]["object"]["id"]: e for e in everything if e["type"] == f"{kind}.created"}
        assert records and {r["id"]: r["created"] for r in records} == {k: e["created"] for k, e in created.items()}
        listed = all_events(client, type=f"{kind}.*")
        assert listed == [e for e in all_events(client) if e["type"].startswith(f"{kind}.")]
        for event in listed:  # nothing ended yet at the base clock: the created event is the object as served
            served = client.stripe("GET", f"/v1/{obj}/{event['data']['object']['id']}").json()
            assert event["data"]["object"] == served


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, SandboxClient, dict, list]]:
    """A sandbox advanced 45 days by its clock, with its Stripe records and events from before."""
    with Sandbox(tmp_path_factory.mktemp("events-moved")) as sandbox:
        c = SandboxClient(sandbox)
        before = {obj: {r["id"]: r for r in sandbox.records("stripe", obj)}
                  for obj in ("credit_notes", "subscription_schedules", "invoices", "subscriptions")}
        seen = {e["id"] for e in sandbox.store.events.all()}
        sandbox.advance(45)
        new_events = [e for e in sandbox.store.events.all() if e["id"] not in seen]
        yield sandbox, c, before, new_events
        c.close()


def test_the_clock_emits_credit_note_and_schedule_events(moved):
    sb, client, before, new_events = moved
    by_object: dict[str, list[dict]] = {}
    for event in new_events:
        by_object.setdefault(event["data"]["object"]["id"], []).append(event)
    notes = {r["id"]: r for r in sb.records("stripe", "credit_notes")}
    added = set(notes) - set(before["credit_notes"])
    assert added and any(notes[n]["status"] == "void" for n in added)
    for note_id in added:
        note = notes[note_id]
        expected = [("credit_note.created", note["created"])]
        if note["status"] == "void":
            expected.append(("credit_note.voided", note["voided_at"]))
        assert [(e["type"], e["created"]) for e in by_object[note_id]] == expected
        assert by_object[note_id][0]["data"]["object"]["status"] == "issued"
    schedules = {r["id"]: r for r in sb.records("stripe", "subscription_schedules")}
    ended = {s_id: s for s_id, s in schedules.items()
             if s_id in before["subscription_schedules"] and s["status"] != before["subscription_schedules"][s_id]["status"]}
    assert {s["status"] for s in ended.values()} >= {"completed", "released"}
    for s_id, schedule in ended.items():
        (event,) = [e for e in by_object[s_id] if e["type"] != "subscription_schedule.updated"]
        assert event["type"] == f"subscription_schedule.{schedule['status']}"
        assert event["created"] == schedule[f"{schedule['status']}_at"]
    assert set(schedules) - set(before["subscription_schedules"]) <= {
        s for s, events in by_object.items() if events[0]["type"] == "subscription_schedule.created"}
    # a released schedule leaves its subscription: customer.subscription.updated says so
    released = next(s for s in ended.values() if s["status"] == "released")
    sub_events = [e for e in by_object[released["released_subscription"]] if "schedule" in
                  e["data"].get("previous_attributes", {})]
    assert sub_events and sub_events[-1]["data"]["previous_attributes"]["schedule"] == released["id"]
    # Every object the clock changed: its newest event is the object as served now (what loaders apply).
    for obj in ("credit_notes", "subscription_schedules", "invoices", "subscriptions"):
        for record in sb.records("stripe", obj):
            if before[obj].get(record["id"]) != record:
                newest = sorted(by_object[record["id"]], key=lambda e: e["created"])[-1]  # ties: emitted last
                assert newest["data"]["object"] == record, (obj, record["id"])
    # /v1/events lists them (those of the last 30 days)
    for kind in ("credit_note", "subscription_schedule"):
        listed = {e["id"] for e in all_events(client, type=f"{kind}.*")}
        retained = {e["id"] for e in new_events if e["type"].startswith(f"{kind}.") and e["created"] >= cutoff(sb)}
        assert retained and retained <= listed
