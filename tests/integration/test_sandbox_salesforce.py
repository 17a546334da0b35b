"""Salesforce simulator over real HTTPS on loopback: OAuth, describe, SOQL paging, upserts."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from sandbox.server import Sandbox
from sandbox.testing import SandboxClient

API = "/services/data/v59.0"
STATUS = "Q2C_Invoice_Status__c"


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sf-sandbox")) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def client(sb: Sandbox) -> Iterator[SandboxClient]:
    c = SandboxClient(sb)
    yield c
    c.close()


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ----------------------------------------------------------------------------- auth

def test_token_issues_a_bearer_session(client: SandboxClient, sb: Sandbox):
    r = client.request("salesforce", "POST", "/services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": "q2c-sandbox", "client_secret": "sandbox-sf-secret"})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer" and body["instance_url"] == sb.urls["salesforce"]
    assert body["access_token"] and body["signature"] and body["issued_at"].isdigit()
    ok = client.request("salesforce", "GET", f"{API}/sobjects/Account/describe",
                        headers={"Authorization": f"Bearer {body['access_token']}"})
    assert ok.status_code == 200


def test_token_rejects_wrong_credentials(client: SandboxClient):
    r = client.request("salesforce", "POST", "/services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": "q2c-sandbox", "client_secret": "wrong"})
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"},
                                     {"Authorization": "Basic cTJjLXNhbmRib3g6c2FuZGJveC1zZi1zZWNyZXQ="}])
def test_data_api_requires_a_session(client: SandboxClient, headers: dict[str, str]):
    r = client.request("salesforce", "GET", f"{API}/query/", params={"q": "SELECT Id FROM Account"},
                       headers=headers)
    assert r.status_code == 401
    assert r.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


# ----------------------------------------------------------------------------- describe

def test_describe_types_fields(client: SandboxClient):
    r = client.salesforce("GET", f"{API}/sobjects/Opportunity/describe")
    assert r.status_code == 200
    body = r.json()
    types = {f["name"]: f["type"] for f in body["fields"]}
    assert body["name"] == "Opportunity"
    assert types["Id"] == "id" and types["AccountId"] == "reference" and types["Amount"] == "currency"
    assert types["CloseDate"] == "date" and types["SystemModstamp"] == "datetime"
    assert types["IsWon"] == "boolean" and types["StageName"] == "picklist" and types["Name"] == "string"
    assert {"name", "type", "nillable", "externalId"} <= set(body["fields"][0])

    status = client.salesforce("GET", f"{API}/sobjects/{STATUS}/describe").json()
    ext = [f["name"] for f in status["fields"] if f["externalId"]]
    assert ext == ["Q2C_Invoice_Id__c"] and status["createable"] is True


def test_describe_unknown_object_is_404(client: SandboxClient):
    r = client.salesforce("GET", f"{API}/sobjects/Nope__c/describe")
    assert r.status_code == 404
    assert r.json() == [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]


# ----------------------------------------------------------------------------- query

def test_paging_with_batch_size_returns_exactly_the_world(client: SandboxClient, sb: Sandbox):
    world = sb.world.salesforce["pse__Timecard__c"]
    assert len(world) > 400  # at least three pages of 200
    headers = {"Sforce-Query-Options": "batchSize=200"}
    first = client.salesforce("GET", f"{API}/query/", params={"q": "SELECT Id FROM pse__Timecard__c"},
                              headers=headers)
    page = first.json()
    assert first.status_code == 200
    assert page["totalSize"] == len(world) and page["done"] is False and len(page["records"]) == 200
    assert page["nextRecordsUrl"].startswith(f"{API}/query/01g")
    assert page["records"][0]["attributes"] == {
        "type": "pse__Timecard__c", "url": f"{API}/sobjects/pse__Timecard__c/{world[0]['Id']}"}
    ids, pages = [r["Id"] for r in page["records"]], 1
    while not page["done"]:
        page = client.salesforce("GET", page["nextRecordsUrl"]).json()  # batch size carries over
        assert len(page["records"]) <= 200
        ids += [r["Id"] for r in page["records"]]
        pages += 1
    assert pages == -(-len(world) // 200)
    assert len(ids) == len(set(ids)) == len(world)
    assert set(ids) == {r["Id"] for r in world}


def test_query_without_trailing_slash_and_default_batch(client: SandboxClient, sb: Sandbox):
    r = client.salesforce("GET", f"{API}/query", params={"q": "SELECT Id FROM pse__Timecard__c"})
    assert r.json()["done"] is True and len(r.json()["records"]) == len(sb.world.salesforce["pse__Timecard__c"])


def test_systemmodstamp_filter_compares_instants(client: SandboxClient, sb: Sandbox):
    cutoff = "2026-03-15T12:00:00.000+0000"
    expected = {r["Id"] for r in sb.world.salesforce["pse__Timecard__c"]
                if _instant(r["SystemModstamp"]) > _instant(cutoff)}
    assert 0 < len(expected) < len(sb.world.salesforce["pse__Timecard__c"])
    got = client.soql(f"SELECT Id, SystemModstamp FROM pse__Timecard__c WHERE SystemModstamp > {cutoff} "
                      "ORDER BY SystemModstamp, Id", batch_size=200)
    assert {r["Id"] for r in got} == expected and len(got) == len(expected)
    stamps = [_instant(r["SystemModstamp"]) for r in got]
    assert stamps == sorted(stamps)
    # The same instant written in another offset selects the same rows.
    same = client.soql("SELECT Id FROM pse__Timecard__c WHERE SystemModstamp > 2026-03-15T13:00:00+01:00")
    assert {r["Id"] for r in same} == expected


def test_selected_fields_in_order_with_where_order_limit(client: SandboxClient, sb: Sandbox):
    usd = sorted((r for r in sb.world.salesforce["Account"] if r["CurrencyIsoCode"] == "USD"),
                 key=lambda r: r["Name"].lower(), reverse=True)[:3]
    got = client.soql("SELECT Name, Id FROM Account WHERE CurrencyIsoCode IN ('USD') AND IsDeleted = false "
                      "ORDER BY Name DESC LIMIT 3")
    assert [list(r)[1:] for r in got] == [["Name", "Id"]] * 3
    assert [r["Id"] for r in got] == [r["Id"] for r in usd]


def test_query_hides_deleted_rows_and_query_all_shows_them(client: SandboxClient, sb: Sandbox):
    victim = sb.world.salesforce["Contract"][0]["Id"]
    sb.patch_record("salesforce", "Contract", victim, IsDeleted=True)
    try:
        q = "SELECT Id, IsDeleted FROM Contract"
        live = client.soql(q)
        everything = client.soql(q, all_rows=True)
        assert victim not in {r["Id"] for r in live}
        assert {r["Id"]: r["IsDeleted"] for r in everything}[victim] is True
        assert len(everything) == len(live) + 1 == len(sb.world.salesforce["Contract"])
    finally:
        sb.patch_record("salesforce", "Contract", victim, IsDeleted=False)


def test_bad_soql_is_malformed_query(client: SandboxClient):
    r = client.salesforce("GET", f"{API}/query/", params={"q": "SELECT Id FROM"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "MALFORMED_QUERY"
    r = client.salesforce("GET", f"{API}/query/", params={"q": "SELECT Id FROM Account WHERE CreatedDate > '2026'"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD"


def test_unknown_field_names_the_field(client: SandboxClient):
    r = client.salesforce("GET", f"{API}/query/", params={"q": "SELECT Id, Bogus__c FROM Account"})
    assert r.status_code == 400
    assert r.json()[0]["errorCode"] == "INVALID_FIELD" and "Bogus__c" in r.json()[0]["message"]


def test_invalid_query_locator(client: SandboxClient):
    r = client.salesforce("GET", f"{API}/query/01gAAAAAAAAAAAAAAA-200")
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


# ----------------------------------------------------------------------------- writes

def _status_body(sb: Sandbox, **extra: object) -> dict[str, object]:
    account = sb.world.salesforce["Account"][0]
    return {"Name": "INV-1", "Account__c": account["Id"], "Invoice_Number__c": "INV10001",
            "Source_System__c": "netsuite", "CurrencyIsoCode": "USD", "Invoice_Date__c": "2026-05-31",
            "Due_Date__c": "2026-06-30", "Total_Amount__c": 1500, "Paid_Amount__c": 500.5,
            "Open_Amount__c": 999.5, "Payment_Status__c": "Partially Paid", "Days_Past_Due__c": 0,
            "Aging_Bucket__c": "Current", **extra}


def test_upsert_creates_then_updates(client: SandboxClient, sb: Sandbox):
    url = f"{API}/sobjects/{STATUS}/Q2C_Invoice_Id__c/netsuite:9001"
    created = client.salesforce("PATCH", url, json=_status_body(sb))
    assert created.status_code == 201
    body = created.json()
    assert body["success"] is True and body["created"] is True and body["errors"] == []
    assert body["id"].startswith("a3Q") and len(body["id"]) == 18

    updated = client.salesforce("PATCH", url, json={"Paid_Amount__c": 1500, "Open_Amount__c": 0,
                                                    "Payment_Status__c": "Paid"})
    assert updated.status_code == 200
    assert updated.json() == {"id": body["id"], "success": True, "errors": [], "created": False}

    rows = client.soql(f"SELECT Id, Q2C_Invoice_Id__c, Name, Paid_Amount__c, Payment_Status__c, Account__c, "
                       f"CreatedDate, LastModifiedDate FROM {STATUS} WHERE Q2C_Invoice_Id__c = 'netsuite:9001'")
    assert len(rows) == 1
    row = rows[0]
    assert row["Id"] == body["id"] and row["Paid_Amount__c"] == 1500.0 and row["Payment_Status__c"] == "Paid"
    assert row["Name"] == "INV-1" and row["Account__c"] == sb.world.salesforce["Account"][0]["Id"]
    assert _instant(row["LastModifiedDate"]) >= _instant(row["CreatedDate"])
    assert abs((_instant(row["CreatedDate"]) - datetime.now(UTC)).total_seconds()) < 60  # wall clock
    assert [w["status"] for w in sb.writes("salesforce") if w["key"] == "netsuite:9001"] == [201, 200]


@pytest.mark.parametrize("body, code", [
    ({"Id": "a3Q000000000001AAA"}, "INVALID_FIELD"),
    ({"Q2C_Invoice_Id__c": "other"}, "INVALID_FIELD"),
    ({"Nope__c": 1}, "INVALID_FIELD"),
    ({"CreatedDate": "2026-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
    ({"Invoice_Date__c": "31/05/2026"}, "JSON_PARSER_ERROR"),
    ({"Total_Amount__c": "lots"}, "JSON_PARSER_ERROR"),
    ({"Account__c": "not-an-id"}, "MALFORMED_ID"),
    ({"Account__c": "001000000000999AAA"}, "INVALID_CROSS_REFERENCE_KEY"),
    ({"CurrencyIsoCode": "XXX"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
])
def test_upsert_rejects_bad_bodies(client: SandboxClient, sb: Sandbox, body: dict, code: str):
    before = len(sb.records("salesforce", STATUS))
    r = client.salesforce("PATCH", f"{API}/sobjects/{STATUS}/Q2C_Invoice_Id__c/bad:1", json=body)
    assert r.status_code == 400
    assert r.json()[0]["errorCode"] == code
    if code == "INVALID_FIELD":
        key = next(iter(body))
        assert r.json()[0]["message"] == f"No such column '{key}' on sobject of type {STATUS}"
    assert len(sb.records("salesforce", STATUS)) == before


def test_upsert_on_a_field_that_is_not_an_external_id(client: SandboxClient):
    r = client.salesforce("PATCH", f"{API}/sobjects/{STATUS}/Name/x", json={"Paid_Amount__c": 1})
    assert r.status_code == 404 and r.json()[0]["errorCode"] == "NOT_FOUND"
    r = client.salesforce("PATCH", f"{API}/sobjects/Account/Name/x", json={})
    assert r.status_code == 404 and r.json()[0]["errorCode"] == "NOT_FOUND"


def test_composite_upsert_fails_bad_records_alone(client: SandboxClient, sb: Sandbox):
    url = f"{API}/composite/sobjects/{STATUS}/Q2C_Invoice_Id__c"
    attrs = {"type": STATUS}
    records = [
        {"attributes": attrs, "Q2C_Invoice_Id__c": "stripe:in_A", **_status_body(sb, Name="A")},
        {"attributes": attrs, "Q2C_Invoice_Id__c": "stripe:in_B", "Bogus__c": 1},
        {"attributes": attrs, "Q2C_Invoice_Id__c": "stripe:in_C", **_status_body(sb, Name="C")},
    ]
    r = client.salesforce("PATCH", url, json={"allOrNone": False, "records": records})
    assert r.status_code == 200
    results = r.json()
    assert [x["success"] for x in results] == [True, False, True]
    assert [x["created"] for x in results] == [True, False, True]
    assert results[1]["errors"][0]["statusCode"] == "INVALID_FIELD"
    assert results[1]["errors"][0]["fields"] == ["Bogus__c"]
    assert results[0]["id"] != results[2]["id"]
    stored = {r["Q2C_Invoice_Id__c"]: r for r in sb.records("salesforce", STATUS)}
    assert {"stripe:in_A", "stripe:in_C"} <= set(stored) and "stripe:in_B" not in stored

    # The same call again updates the two good ones.
    again = client.salesforce("PATCH", url, json={"allOrNone": False, "records": records}).json()
    assert [x["created"] for x in again] == [False, False, False]
    assert again[0]["id"] == results[0]["id"]


def test_composite_all_or_none_rolls_back(client: SandboxClient, sb: Sandbox):
    url = f"{API}/composite/sobjects/{STATUS}/Q2C_Invoice_Id__c"
    records = [{"attributes": {"type": STATUS}, "Q2C_Invoice_Id__c": "stripe:in_X", "Name": "X"},
               {"attributes": {"type": STATUS}, "Q2C_Invoice_Id__c": "stripe:in_Y", "Total_Amount__c": "x"}]
    results = client.salesforce("PATCH", url, json={"allOrNone": True, "records": records}).json()
    assert [x["success"] for x in results] == [False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert "stripe:in_X" not in {r["Q2C_Invoice_Id__c"] for r in sb.records("salesforce", STATUS)}


def test_composite_limits(client: SandboxClient):
    url = f"{API}/composite/sobjects/{STATUS}/Q2C_Invoice_Id__c"
    records = [{"attributes": {"type": STATUS}, "Q2C_Invoice_Id__c": f"k{i}"} for i in range(201)]
    r = client.salesforce("PATCH", url, json={"allOrNone": False, "records": records})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    dupes = [{"attributes": {"type": STATUS}, "Q2C_Invoice_Id__c": "dup"}] * 2
    results = client.salesforce("PATCH", url, json={"allOrNone": False, "records": dupes}).json()
    assert [x["errors"][0]["statusCode"] for x in results] == ["DUPLICATE_VALUE"] * 2


def test_concurrent_upserts_get_distinct_ids(sb: Sandbox):
    def upsert(i: int) -> tuple[int, str]:
        c = SandboxClient(sb)
        try:
            r = c.salesforce("PATCH", f"{API}/sobjects/{STATUS}/Q2C_Invoice_Id__c/concurrent:{i}",
                             json={"Total_Amount__c": i})
            return r.status_code, r.json()["id"]
        finally:
            c.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(upsert, range(24)))
    assert {status for status, _ in results} == {201}
    assert len({record_id for _, record_id in results}) == 24
    stored = [r for r in sb.records("salesforce", STATUS) if r["Q2C_Invoice_Id__c"].startswith("concurrent:")]
    assert len(stored) == 24


def test_a_value_that_tries_to_close_its_soql_literal_matches_nothing_once_quoted(sb: Sandbox, client: SandboxClient):
    """Values in SOQL go through soql_string (SOQL has no bind parameters): the quote cannot end the literal."""
    from reverse_etl.sinks.salesforce import soql_string

    evil = "x' OR Name != 'x"
    every = client.soql("SELECT Id FROM Account")
    assert len(client.soql(f"SELECT Id FROM Account WHERE Name = '{evil}'")) == len(every) > 0  # unquoted: all
    assert client.soql(f"SELECT Id FROM Account WHERE Name = {soql_string(evil)}") == []
    assert client.soql(f"SELECT Id FROM Account WHERE Name = {soql_string(evil + chr(92))}") == []
