"""Stripe ``expand[]`` over HTTPS: lists (``data.customer``), retrieves (``customer``), refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.server import Sandbox
from sandbox.testing import SandboxClient


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("expand-sandbox")) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def client(sb: Sandbox) -> Iterator[SandboxClient]:
    c = SandboxClient(sb)
    yield c
    c.close()


def test_list_expands_data_customer(client: SandboxClient, sb: Sandbox):
    customers = {c["id"]: c for c in sb.world.stripe["customers"]}
    plain = client.stripe_list("invoices")
    for key in ("expand[]", "expand[0]"):
        expanded = client.stripe_list("invoices", **{key: "data.customer"})
        assert [i["id"] for i in expanded] == [i["id"] for i in plain]
        for inv, raw in zip(expanded, plain, strict=True):
            assert inv["customer"] == customers[raw["customer"]]
            assert {k: v for k, v in inv.items() if k != "customer"} == {k: v for k, v in raw.items() if k != "customer"}
    # The stored invoices keep their ids.
    assert all(isinstance(i["customer"], str) for i in sb.records("stripe", "invoices"))


def test_retrieve_expands_customer_and_nests(client: SandboxClient, sb: Sandbox):
    invoice = sb.world.stripe["invoices"][0]
    customer = next(c for c in sb.world.stripe["customers"] if c["id"] == invoice["customer"])
    r = client.stripe("GET", f"/v1/invoices/{invoice['id']}", params={"expand[]": "customer"})
    assert r.status_code == 200 and r.json() == {**invoice, "customer": customer}
    item = client.stripe("POST", "/v1/invoiceitems", data={"customer": customer["id"], "amount": 10}).json()
    r = client.stripe("GET", f"/v1/invoiceitems/{item['id']}", params={"expand[0]": "customer"})
    assert r.json()["customer"] == customer and r.json()["invoice"] is None  # null stays null


@pytest.mark.parametrize(("path", "params", "message"), [
    ("/v1/invoices", {"expand[]": "customer"},
     "This property cannot be expanded (customer). You may want to try expanding 'data.customer' instead."),
    ("/v1/invoices", {"expand[]": "data.metadata"}, "This property cannot be expanded (data.metadata)."),
    ("/v1/customers", {"expand[]": "data.customer"}, "This property cannot be expanded (data.customer)."),
    ("/v1/invoices/{invoice}", {"expand[]": "lines"}, "This property cannot be expanded (lines)."),
    ("/v1/invoices/{invoice}", {"expand[]": "customer.a.b.c.d"}, "You cannot expand more than 4 levels of a property."),
])
def test_unknown_expansions_are_400(client: SandboxClient, sb: Sandbox, path: str, params: dict, message: str):
    r = client.stripe("GET", path.format(invoice=sb.world.stripe["invoices"][0]["id"]), params=params)
    assert r.status_code == 400
    assert r.json() == {"error": {"type": "invalid_request_error", "message": message, "param": "expand[]"}}
