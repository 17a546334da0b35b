"""NetSuite REST record service over HTTPS: PUT eid: upserts, GET by id / eid:, PATCH, errors, restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import ns_records
from sandbox.server import Sandbox
from sandbox.testing import SandboxClient

RECORDS = "/services/rest/record/v1"


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("ns-records-sandbox")) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def client(sb: Sandbox) -> Iterator[SandboxClient]:
    c = SandboxClient(sb)
    yield c
    c.close()


def test_customer_put_creates_then_updates(client: SandboxClient, sb: Sandbox):
    before = len(sb.records("netsuite", "customer"))
    # Records clients create are numbered in a band of their own, clear of the numbers the world's
    # clock will give its later customers and invoices.
    last = ns_records.CLIENT_NUMBER_BAND
    r = client.netsuite("PUT", f"{RECORDS}/customer/eid:CRM-NEW-1", json={
        "companyName": "Brand New Ltd", "subsidiary": {"id": "2"}, "email": "ap@brandnew.example.com"})
    assert r.status_code == 204 and r.content == b"" and "Content-Length" not in r.headers
    location = r.headers["Location"]
    assert location.startswith(sb.urls["netsuite"] + f"{RECORDS}/customer/")
    new_id = location.rsplit("/", 1)[1]
    record = client.netsuite("GET", location).json()
    assert record["id"] == new_id == str(ns_records.CLIENT_ID_BAND + 1) and record["externalId"] == "CRM-NEW-1"
    assert record["companyName"] == "Brand New Ltd" and record["email"] == "ap@brandnew.example.com"
    assert record["subsidiary"]["id"] == "2" and record["subsidiary"]["refName"] == "Q2C Consulting Ltd"
    assert record["currency"]["id"] == "2"  # the subsidiary's currency by default
    assert record["entityId"] == f"CUST-{last + 1:05d}"
    assert client.netsuite("GET", f"{RECORDS}/customer/eid:CRM-NEW-1").json() == record

    r = client.netsuite("PUT", f"{RECORDS}/customer/eid:CRM-NEW-1", json={"companyName": "Brand New Group"})
    assert r.status_code == 204 and r.headers["Location"] == location
    updated = client.netsuite("GET", location).json()
    assert updated["companyName"] == "Brand New Group" and updated["email"] == "ap@brandnew.example.com"
    assert len(sb.records("netsuite", "customer")) == before + 1
    rows = client.suiteql(f"SELECT id, companyname, externalid, email FROM customer WHERE id = {new_id}")
    assert rows == [{"links": [], "id": new_id, "companyname": "Brand New Group", "externalid": "CRM-NEW-1",
                     "email": "ap@brandnew.example.com"}]
    writes = sb.writes("netsuite")
    assert [(w["method"], w["object"], w["key"], w["status"], w["response"]["created"]) for w in writes[-2:]] == [
        ("PUT", "customer", "CRM-NEW-1", 204, True), ("PUT", "customer", "CRM-NEW-1", 204, False)]


def test_put_updates_a_world_customer_by_its_crm_id(client: SandboxClient, sb: Sandbox):
    world = sb.world.netsuite["customer"][0]
    r = client.netsuite("PUT", f"{RECORDS}/customer/eid:{world['externalid']}", json={"phone": "+1 555 0100"})
    assert r.status_code == 204 and r.headers["Location"].endswith(f"/customer/{world['id']}")
    stored = next(c for c in sb.records("netsuite", "customer") if c["id"] == world["id"])
    assert stored["phone"] == "+1 555 0100" and stored["companyname"] == world["companyname"]
    assert stored["lastmodifieddate"] > world["lastmodifieddate"]


def test_invoice_put_creates_a_custinvc_then_updates_it(client: SandboxClient, sb: Sandbox):
    customer = sb.world.netsuite["customer"][1]
    body = {"entity": {"externalId": customer["externalid"]}, "tranDate": "2026-06-30", "memo": "milestone 2",
            "item": {"items": [{"amount": 1000}, {"quantity": 2, "rate": 250.5}]},
            "custbody_q2c_sf_contract_id": "800000000000001AAA"}
    r = client.netsuite("PUT", f"{RECORDS}/invoice/eid:q2c-be-0001", json=body)
    assert r.status_code == 204
    invoice = client.netsuite("GET", r.headers["Location"]).json()
    assert invoice["entity"]["id"] == customer["id"] and invoice["total"] == 1501.0
    assert invoice["amountRemaining"] == 1501.0 and invoice["status"]["refName"] == "Open"
    assert invoice["tranDate"] == "2026-06-30" and invoice["dueDate"] == "2026-07-30"
    assert invoice["currency"]["id"] == customer["currency"] and invoice["custbody_q2c_sf_contract_id"] == body[
        "custbody_q2c_sf_contract_id"]
    row = client.suiteql("SELECT id, type, entity, foreigntotal, externalid FROM transaction "
                         "WHERE externalid = 'q2c-be-0001'")
    assert row == [{"links": [], "id": invoice["id"], "type": "CustInvc", "entity": customer["id"],
                    "foreigntotal": "1501", "externalid": "q2c-be-0001"}]

    r = client.netsuite("PUT", f"{RECORDS}/invoice/eid:q2c-be-0001", json={"item": {"items": [{"amount": 900}]}})
    assert r.status_code == 204
    again = client.netsuite("GET", f"{RECORDS}/invoice/eid:q2c-be-0001").json()
    assert again["id"] == invoice["id"] and again["total"] == 900.0 and again["memo"] == "milestone 2"
    # A payment is not an invoice.
    payment = next(t for t in sb.world.netsuite["transaction"] if t["type"] == "CustPymt")
    assert client.netsuite("GET", f"{RECORDS}/invoice/{payment['id']}").status_code == 404


def test_patch_updates_existing_records_only(client: SandboxClient, sb: Sandbox):
    world = sb.world.netsuite["customer"][2]
    assert client.netsuite("PATCH", f"{RECORDS}/customer/{world['id']}", json={"email": "x@y.example"}
                           ).status_code == 204
    missing = client.netsuite("PATCH", f"{RECORDS}/customer/eid:nobody", json={"email": "x@y.example"})
    assert missing.status_code == 404 and missing.json()["o:errorDetails"][0]["o:errorCode"] == "NONEXISTENT_ID"


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("PUT", "customer/eid:X-1", {"companyName": "No Subsidiary"}, 400, "USER_ERROR"),
    ("PUT", "customer/eid:X-2", {"companyName": "A", "subsidiary": {"id": "99"}}, 400, "INVALID_KEY_OR_REF"),
    ("PUT", "customer/eid:X-3", {"companyName": "A", "subsidiary": "1"}, 400, "INVALID_CONTENT"),
    ("PUT", "customer/eid:X-4", {"companyName": "A", "subsidiary": {"id": "1"}, "shoeSize": 9}, 400, "INVALID_CONTENT"),
    ("PUT", "customer/eid:X-5", {"companyName": "A", "subsidiary": {"id": "1"}, "custentity_nope": 1}, 400,
     "INVALID_CONTENT"),
    ("PUT", "invoice/eid:X-6", {"entity": {"id": "501"}}, 400, "USER_ERROR"),
    ("PUT", "invoice/eid:X-7", {"entity": {"id": "501"}, "item": {"items": [{"amount": 1}]}, "total": 5}, 400,
     "INVALID_CONTENT"),
    ("PUT", "invoice/eid:X-8", {"entity": {"id": "501"}, "item": {"items": [{"amount": 1}]}, "tranDate": "30/06"},
     400, "INVALID_CONTENT"),
    ("PUT", "customer/501", {"companyName": "A"}, 405, "METHOD_NOT_ALLOWED"),
    ("PUT", "customer/eid:bad%20id", {"companyName": "A"}, 400, "INVALID_ID"),
    ("GET", "customer/99999", None, 404, "NONEXISTENT_ID"),
    ("GET", "salesorder/1", None, 404, "INVALID_RCRD_TYPE"),
    ("DELETE", "customer/501", None, 405, "METHOD_NOT_ALLOWED"),
])
def test_record_errors(client: SandboxClient, sb: Sandbox, method: str, path: str, body: dict | None, status: int,
                       code: str):
    before = len(sb.writes("netsuite"))
    r = client.netsuite(method, f"{RECORDS}/{path}", json=body)
    assert r.status_code == status
    assert r.json()["status"] == status and r.json()["o:errorDetails"][0]["o:errorCode"] == code
    assert len(sb.writes("netsuite")) == before


def test_records_need_a_token(client: SandboxClient):
    r = client.request("netsuite", "GET", f"{RECORDS}/customer/501")
    assert r.status_code == 401 and r.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"


def without_links(value: object) -> object:
    if isinstance(value, dict):
        return {k: without_links(v) for k, v in value.items() if k != "links"}
    return value


def test_record_writes_replay_after_restart(tmp_path: Path):
    with Sandbox(tmp_path) as sb:
        c = SandboxClient(sb)
        r = c.netsuite("PUT", f"{RECORDS}/customer/eid:KEEP-ME", json={"companyName": "Kept", "subsidiary": {"id": "1"}})
        record = c.netsuite("GET", r.headers["Location"]).json()
        c.close()
    with Sandbox(tmp_path) as sb:
        c = SandboxClient(sb)
        again = c.netsuite("GET", f"{RECORDS}/customer/eid:KEEP-ME").json()
        assert without_links(again) == without_links(record)  # the port changed, nothing else
        c.close()


def test_client_records_never_meet_the_worlds_later_records(tmp_path: Path):
    """The clock creates customers and invoices after a client did: ids and numbers stay apart."""
    with Sandbox(tmp_path) as sb:
        c = SandboxClient(sb)
        customer = sb.world.netsuite["customer"][0]
        for n in range(10):
            assert c.netsuite("PUT", f"{RECORDS}/customer/eid:CLIENT-{n}", json={
                "companyName": f"Client {n}", "subsidiary": {"id": "1"}}).status_code == 204
            assert c.netsuite("PUT", f"{RECORDS}/invoice/eid:client-inv-{n}", json={
                "entity": {"id": customer["id"]}, "item": {"items": [{"amount": 10 + n}]}}).status_code == 204
        mine = {t: {r["id"]: r for r in sb.records("netsuite", t) if str(r.get("externalid", "")).lower().startswith("client")}
                for t in ("customer", "transaction")}
        summary = sb.advance(365)
        created = summary["changes"]["netsuite"]
        assert created["transaction"].get("insert", 0) > 0  # the world made new invoices and payments
        assert all("collision" not in kinds for kinds in created.values())
        for table, records in mine.items():
            now = {r["id"]: r for r in sb.records("netsuite", table)}
            assert all(now[i]["externalid"] == r["externalid"] for i, r in records.items())
            numbers = [r.get("tranid") or r.get("entityid") for r in now.values()]
            assert len(numbers) == len(set(numbers)), f"duplicate document numbers in {table}"
        c.close()
