"""Fault injection over HTTPS: our retrying clients read everything once, and the sandbox counts what it did."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

import ingestion.netsuite.helpers as ns_helpers
from ingestion.http import ApiSession
from ingestion.netsuite.helpers import NetSuiteClient
from ingestion.salesforce.helpers import SalesforceClient
from ingestion.stripe.helpers import StripeClient
from sandbox.server import SYSTEMS, Sandbox
from sandbox.testing import SandboxClient


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("faults-sandbox")) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def client(sb: Sandbox) -> Iterator[SandboxClient]:
    c = SandboxClient(sb)
    yield c
    c.close()


@pytest.fixture(autouse=True)
def no_faults_after(sb: Sandbox) -> Iterator[None]:
    yield
    sb.clear_faults()


def delta(before: dict[str, int], after: dict[str, int]) -> Counter[str]:
    return Counter(after) - Counter(before)


def stripe_client(sb: Sandbox) -> StripeClient:
    return StripeClient(sb.urls["stripe"], sb.credentials["stripe"]["api_key"], str(sb.ca_bundle))


# ----------------------------------------------------------------------------- throttling and errors

def test_rate_limited_pages_are_each_read_once_by_api_session(sb: Sandbox, client: SandboxClient):
    sb.set_faults("stripe", rate_limit=0.3, retry_after=0)
    before = sb.fault_counts()["stripe"]
    pages = list(stripe_client(sb).list_pages("invoices", {"limit": 4}))
    ids = [inv["id"] for page in pages for inv in page]
    assert sorted(ids) == sorted(i["id"] for i in sb.world.stripe["invoices"]) and len(set(ids)) == len(ids)
    counted = delta(before, sb.fault_counts()["stripe"])
    assert counted["rate_limit"] >= 2 and counted["requests"] == len(pages) + counted["rate_limit"]
    status = client.request("stripe", "GET", "/_sandbox/status").json()
    assert status["faults"]["stripe"]["counts"] == sb.fault_counts()["stripe"]
    assert status["faults"]["stripe"]["knobs"]["rate_limit"] == 0.3

    sb.set_faults("stripe", rate_limit=1.0, retry_after=2)
    r = client.stripe("GET", "/v1/invoices")
    assert r.status_code == 429 and r.headers["Retry-After"] == "2" and r.headers["Request-Id"].startswith("req_")
    assert r.json()["error"]["code"] == "rate_limit" and r.json()["error"]["type"] == "invalid_request_error"


def test_server_errors_are_retried_and_salesforce_pages_arrive_once(sb: Sandbox, client: SandboxClient):
    sb.set_faults("salesforce", error_rate=0.3, latency_ms=[0, 5])
    before = sb.fault_counts()["salesforce"]
    sf = SalesforceClient(sb.urls["salesforce"], **sb.credentials["salesforce"], ca_bundle=str(sb.ca_bundle))
    pages = list(sf.query_all("SELECT Id FROM pse__Timecard__c ORDER BY Id", "timecards", batch_size=200))
    ids = [r["Id"] for page in pages for r in page]
    assert ids == sorted(t["Id"] for t in sb.world.salesforce["pse__Timecard__c"]) and len(pages) >= 4
    counted = delta(before, sb.fault_counts()["salesforce"])
    errors = sum(n for k, n in counted.items() if k.startswith("error_5"))
    assert counted["error_rate"] == errors >= 1 and counted["latency_ms"] >= 1

    sb.set_faults("salesforce", replace=True, error_rate=1.0, error_statuses=[503])
    r = client.salesforce("GET", "/services/data/v59.0/query/", params={"q": "SELECT Id FROM Account"})
    assert r.status_code == 503 and r.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"


def test_salesforce_request_limit_is_a_403_like_the_org_limit(sb: Sandbox, client: SandboxClient):
    sb.set_faults("salesforce", request_limit_exceeded=1.0)
    r = client.salesforce("GET", "/services/data/v59.0/sobjects/Account/describe")
    assert r.status_code == 403
    assert r.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert sb.fault_counts()["salesforce"]["request_limit_exceeded"] >= 1


def test_dropped_connections_fail_plain_clients_and_api_session_retries(sb: Sandbox, client: SandboxClient,
                                                                         monkeypatch: pytest.MonkeyPatch):
    sb.set_faults("netsuite", drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        client.netsuite("POST", "/services/rest/query/v1/suiteql", json={"q": "SELECT id FROM customer"})

    sb.set_faults("netsuite", drop_rate=0.3)
    before = sb.fault_counts()["netsuite"]
    monkeypatch.setattr(ns_helpers, "PAGE_LIMIT", 10)
    ns = NetSuiteClient(sb.urls["netsuite"], **sb.credentials["netsuite"], ca_bundle=str(sb.ca_bundle))
    ns.session = ApiSession(str(sb.ca_bundle), backoff_factor=0)  # the same retries, without the waits
    pages = list(ns.suiteql_pages("SELECT id FROM transaction ORDER BY id", "transactions"))
    ids = [row["id"] for page in pages for row in page]
    assert ids == sorted((t["id"] for t in sb.world.netsuite["transaction"]), key=int)
    counted = delta(before, sb.fault_counts()["netsuite"])
    assert counted["drop_rate"] >= 1 and counted["requests"] == len(pages) + counted["drop_rate"]


def test_admin_and_token_calls_are_spared_unless_asked(sb: Sandbox, client: SandboxClient):
    for system in SYSTEMS:
        sb.set_faults(system, drop_rate=1.0)
    for system in SYSTEMS:
        assert client.request(system, "GET", "/_sandbox/health").json()["ok"] is True
    token = client.request("salesforce", "POST", "/services/oauth2/token", data={
        "grant_type": "client_credentials", **sb.credentials["salesforce"]})
    assert token.status_code == 200
    sb.set_faults("salesforce", drop_rate=0.0, rate_limit=1.0, include_auth=True)
    token = client.request("salesforce", "POST", "/services/oauth2/token", data={
        "grant_type": "client_credentials", **sb.credentials["salesforce"]})
    assert token.status_code == 429


def test_latency_is_added(sb: Sandbox, client: SandboxClient):
    sb.set_faults("stripe", latency_ms=120)
    started = datetime.now(UTC)
    assert client.stripe("GET", "/v1/customers", params={"limit": 1}).status_code == 200
    assert (datetime.now(UTC) - started).total_seconds() >= 0.12


def test_the_fault_sequence_is_reproducible(tmp_path: Path):
    def codes(state_dir: Path, seed: int) -> list[int]:
        with Sandbox(state_dir, seed=seed, faults={"stripe": {"rate_limit": 0.25, "error_rate": 0.25}}) as sb:
            c = SandboxClient(sb)
            out = [c.stripe("GET", "/v1/customers", params={"limit": 1}).status_code for _ in range(40)]
            c.close()
            return out

    first = codes(tmp_path / "a", 42)
    assert first == codes(tmp_path / "b", 42) and first != codes(tmp_path / "c", 43)
    assert {200, 429} <= set(first) and any(code >= 500 for code in first)


# ----------------------------------------------------------------------------- knobs over the admin API

def test_admin_faults_endpoint(sb: Sandbox, client: SandboxClient):
    knobs = client.request("stripe", "GET", "/_sandbox/faults").json()
    assert set(knobs) == set(SYSTEMS) and knobs["stripe"]["rate_limit"] == 0.0
    assert "duplicate_events" in knobs["stripe"] and "request_limit_exceeded" in knobs["salesforce"]
    # Flat knobs go to the server's own system (or ?system=), a mapping to each system named.
    r = client.request("stripe", "POST", "/_sandbox/faults", json={"rate_limit": 0.1, "latency_ms": [1, 3]})
    assert r.status_code == 200 and r.json()["stripe"]["rate_limit"] == 0.1 and r.json()["stripe"]["latency_ms"] == [1, 3]
    r = client.request("stripe", "POST", "/_sandbox/faults?system=netsuite", json={"error_rate": 0.2})
    assert r.json()["netsuite"]["error_rate"] == 0.2 and r.json()["stripe"]["rate_limit"] == 0.1
    r = client.request("salesforce", "POST", "/_sandbox/faults", json={
        "salesforce": {"request_limit_exceeded": 0.5}, "stripe": {"duplicate_events": 0.5}})
    assert r.json()["salesforce"]["request_limit_exceeded"] == 0.5 and r.json()["stripe"]["duplicate_events"] == 0.5
    assert r.json()["stripe"]["rate_limit"] == 0.1  # merged
    r = client.request("stripe", "POST", "/_sandbox/faults", json={"replace": True, "error_rate": 0.05})
    assert r.json()["stripe"]["rate_limit"] == 0.0 and r.json()["stripe"]["error_rate"] == 0.05
    assert sb.faults()["stripe"] == r.json()["stripe"]
    for body in ({"rate_limit": 2}, {"stripe": {"request_limit_exceeded": 0.1}}, {"hubspot": {}}, [1]):
        bad = client.request("stripe", "POST", "/_sandbox/faults", json=body)
        assert bad.status_code == 400 and bad.json()["ok"] is False
    assert client.request("stripe", "DELETE", "/_sandbox/faults").status_code == 405


def test_faults_given_at_construction_and_before_start(tmp_path: Path):
    sandbox = Sandbox(tmp_path, faults={"stripe": {"rate_limit": 1.0}})
    assert sandbox.set_faults("netsuite", error_rate=1.0)["error_rate"] == 1.0
    with pytest.raises(ValueError):
        Sandbox(tmp_path, faults={"stripe": {"request_limit_exceeded": 0.5}})
    with sandbox as sb:
        c = SandboxClient(sb)
        assert c.stripe("GET", "/v1/customers").status_code == 429
        r = c.netsuite("POST", "/services/rest/query/v1/suiteql", json={"q": "SELECT id FROM customer"})
        assert r.status_code in (500, 502, 503) and r.json()["o:errorDetails"][0]["o:errorCode"] == "UNEXPECTED_ERROR"
        assert c.salesforce("GET", "/services/data/v59.0/sobjects").status_code == 200  # no faults there
        c.close()


# ----------------------------------------------------------------------------- schema drift

def test_salesforce_drift_reaches_describe_driven_clients(sb: Sandbox, client: SandboxClient):
    sb.set_faults("salesforce", schema_drift={"new_field": True, "objects": ["Account"],
                                              "changed_type": {"object": "Opportunity", "field": "Amount"}})
    describe = client.salesforce("GET", "/services/data/v59.0/sobjects/Account/describe").json()
    assert {"Q2C_Drift__c": "string"}.items() <= {f["name"]: f["type"] for f in describe["fields"]}.items()
    sf = SalesforceClient(sb.urls["salesforce"], **sb.credentials["salesforce"], ca_bundle=str(sb.ca_bundle))
    fields = sf.describe_fields("Account")
    rows = [r for page in sf.query_all(f"SELECT {', '.join(fields)} FROM Account", "accounts") for r in page]
    assert len(rows) == len(sb.world.salesforce["Account"]) and all(r["Q2C_Drift__c"] == "drift" for r in rows)
    # Only where the field is served: an explicit field list without it stays as it was.
    assert "Q2C_Drift__c" not in client.soql("SELECT Id, Name FROM Account")[0]
    opp = client.soql("SELECT Id, Amount FROM Opportunity")
    assert opp and all(isinstance(r["Amount"], str) for r in opp if r["Amount"] is not None)
    opp_describe = client.salesforce("GET", "/services/data/v59.0/sobjects/Opportunity/describe").json()
    assert {f["name"]: f["type"] for f in opp_describe["fields"]}["Amount"] == "string"
    assert sb.fault_counts()["salesforce"]["schema_drift"] >= len(rows)

    sb.clear_faults("salesforce")  # back to the original schema
    assert "Q2C_Drift__c" not in [f["name"] for f in client.salesforce(
        "GET", "/services/data/v59.0/sobjects/Account/describe").json()["fields"]]
    assert all(isinstance(r["Amount"], float) for r in client.soql("SELECT Id, Amount FROM Opportunity"))


def test_netsuite_and_stripe_drift(sb: Sandbox, client: SandboxClient):
    sb.set_faults("netsuite", schema_drift={"new_field": {"name": "custentity_q2c_tier", "value": 2},
                                            "objects": ["customer"],
                                            "changed_type": {"object": "transaction", "field": "foreigntotal",
                                                             "to": "number"}})
    rows = client.suiteql("SELECT * FROM customer ORDER BY id")
    assert rows and all(r["custentity_q2c_tier"] == "2" for r in rows)  # SuiteQL serves strings
    assert "custentity_q2c_tier" not in client.suiteql("SELECT id, entityid FROM customer")[0]
    totals = client.suiteql("SELECT id, foreigntotal FROM transaction ORDER BY id")
    assert all(isinstance(r["foreigntotal"], float) for r in totals)

    sb.set_faults("stripe", schema_drift={"new_field": True, "objects": ["invoices"],
                                          "changed_type": {"object": "invoice", "field": "amount_due"}})
    invoices = client.stripe_list("invoices")
    assert all(i["q2c_drift"] == "drift" and isinstance(i["amount_due"], str) for i in invoices)
    assert "q2c_drift" not in client.stripe_list("customers")[0]
    one = client.stripe("GET", f"/v1/invoices/{invoices[0]['id']}").json()
    assert one["q2c_drift"] == "drift"
    events = client.stripe_list("events", type="invoice.*")
    assert all(e["data"]["object"]["q2c_drift"] == "drift" for e in events)
    assert sb.records("stripe", "invoices")[0].get("q2c_drift") is None  # the store is untouched


# ----------------------------------------------------------------------------- duplicate events

def test_duplicate_events_at_the_configured_rate_with_the_same_ids(sb: Sandbox, client: SandboxClient):
    at = int(datetime.combine(sb.clock, datetime.min.time(), tzinfo=UTC).timestamp())
    for i, customer in enumerate(sb.world.stripe["customers"]):
        sb.store.emit_event("customer.updated", {**customer, "balance": 100 + i}, at + i,
                            previous_attributes={"balance": 0})
    distinct = client.stripe_list("events", limit=10)
    sb.set_faults("stripe", duplicate_events=0.25)
    listed = client.stripe_list("events", limit=10)
    duplicates = len(listed) - len(distinct)
    assert abs(duplicates - 0.25 * len(distinct)) <= 1 and duplicates >= 5
    assert sb.fault_counts()["stripe"]["duplicate_events"] == duplicates
    deduplicated = [e for i, e in enumerate(listed) if i == 0 or listed[i - 1]["id"] != e["id"]]
    assert deduplicated == distinct  # every copy is the same event, right after the first
    sb.set_faults("stripe", duplicate_events=0.25)  # same knobs, same seed: the same deliveries
    assert client.stripe_list("events", limit=10) == listed
