"""The sandbox's delete routes over HTTPS: Salesforce collection delete and Stripe invoice item delete.

Shapes, per-record errors, soft deletes (``queryAll``), the write log and its replay on restart,
Stripe's ``invoiceitem.deleted`` event, and auth and faults as on every other route.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.server import Sandbox
from sandbox.testing import SandboxClient

API = "/services/data/v59.0"
STATUS = "Q2C_Invoice_Status__c"
EXT = "Q2C_Invoice_Id__c"


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("delete-sandbox")) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def client(sb: Sandbox) -> Iterator[SandboxClient]:
    c = SandboxClient(sb)
    yield c
    c.close()


def _status_records(client: SandboxClient, sb: Sandbox, keys: list[str]) -> list[str]:
    account = sb.world.salesforce["Account"][0]["Id"]
    r = client.salesforce("PATCH", f"{API}/composite/sobjects/{STATUS}/{EXT}", json={"allOrNone": False, "records": [
        {"attributes": {"type": STATUS}, EXT: key, "Account__c": account, "Payment_Status__c": "open"}
        for key in keys]})
    assert r.status_code == 200 and all(x["success"] for x in r.json())
    return [x["id"] for x in r.json()]


def _delete(client: SandboxClient, ids: list[str], all_or_none: bool | None = None):
    params = {"ids": ",".join(ids)}
    if all_or_none is not None:
        params["allOrNone"] = str(all_or_none).lower()
    return client.salesforce("DELETE", f"{API}/composite/sobjects", params=params)


def _error(result: dict) -> tuple[str, str]:
    [err] = result["errors"]
    assert err["fields"] == []
    return err["statusCode"], err["message"]


# ----------------------------------------------------------------------------- Salesforce

def test_salesforce_collection_delete_answers_per_id_in_order(client: SandboxClient, sb: Sandbox):
    live, other = _status_records(client, sb, ["del-1", "del-2"])
    before = {r["Id"]: r for r in sb.records("salesforce", STATUS)}[live]
    time.sleep(0.01)  # the deletion's SystemModstamp is a later millisecond
    account = sb.world.salesforce["Account"][0]["Id"]
    writes = len(sb.writes("salesforce"))
    r = _delete(client, [live, "not-an-id", "a3Q999999999999AAA", account, live[:15]], all_or_none=False)
    assert r.status_code == 200
    res = r.json()
    assert res[0] == {"id": live, "success": True, "errors": []}
    assert "id" not in res[1] and res[1]["success"] is False
    assert _error(res[1]) == ("MALFORMED_ID", "malformed id not-an-id")
    assert res[2]["id"] == "a3Q999999999999AAA"
    assert _error(res[2]) == ("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
    assert res[3]["id"] == account and _error(res[3])[0] == "INSUFFICIENT_ACCESS_OR_READONLY"
    assert _error(res[4]) == ("ENTITY_IS_DELETED", "entity is deleted")  # the same record by its 15-char id

    # Soft delete: gone from query and from retrieve, still in queryAll with IsDeleted and a new SystemModstamp.
    assert client.soql(f"SELECT Id FROM {STATUS} WHERE {EXT} IN ('del-1', 'del-2')") == [
        {"attributes": {"type": STATUS, "url": f"{API}/sobjects/{STATUS}/{other}"}, "Id": other}]
    [gone] = client.soql(f"SELECT Id, IsDeleted, SystemModstamp, LastModifiedDate FROM {STATUS} WHERE Id = '{live}'",
                         all_rows=True)
    assert gone["IsDeleted"] is True and gone["SystemModstamp"] > before["SystemModstamp"]
    assert gone["LastModifiedDate"] == gone["SystemModstamp"]
    assert client.salesforce("GET", f"{API}/sobjects/{STATUS}/{live}").status_code == 404

    # Recorded as a write, once, with the deleted record as its effect.
    [write] = sb.writes("salesforce")[writes:]
    assert (write["method"], write["object"], write["status"]) == ("DELETE", STATUS, 200)
    assert write["body"] == {"ids": [live, "not-an-id", "a3Q999999999999AAA", account, live[:15]], "allOrNone": False}
    assert write["response"] == res

    # Deleting it again: ENTITY_IS_DELETED; an upsert of its key creates a new record, as in Salesforce.
    again = _delete(client, [live]).json()
    assert again[0]["id"] == live and _error(again[0]) == ("ENTITY_IS_DELETED", "entity is deleted")
    [recreated] = _status_records(client, sb, ["del-1"])
    assert recreated != live


def test_salesforce_all_or_none_rolls_the_call_back(client: SandboxClient, sb: Sandbox):
    live, = _status_records(client, sb, ["del-aon"])
    res = _delete(client, [live, "a3Q999999999998AAA"], all_or_none=True).json()
    assert res[0]["id"] == live and _error(res[0])[0] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert _error(res[1])[0] == "INVALID_CROSS_REFERENCE_KEY"
    assert not {r["Id"]: r for r in sb.records("salesforce", STATUS)}[live]["IsDeleted"]


def test_salesforce_collection_delete_request_errors(client: SandboxClient, sb: Sandbox):
    too_many = _delete(client, [f"a3Q{i:012d}AAA" for i in range(201)])
    assert too_many.status_code == 400 and too_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    missing = client.salesforce("DELETE", f"{API}/composite/sobjects")
    assert missing.status_code == 400 and missing.json()[0]["errorCode"] == "MISSING_ARGUMENT"
    wrong_method = client.salesforce("GET", f"{API}/composite/sobjects", params={"ids": "a3Q000000000001AAA"})
    assert wrong_method.status_code == 405
    no_session = client.request("salesforce", "DELETE", f"{API}/composite/sobjects",
                                params={"ids": "a3Q000000000001AAA"})
    assert no_session.status_code == 401 and no_session.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_salesforce_delete_meets_faults(client: SandboxClient, sb: Sandbox):
    live, = _status_records(client, sb, ["del-fault"])
    sb.set_faults("salesforce", rate_limit=1.0)
    try:
        r = _delete(client, [live])
    finally:
        sb.clear_faults()
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert not {r["Id"]: r for r in sb.records("salesforce", STATUS)}[live]["IsDeleted"]
    assert _delete(client, [live]).json()[0]["success"] is True


# ----------------------------------------------------------------------------- Stripe

def _item(client: SandboxClient, sb: Sandbox, amount: int = 500) -> dict:
    customer = sb.world.stripe["customers"][1]["id"]
    r = client.stripe("POST", "/v1/invoiceitems", data={"customer": customer, "amount": amount})
    assert r.status_code == 200
    return r.json()


def test_stripe_delete_invoice_item(client: SandboxClient, sb: Sandbox):
    item = _item(client, sb)
    writes = len(sb.writes("stripe"))
    r = client.stripe("DELETE", f"/v1/invoiceitems/{item['id']}")
    assert r.status_code == 200 and r.json() == {"id": item["id"], "object": "invoiceitem", "deleted": True}
    missing = {"type": "invalid_request_error", "code": "resource_missing", "param": "id",
               "message": f"No such invoiceitem: '{item['id']}'"}
    assert client.stripe("GET", f"/v1/invoiceitems/{item['id']}").json() == {"error": missing}
    again = client.stripe("DELETE", f"/v1/invoiceitems/{item['id']}")
    assert again.status_code == 404 and again.json() == {"error": missing}
    assert client.stripe("POST", f"/v1/invoiceitems/{item['id']}", data={"amount": 1}).status_code == 404
    assert item["id"] not in {i["id"] for i in client.stripe_list("invoiceitems")}
    assert item["id"] not in {i["id"] for i in client.stripe_list("invoiceitems", customer=item["customer"])}
    listed_after = client.stripe("GET", "/v1/invoiceitems", params={"starting_after": item["id"]})
    assert listed_after.status_code == 400 and listed_after.json()["error"]["code"] == "resource_missing"

    [write] = sb.writes("stripe")[writes:]  # the failed calls are not writes
    assert (write["method"], write["object"], write["key"], write["status"], write["idempotency_key"]) == (
        "DELETE", "invoiceitems", item["id"], 200, None)
    [event] = [e for e in client.stripe_list("events", type="invoiceitem.deleted")
               if e["data"]["object"]["id"] == item["id"]]
    assert event["data"] == {"object": item}
    assert event["request"] == {"id": r.headers["Request-Id"], "idempotency_key": None}


def test_stripe_deletes_only_pending_items_and_items_of_draft_invoices(client: SandboxClient, sb: Sandbox):
    item = _item(client, sb)
    paid = next(i for i in sb.records("stripe", "invoices") if i["status"] == "paid")
    draft = {**paid, "id": "in_sandbox_draft", "status": "draft"}
    sb.store.put("stripe", "invoices", draft)
    sb.store.put("stripe", "invoiceitems", {**item, "invoice": paid["id"]})
    refused = client.stripe("DELETE", f"/v1/invoiceitems/{item['id']}")
    assert refused.status_code == 400 and refused.json()["error"]["type"] == "invalid_request_error"
    assert f"attached to invoice {paid['id']}, which is paid" in refused.json()["error"]["message"]
    assert client.stripe("GET", f"/v1/invoiceitems/{item['id']}").status_code == 200
    sb.store.put("stripe", "invoiceitems", {**item, "invoice": draft["id"]})
    assert client.stripe("DELETE", f"/v1/invoiceitems/{item['id']}").json()["deleted"] is True


def test_stripe_delete_request_errors_and_faults(client: SandboxClient, sb: Sandbox):
    item = _item(client, sb)
    unknown = client.stripe("DELETE", f"/v1/invoiceitems/{item['id']}", params={"force": "true"})
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "force"
    no_key = client.request("stripe", "DELETE", f"/v1/invoiceitems/{item['id']}")
    assert no_key.status_code == 401
    assert client.stripe("DELETE", "/v1/customers/" + item["customer"]).status_code == 404  # not served
    sb.set_faults("stripe", error_rate=1.0, error_statuses=[503])
    try:
        failed = client.stripe("DELETE", f"/v1/invoiceitems/{item['id']}")
    finally:
        sb.clear_faults()
    assert failed.status_code == 503
    assert client.stripe("GET", f"/v1/invoiceitems/{item['id']}").status_code == 200


# ----------------------------------------------------------------------------- restart

def test_deletes_are_replayed_on_restart(tmp_path: Path):
    with Sandbox(tmp_path) as sb:
        c = SandboxClient(sb)
        kept, deleted = _status_records(c, sb, ["restart-1", "restart-2"])
        assert _delete(c, [deleted]).json()[0]["success"] is True
        item = _item(c, sb)
        assert c.stripe("DELETE", f"/v1/invoiceitems/{item['id']}").status_code == 200
        writes = sb.writes()
        c.close()
    with Sandbox(tmp_path) as sb:
        c = SandboxClient(sb)
        assert sb.writes() == writes
        assert [r["Id"] for r in c.soql(f"SELECT Id FROM {STATUS}")] == [kept]
        assert [(r["Id"], r["IsDeleted"]) for r in c.soql(f"SELECT Id, IsDeleted FROM {STATUS}", all_rows=True)] == [
            (kept, False), (deleted, True)]
        assert c.stripe("GET", f"/v1/invoiceitems/{item['id']}").status_code == 404
        assert c.stripe_list("invoiceitems") == []
        assert [e["type"] for e in c.stripe_list("events", type="invoiceitem.*")] == [
            "invoiceitem.deleted", "invoiceitem.created"]
        c.close()
