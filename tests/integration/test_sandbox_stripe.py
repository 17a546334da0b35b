"""Stripe simulator over real HTTPS on loopback: auth, cursor paging, filters, idempotent writes."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from sandbox.server import Sandbox
from sandbox.testing import SandboxClient

KEY = "sk_test_q2c_sandbox"


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("stripe-sandbox")) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def client(sb: Sandbox) -> Iterator[SandboxClient]:
    c = SandboxClient(sb)
    yield c
    c.close()


def newest_first(records: list[dict]) -> list[str]:
    return [r["id"] for r in sorted(records, key=lambda r: (r["created"], r["id"]), reverse=True)]


# ----------------------------------------------------------------------------- auth & headers

def test_wrong_key_is_401_with_masked_key(client: SandboxClient):
    r = client.request("stripe", "GET", "/v1/invoices", headers={"Authorization": "Bearer sk_test_wrongkey1234"})
    assert r.status_code == 401
    assert r.json() == {"error": {"type": "invalid_request_error",
                                  "message": "Invalid API Key provided: sk_test_****1234"}}
    missing = client.request("stripe", "GET", "/v1/invoices")
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "invalid_request_error"


def test_basic_auth_and_headers(client: SandboxClient):
    basic = base64.b64encode(f"{KEY}:".encode()).decode()
    r = client.request("stripe", "GET", "/v1/customers", headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200
    assert r.headers["Stripe-Version"] == "2026-10-28.endive" and r.headers["Request-Id"].startswith("req_")
    pinned = client.stripe("GET", "/v1/customers", headers={"Stripe-Version": "2024-06-20"})
    assert pinned.headers["Stripe-Version"] == "2024-06-20"


# ----------------------------------------------------------------------------- lists

def test_paging_walks_every_invoice_once_newest_first(client: SandboxClient, sb: Sandbox):
    world = sb.world.stripe["invoices"]
    seen: list[str] = []
    params: dict[str, object] = {"limit": 10}
    pages = 0
    while True:
        r = client.stripe("GET", "/v1/invoices", params=params)
        assert r.status_code == 200
        page = r.json()
        assert page["object"] == "list" and page["url"] == "/v1/invoices"
        assert len(page["data"]) <= 10
        seen += [inv["id"] for inv in page["data"]]
        pages += 1
        if not page["has_more"]:
            break
        params["starting_after"] = page["data"][-1]["id"]
    assert pages == -(-len(world) // 10) >= 2
    assert seen == newest_first(world)


def test_ending_before_pages_backwards(client: SandboxClient, sb: Sandbox):
    order = newest_first(sb.world.stripe["invoices"])
    page = client.stripe("GET", "/v1/invoices", params={"limit": 5, "ending_before": order[12]}).json()
    assert [i["id"] for i in page["data"]] == order[7:12] and page["has_more"] is True
    page = client.stripe("GET", "/v1/invoices", params={"limit": 5, "ending_before": order[3]}).json()
    assert [i["id"] for i in page["data"]] == order[0:3] and page["has_more"] is False


def test_created_filters(client: SandboxClient, sb: Sandbox):
    world = sb.world.stripe["invoices"]
    cutoff = sorted(r["created"] for r in world)[len(world) // 2]
    got = client.stripe_list("invoices", **{"created[gte]": cutoff})
    assert [i["id"] for i in got] == newest_first([r for r in world if r["created"] >= cutoff])
    got = client.stripe_list("invoices", **{"created[gt]": cutoff, "created[lte]": cutoff + 86400 * 40})
    assert {i["id"] for i in got} == {r["id"] for r in world if cutoff < r["created"] <= cutoff + 86400 * 40}
    exact = client.stripe_list("invoices", created=cutoff)
    assert {i["id"] for i in exact} == {r["id"] for r in world if r["created"] == cutoff}


def test_customer_filter(client: SandboxClient, sb: Sandbox):
    customer = sb.world.stripe["invoices"][0]["customer"]
    got = client.stripe_list("invoices", customer=customer)
    assert got and {i["customer"] for i in got} == {customer}
    assert len(got) == sum(r["customer"] == customer for r in sb.world.stripe["invoices"])


def test_subscriptions_list_hides_canceled_unless_asked(client: SandboxClient, sb: Sandbox):
    """Stripe's default: subscriptions that are not canceled; ``status`` selects one, ``all`` every one."""
    first = sb.records("stripe", "subscriptions")[0]
    if first["status"] != "canceled":  # the default world may have none canceled yet
        sb.patch_record("stripe", "subscriptions", first["id"], status="canceled")
    world = sb.records("stripe", "subscriptions")
    statuses = {s["status"] for s in world}
    assert "canceled" in statuses and len(statuses) > 1
    ids = lambda rows: sorted(r["id"] for r in rows)  # noqa: E731
    assert ids(client.stripe_list("subscriptions")) == ids(s for s in world if s["status"] != "canceled")
    assert ids(client.stripe_list("subscriptions", status="all")) == ids(world)
    assert ids(client.stripe_list("subscriptions", status="canceled")) == ids(
        s for s in world if s["status"] == "canceled")
    r = client.stripe("GET", "/v1/subscriptions", params={"status": "gone"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "status"


@pytest.mark.parametrize("params, param", [({"limit": 0}, "limit"), ({"limit": 101}, "limit"),
                                           ({"limit": "x"}, "limit"), ({"created[gte]": "soon"}, "created[gte]"),
                                           ({"colour": "blue"}, "colour")])
def test_list_parameter_errors(client: SandboxClient, params: dict, param: str):
    r = client.stripe("GET", "/v1/invoices", params=params)
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error" and r.json()["error"]["param"] == param


def test_unknown_cursor_and_object(client: SandboxClient):
    r = client.stripe("GET", "/v1/invoices", params={"starting_after": "in_nope"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "resource_missing" and r.json()["error"]["param"] == "starting_after"
    r = client.stripe("GET", "/v1/invoices/in_nope")
    assert r.status_code == 404
    assert r.json() == {"error": {"type": "invalid_request_error", "code": "resource_missing", "param": "id",
                                  "message": "No such invoice: 'in_nope'"}}


def test_retrieve(client: SandboxClient, sb: Sandbox):
    invoice = sb.world.stripe["invoices"][3]
    assert client.stripe("GET", f"/v1/invoices/{invoice['id']}").json() == invoice


# ----------------------------------------------------------------------------- writes

def _item(sb: Sandbox, **extra: str) -> dict[str, object]:
    customer = sb.world.stripe["customers"][0]
    return {"customer": customer["id"], "amount": 12345, "currency": customer["currency"],
            "description": "Q2C adjustment", "period[start]": 1767225600, "period[end]": 1769903999,
            "metadata[q2c_invoice_id]": "netsuite:9001", **extra}


def test_create_invoice_item(client: SandboxClient, sb: Sandbox):
    r = client.stripe("POST", "/v1/invoiceitems", data=_item(sb))
    assert r.status_code == 200
    item = r.json()
    assert item["id"].startswith("ii_") and item["object"] == "invoiceitem" and item["invoice"] is None
    assert item["amount"] == 12345 and item["currency"] == sb.world.stripe["customers"][0]["currency"]
    assert item["period"] == {"start": 1767225600, "end": 1769903999}
    assert item["metadata"] == {"q2c_invoice_id": "netsuite:9001"} and item["livemode"] is False
    assert client.stripe("GET", f"/v1/invoiceitems/{item['id']}").json() == item
    assert item["id"] in {i["id"] for i in client.stripe_list("invoiceitems")}


def test_idempotency_key_replays_and_guards_params(client: SandboxClient, sb: Sandbox):
    key = str(uuid.uuid4())
    before = len(sb.records("stripe", "invoiceitems"))
    first = client.stripe("POST", "/v1/invoiceitems", data=_item(sb), headers={"Idempotency-Key": key})
    second = client.stripe("POST", "/v1/invoiceitems", data=_item(sb), headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers
    assert len(sb.records("stripe", "invoiceitems")) == before + 1

    other = client.stripe("POST", "/v1/invoiceitems", data=_item(sb, amount="999"), headers={"Idempotency-Key": key})
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    assert f"Try using a key other than '{key}'" in other.json()["error"]["message"]
    assert len(sb.records("stripe", "invoiceitems")) == before + 1

    writes = [w for w in sb.writes("stripe") if w["idempotency_key"] == key]
    assert [w["replayed"] for w in writes] == [False, True]


def test_validation_failures_are_not_stored_for_idempotency(client: SandboxClient, sb: Sandbox):
    key = str(uuid.uuid4())
    bad = client.stripe("POST", "/v1/invoiceitems", data=_item(sb, amount="12.5"), headers={"Idempotency-Key": key})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "amount"
    good = client.stripe("POST", "/v1/invoiceitems", data=_item(sb), headers={"Idempotency-Key": key})
    assert good.status_code == 200 and "Idempotent-Replayed" not in good.headers


@pytest.mark.parametrize("change, param", [
    ({"customer": ""}, "customer"), ({"customer": "cus_nope"}, "customer"), ({"amount": "ten"}, "amount"),
    ({"currency": "zzz"}, "currency"), ({"currency": "jpy"}, "currency"), ({"colour": "red"}, "colour"),
])
def test_create_validation(client: SandboxClient, sb: Sandbox, change: dict, param: str):
    before = len(sb.records("stripe", "invoiceitems"))
    r = client.stripe("POST", "/v1/invoiceitems", data=_item(sb, **change))
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error" and r.json()["error"]["param"] == param
    assert len(sb.records("stripe", "invoiceitems")) == before


def test_update_merges_metadata(client: SandboxClient, sb: Sandbox):
    item = client.stripe("POST", "/v1/invoiceitems", data=_item(sb, **{"metadata[keep]": "1"})).json()
    r = client.stripe("POST", f"/v1/invoiceitems/{item['id']}", data={
        "amount": 500, "description": "changed", "metadata[keep]": "", "metadata[new]": "2"})
    assert r.status_code == 200
    updated = r.json()
    assert updated["id"] == item["id"] and updated["amount"] == 500 and updated["description"] == "changed"
    assert updated["metadata"] == {"q2c_invoice_id": "netsuite:9001", "new": "2"}
    assert client.stripe("POST", "/v1/invoiceitems/ii_nope", data={"amount": 1}).status_code == 404
    assert client.stripe("POST", f"/v1/invoiceitems/{item['id']}", data={"customer": "x"}).status_code == 400


def test_unknown_route(client: SandboxClient):
    r = client.stripe("GET", "/v1/charges")
    assert r.status_code == 404 and "Unrecognized request URL" in r.json()["error"]["message"]


def test_concurrent_requests_with_one_idempotency_key_create_one_item(sb: Sandbox):
    key = str(uuid.uuid4())
    before = len(sb.records("stripe", "invoiceitems"))

    def post(_: int) -> str:
        c = SandboxClient(sb)
        try:
            r = c.stripe("POST", "/v1/invoiceitems", data=_item(sb), headers={"Idempotency-Key": key})
            assert r.status_code == 200
            return r.json()["id"]
        finally:
            c.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(post, range(16)))
    assert len(ids) == 1
    assert len(sb.records("stripe", "invoiceitems")) == before + 1
