"""The writeback engine and its sinks against the sandbox's Stripe and Salesforce APIs, over real HTTPS."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest

from ingestion.salesforce.helpers import SalesforceClient
from ingestion.stripe.helpers import StripeClient
from reverse_etl import engine
from reverse_etl.sinks.salesforce import SalesforceUpsertSink
from reverse_etl.sinks.stripe import StripeInvoiceItemSink
from reverse_etl.targets import billing_schedule_payload, crm_payment_status_payload
from sandbox.server import Sandbox


class ProcessDied(BaseException):
    """Stands for the process being killed: not an Exception, nothing catches it."""


class DiesAfterSend:
    """Lets the target accept the batch, then dies before the engine can record it."""

    def __init__(self, sink) -> None:
        self.sink, self.name, self.batch_size = sink, sink.name, sink.batch_size

    def send(self, batch):
        self.sink.send(batch)
        raise ProcessDied


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with Sandbox(tmp_path_factory.mktemp("sandbox"), seed=42, scale=1.0) as sb:
        yield sb


@pytest.fixture
def stripe_client(sandbox):
    return StripeClient(sandbox.urls["stripe"], sandbox.credentials["stripe"]["api_key"],
                        ca_bundle=str(sandbox.ca_bundle))


@pytest.fixture
def con(tmp_path: Path, sandbox):
    customer = sandbox.records("stripe", "customers")[0]
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.execute("create schema reverse_etl")
        con.execute("""create table reverse_etl.schedule (external_id varchar, content_hash varchar,
                       stripe_customer_id varchar, contract_id varchar, amount bigint, currency varchar,
                       description varchar, period_start bigint, period_end bigint)""")
        for i in range(3):
            ext = f"{tmp_path.name}-C{i}-202607"
            con.execute("insert into reverse_etl.schedule values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [ext, "h1", customer["id"], f"C{i}", 100_000 + i, customer["currency"],
                         f"Installment {i}", 1785542400, 1788220799])
        yield con


def _items(sandbox, prefix: str) -> Counter:
    return Counter(i["metadata"]["q2c_external_id"] for i in sandbox.records("stripe", "invoiceitems")
                   if i["metadata"].get("q2c_external_id", "").startswith(prefix))


def test_stripe_create_survives_a_crash_between_send_and_state(sandbox, stripe_client, con, tmp_path):
    prefix = tmp_path.name
    with pytest.raises(ProcessDied):
        engine.sync(con, DiesAfterSend(StripeInvoiceItemSink(stripe_client)), "reverse_etl.schedule",
                    billing_schedule_payload)
    assert _items(sandbox, prefix) == Counter({f"{prefix}-C{i}-202607": 1 for i in range(3)})
    # Content changes before the rerun: the old idempotency key no longer matches, yet nothing doubles.
    con.execute("update reverse_etl.schedule set amount = 120000, content_hash = 'h2' where contract_id = 'C1'")
    result = engine.sync(con, StripeInvoiceItemSink(stripe_client), "reverse_etl.schedule", billing_schedule_payload)
    assert (result.succeeded, result.failed) == (3, 0)
    assert _items(sandbox, prefix) == Counter({f"{prefix}-C{i}-202607": 1 for i in range(3)})
    amounts = {i["metadata"]["q2c_external_id"]: i["amount"] for i in sandbox.records("stripe", "invoiceitems")}
    assert amounts[f"{prefix}-C1-202607"] == 120000
    assert engine.sync(con, StripeInvoiceItemSink(stripe_client), "reverse_etl.schedule",
                       billing_schedule_payload).sent == 0


def test_stripe_content_reverting_to_an_earlier_version_still_syncs(sandbox, stripe_client, con, tmp_path):
    sink = StripeInvoiceItemSink(stripe_client)
    assert engine.sync(con, sink, "reverse_etl.schedule", billing_schedule_payload).succeeded == 3
    for amount, digest in ((150000, "h2"), (100000, "h1")):  # A -> B -> A
        con.execute("update reverse_etl.schedule set amount = ?, content_hash = ? where contract_id = 'C0'",
                    [amount, digest])
        result = engine.sync(con, StripeInvoiceItemSink(stripe_client), "reverse_etl.schedule",
                             billing_schedule_payload)
        assert (result.succeeded, result.failed) == (1, 0), result.errors
    item = next(i for i in sandbox.records("stripe", "invoiceitems")
                if i["metadata"]["q2c_external_id"] == f"{tmp_path.name}-C0-202607")
    assert item["amount"] == 100000
    assert _items(sandbox, tmp_path.name)[f"{tmp_path.name}-C0-202607"] == 1


def test_stripe_refuses_to_move_an_item_to_another_customer(sandbox, stripe_client, con):
    engine.sync(con, StripeInvoiceItemSink(stripe_client), "reverse_etl.schedule", billing_schedule_payload)
    other = next(c for c in sandbox.records("stripe", "customers")
                 if c["currency"] == sandbox.records("stripe", "customers")[0]["currency"]
                 and c["id"] != sandbox.records("stripe", "customers")[0]["id"])
    con.execute("update reverse_etl.schedule set stripe_customer_id = ?, content_hash = 'h3' where contract_id = 'C2'",
                [other["id"]])
    result = engine.sync(con, StripeInvoiceItemSink(stripe_client), "reverse_etl.schedule", billing_schedule_payload)
    assert result.failed == 1
    [(key, error)] = result.errors.items()
    assert key.endswith("C2-202607") and error.startswith("customer of invoice item ii_")


def test_salesforce_rejected_record_fails_alone_and_is_retried(sandbox, tmp_path):
    client = SalesforceClient(sandbox.urls["salesforce"], sandbox.credentials["salesforce"]["client_id"],
                              sandbox.credentials["salesforce"]["client_secret"], ca_bundle=str(sandbox.ca_bundle))
    account = sandbox.records("salesforce", "Account")[0]["Id"]
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.execute("create schema reverse_etl")
        con.execute("""create table reverse_etl.status as
                       select 'SF-T-' || i as external_id, 'h' as content_hash, ? as "Account__c",
                              case when i = 1 then 'XXX' else 'USD' end as "CurrencyIsoCode",
                              'open' as "Payment_Status__c" from range(3) t(i)""", [account])
        sink = SalesforceUpsertSink(client, "Q2C_Invoice_Status__c", "Q2C_Invoice_Id__c")
        first = engine.sync(con, sink, "reverse_etl.status", crm_payment_status_payload)
        assert (first.succeeded, first.failed) == (2, 1)
        assert "SF-T-1" in first.errors and "XXX" in first.errors["SF-T-1"]
        con.execute("""update reverse_etl.status set "CurrencyIsoCode" = 'USD', content_hash = 'h2'
                       where external_id = 'SF-T-1'""")
        second = engine.sync(con, sink, "reverse_etl.status", crm_payment_status_payload)
        assert (second.sent, second.succeeded) == (1, 1)
    stored = Counter(r["Q2C_Invoice_Id__c"] for r in sandbox.records("salesforce", "Q2C_Invoice_Status__c"))
    assert stored == Counter({"SF-T-0": 1, "SF-T-1": 1, "SF-T-2": 1})


@pytest.fixture
def sf_client(sandbox):
    return SalesforceClient(sandbox.urls["salesforce"], sandbox.credentials["salesforce"]["client_id"],
                            sandbox.credentials["salesforce"]["client_secret"], ca_bundle=str(sandbox.ca_bundle))


def test_salesforce_update_only_updates_what_the_crm_holds_and_creates_nothing(sandbox, sf_client, tmp_path):
    account = sandbox.records("salesforce", "Account")[0]["Id"]
    prefix = tmp_path.name
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.execute("create schema reverse_etl")
        con.execute("""create table reverse_etl.status as
                       select ? || '-' || i as external_id, 'h' as content_hash, ? as "Account__c",
                              'USD' as "CurrencyIsoCode", 'open' as "Payment_Status__c" from range(3) t(i)""",
                    [prefix, account])
        # Someone else (another integration) created the CRM records of keys 0 and 1.
        other = SalesforceUpsertSink(sf_client, "Q2C_Invoice_Status__c", "Q2C_Invoice_Id__c", name="other")
        con.execute("create table reverse_etl.seed as select * from reverse_etl.status where external_id < ?",
                    [f"{prefix}-2"])
        assert engine.sync(con, other, "reverse_etl.seed", crm_payment_status_payload).succeeded == 2
        con.execute("""update reverse_etl.status set "Payment_Status__c" = 'paid'""")
        sink = SalesforceUpsertSink(sf_client, "Q2C_Invoice_Status__c", "Q2C_Invoice_Id__c")
        result = engine.sync(con, sink, "reverse_etl.status", crm_payment_status_payload, mode="update_only")
        assert (result.succeeded, result.skipped, result.to_update, result.to_create) == (2, 1, 2, 0)
        logged = con.execute("select primary_key, operation, status, idempotency_key from q2c_sync.writeback_log "
                             "where target = 'crm_payment_status' order by 1").fetchall()
    assert [row[:3] for row in logged] == [(f"{prefix}-0", "update", "ok"), (f"{prefix}-1", "update", "ok"),
                                           (f"{prefix}-2", "create", "skipped")]
    assert all(key and key.startswith("q2c-") for *_, key in logged)
    stored = {r["Q2C_Invoice_Id__c"]: r["Payment_Status__c"] for r in sandbox.records("salesforce", "Q2C_Invoice_Status__c")
              if r["Q2C_Invoice_Id__c"].startswith(prefix)}
    assert stored == {f"{prefix}-0": "paid", f"{prefix}-1": "paid"}


def test_stripe_update_only_finds_items_by_metadata_and_creates_none(sandbox, stripe_client, con, tmp_path):
    engine.sync(con, StripeInvoiceItemSink(stripe_client, name="seed"), "reverse_etl.schedule",
                billing_schedule_payload)
    con.execute("update reverse_etl.schedule set amount = amount + 1, content_hash = 'h2'")
    con.execute("insert into reverse_etl.schedule select external_id || '-new', content_hash, stripe_customer_id, "
                "contract_id, amount, currency, description, period_start, period_end from reverse_etl.schedule "
                "where contract_id = 'C0'")
    result = engine.sync(con, StripeInvoiceItemSink(stripe_client), "reverse_etl.schedule",
                         billing_schedule_payload, mode="update_only")
    assert (result.succeeded, result.skipped, result.failed) == (3, 1, 0), result.errors
    assert _items(sandbox, tmp_path.name) == Counter({f"{tmp_path.name}-C{i}-202607": 1 for i in range(3)})


def test_mirror_is_refused_for_both_targets_since_the_sandbox_cannot_delete(sandbox, sf_client, stripe_client, con):
    """Mirror needs deletes. Neither sandbox API has one; when it does, give the sink a delete and drop this."""
    sf = sf_client.session.delete(
        f"{sf_client.instance_url}/services/data/v{sf_client.api_version}/composite/sobjects",
        params={"ids": "a3Q000000000001AAA", "allOrNone": "false"})
    stripe = stripe_client.session.delete(f"{stripe_client.base_url}/v1/invoiceitems/ii_missing")
    assert sf.status_code in (404, 405) and stripe.status_code == 404
    assert "Unrecognized request URL" in stripe.json()["error"]["message"]
    for sink in (SalesforceUpsertSink(sf_client, "Q2C_Invoice_Status__c", "Q2C_Invoice_Id__c"),
                 StripeInvoiceItemSink(stripe_client)):
        with pytest.raises(engine.SyncConfigError, match="mode mirror .* cannot delete"):
            engine.sync(con, sink, "reverse_etl.schedule", billing_schedule_payload, mode="mirror")
