"""The world's clock: new activity, lifecycles, late-arriving changes, deletes; reproducible steps."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from sandbox.world import build_world, replay_world
from sandbox.world_audit import detect, integrity, ledger_keys
from sandbox.world_model import DEFAULT_CLOCK, sf_ts, ts


def _dump(w) -> str:
    return json.dumps({"sf": w.salesforce, "st": w.stripe, "ns": w.netsuite, "legacy": w.legacy, "ledger": w.ledger},
                      sort_keys=True)


@pytest.fixture(scope="module")
def moved():
    """Seed 42 advanced 45 days, with the changes of each step."""
    w = build_world(seed=42)
    before = {s: {o: list(r) for o, r in getattr(w, s).items()} for s in ("salesforce", "stripe", "netsuite")}
    steps = [w.advance(days) for days in (1, 14, 30)]
    return w, before, steps


def test_the_same_sequence_of_advances_gives_the_same_world(moved):
    w, _, _ = moved
    again = build_world(seed=42)
    for days in (1, 14, 30):
        again.advance(days)
    assert _dump(again) == _dump(w)
    # Steps do not matter, only the date reached: the world is one timeline rendered on that date.
    assert _dump(replay_world(42, 1.0, DEFAULT_CLOCK, None, [45])) == _dump(w)
    assert w.clock == DEFAULT_CLOCK + timedelta(days=45) and w.history == [1, 14, 30]


def test_new_records_appear_and_lifecycles_move(moved):
    w, before, steps = moved
    for obj in ("Opportunity", "pse__Timecard__c", "pse__Billing_Event__c", "ERP_Invoice__c"):
        assert len(w.salesforce[obj]) > len(before["salesforce"][obj]), obj
    assert len(w.netsuite["transaction"]) > len(before["netsuite"]["transaction"])
    assert len(w.stripe["invoices"]) > len(before["stripe"]["invoices"])
    updates = {(c.system, c.obj) for step in steps for c in step if c.old is not None and c.new is not None}
    assert {("salesforce", "pse__Timecard__c"), ("netsuite", "transaction"), ("stripe", "invoices"),
            ("salesforce", "Opportunity"), ("salesforce", "ERP_Invoice__c")} <= updates
    new_events = [c.new for step in steps for c in step if c.obj == "pse__Billing_Event__c"]
    assert {"Invoiced"} <= {e["pse__Status__c"] for e in new_events}
    old = {r["Id"]: r for r in before["salesforce"]["pse__Timecard__c"]}
    approved = [r for r in w.salesforce["pse__Timecard__c"]
                if r["Id"] in old and r["pse__Approved__c"] and not old[r["Id"]]["pse__Approved__c"]]
    assert approved and all(r["SystemModstamp"] > old[r["Id"]]["SystemModstamp"] for r in approved)
    invoices = {t["id"]: t for t in before["netsuite"]["transaction"] if t["type"] == "CustInvc"}
    paid_now = [t for t in w.netsuite["transaction"] if t["id"] in invoices and t["status"] == "Paid In Full"
                and invoices[t["id"]]["status"] == "Open"]
    assert paid_now
    assert integrity(w) == []
    assert detect(w) == ledger_keys(w)  # the ledger keeps up: new cases appear as their grace periods end


def test_deletes_are_soft_in_salesforce_gone_in_netsuite_and_voids_in_stripe():
    w = build_world(seed=42)
    w.advance(120)
    deletions = w.deletions()
    systems = {d["system"] for d in deletions}
    assert {"salesforce", "netsuite"} <= systems
    for d in deletions:
        if d["system"] == "salesforce":
            rec = next(r for r in w.salesforce[d["object"]] if r["Id"] == d["id"])
            assert rec["IsDeleted"] is True and rec["SystemModstamp"] == sf_ts(d["deleted_at"])
        else:
            assert all(r["id"] != d["id"] for r in getattr(w, d["system"])[d["object"]])
    voided = [i for i in w.stripe["invoices"] if i["status"] == "void"]
    assert voided and all(i["status_transitions"]["voided_at"] for i in voided)


def test_late_arriving_changes_carry_cursor_values_older_than_the_previous_clock():
    w = build_world(seed=42)
    old_clock = w.clock
    w.advance(30)
    late = w.late_changes(since=old_clock)
    assert late and {c["system"] for c in late} >= {"salesforce"}
    first_visible = min(c["visible_at"] for c in late)
    for change in late:
        assert change["visible_at"] > change["cursor"]
        assert change["visible_at"] > ts(old_clock, 23, 59)
    # A loader that read everything up to the old clock has a high-water mark at the latest cursor it
    # saw; some late changes carry an older cursor than that, so a `cursor > mark` query misses them.
    one_day = build_world(seed=42)
    one_day.advance(1)
    late_1 = one_day.late_changes(since=old_clock)
    assert all(c["cursor"] <= ts(old_clock, 23, 59) for c in late_1)
    assert first_visible <= ts(w.clock, 23, 59)


def test_advancing_zero_days_changes_nothing():
    w = build_world(seed=3)
    before = _dump(w)
    assert w.advance(0) == [] and _dump(w) == before
    with pytest.raises(ValueError):
        w.advance(-1)
