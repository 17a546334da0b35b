"""The sandbox's clock over the wire: POST /_sandbox/advance, what loaders then see, and restarts."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from sandbox import legacy_erp
from sandbox.server import Sandbox
from sandbox.testing import SandboxClient
from sandbox.world import build_world
from sandbox.world_model import DEFAULT_CLOCK, ns_ts, sf_ts, ts

STATUS = "Q2C_Invoice_Status__c"


MID = DEFAULT_CLOCK + timedelta(days=7)


@pytest.fixture(scope="module")
def advanced(tmp_path_factory: pytest.TempPathFactory):
    """A sandbox read as a loader would at the base clock, advanced 7 days, read again, advanced 23 more."""
    state = tmp_path_factory.mktemp("clock")
    with Sandbox(state, tls=False) as sb:
        client = SandboxClient(sb)
        before = {
            "splits": client.soql("SELECT Id, SystemModstamp FROM pse__Timecard__c", all_rows=True),
            "quotes": client.soql("SELECT Id FROM SBQQ__Quote__c"),
            "legacy": legacy_erp.read(state / legacy_erp.FILE_NAME),
        }
        r1 = requests.post(sb.urls["stripe"] + "/_sandbox/advance", json={"days": 7}, timeout=60)
        before["mid_splits"] = client.soql("SELECT Id, SystemModstamp FROM pse__Timecard__c", all_rows=True)
        r = requests.post(sb.urls["salesforce"] + "/_sandbox/advance", json={"days": 23}, timeout=60)
        assert r1.status_code == 200 and r1.json()["clock"] == MID.isoformat()
        yield sb, client, before, r, state
        client.close()


def test_advance_endpoint_moves_the_clock_and_reports_changes(advanced):
    sb, _, _, r, _ = advanced
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] and body["clock"] == (DEFAULT_CLOCK + timedelta(days=30)).isoformat() == sb.clock.isoformat()
    assert body["changes"]["salesforce"]["pse__Timecard__c"]["insert"] > 0
    assert body["changes"]["netsuite"]["transaction"]["update"] > 0
    assert sb.status()["advances"] == [7, 23] and body["previous_clock"] == MID.isoformat()
    assert requests.post(sb.urls["stripe"] + "/_sandbox/advance", json={"days": -1}, timeout=10).status_code == 400
    assert requests.get(sb.urls["stripe"] + "/_sandbox/advance", timeout=10).status_code == 405


def test_new_and_changed_records_are_served(advanced):
    sb, client, before, _, _ = advanced
    splits = client.soql("SELECT Id, SystemModstamp, pse__Approved__c FROM pse__Timecard__c", all_rows=True)
    assert len(splits) > len(before["splits"])
    assert len(splits) == len(sb.world.salesforce["pse__Timecard__c"])
    mark = max(r["SystemModstamp"] for r in before["splits"])
    changed = client.soql(f"SELECT Id FROM pse__Timecard__c WHERE SystemModstamp > {mark.replace('.000+0000', 'Z')}")
    assert changed and len(changed) < len(splits)
    txs = client.suiteql("SELECT id, type, status FROM transaction ORDER BY id")
    assert {t["id"] for t in txs} == {t["id"] for t in sb.world.netsuite["transaction"]}
    invoices = client.stripe_list("invoices")
    assert {i["id"] for i in invoices} == {i["id"] for i in sb.world.stripe["invoices"]}


def test_late_arriving_changes_hide_below_the_high_water_mark(advanced):
    sb, client, before, _, _ = advanced
    late = [c for c in sb.world.late_changes(since=MID) if c["system"] == "salesforce"]
    assert late
    mark = max(r["SystemModstamp"] for r in before["mid_splits"])  # the loader's high-water mark at MID
    hidden = [c for c in late if c["object"] == "pse__Timecard__c" and sf_ts(c["cursor"]) < mark]
    assert hidden, "late approvals carry a cursor older than what a loader already read"
    rows = {r["Id"]: r for r in client.soql(
        "SELECT Id, SystemModstamp FROM pse__Timecard__c WHERE SystemModstamp > "
        + mark.replace(".000+0000", "Z"), all_rows=True)}
    missed = 0
    for c in hidden:
        served = client.soql(f"SELECT Id, SystemModstamp FROM pse__Timecard__c WHERE Id = '{c['id']}'")[0]
        if served["SystemModstamp"] == sf_ts(c["cursor"]):  # not touched again since (e.g. billed)
            assert c["id"] not in rows  # an incremental query from the mark misses it, though it is there
            missed += 1
    assert missed
    ns_late = [c for c in sb.world.late_changes(since=DEFAULT_CLOCK) if c["system"] == "netsuite"]
    for c in ns_late:
        row = next(r for r in sb.records("netsuite", c["object"]) if r["id"] == c["id"])
        assert row["lastmodifieddate"] <= ns_ts(c["visible_at"])


def test_deletes_soft_in_salesforce_gone_from_suiteql(advanced):
    sb, client, before, _, _ = advanced
    truth = requests.get(sb.urls["netsuite"] + "/_sandbox/truth", params={"since": MID.isoformat()}, timeout=10).json()
    assert truth["deletions"] == sb.world.deletions() and truth["clock"] == sb.clock.isoformat()
    assert truth["late_changes"] == sb.world.late_changes(since=MID)
    deleted = [d for d in sb.world.deletions() if d["system"] == "salesforce" and d["object"] == "SBQQ__Quote__c"]
    assert deleted
    live = {r["Id"] for r in client.soql("SELECT Id FROM SBQQ__Quote__c")}
    everything = {r["Id"]: r for r in client.soql("SELECT Id, IsDeleted FROM SBQQ__Quote__c", all_rows=True)}
    for d in deleted:
        assert d["id"] not in live and everything[d["id"]]["IsDeleted"] is True
    gone = [d for d in sb.world.deletions() if d["system"] == "netsuite"]
    served = {t["id"] for t in client.suiteql("SELECT id FROM transaction ORDER BY id")}
    assert all(d["id"] not in served for d in gone if d["object"] == "transaction")
    assert len(before["quotes"]) <= len(everything)


def test_stripe_changes_are_events(advanced):
    sb, client, _, _, _ = advanced
    since = ts(DEFAULT_CLOCK, 23, 59)
    events = client.stripe_list("events", **{"created[gt]": since})
    types = Counter(e["type"] for e in events)
    assert types["invoice.created"] and types["invoice.paid"] and types["customer.subscription.updated"]
    for e in events:
        if e["type"] == "invoice.paid":
            assert e["data"]["object"]["status"] == "paid" and e["created"] > since
    voided = [i for i in sb.world.stripe["invoices"] if i["status"] == "void"
              and i["status_transitions"]["voided_at"] > since]
    for inv in voided:
        assert ("invoice.voided", inv["id"]) in {(e["type"], e["data"]["object"]["id"]) for e in events}


def test_the_legacy_erp_file_follows_the_clock(advanced):
    sb, _, before, _, state = advanced
    now = legacy_erp.read(state / legacy_erp.FILE_NAME)
    assert set(now) == {"CUSTOMER_MASTER", "AR_INVOICE_HDR", "AR_INVOICE_LINE", "AR_RECEIPT"}
    assert len(now["AR_INVOICE_HDR"]) == len(sb.world.legacy["AR_INVOICE_HDR"]) > 0
    assert len(now["AR_RECEIPT"]) >= len(before["legacy"]["AR_RECEIPT"])
    hdr = now["AR_INVOICE_HDR"][0]
    assert isinstance(hdr["GROSS_AMT_CENTS"], int) and len(hdr["INV_DT"]) == 8 and hdr["INV_DT"].isdigit()


def test_restart_keeps_the_advanced_state_and_interleaved_writes(tmp_path: Path):
    def write_status(sb: Sandbox, key: str) -> None:
        client = SandboxClient(sb)
        account = sb.world.salesforce["Account"][0]["Id"]
        r = client.salesforce("PATCH", f"/services/data/v60.0/sobjects/{STATUS}/Q2C_Invoice_Id__c/{key}",
                              json={"Account__c": account, "Total_Amount__c": 10})
        assert r.status_code in (200, 201), r.text
        client.close()

    with Sandbox(tmp_path, tls=False) as sb:
        write_status(sb, "before")
        sb.advance(10)
        write_status(sb, "after")
        sb.advance(5)
        clock = sb.clock
        snapshot = {obj: sb.records("salesforce", obj) for obj in ("pse__Timecard__c", STATUS, "Opportunity")}
        ns = sb.records("netsuite", "transaction")
    with Sandbox(tmp_path, tls=False) as sb:
        assert sb.clock == clock and sb.world.history == [10, 5]
        assert {obj: sb.records("salesforce", obj) for obj in snapshot} == snapshot
        assert sb.records("netsuite", "transaction") == ns
    expected = build_world()
    expected.advance(15)
    assert len(expected.salesforce["pse__Timecard__c"]) == len(snapshot["pse__Timecard__c"])
