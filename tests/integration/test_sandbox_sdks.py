"""The official vendor SDKs against the sandbox, by base URL, with TLS verified against the sandbox CA.

- stripe: ``StripeClient(key, base_addresses={"api": url})``; its HTTP client passes
  ``verify=stripe.ca_bundle_path`` on every request, so that is pointed at the sandbox's bundle
  (system roots + sandbox CA).
- simple-salesforce: ``Salesforce(instance_url=..., session_id=<OAuth token>, session=...)`` with a
  session that passes ``verify=`` per request (``sandbox.testing.CaSession``), which
  ``REQUESTS_CA_BUNDLE`` cannot override.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import stripe
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceResourceNotFound

from sandbox.server import Sandbox
from sandbox.testing import CaSession, SandboxClient

STATUS = "Q2C_Invoice_Status__c"


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sdk-sandbox")) as sandbox:
        yield sandbox


@pytest.fixture
def stripe_client(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> stripe.StripeClient:
    monkeypatch.setattr(stripe, "ca_bundle_path", str(sb.ca_bundle))
    return stripe.StripeClient(sb.credentials["stripe"]["api_key"], base_addresses={"api": sb.urls["stripe"]},
                               http_client=stripe.RequestsClient(), max_network_retries=0)


@pytest.fixture(scope="module")
def sf(sb: Sandbox) -> Iterator[Salesforce]:
    client = SandboxClient(sb)
    token = client.salesforce_token()  # from the sandbox's OAuth endpoint
    session = CaSession(str(sb.ca_bundle))
    yield Salesforce(instance_url=sb.urls["salesforce"], session_id=token, session=session, version="59.0")
    session.close()
    client.close()


# ----------------------------------------------------------------------------- stripe

def test_stripe_sdk_auto_pages_every_invoice_once(stripe_client: stripe.StripeClient, sb: Sandbox):
    invoices = list(stripe_client.v1.invoices.list(params={"limit": 7}).auto_paging_iter())
    ids = [inv.id for inv in invoices]
    assert len(ids) == len(set(ids)) == len(sb.world.stripe["invoices"]) > 7
    assert set(ids) == {inv["id"] for inv in sb.world.stripe["invoices"]}
    assert all(isinstance(inv, stripe.Invoice) for inv in invoices)
    first = invoices[0]
    expanded = stripe_client.v1.invoices.retrieve(first.id, params={"expand": ["customer"]})
    assert isinstance(expanded.customer, stripe.Customer) and expanded.customer.id == first.customer
    listed = stripe_client.v1.invoices.list(params={"limit": 3, "expand": ["data.customer"]})
    assert all(isinstance(inv.customer, stripe.Customer) for inv in listed.data)
    with pytest.raises(stripe.InvalidRequestError, match="cannot be expanded"):
        stripe_client.v1.invoices.list(params={"expand": ["customer"]})


def test_stripe_sdk_verifies_the_certificate(sb: Sandbox):
    # With the SDK's own CA bundle (no sandbox CA in it) the handshake is refused: verification is on.
    client = stripe.StripeClient(sb.credentials["stripe"]["api_key"], base_addresses={"api": sb.urls["stripe"]},
                                 http_client=stripe.RequestsClient(), max_network_retries=0)
    with pytest.raises(stripe.APIConnectionError):
        client.v1.customers.list()


def test_stripe_sdk_idempotent_invoice_item(stripe_client: stripe.StripeClient, sb: Sandbox):
    customer = sb.world.stripe["customers"][5]
    params = {"customer": customer["id"], "amount": 125000, "currency": customer["currency"],
              "description": "Retainer top-up", "metadata": {"q2c_billing_event": "BE-1"}}
    key = str(uuid.uuid4())
    before = len(sb.records("stripe", "invoiceitems"))
    first = stripe_client.v1.invoice_items.create(params=params, options={"idempotency_key": key})
    second = stripe_client.v1.invoice_items.create(params=params, options={"idempotency_key": key})
    assert isinstance(first, stripe.InvoiceItem) and first.metadata["q2c_billing_event"] == "BE-1"
    assert second.to_dict() == first.to_dict()
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(sb.records("stripe", "invoiceitems")) == before + 1
    other = dict(params, amount=1)
    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.invoice_items.create(params=other, options={"idempotency_key": key})


def test_stripe_sdk_lists_events(stripe_client: stripe.StripeClient, sb: Sandbox):
    events = list(stripe_client.v1.events.list(params={"limit": 4}).auto_paging_iter())
    assert [e.id for e in events] == [e["id"] for e in reversed(sb.store.events.all(include_expired=False))]
    assert all(isinstance(e, stripe.Event) for e in events)
    paid = list(stripe_client.v1.events.list(params={"types": ["invoice.paid"]}).auto_paging_iter())
    assert paid and all(e.type == "invoice.paid" and isinstance(e.data.object, stripe.Invoice) for e in paid)
    items = list(stripe_client.v1.events.list(params={"type": "invoiceitem.*"}).auto_paging_iter())
    assert {e.data.object.id for e in items} == {i["id"] for i in sb.records("stripe", "invoiceitems")}
    one = stripe_client.v1.events.retrieve(events[0].id)
    assert one.to_dict() == events[0].to_dict()


def _newest_first(records: list[dict]) -> list[str]:
    return [r["id"] for r in sorted(records, key=lambda r: (r["created"], r["id"]), reverse=True)]


def test_stripe_sdk_global_api_auto_pages_credit_notes(sb: Sandbox, monkeypatch: pytest.MonkeyPatch):
    """``stripe.CreditNote.list(...).auto_paging_iter()`` with the module-level configuration."""
    monkeypatch.setattr(stripe, "ca_bundle_path", str(sb.ca_bundle))
    monkeypatch.setattr(stripe, "api_base", sb.urls["stripe"])
    monkeypatch.setattr(stripe, "api_key", sb.credentials["stripe"]["api_key"])
    monkeypatch.setattr(stripe, "default_http_client", stripe.RequestsClient())
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    world = sb.world.stripe["credit_notes"]
    notes = list(stripe.CreditNote.list(limit=2).auto_paging_iter())
    assert [n.id for n in notes] == _newest_first(world) and len(notes) > 2
    assert all(isinstance(n, stripe.CreditNote) for n in notes)
    assert [n.to_dict() for n in notes] == [next(w for w in world if w["id"] == n.id) for n in notes]
    first = notes[0]
    assert isinstance(first.lines.data[0], stripe.CreditNoteLineItem)
    assert [li.id for li in stripe.CreditNote.list_lines(first.id).data] == [li.id for li in first.lines.data]
    by_invoice = list(stripe.CreditNote.list(invoice=first.invoice, expand=["data.invoice"]).auto_paging_iter())
    assert by_invoice and all(isinstance(n.invoice, stripe.Invoice) and n.invoice.id == first.invoice
                              for n in by_invoice)
    assert isinstance(stripe.CreditNote.retrieve(first.id, expand=["customer"]).customer, stripe.Customer)


def test_stripe_sdk_lists_subscription_schedules(stripe_client: stripe.StripeClient, sb: Sandbox):
    world = sb.world.stripe["subscription_schedules"]
    schedules = list(stripe_client.v1.subscription_schedules.list(params={"limit": 3}).auto_paging_iter())
    assert [s.id for s in schedules] == _newest_first(world) and len(schedules) > 3
    assert all(isinstance(s, stripe.SubscriptionSchedule) for s in schedules)
    one = schedules[0]
    assert one.phases[0]["items"][0].price.startswith("price_") and one.current_phase.start_date > 0
    expanded = stripe_client.v1.subscription_schedules.retrieve(one.id, params={"expand": ["subscription"]})
    assert isinstance(expanded.subscription, stripe.Subscription) and expanded.subscription.schedule == one.id
    mine = stripe_client.v1.subscription_schedules.list(params={"customer": one.customer, "scheduled": False})
    assert {s.id for s in mine.auto_paging_iter()} == {s["id"] for s in world if s["customer"] == one.customer}
    assert list(stripe_client.v1.subscription_schedules.list(params={"scheduled": True}).auto_paging_iter()) == []


# ----------------------------------------------------------------------------- simple-salesforce

def test_simple_salesforce_query_all(sf: Salesforce, sb: Sandbox):
    result = sf.query_all("SELECT Id, Name FROM Account")
    assert result["done"] is True and result["totalSize"] == len(sb.world.salesforce["Account"])
    assert sorted((r["Id"], r["Name"]) for r in result["records"]) == sorted(
        (a["Id"], a["Name"]) for a in sb.world.salesforce["Account"])
    # Several pages (nextRecordsUrl), merged by the SDK, and queryAll through include_deleted.
    timecards = sf.query_all("SELECT Id FROM pse__Timecard__c", include_deleted=True,
                             headers={"Sforce-Query-Options": "batchSize=200"})
    assert len(timecards["records"]) == len(sb.world.salesforce["pse__Timecard__c"]) > 200
    assert len({r["Id"] for r in timecards["records"]}) == len(timecards["records"])


def test_simple_salesforce_upsert_creates_then_updates(sf: Salesforce, sb: Sandbox):
    account = sb.world.salesforce["Account"][2]["Id"]
    status = getattr(sf, STATUS)
    assert status.upsert("Q2C_Invoice_Id__c/x", {"Account__c": account, "Total_Amount__c": 1200,
                                                 "Payment_Status__c": "Open"}) == 201
    assert status.upsert("Q2C_Invoice_Id__c/x", {"Payment_Status__c": "Paid", "Paid_Amount__c": 1200}) in (200, 204)
    record = status.get_by_custom_id("Q2C_Invoice_Id__c", "x")
    assert (record["Account__c"], record["Payment_Status__c"], record["Paid_Amount__c"]) == (account, "Paid", 1200.0)
    assert [r["Q2C_Invoice_Id__c"] for r in sb.records("salesforce", STATUS)] == ["x"]
    assert status.describe()["name"] == STATUS
    with pytest.raises(SalesforceResourceNotFound):
        status.get_by_custom_id("Q2C_Invoice_Id__c", "missing")
