"""NetSuite simulator over real HTTPS on loopback: OAuth client credentials and SuiteQL paging."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime

import pytest

from sandbox.server import Sandbox
from sandbox.testing import SandboxClient

SUITEQL = "/services/rest/query/v1/suiteql"
TOKEN = "/services/rest/auth/oauth2/v1/token"


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("ns-sandbox")) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def client(sb: Sandbox) -> Iterator[SandboxClient]:
    c = SandboxClient(sb)
    yield c
    c.close()


# ----------------------------------------------------------------------------- auth

def test_token_with_form_or_basic_credentials(client: SandboxClient):
    r = client.request("netsuite", "POST", TOKEN, data={
        "grant_type": "client_credentials", "client_id": "q2c-sandbox", "client_secret": "sandbox-ns-secret"})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["access_token"]
    basic = base64.b64encode(b"q2c-sandbox:sandbox-ns-secret").decode()
    r = client.request("netsuite", "POST", TOKEN, data={"grant_type": "client_credentials"},
                       headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200


def test_token_rejects_bad_credentials(client: SandboxClient):
    r = client.request("netsuite", "POST", TOKEN, data={
        "grant_type": "client_credentials", "client_id": "q2c-sandbox", "client_secret": "nope"})
    assert r.status_code == 401 and r.json() == {"error": "invalid_client"}


@pytest.mark.parametrize("auth", [None, "Bearer forged.token.value"])
def test_suiteql_needs_a_valid_token(client: SandboxClient, auth: str | None):
    headers = {"Prefer": "transient", **({"Authorization": auth} if auth else {})}
    r = client.request("netsuite", "POST", SUITEQL, json={"q": "SELECT id FROM customer"}, headers=headers)
    assert r.status_code == 401
    body = r.json()
    assert body["status"] == 401 and body["title"] == "Unauthorized"
    assert body["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"


def test_prefer_transient_is_required(client: SandboxClient):
    r = client.netsuite("POST", SUITEQL, json={"q": "SELECT id FROM customer"}, headers={"Prefer": ""})
    assert r.status_code == 400 and r.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_PARAMETER"


# ----------------------------------------------------------------------------- queries

def test_paging_over_transaction_returns_every_row_once(client: SandboxClient, sb: Sandbox):
    world = sb.world.netsuite["transaction"]
    assert len(world) > 50
    url = f"{SUITEQL}?limit=50&offset=0"
    ids: list[int] = []
    pages = []
    while url:
        r = client.netsuite("POST", url, json={"q": "SELECT id, tranid, foreigntotal FROM transaction ORDER BY id"})
        assert r.status_code == 200
        page = r.json()
        pages.append(page)
        assert page["totalResults"] == len(world) and page["count"] == len(page["items"]) <= 50
        assert page["offset"] == (len(pages) - 1) * 50
        ids += [int(item["id"]) for item in page["items"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), "")
        if url:
            assert url.startswith(sb.urls["netsuite"]) and page["hasMore"] is True
    assert pages[-1]["hasMore"] is False and len(pages) == -(-len(world) // 50)
    assert "self" in {link["rel"] for link in pages[0]["links"]}
    assert ids == sorted(int(r["id"]) for r in world)
    item = pages[0]["items"][0]
    assert item["links"] == [] and set(item) == {"links", "id", "tranid", "foreigntotal"}
    assert all(isinstance(v, str) for k, v in item.items() if k != "links")


def test_lastmodifieddate_filter_with_to_timestamp(client: SandboxClient, sb: Sandbox):
    cutoff = datetime.fromisoformat("2026-03-01T00:00:00+00:00")
    expected = {r["id"] for r in sb.world.netsuite["transaction"]
                if datetime.fromisoformat(r["lastmodifieddate"]) > cutoff}
    assert 0 < len(expected) < len(sb.world.netsuite["transaction"])
    items = client.suiteql("SELECT id, lastmodifieddate FROM transaction WHERE lastmodifieddate > "
                           "TO_TIMESTAMP('2026-03-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS') ORDER BY id", limit=10)
    assert {i["id"] for i in items} == expected and len(items) == len(expected)


def test_select_star_omits_nulls_and_filters(client: SandboxClient, sb: Sandbox):
    invoices = client.suiteql("SELECT * FROM transaction WHERE type = 'CustInvc' AND custbody_q2c_applied_to IS NULL")
    world = [r for r in sb.world.netsuite["transaction"] if r["type"] == "CustInvc"]
    assert {i["id"] for i in invoices} == {r["id"] for r in world}
    assert all("custbody_q2c_applied_to" not in i for i in invoices)  # NULL columns are left out
    customers = client.suiteql("SELECT id, companyname FROM customer WHERE subsidiary IN (1, 2) ORDER BY id DESC")
    assert [c["id"] for c in customers] == sorted((r["id"] for r in sb.world.netsuite["customer"]),
                                                  key=int, reverse=True)


@pytest.mark.parametrize("query", [
    "SELECT id FROM transaction WHERE",
    "SELECT nope FROM transaction",
    "SELECT id FROM nope",
    "DELETE FROM transaction",
    "SELECT id FROM transaction WHERE lastmodifieddate > '2026-01-01'",
])
def test_bad_queries_are_400(client: SandboxClient, query: str):
    r = client.netsuite("POST", SUITEQL, json={"q": query})
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1"
    assert body["title"] == "Bad Request" and body["status"] == 400
    detail = body["o:errorDetails"][0]
    assert detail["o:errorCode"] == "INVALID_PARAMETER" and detail["detail"].startswith("Invalid search query.")


@pytest.mark.parametrize("params", ["limit=0", "limit=1001", "limit=50&offset=25", "limit=abc"])
def test_bad_paging_parameters(client: SandboxClient, params: str):
    r = client.netsuite("POST", f"{SUITEQL}?{params}", json={"q": "SELECT id FROM transaction"})
    assert r.status_code == 400 and r.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_PARAMETER"
