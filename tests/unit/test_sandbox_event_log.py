"""The Stripe event log and expansions as pure logic: lifecycles, ids, retention, paging, persistence."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from sandbox.events import EventLog, invoice_lifecycle, type_matcher, world_events
from sandbox.stripe_expand import ExpandError, check_paths, expand, expand_params

CLOCK = date(2026, 6, 30)
DAY = 86400


def ts(d: date, hour: int = 12) -> int:
    return int(datetime(d.year, d.month, d.day, hour, tzinfo=UTC).timestamp())


def invoice(**overrides: object) -> dict:
    base = {"id": "in_1", "object": "invoice", "number": "Q2C-000001", "customer": "cus_1", "status": "paid",
            "created": 1000, "amount_due": 500, "amount_paid": 500, "amount_remaining": 0,
            "status_transitions": {"finalized_at": 1000, "paid_at": 5000, "voided_at": None,
                                   "marked_uncollectible_at": None}}
    return {**base, **overrides}


def new_log(tmp_path: Path | None = None, clock: date = CLOCK, world: dict | None = None) -> EventLog:
    return EventLog("42:1.0", lambda: clock, log_path=tmp_path / "events.jsonl" if tmp_path else None,
                    world_id=world or {"seed": 42})


# ----------------------------------------------------------------------------- lifecycles

def test_paid_invoice_lifecycle_rolls_back_what_had_not_happened_yet():
    inv = invoice()
    events = invoice_lifecycle(inv)
    assert [(t, created) for t, _, created in events] == [
        ("invoice.created", 1000), ("invoice.finalized", 1000), ("invoice.paid", 5000)]
    created, finalized, paid = (snap for _, snap, _ in events)
    assert created["status"] == "draft" and created["number"] is None and created["amount_paid"] == 0
    assert created["status_transitions"] == {"finalized_at": None, "paid_at": None, "voided_at": None,
                                             "marked_uncollectible_at": None}
    assert finalized["status"] == "open" and finalized["number"] == "Q2C-000001"
    assert finalized["amount_paid"] == 0 and finalized["amount_remaining"] == 500
    assert finalized["status_transitions"]["finalized_at"] == 1000
    assert finalized["status_transitions"]["paid_at"] is None
    assert paid == inv  # the last event carries the invoice as it is now
    assert inv["status"] == "paid"  # and the input was not touched


def test_open_and_voided_invoices():
    open_inv = invoice(status="open", amount_paid=0, amount_remaining=500,
                       status_transitions={"finalized_at": 1000, "paid_at": None, "voided_at": None,
                                           "marked_uncollectible_at": None})
    assert [t for t, _, _ in invoice_lifecycle(open_inv)] == ["invoice.created", "invoice.finalized"]
    assert invoice_lifecycle(open_inv)[-1][1] == open_inv
    void = invoice(status="void", amount_paid=0, status_transitions={
        "finalized_at": 1000, "paid_at": None, "voided_at": 9000, "marked_uncollectible_at": None})
    types = [(t, s["status"]) for t, s, _ in invoice_lifecycle(void)]
    assert types == [("invoice.created", "draft"), ("invoice.finalized", "open"), ("invoice.voided", "void")]


def test_world_events_cover_every_object_oldest_first():
    tables = {"customers": [{"id": "cus_1", "object": "customer", "created": 900}],
              "invoices": [invoice(), invoice(id="in_2", created=200, status="draft", status_transitions={})],
              "subscriptions": [{"id": "sub_1", "object": "subscription", "created": 950}]}
    events = world_events(tables)
    assert [(t, o["id"], c) for t, o, c in events] == [
        ("invoice.created", "in_2", 200), ("customer.created", "cus_1", 900),
        ("customer.subscription.created", "sub_1", 950), ("invoice.created", "in_1", 1000),
        ("invoice.finalized", "in_1", 1000), ("invoice.paid", "in_1", 5000)]


def test_type_matcher_wildcards():
    match = type_matcher(["invoice.*", "customer.created"])
    assert match("invoice.paid") and match("invoice.payment_succeeded") and match("customer.created")
    assert not match("customer.updated") and not match("invoiceitem.created")


# ----------------------------------------------------------------------------- the log

def test_ids_are_content_derived_sortable_and_emitting_twice_is_a_no_op():
    log = new_log()
    a = log.emit("customer.created", {"id": "cus_1", "object": "customer"}, ts(CLOCK))
    again = log.emit("customer.created", {"id": "cus_1", "object": "customer"}, ts(CLOCK))
    assert again == a and len(log) == 1
    assert a["id"].startswith("evt_1") and len(a["id"]) == 28
    assert new_log().emit("customer.created", {"id": "cus_1", "object": "customer"}, ts(CLOCK))["id"] == a["id"]
    other_world = EventLog("7:1.0", lambda: CLOCK)
    assert other_world.emit("customer.created", {"id": "cus_1", "object": "customer"}, ts(CLOCK))["id"] != a["id"]
    later = log.emit("customer.updated", {"id": "cus_1", "object": "customer", "name": "x"}, ts(CLOCK) + 1,
                     previous_attributes={"name": None}, request={"id": "req_1", "idempotency_key": "k"})
    assert later["id"] > a["id"]  # ids sort by time
    assert later["data"] == {"object": {"id": "cus_1", "object": "customer", "name": "x"},
                             "previous_attributes": {"name": None}}
    assert later["request"] == {"id": "req_1", "idempotency_key": "k"}
    assert set(later) == {"id", "object", "api_version", "created", "data", "livemode", "pending_webhooks",
                          "request", "type"}
    assert "previous_attributes" not in a["data"]
    for bad in [("Invoice Paid", {"id": "x"}, 1), ("invoice.paid", {}, 1), ("invoice.paid", {"id": "x"}, "1")]:
        with pytest.raises(ValueError):
            log.emit(*bad)


def test_snapshots_are_copies():
    log = new_log()
    obj = {"id": "cus_1", "object": "customer", "metadata": {"a": "1"}}
    event = log.emit("customer.created", obj, ts(CLOCK))
    obj["metadata"]["a"] = "changed"
    event["data"]["object"]["metadata"]["a"] = "changed too"
    assert log.get(event["id"])["data"]["object"]["metadata"] == {"a": "1"}


def test_retention_is_thirty_days_before_the_end_of_the_clock_day():
    log = new_log()
    old = log.emit("customer.created", {"id": "cus_old"}, ts(date(2026, 5, 31), 23))  # 30 days + 1 hour back
    edge = log.emit("customer.created", {"id": "cus_edge"}, ts(date(2026, 6, 1), 0))  # exactly 30 days back
    future = log.emit("customer.created", {"id": "cus_new"}, ts(date(2026, 11, 1)))  # after the clock: kept
    assert log.get(old["id"]) is None and log.get(old["id"], include_expired=True) is not None
    assert log.get(edge["id"]) is not None and log.get(future["id"]) is not None
    page, more = log.page(limit=10)
    assert [e["id"] for e in page] == [future["id"], edge["id"]] and more is False
    assert len(log.all()) == 3 and len(log.all(include_expired=False)) == 2


def test_paging_newest_first_with_both_cursors_and_ties_in_emission_order():
    log = new_log()
    at = ts(CLOCK)
    ids = [log.emit("invoice.created", {"id": f"in_{i}"}, at + i // 2)["id"] for i in range(7)]
    newest_first = list(reversed(ids))  # equal times keep emission order
    page, more = log.page(limit=3)
    assert [e["id"] for e in page] == newest_first[:3] and more
    page, more = log.page(limit=3, starting_after=newest_first[2])
    assert [e["id"] for e in page] == newest_first[3:6] and more
    page, more = log.page(limit=3, starting_after=newest_first[5])
    assert [e["id"] for e in page] == newest_first[6:] and not more
    page, more = log.page(limit=2, ending_before=newest_first[4])
    assert [e["id"] for e in page] == newest_first[2:4] and more
    page, _ = log.page(limit=10, where=lambda e: e["data"]["object"]["id"] in ("in_1", "in_6"))
    assert [e["id"] for e in page] == [ids[6], ids[1]]
    with pytest.raises(KeyError):
        log.page(limit=3, starting_after="evt_unknown")


def test_persisted_events_replay_for_the_same_world_only(tmp_path: Path):
    log = new_log(tmp_path)
    world_event = {"id": "cus_w", "object": "customer"}
    log.emit_world([("customer.created", world_event, ts(CLOCK))])
    emitted = log.emit("invoice.paid", {"id": "in_1", "object": "invoice"}, ts(CLOCK) + 5)
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert len(lines) == 1  # world events are regenerated, not logged

    again = new_log(tmp_path)
    again.emit_world([("customer.created", world_event, ts(CLOCK))])
    assert again.replay() == 1
    assert again.all() == log.all()
    assert again.replay() == 0  # replaying twice adds nothing
    assert new_log(tmp_path, world={"seed": 7}).replay() == 0
    (tmp_path / "events.jsonl").write_text("not json\n" + "\n".join(lines) + "\n")
    fresh = new_log(tmp_path)
    assert fresh.replay() == 1 and fresh.get(emitted["id"]) == emitted


# ----------------------------------------------------------------------------- expand

def test_expand_params_accept_every_encoding():
    query = {"expand[1]": ["b"], "expand[0]": ["a"], "expand[]": ["c"], "limit": ["3"]}
    assert expand_params(query) == [("expand[]", "c"), ("expand[0]", "a"), ("expand[1]", "b")]


def test_expand_paths_are_checked_like_stripe():
    assert check_paths([("expand[]", "customer")], "invoice", in_list=False) == [["customer"]]
    assert check_paths([("expand[0]", "data.customer")], "invoice", in_list=True) == [["customer"]]
    assert check_paths([("expand[]", "invoice.customer")], "invoiceitem", in_list=False) == [["invoice", "customer"]]
    cases = [
        ([("expand[]", "customer")], "invoice", True,
         "This property cannot be expanded (customer). You may want to try expanding 'data.customer' instead."),
        ([("expand[]", "metadata")], "invoice", False, "This property cannot be expanded (metadata)."),
        ([("expand[0]", "data.lines")], "invoice", True, "This property cannot be expanded (data.lines)."),
        ([("expand[]", "data")], "invoice", True, "This property cannot be expanded (data)."),
        ([("expand[]", "data.data.object")], "event", True, "This property cannot be expanded (data.data.object)."),
        ([("expand[]", "a.b.c.d.e")], "invoice", False, "You cannot expand more than 4 levels of a property."),
    ]
    for pairs, kind, in_list, message in cases:
        with pytest.raises(ExpandError) as info:
            check_paths(pairs, kind, in_list=in_list)
        assert info.value.message == message and info.value.param == pairs[0][0]


def test_expand_replaces_ids_and_leaves_the_record_alone():
    store = {("customers", "cus_1"): {"id": "cus_1", "object": "customer"},
             ("invoices", "in_1"): {"id": "in_1", "object": "invoice", "customer": "cus_1"}}
    item = {"id": "ii_1", "object": "invoiceitem", "invoice": "in_1", "customer": "cus_gone"}
    out = expand(item, [["invoice", "customer"], ["customer"]], lambda r, i: store.get((r, i)))
    assert out["invoice"] == {"id": "in_1", "object": "invoice", "customer": {"id": "cus_1", "object": "customer"}}
    assert out["customer"] == "cus_gone"  # an id naming nothing stays an id
    assert item["invoice"] == "in_1"
    assert store[("invoices", "in_1")]["customer"] == "cus_1"
