"""Stripe credit notes and subscription schedules in the world: shapes, the amounts they move, the clock,
and proof that adding them left every other record of the world as it was."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from typing import Any

import pytest

from sandbox.events import lifecycle
from sandbox.world import build_world
from sandbox.world_audit import integrity
from sandbox.world_model import STRIPE_ACTIVITY_RATES

OFF = dict.fromkeys(STRIPE_ACTIVITY_RATES, 0.0)
NEW_TABLES = ("credit_notes", "subscription_schedules")
# Fields Stripe always serves that the world's objects did not carry before credit notes and schedules.
NEW_FIELDS = {"invoices": ("pre_payment_credit_notes_amount", "post_payment_credit_notes_amount"),
              "subscriptions": ("schedule",)}
# The world of seed 42, scale 1, default clock (and the same advanced 60 days), hashed by ``digest`` before
# credit notes and schedules existed (computed on the code of commit dcc5b1e). If a later change to the
# generator moves these on purpose, recompute them with the Stripe activity off (``OFF``).
PINNED = {"build": "e0c5be03ec7a4e0c177fb93647cd800f0ff90b4ffd532dbf9eeec05465b09a3e",
          "advanced_60": "5d7367973b91675435d8948f9f8eace46b01c415770e707908c679ab4366da11"}
# What a credit note or a schedule may change on the records it touches (nothing else may differ).
MOVED = {"invoices": {"amount_due", "amount_remaining", "amount_paid", "pre_payment_credit_notes_amount",
                      "post_payment_credit_notes_amount"},
         "invoice_payments": {"amount_paid", "amount_requested"},
         "subscriptions": {"schedule"}}


def digest(world: Any) -> str:
    """sha256 of every record of every system and the ledger, without the new tables and fields."""
    doc: dict[str, Any] = {"ledger": world.ledger}
    for system in ("salesforce", "stripe", "netsuite", "legacy"):
        tables = {}
        for obj, rows in getattr(world, system).items():
            if system == "stripe" and obj in NEW_TABLES:
                continue
            drop = NEW_FIELDS.get(obj, ()) if system == "stripe" else ()
            tables[obj] = [{k: v for k, v in r.items() if k not in drop} for r in rows]
        doc[system] = tables
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@pytest.fixture(scope="module")
def world():
    return build_world(seed=42)


@pytest.fixture(scope="module")
def autumn():
    """Seed 42 three months on: a renewal schedule drafted, not started yet."""
    w = build_world(seed=42)
    w.advance(90)
    return w


@pytest.fixture(scope="module")
def later():
    """Seed 42 a year and a half on: every status and kind has happened."""
    w = build_world(seed=42)
    w.advance(540)
    return w


# ------------------------------------------------------------------------------ the rest of the world
def test_with_the_activity_off_the_world_is_the_one_before_it_existed():
    w = build_world(seed=42, stripe_activity=OFF)
    assert "credit_notes" not in w.stripe and "subscription_schedules" not in w.stripe
    assert digest(w) == PINNED["build"]
    w.advance(60)
    assert digest(w) == PINNED["advanced_60"]


@pytest.mark.parametrize("days", [0, 120])
def test_only_the_records_a_credit_note_or_schedule_touches_change_and_only_in_the_fields_it_moves(days):
    on, off = build_world(seed=42), build_world(seed=42, stripe_activity=OFF)
    if days:
        on.advance(days)
        off.advance(days)
    assert on.ledger == off.ledger
    for system in ("salesforce", "netsuite", "legacy"):
        assert getattr(on, system) == getattr(off, system), system
    assert set(on.stripe) - set(off.stripe) == set(NEW_TABLES)
    notes = on.stripe["credit_notes"]
    credited = {cn["invoice"] for cn in notes}
    scheduled = {s["subscription"] or s["released_subscription"] for s in on.stripe["subscription_schedules"]} - {None}
    touched = {"invoices": credited, "invoice_payments": {p["id"] for p in on.stripe["invoice_payments"]
                                                          if p["invoice"] in credited},
               "subscriptions": scheduled}
    changed: dict[str, set[str]] = defaultdict(set)
    for obj, rows in off.stripe.items():
        assert [r["id"] for r in on.stripe[obj]] == [r["id"] for r in rows], obj
        for new, old in zip(on.stripe[obj], rows, strict=True):
            drop = NEW_FIELDS.get(obj, ())
            diff = {k for k in new.keys() | old.keys() if k not in drop and new.get(k) != old.get(k)}
            if diff:
                assert new["id"] in touched.get(obj, set()), (obj, new["id"], diff)
                assert diff <= MOVED[obj], (obj, new["id"], diff)
                changed[obj].add(new["id"])
            if obj == "invoices" and new["id"] not in credited:
                assert (new["pre_payment_credit_notes_amount"], new["post_payment_credit_notes_amount"]) == (0, 0)
            if obj == "subscriptions" and new["id"] not in scheduled:
                assert new["schedule"] is None
    # a pre-payment credit note still issued when the invoice is paid lowers what the customer pays
    lowered = {cn["invoice"] for cn in notes if cn["type"] == "pre_payment" and cn["status"] == "issued"}
    paid = {i["id"] for i in on.stripe["invoices"] if i["status"] == "paid"}
    assert changed["invoices"] >= lowered and lowered & paid
    assert {p["invoice"] for p in on.stripe["invoice_payments"] if p["id"] in changed["invoice_payments"]} == \
        lowered & paid


def test_each_kind_at_zero_removes_only_its_own_objects(world):
    no_notes = build_world(seed=42, stripe_activity={"credit_note": 0})
    assert "credit_notes" not in no_notes.stripe
    assert no_notes.stripe["subscription_schedules"] == world.stripe["subscription_schedules"]
    assert no_notes.stripe["subscriptions"] == world.stripe["subscriptions"]
    no_schedules = build_world(seed=42, stripe_activity={"subscription_schedule": 0, "renewal_schedule": 0})
    assert "subscription_schedules" not in no_schedules.stripe
    assert no_schedules.stripe["credit_notes"] == world.stripe["credit_notes"]
    assert no_schedules.stripe["invoices"] == world.stripe["invoices"]
    with pytest.raises(ValueError, match="unknown Stripe activity"):
        build_world(seed=42, stripe_activity={"refund": 0.1})
    with pytest.raises(ValueError, match="within"):
        build_world(seed=42, stripe_activity={"credit_note": 1.5})


# ------------------------------------------------------------------------------ credit notes
def test_credit_notes_have_stripes_shape_and_move_their_invoice(later):
    invoices = {i["id"]: i for i in later.stripe["invoices"]}
    notes = later.stripe["credit_notes"]
    assert Counter((cn["type"], cn["status"]) for cn in notes).keys() >= {
        ("pre_payment", "issued"), ("pre_payment", "void"), ("post_payment", "issued"), ("post_payment", "void")}
    assert {bool(cn["refunds"]) for cn in notes if cn["type"] == "post_payment"} == {True, False}
    for cn in notes:
        inv = invoices[cn["invoice"]]
        assert cn["id"].startswith("cn_") and cn["object"] == "credit_note" and cn["livemode"] is False
        assert cn["number"] == f"{inv['number']}-CN-01"
        assert (cn["customer"], cn["currency"]) == (inv["customer"], inv["currency"])
        assert cn["amount"] == cn["total"] == cn["subtotal"] + sum(t["amount"] for t in cn["total_taxes"])
        assert 0 < cn["total"] <= inv["total"] and inv["status"] != "void"
        (line,) = cn["lines"]["data"]
        assert line["object"] == "credit_note_line_item" and line["type"] == "invoice_line_item"
        assert line["invoice_line_item"] == inv["lines"]["data"][0]["id"] and line["amount"] == cn["subtotal"]
        assert cn["lines"]["url"] == f"/v1/credit_notes/{cn['id']}/lines"
        assert cn["reason"] in ("duplicate", "fraudulent", "order_change", "product_unsatisfactory")
        assert (cn["status"] == "void") == (cn["voided_at"] is not None)
        if cn["type"] == "pre_payment":
            assert (cn["pre_payment_amount"], cn["post_payment_amount"]) == (cn["total"], 0)
            assert inv["status_transitions"]["finalized_at"] <= cn["created"]
            paid_at = inv["status_transitions"]["paid_at"]
            assert paid_at is None or cn["created"] < paid_at  # open when credited (maybe still)
            assert cn["refunds"] == [] and cn["out_of_band_amount"] is None
        else:
            assert (cn["pre_payment_amount"], cn["post_payment_amount"]) == (0, cn["total"])
            assert cn["created"] > inv["status_transitions"]["paid_at"]
            settled = sum(r["amount_refunded"] for r in cn["refunds"]) + (cn["out_of_band_amount"] or 0)
            assert settled == cn["total"]
            assert not (cn["refunds"] and cn["status"] == "void")  # refunds are not voided
    # the invoices' amounts add up with their credit notes and payments (sandbox.world_audit)
    assert integrity(later) == []
    issued = [cn for cn in notes if cn["status"] == "issued" and cn["type"] == "pre_payment"]
    for cn in issued:
        inv = invoices[cn["invoice"]]
        assert inv["total"] == inv["subtotal"] + sum(t["amount"] for t in inv["total_taxes"])  # total stays
        assert inv["amount_due"] == inv["total"] - cn["total"] == inv["amount_paid"] + inv["amount_remaining"]


def test_integrity_catches_an_invoice_its_credit_notes_do_not_explain(world):
    broken = build_world(seed=42)
    cn = broken.stripe["credit_notes"][0]
    inv = next(i for i in broken.stripe["invoices"] if i["id"] == cn["invoice"])
    inv["pre_payment_credit_notes_amount"] += 1
    inv["amount_remaining"] += 1
    problems = integrity(broken)
    assert any(cn["invoice"] in p and "credit note" in p for p in problems)
    assert any(cn["invoice"] in p and "amount_remaining" in p for p in problems)


# ------------------------------------------------------------------------------ schedules
def test_subscription_schedules_follow_their_subscriptions(world, autumn, later):
    statuses: Counter[str] = Counter()
    for w in (world, autumn, later):
        statuses.update(sc["status"] for sc in w.stripe["subscription_schedules"])
        subs = {s["id"]: s for s in w.stripe["subscriptions"]}
        for sc in w.stripe["subscription_schedules"]:
            assert sc["id"].startswith("sub_sched_") and sc["object"] == "subscription_schedule"
            assert sc["end_behavior"] in ("cancel", "release") and sc["phases"]
            for phase in sc["phases"]:
                (item,) = phase["items"]
                assert item["price"].startswith("price_") and item["quantity"] == 1
            managed = sc["subscription"] or sc["released_subscription"]
            if managed is None:  # a renewal drafted before the term ends: starts when the subscription ends
                assert sc["status"] in ("not_started", "canceled") and sc["end_behavior"] == "release"
                renewed = subs[sc["metadata"]["q2c_renewal_of"]]
                assert sc["phases"][0]["start_date"] == renewed["cancel_at"]
                assert sc["created"] < (sc["canceled_at"] or renewed["cancel_at"]) <= renewed["cancel_at"]
                continue
            sub = subs[managed]
            assert sc["customer"] == sub["customer"] and sc["phases"][0]["start_date"] == sub["start_date"]
            assert sc["phases"][-1]["end_date"] == sub["cancel_at"]
            prices = [p["items"][0]["price"] for p in sc["phases"]]
            assert sub["items"]["data"][0]["price"]["id"] in prices or sc["status"] == "released"
            if sc["status"] == "active":
                assert sub["schedule"] == sc["id"] and sub["status"] == "active"
                now = sc["current_phase"]
                assert any(p["start_date"] == now["start_date"] and p["end_date"] == now["end_date"]
                           for p in sc["phases"])
            elif sc["status"] == "completed":
                assert sc["completed_at"] == sub["canceled_at"] == sub["cancel_at"] and sub["status"] == "canceled"
            else:
                assert sc["status"] == "released" and sc["subscription"] is None and sub["schedule"] is None
                assert sc["created"] < sc["released_at"] < sub["cancel_at"]
    assert set(statuses) == {"not_started", "active", "completed", "released", "canceled"}
    assert {len(sc["phases"]) for sc in later.stripe["subscription_schedules"]} >= {1, 2}  # price amendments


def test_the_clock_brings_new_credit_notes_and_schedules_with_their_changes(world):
    w = build_world(seed=42)
    before = {obj: {r["id"]: r for r in w.stripe[obj]} for obj in NEW_TABLES}
    changes = [c for days in (30, 60, 120) for c in w.advance(days) if c.obj in NEW_TABLES]
    new = {(c.obj, c.key) for c in changes if c.old is None}
    updated = [c for c in changes if c.old is not None]
    assert {obj for obj, _ in new} == set(NEW_TABLES)
    assert {c.new["status"] for c in updated if c.obj == "subscription_schedules"} >= {"completed", "released"}
    assert any(c.obj == "credit_notes" and c.new["status"] == "void" for c in changes)
    for obj in NEW_TABLES:
        served = {r["id"] for r in w.stripe[obj]}
        assert set(before[obj]) < served and {k for o, k in new if o == obj} == served - set(before[obj])
    assert integrity(w) == []


def test_lifecycles_end_with_the_object_as_it_is(later):
    for obj in NEW_TABLES:
        for rec in later.stripe[obj]:
            events = lifecycle(rec)
            assert events[-1][1] == rec and [e[2] for e in events] == sorted(e[2] for e in events)
            kind = rec["object"]
            assert events[0][0] == f"{kind}.created"
            if rec["status"] == "void":
                assert [e[0] for e in events] == ["credit_note.created", "credit_note.voided"]
                assert events[0][1]["status"] == "issued" and events[1][2] == rec["voided_at"]
            if kind == "subscription_schedule" and rec["status"] in ("completed", "released", "canceled"):
                assert events[1][0] == f"subscription_schedule.{rec['status']}"
                assert events[0][1]["status"] in ("active", "not_started") and events[0][1]["canceled_at"] is None
