"""A writeback killed mid-sync (SIGKILL, in a subprocess) and rerun: the sandbox received every record once.

The sync runs in a child process against the sandbox's Salesforce and Stripe on loopback. It is
killed either right after the target accepted a batch and before the warehouse heard of it (the
worst moment, by a hook in the child), or at whatever moment it is at once the sandbox has taken
some writes (its requests slowed by the sandbox's ``latency_ms`` fault). The rerun must leave the
target holding each payload record exactly once, and must not send any record a second time.
Also here: 429 answers are retried after the ``Retry-After`` the sandbox announces, and 5xx answers
are retried without doubling anything.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
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

REPO = Path(__file__).resolve().parents[2]
SF_OBJECT, SF_KEY = "Q2C_Invoice_Status__c", "Q2C_Invoice_Id__c"

CHILD = r"""
import json, os, signal, sys
import duckdb
from ingestion.salesforce.helpers import SalesforceClient
from ingestion.stripe.helpers import StripeClient
from reverse_etl import engine
from reverse_etl.sinks.salesforce import SalesforceUpsertSink
from reverse_etl.sinks.stripe import StripeInvoiceItemSink
from reverse_etl.targets import billing_schedule_payload, crm_payment_status_payload

a = json.loads(sys.argv[1])
if a["system"] == "salesforce":
    client = SalesforceClient(a["url"], a["client_id"], a["secret"], ca_bundle=a["ca"])
    sink = SalesforceUpsertSink(client, "Q2C_Invoice_Status__c", "Q2C_Invoice_Id__c", batch_size=a["batch"])
    payload_of = crm_payment_status_payload
else:
    sink = StripeInvoiceItemSink(StripeClient(a["url"], a["secret"], ca_bundle=a["ca"]), batch_size=a["batch"])
    payload_of = billing_schedule_payload
if a.get("kill_after_batches"):
    send, calls = sink.send, []
    def dying_send(batch):
        outcomes = send(batch)  # the target has accepted the batch ...
        calls.append(1)
        if len(calls) >= a["kill_after_batches"]:
            os.kill(os.getpid(), signal.SIGKILL)  # ... and the process dies before recording it
        return outcomes
    sink.send = dying_send
with duckdb.connect(a["warehouse"]) as con:
    result = engine.sync(con, sink, "reverse_etl.payload", payload_of)
print(json.dumps(result.as_metadata()))
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with Sandbox(tmp_path_factory.mktemp("sandbox"), seed=42, scale=1.0) as sb:
        yield sb


@pytest.fixture(autouse=True)
def no_faults(sandbox):
    yield
    sandbox.clear_faults()


def _child(sandbox, system: str, warehouse: Path, batch: int, kill_after_batches: int | None = None,
           wait: bool = True) -> subprocess.Popen | subprocess.CompletedProcess:
    creds = sandbox.credentials[system]
    args = {"system": system, "url": sandbox.urls[system], "ca": str(sandbox.ca_bundle), "batch": batch,
            "warehouse": str(warehouse), "kill_after_batches": kill_after_batches,
            "client_id": creds.get("client_id"), "secret": creds.get("client_secret") or creds.get("api_key")}
    cmd = [sys.executable, "-c", CHILD, json.dumps(args)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if not wait:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def _crm_payload(sandbox, warehouse: Path, prefix: str, n: int) -> set[str]:
    """A payload shaped like rev_crm_invoice_payment_status (dates, decimals, references)."""
    account = sandbox.records("salesforce", "Account")[0]["Id"]
    contract = sandbox.records("salesforce", "Contract")[0]["Id"]
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema reverse_etl")
        con.execute(f"""
            create table reverse_etl.payload as
            select '{prefix}-' || lpad(i::varchar, 3, '0') as "Q2C_Invoice_Id__c",
                   'INV-' || i as "Name", '{account}' as "Account__c", '{contract}' as "Contract__c",
                   'INV-' || i as "Invoice_Number__c", 'netsuite' as "Source_System__c", 'USD' as "CurrencyIsoCode",
                   date '2026-05-01' + i::integer as "Invoice_Date__c", date '2026-06-01' + i::integer as "Due_Date__c",
                   (1000 + i * 10.25)::decimal(18, 2) as "Total_Amount__c", (i * 5)::decimal(18, 2) as "Paid_Amount__c",
                   (1000 + i * 5.25)::decimal(18, 2) as "Open_Amount__c",
                   case when i % 3 = 0 then 'paid' else 'open' end as "Payment_Status__c",
                   case when i % 2 = 0 then 'current' else '1-30' end as "Aging_Bucket__c",
                   '{prefix}-' || lpad(i::varchar, 3, '0') as external_id, md5('{prefix}' || i) as content_hash
            from range({n}) t(i)""")
        return {k for (k,) in con.execute("select external_id from reverse_etl.payload").fetchall()}


def _billing_payload(sandbox, warehouse: Path, prefix: str, n: int) -> set[str]:
    customer = sandbox.records("stripe", "customers")[1]
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema reverse_etl")
        con.execute("""
            create table reverse_etl.payload as
            select ? || '-C' || lpad(i::varchar, 3, '0') || '-202607' as external_id, md5(? || i) as content_hash,
                   ? as stripe_customer_id, 'C' || i as contract_id, 50000 + i as amount, ? as currency,
                   'Installment ' || i as description, 1785542400 as period_start, 1788220799 as period_end
            from range(?) t(i)""", [prefix, prefix, customer["id"], customer["currency"], n])
        return {k for (k,) in con.execute("select external_id from reverse_etl.payload").fetchall()}


def _sf_sends(sandbox, keys: set[str]) -> Counter:
    """How many accepted upsert requests carried each key."""
    return Counter(rec[SF_KEY] for w in sandbox.writes("salesforce") if w["method"] == "PATCH"
                   for rec in w["body"]["records"] if rec.get(SF_KEY) in keys)


def _sf_stored(sandbox, keys: set[str]) -> Counter:
    return Counter(r[SF_KEY] for r in sandbox.records("salesforce", SF_OBJECT) if r[SF_KEY] in keys)


def _stripe_posts(sandbox, keys: set[str]) -> Counter:
    """Invoice-item POSTs per key that Stripe executed (idempotent replays not counted)."""
    return Counter(w["body"]["metadata[q2c_external_id]"] for w in sandbox.writes("stripe")
                   if w["method"] == "POST" and not w["replayed"]
                   and w["body"].get("metadata[q2c_external_id]") in keys)


def _stripe_stored(sandbox, keys: set[str]) -> Counter:
    return Counter(i["metadata"].get("q2c_external_id") for i in sandbox.records("stripe", "invoiceitems")
                   if i["metadata"].get("q2c_external_id") in keys)


def _runs(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("select status, sent, confirmed, in_doubt from q2c_sync.sync_runs "
                           "order by started_at").fetchall()


def _settled(warehouse: Path, keys: set[str]) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from q2c_sync.sync_pending").fetchone() == (0,)
        state = {k for (k,) in con.execute("select external_id from q2c_sync.sync_state").fetchall()}
    assert state == keys


def test_salesforce_sync_killed_after_a_batch_was_accepted_sends_nothing_twice(sandbox, tmp_path):
    warehouse = tmp_path / "wh.duckdb"
    keys = _crm_payload(sandbox, warehouse, tmp_path.name, 45)
    killed = _child(sandbox, "salesforce", warehouse, batch=20, kill_after_batches=1)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert sum(_sf_stored(sandbox, keys).values()) == 20  # the CRM took the first batch; the warehouse never heard

    rerun = _child(sandbox, "salesforce", warehouse, batch=20)
    assert rerun.returncode == 0, rerun.stderr
    assert _sf_sends(sandbox, keys) == Counter(dict.fromkeys(keys, 1))  # each record sent exactly once
    assert _sf_stored(sandbox, keys) == Counter(dict.fromkeys(keys, 1))
    assert _runs(warehouse) == [("interrupted", None, None, None), ("succeeded", 25, 20, 20)]
    _settled(warehouse, keys)
    stored = {r[SF_KEY]: r for r in sandbox.records("salesforce", SF_OBJECT) if r[SF_KEY] in keys}
    assert stored[f"{tmp_path.name}-044"]["Open_Amount__c"] == pytest.approx(1000 + 44 * 5.25)


def test_stripe_sync_killed_after_a_batch_was_accepted_sends_nothing_twice(sandbox, tmp_path):
    warehouse = tmp_path / "wh.duckdb"
    keys = _billing_payload(sandbox, warehouse, tmp_path.name, 12)
    killed = _child(sandbox, "stripe", warehouse, batch=5, kill_after_batches=1)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    rerun = _child(sandbox, "stripe", warehouse, batch=5)
    assert rerun.returncode == 0, rerun.stderr
    assert _stripe_posts(sandbox, keys) == Counter(dict.fromkeys(keys, 1))
    assert _stripe_stored(sandbox, keys) == Counter(dict.fromkeys(keys, 1))
    assert _runs(warehouse) == [("interrupted", None, None, None), ("succeeded", 7, 5, 5)]
    _settled(warehouse, keys)


@pytest.mark.parametrize("system", ["salesforce", "stripe"])
def test_sync_killed_at_an_arbitrary_moment_loses_nothing_and_sends_nothing_twice(sandbox, tmp_path, system):
    warehouse = tmp_path / "wh.duckdb"
    if system == "salesforce":
        keys, batch, latency, sends, stored = _crm_payload(sandbox, warehouse, tmp_path.name, 50), 20, 400, \
            _sf_sends, _sf_stored
    else:
        keys, batch, latency, sends, stored = _billing_payload(sandbox, warehouse, tmp_path.name, 10), 2, 150, \
            _stripe_posts, _stripe_stored
    sandbox.set_faults(system, latency_ms=latency)
    child = _child(sandbox, system, warehouse, batch=batch, wait=False)
    deadline = time.monotonic() + 30
    while not sends(sandbox, keys) and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.02)
    # Half a latency after the first write landed, the next request is most likely held in the sandbox:
    # the process dies with it on the wire, and the sandbox applies it afterwards.
    time.sleep(latency / 2000)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert 0 < sum(stored(sandbox, keys).values()) < len(keys)
    sandbox.clear_faults(system)
    time.sleep(latency / 1000 + 0.3)  # a request the sandbox was still holding lands before the rerun
    rerun = _child(sandbox, system, warehouse, batch=batch)
    assert rerun.returncode == 0, rerun.stderr
    assert sends(sandbox, keys) == Counter(dict.fromkeys(keys, 1))
    assert stored(sandbox, keys) == Counter(dict.fromkeys(keys, 1))
    assert [status for status, *_ in _runs(warehouse)] == ["interrupted", "succeeded"]
    _settled(warehouse, keys)


def test_429_answers_are_retried_after_the_announced_retry_after(sandbox, tmp_path):
    warehouse = tmp_path / "wh.duckdb"
    keys = _billing_payload(sandbox, warehouse, tmp_path.name, 4)
    sandbox.set_faults("stripe", rate_limit=0.4, retry_after=1, seed=7)
    before = sandbox.fault_counts()["stripe"].get("rate_limit", 0)
    client = StripeClient(sandbox.urls["stripe"], sandbox.credentials["stripe"]["api_key"],
                          ca_bundle=str(sandbox.ca_bundle))
    started = time.monotonic()
    with duckdb.connect(str(warehouse)) as con:
        result = engine.sync(con, StripeInvoiceItemSink(client), "reverse_etl.payload", billing_schedule_payload)
    elapsed = time.monotonic() - started
    throttled = sandbox.fault_counts()["stripe"].get("rate_limit", 0) - before
    assert (result.succeeded, result.failed) == (4, 0), result.errors
    assert throttled >= 2
    assert elapsed >= throttled * 1.0 - 0.05  # each 429 waited the second its Retry-After asked for
    assert _stripe_stored(sandbox, keys) == Counter(dict.fromkeys(keys, 1))
    assert _stripe_posts(sandbox, keys) == Counter(dict.fromkeys(keys, 1))


def test_salesforce_5xx_answers_are_retried_and_nothing_doubles(sandbox, tmp_path):
    warehouse = tmp_path / "wh.duckdb"
    keys = _crm_payload(sandbox, warehouse, tmp_path.name, 30)
    sandbox.set_faults("salesforce", error_rate=0.5, error_statuses=[500, 503], seed=3)
    before = sandbox.fault_counts()["salesforce"].get("error_rate", 0)
    client = SalesforceClient(sandbox.urls["salesforce"], sandbox.credentials["salesforce"]["client_id"],
                              sandbox.credentials["salesforce"]["client_secret"], ca_bundle=str(sandbox.ca_bundle))
    with duckdb.connect(str(warehouse)) as con:
        result = engine.sync(con, SalesforceUpsertSink(client, SF_OBJECT, SF_KEY, batch_size=10),
                             "reverse_etl.payload", crm_payment_status_payload)
    assert sandbox.fault_counts()["salesforce"].get("error_rate", 0) - before >= 1
    assert (result.succeeded, result.failed) == (30, 0), result.errors
    assert _sf_sends(sandbox, keys) == Counter(dict.fromkeys(keys, 1))
    assert _sf_stored(sandbox, keys) == Counter(dict.fromkeys(keys, 1))


@pytest.mark.parametrize("fault", ["drop_after_rate", "malformed_rate"])
def test_answers_lost_after_the_write_took_effect_are_retried_without_doubling(sandbox, tmp_path, fault):
    """The write is applied, then its answer is lost (connection dropped) or garbled (JSON cut off):
    the retry replays Stripe's idempotency key and re-upserts the same CRM values by external id."""
    stripe_keys = _billing_payload(sandbox, tmp_path / "billing.duckdb", f"{tmp_path.name}s", 6)
    crm_keys = _crm_payload(sandbox, tmp_path / "crm.duckdb", f"{tmp_path.name}c", 30)
    for system in ("stripe", "salesforce"):
        sandbox.set_faults(system, **{fault: 0.4}, seed=5)
    before = {s: sandbox.fault_counts()[s].get(fault, 0) for s in ("stripe", "salesforce")}
    try:
        stripe = StripeClient(sandbox.urls["stripe"], sandbox.credentials["stripe"]["api_key"],
                              ca_bundle=str(sandbox.ca_bundle))
        sf = SalesforceClient(sandbox.urls["salesforce"], sandbox.credentials["salesforce"]["client_id"],
                              sandbox.credentials["salesforce"]["client_secret"], ca_bundle=str(sandbox.ca_bundle))
        stripe.session._backoff = sf.session._backoff = 0.01
        with duckdb.connect(str(tmp_path / "billing.duckdb")) as con:
            billing = engine.sync(con, StripeInvoiceItemSink(stripe), "reverse_etl.payload", billing_schedule_payload)
        with duckdb.connect(str(tmp_path / "crm.duckdb")) as con:
            crm = engine.sync(con, SalesforceUpsertSink(sf, SF_OBJECT, SF_KEY, batch_size=10),
                              "reverse_etl.payload", crm_payment_status_payload)
    finally:
        for system in ("stripe", "salesforce"):
            sandbox.clear_faults(system)
    struck = {s: sandbox.fault_counts()[s].get(fault, 0) - before[s] for s in ("stripe", "salesforce")}
    assert struck["stripe"] >= 1 and struck["salesforce"] >= 1, struck
    assert (billing.succeeded, billing.failed) == (6, 0), billing.errors
    assert (crm.succeeded, crm.failed) == (30, 0), crm.errors
    assert _stripe_stored(sandbox, stripe_keys) == Counter(dict.fromkeys(stripe_keys, 1))
    assert _stripe_posts(sandbox, stripe_keys) == Counter(dict.fromkeys(stripe_keys, 1))  # retries were replays
    assert _sf_stored(sandbox, crm_keys) == Counter(dict.fromkeys(crm_keys, 1))
