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


class DiesAfterDelete(DiesAfterSend):
    """Sends as the sink does; lets the target delete a batch, then dies before the engine can record it."""

    def send(self, batch):
        return self.sink.send(batch)

    def delete(self, batch):
        self.sink.delete(batch)
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
    """Live invoice items per key (a deleted item stays in the sandbox's store, flagged ``deleted``)."""
    return Counter(i["metadata"]["q2c_external_id"] for i in sandbox.records("stripe", "invoiceitems")
                   if i["metadata"].get("q2c_external_id", "").startswith(prefix) and not i.get("deleted"))


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
    amounts = {i["metadata"]["q2c_external_id"]: i["amount"] for i in sandbox.records("stripe", "invoiceitems")
               if not i.get("deleted")}
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
                if i["metadata"].get("q2c_external_id") == f"{tmp_path.name}-C0-202607" and not i.get("deleted"))
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


# ----------------------------------------------------------------------------- mirror
STATUS, EXT = "Q2C_Invoice_Status__c", "Q2C_Invoice_Id__c"


def _status_payload(con, sandbox, prefix: str, n: int) -> None:
    account = sandbox.records("salesforce", "Account")[0]["Id"]
    con.execute("create schema if not exists reverse_etl")
    con.execute("""create or replace table reverse_etl.status as
                   select ? || '-' || i as external_id, 'h' as content_hash, ? as "Account__c",
                          'USD' as "CurrencyIsoCode", 'open' as "Payment_Status__c" from range(?) t(i)""",
                [prefix, account, n])


def _crm(sandbox, prefix: str) -> dict[str, tuple[str, bool]]:
    """Key -> (Id, IsDeleted) of the CRM's status records of this test, deleted ones included."""
    return {r[EXT]: (r["Id"], r["IsDeleted"]) for r in sandbox.records("salesforce", STATUS)
            if r[EXT].startswith(prefix + "-")}


def _sf_deletes(sandbox) -> list[str]:
    """Every id the sandbox's Salesforce was asked to delete, one entry per DELETE call and id."""
    return [i for w in sandbox.writes("salesforce") if w["method"] == "DELETE" for i in w["body"]["ids"]]


def _stripe_deletes(sandbox) -> Counter:
    """Accepted DELETEs per invoice item (refused ones are not writes)."""
    return Counter(w["key"] for w in sandbox.writes("stripe") if w["method"] == "DELETE")


def test_salesforce_mirror_deletes_exactly_the_removed_records_once(sandbox, sf_client, tmp_path):
    prefix = tmp_path.name
    sink = SalesforceUpsertSink(sf_client, STATUS, EXT)  # crm_payment_status: a target that may mirror
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        _status_payload(con, sandbox, prefix, 6)
        assert engine.sync(con, sink, "reverse_etl.status", crm_payment_status_payload, mode="mirror").succeeded == 6
        ids = {k: i for k, (i, _) in _crm(sandbox, prefix).items()}
        con.execute("delete from reverse_etl.status where external_id in (?, ?)", [f"{prefix}-1", f"{prefix}-4"])
        result = engine.sync(con, sink, "reverse_etl.status", crm_payment_status_payload, mode="mirror")
        assert (result.to_delete, result.succeeded, result.failed, result.sent) == (2, 2, 0, 2), result.errors
        assert _crm(sandbox, prefix) == {k: (i, k in (f"{prefix}-1", f"{prefix}-4")) for k, i in ids.items()}
        assert sorted(_sf_deletes(sandbox)) == sorted([ids[f"{prefix}-1"], ids[f"{prefix}-4"]])  # one call
        writes = len(sandbox.writes())
        # Rerun: nothing sent. Then a record someone deleted in the CRM leaves the payload: done, nothing sent.
        rerun = engine.sync(con, sink, "reverse_etl.status", crm_payment_status_payload, mode="mirror")
        assert (rerun.to_delete, rerun.sent) == (0, 0) and len(sandbox.writes()) == writes
        sf_client.request("DELETE", f"/services/data/v{sf_client.api_version}/composite/sobjects", "delete",
                          params={"ids": ids[f"{prefix}-0"]})
        con.execute("delete from reverse_etl.status where external_id = ?", [f"{prefix}-0"])
        gone = engine.sync(con, sink, "reverse_etl.status", crm_payment_status_payload, mode="mirror")
        assert (gone.to_delete, gone.succeeded, gone.confirmed, gone.sent) == (1, 1, 1, 0)
        logged = con.execute("select primary_key, status from q2c_sync.writeback_log where operation = 'delete' "
                             "order by logged_at, primary_key").fetchall()
        kept = {k for (k,) in con.execute("select external_id from q2c_sync.sync_state").fetchall()}
    assert logged == [(f"{prefix}-1", "ok"), (f"{prefix}-4", "ok"), (f"{prefix}-0", "confirmed")]
    assert kept == {f"{prefix}-{i}" for i in (2, 3, 5)}
    assert _sf_deletes(sandbox).count(ids[f"{prefix}-0"]) == 1  # only the CRM user's own delete


def test_salesforce_one_refused_delete_fails_alone_and_is_retried(sandbox, sf_client, tmp_path):
    prefix = tmp_path.name
    sink = SalesforceUpsertSink(sf_client, STATUS, EXT)
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        _status_payload(con, sandbox, prefix, 5)
        engine.sync(con, sink, "reverse_etl.status", crm_payment_status_payload)
        con.execute("delete from reverse_etl.status where external_id in (?, ?)", [f"{prefix}-0", f"{prefix}-3"])
        # The CRM refuses one record of the batch: its key resolves to a record this user may not delete.
        found, read_only = sink.existing, sandbox.records("salesforce", "Account")[1]["Id"]
        sink.existing = lambda changes: {**found(changes), f"{prefix}-3": read_only}
        result = engine.sync(con, sink, "reverse_etl.status", crm_payment_status_payload, mode="mirror")
        assert (result.to_delete, result.succeeded, result.failed) == (2, 1, 1)
        assert list(result.errors) == [f"{prefix}-3"]
        assert result.errors[f"{prefix}-3"].startswith("INSUFFICIENT_ACCESS_OR_READONLY")
        assert {k: deleted for k, (_, deleted) in _crm(sandbox, prefix).items()} == {
            f"{prefix}-{i}": i == 0 for i in range(5)}
        del sink.existing
        retry = engine.sync(con, sink, "reverse_etl.status", crm_payment_status_payload, mode="mirror")
        assert (retry.to_delete, retry.succeeded, retry.sent) == (1, 1, 1)
    assert _crm(sandbox, prefix)[f"{prefix}-3"][1] is True


@pytest.mark.parametrize("system", ["salesforce", "stripe"])
def test_mirror_killed_after_the_target_deleted_sends_nothing_twice(system, sandbox, sf_client, stripe_client, con,
                                                                    tmp_path):
    prefix = tmp_path.name
    if system == "salesforce":
        def make_sink():
            return SalesforceUpsertSink(sf_client, STATUS, EXT)
        _status_payload(con, sandbox, prefix, 3)
        relation, payload_of, removed = "reverse_etl.status", crm_payment_status_payload, f"{prefix}-1"
    else:
        def make_sink():
            return StripeInvoiceItemSink(stripe_client, name="pending_items")
        relation, payload_of, removed = "reverse_etl.schedule", billing_schedule_payload, f"{prefix}-C1-202607"
    assert engine.sync(con, make_sink(), relation, payload_of).succeeded == 3
    [target_id] = con.execute("select target_id from q2c_sync.sync_state where external_id = ?",
                              [removed]).fetchone()
    con.execute(f"delete from {relation} where external_id = ?", [removed])
    with pytest.raises(ProcessDied):
        engine.sync(con, DiesAfterDelete(make_sink()), relation, payload_of, mode="mirror")
    deletes = _sf_deletes(sandbox).count(target_id) if system == "salesforce" else _stripe_deletes(sandbox)[target_id]
    assert deletes == 1
    rerun = engine.sync(con, make_sink(), relation, payload_of, mode="mirror")
    assert (rerun.in_doubt, rerun.to_delete, rerun.confirmed, rerun.sent, rerun.failed) == (1, 1, 1, 0, 0)
    again = _sf_deletes(sandbox).count(target_id) if system == "salesforce" else _stripe_deletes(sandbox)[target_id]
    assert again == 1
    assert con.execute("select count(*) from q2c_sync.sync_pending").fetchone() == (0,)
    assert removed not in {k for (k,) in con.execute("select external_id from q2c_sync.sync_state").fetchall()}


def test_stripe_mirror_deletes_removed_items_and_a_refused_delete_fails_alone(sandbox, stripe_client, con, tmp_path):
    prefix = tmp_path.name
    sink = StripeInvoiceItemSink(stripe_client, name="pending_items")  # any target but billing_schedule
    assert engine.sync(con, sink, "reverse_etl.schedule", billing_schedule_payload, mode="mirror").succeeded == 3
    items = {i["metadata"]["q2c_external_id"]: i for i in sandbox.records("stripe", "invoiceitems")
             if i["metadata"].get("q2c_external_id", "").startswith(prefix)}
    # C1's item went onto an invoice that is paid by now: Stripe refuses to delete it.
    c1 = items[f"{prefix}-C1-202607"]
    paid = next(i for i in sandbox.records("stripe", "invoices")
                if i["status"] == "paid" and i["customer"] == c1["customer"])
    sandbox.store.put("stripe", "invoiceitems", {**c1, "invoice": paid["id"]})
    con.execute("delete from reverse_etl.schedule where contract_id in ('C0', 'C1')")
    result = engine.sync(con, StripeInvoiceItemSink(stripe_client, name="pending_items"), "reverse_etl.schedule",
                         billing_schedule_payload, mode="mirror", max_change_share=1.0)
    assert (result.to_delete, result.succeeded, result.failed, result.sent) == (2, 1, 1, 2)
    assert list(result.errors) == [f"{prefix}-C1-202607"] and "HTTP 400" in result.errors[f"{prefix}-C1-202607"]
    assert _items(sandbox, prefix) == Counter({f"{prefix}-C1-202607": 1, f"{prefix}-C2-202607": 1})
    # Kept in the state, so the next sync tries it again: deleted once the item is pending again.
    sandbox.store.put("stripe", "invoiceitems", {**c1, "invoice": None})
    retry = engine.sync(con, StripeInvoiceItemSink(stripe_client, name="pending_items"), "reverse_etl.schedule",
                        billing_schedule_payload, mode="mirror")
    assert (retry.to_delete, retry.succeeded, retry.sent) == (1, 1, 1)
    assert _items(sandbox, prefix) == Counter({f"{prefix}-C2-202607": 1})
    rerun = engine.sync(con, StripeInvoiceItemSink(stripe_client, name="pending_items"), "reverse_etl.schedule",
                        billing_schedule_payload, mode="mirror")
    assert (rerun.to_delete, rerun.sent) == (0, 0)
    deletes = _stripe_deletes(sandbox)
    assert [deletes[items[f"{prefix}-C{i}-202607"]["id"]] for i in range(3)] == [1, 1, 0]


def test_billing_schedule_never_mirrors_though_its_sink_can_delete(stripe_client, con):
    sink = StripeInvoiceItemSink(stripe_client)
    assert sink.name == "billing_schedule" and hasattr(sink, "delete")
    with pytest.raises(engine.SyncConfigError, match="billing_schedule: mode mirror deletes removed rows in the "
                                                     "target, .* would unbill it; use upsert, update_only"):
        engine.sync(con, sink, "reverse_etl.schedule", billing_schedule_payload, mode="mirror")
