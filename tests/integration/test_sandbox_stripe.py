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


# ----------------------------------------------------------------------------- credit notes and schedules

@pytest.fixture(scope="module")
def autumn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, SandboxClient]]:
    """A sandbox advanced 90 days: schedules completed, released and not started; a credit note voided."""
    with Sandbox(tmp_path_factory.mktemp("stripe-autumn")) as sandbox:
        sandbox.advance(90)
        c = SandboxClient(sandbox)
        yield sandbox, c
        c.close()


def test_credit_notes_list_pages_and_filters(client: SandboxClient, sb: Sandbox):
    notes = sb.world.stripe["credit_notes"]
    assert notes and {cn["type"] for cn in notes} == {"pre_payment", "post_payment"}
    seen, params = [], {"limit": 2}
    while True:
        page = client.stripe("GET", "/v1/credit_notes", params=params).json()
        assert page["object"] == "list" and page["url"] == "/v1/credit_notes" and len(page["data"]) <= 2
        seen += [cn["id"] for cn in page["data"]]
        if not page["has_more"]:
            break
        params["starting_after"] = page["data"][-1]["id"]
    assert seen == newest_first(notes)
    assert client.stripe_list("credit_notes") == sorted(notes, key=lambda r: (r["created"], r["id"]), reverse=True)
    note = notes[0]
    assert [cn["id"] for cn in client.stripe_list("credit_notes", invoice=note["invoice"])] == newest_first(
        [cn for cn in notes if cn["invoice"] == note["invoice"]])
    assert [cn["id"] for cn in client.stripe_list("credit_notes", customer=note["customer"])] == newest_first(
        [cn for cn in notes if cn["customer"] == note["customer"]])
    middle = sorted(cn["created"] for cn in notes)[len(notes) // 2]
    assert [cn["id"] for cn in client.stripe_list("credit_notes", **{"created[gte]": middle})] == newest_first(
        [cn for cn in notes if cn["created"] >= middle])
    assert client.stripe_list("credit_notes", invoice="in_nope") == []
    r = client.stripe("GET", "/v1/credit_notes", params={"status": "void"})  # not a filter Stripe has
    assert r.status_code == 400 and r.json()["error"]["param"] == "status"


def test_credit_note_retrieve_expand_and_lines(client: SandboxClient, sb: Sandbox):
    note = sb.world.stripe["credit_notes"][0]
    invoice = next(i for i in sb.world.stripe["invoices"] if i["id"] == note["invoice"])
    customer = next(c for c in sb.world.stripe["customers"] if c["id"] == note["customer"])
    assert client.stripe("GET", f"/v1/credit_notes/{note['id']}").json() == note
    expanded = client.stripe("GET", f"/v1/credit_notes/{note['id']}",
                             params={"expand[]": ["invoice", "customer"]}).json()
    assert expanded == {**note, "invoice": invoice, "customer": customer}
    nested = client.stripe("GET", f"/v1/credit_notes/{note['id']}", params={"expand[]": "invoice.customer"}).json()
    assert nested["invoice"] == {**invoice, "customer": customer}
    listed = client.stripe_list("credit_notes", **{"expand[]": "data.invoice"})
    assert all(isinstance(cn["invoice"], dict) and cn["invoice"]["id"] for cn in listed)
    lines = client.stripe("GET", f"/v1/credit_notes/{note['id']}/lines").json()
    assert lines == {"object": "list", "url": f"/v1/credit_notes/{note['id']}/lines", "has_more": False,
                     "data": note["lines"]["data"]}
    missing = client.stripe("GET", "/v1/credit_notes/cn_nope")
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "No such credit_note: 'cn_nope'"
    assert client.stripe("GET", "/v1/credit_notes/cn_nope/lines").status_code == 404
    refused = client.stripe("GET", f"/v1/credit_notes/{note['id']}", params={"expand[]": "lines"})
    assert refused.status_code == 400 and "cannot be expanded (lines)" in refused.json()["error"]["message"]


def test_credit_notes_moved_their_invoices(client: SandboxClient, sb: Sandbox):
    invoices = {i["id"]: i for i in client.stripe_list("invoices")}
    for note in client.stripe_list("credit_notes"):
        inv = invoices[note["invoice"]]
        if note["type"] == "pre_payment" and note["status"] == "issued":
            assert inv["pre_payment_credit_notes_amount"] == note["total"]
            assert inv["amount_due"] == inv["total"] - note["total"]
            assert inv["amount_remaining"] == inv["amount_due"] - inv["amount_paid"]
        elif note["status"] == "issued":
            assert inv["post_payment_credit_notes_amount"] == note["total"]
            assert inv["status"] == "paid" and inv["amount_paid"] == inv["amount_due"] == inv["total"]


def test_subscription_schedules_list_retrieve_and_expand(client: SandboxClient, sb: Sandbox):
    schedules = sb.world.stripe["subscription_schedules"]
    assert schedules and {s["status"] for s in schedules} == {"active"}
    assert [s["id"] for s in client.stripe_list("subscription_schedules")] == newest_first(schedules)
    one = schedules[0]
    assert client.stripe("GET", f"/v1/subscription_schedules/{one['id']}").json() == one
    assert [s["id"] for s in client.stripe_list("subscription_schedules", customer=one["customer"])] == \
        newest_first([s for s in schedules if s["customer"] == one["customer"]])
    sub = next(s for s in sb.records("stripe", "subscriptions") if s["id"] == one["subscription"])
    assert sub["schedule"] == one["id"]
    expanded = client.stripe("GET", f"/v1/subscription_schedules/{one['id']}",
                             params={"expand[0]": "subscription", "expand[1]": "customer"}).json()
    assert expanded["subscription"] == sub and expanded["customer"]["id"] == one["customer"]
    deep = client.stripe_list("subscription_schedules", **{"expand[]": "data.subscription.latest_invoice"})
    assert all(s["subscription"]["latest_invoice"]["object"] == "invoice" for s in deep)
    back = client.stripe("GET", f"/v1/subscriptions/{sub['id']}", params={"expand[]": "schedule"}).json()
    assert back["schedule"] == one
    r = client.stripe("GET", "/v1/subscription_schedules", params={"scheduled": "maybe"})
    assert r.status_code == 400 and r.json()["error"] == {
        "type": "invalid_request_error", "message": "Invalid boolean: maybe", "param": "scheduled"}
    r = client.stripe("GET", "/v1/subscription_schedules", params={"status": "active"})  # not a Stripe filter
    assert r.status_code == 400 and r.json()["error"]["param"] == "status"


def test_subscription_schedule_filters_as_stripe_has_them(autumn: tuple[Sandbox, SandboxClient]):
    sb, client = autumn
    schedules = sb.records("stripe", "subscription_schedules")
    statuses = {s["status"] for s in schedules}
    assert {"active", "completed", "released", "not_started"} <= statuses
    ids = lambda rows: sorted(r["id"] for r in rows)  # noqa: E731
    assert ids(client.stripe_list("subscription_schedules")) == ids(schedules)  # none hidden
    assert ids(client.stripe_list("subscription_schedules", scheduled="true")) == ids(
        s for s in schedules if s["status"] == "not_started")
    assert ids(client.stripe_list("subscription_schedules", scheduled="false")) == ids(
        s for s in schedules if s["status"] != "not_started")
    for field, status in (("completed_at", "completed"), ("released_at", "released")):
        ended = [s for s in schedules if s["status"] == status]
        assert ids(client.stripe_list("subscription_schedules", **{f"{field}[gte]": 0})) == ids(ended)
        first = min(s[field] for s in ended)
        assert ids(client.stripe_list("subscription_schedules", **{field: first})) == ids(
            s for s in ended if s[field] == first)
        assert client.stripe_list("subscription_schedules", **{f"{field}[lt]": first}) == []
    assert client.stripe_list("subscription_schedules", **{"canceled_at[gte]": 0}) == []  # none canceled yet
    released = next(s for s in schedules if s["status"] == "released")
    assert released["subscription"] is None and released["released_subscription"]
    voided = [cn for cn in client.stripe_list("credit_notes") if cn["status"] == "void"]
    assert voided and all(cn["voided_at"] for cn in voided)
