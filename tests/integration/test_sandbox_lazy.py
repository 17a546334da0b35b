"""Large objects served from columns (``sandbox.lazy``) answer exactly as rendered records do.

Two sandboxes over the same world: one renders every record (as small worlds do), the other
serves timecard headers, splits and billing event items lazily (``lazy_rows=0``, the path a world
of millions of splits takes). Every SOQL shape the loaders and users send must give the same
records, pages, counts and describe; so must lookups by id, test hooks and the clock.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.lazy import LazyView
from sandbox.server import Sandbox
from sandbox.testing import SandboxClient

API = "/services/data/v59.0"
SPLIT = "pse__Timecard__c"
HEADER = "pse__Timecard_Header__c"
ITEM = "pse__Billing_Event_Item__c"
LAZY_OBJECTS = (SPLIT, HEADER, ITEM)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxClient, SandboxClient, Sandbox, Sandbox]]:
    with Sandbox(tmp_path_factory.mktemp("eager"), scale=2, lazy_rows=10**12) as eager, \
            Sandbox(tmp_path_factory.mktemp("lazy"), scale=2, lazy_rows=0) as lazy:
        a, b = SandboxClient(eager), SandboxClient(lazy)
        yield a, b, eager, lazy
        a.close()
        b.close()


def _both(pair, query: str, **kw) -> tuple[list, list]:
    a, b, _, _ = pair
    return a.soql(query, **kw), b.soql(query, **kw)


def test_the_lazy_sandbox_really_serves_from_columns(pair):
    _, _, eager, lazy = pair
    for obj in LAZY_OBJECTS:
        assert isinstance(lazy.store.rows("salesforce", obj), LazyView)
        assert not isinstance(eager.store.rows("salesforce", obj), LazyView)
    assert lazy.status()["counts"]["salesforce"] == eager.status()["counts"]["salesforce"]


@pytest.mark.parametrize("obj", LAZY_OBJECTS)
def test_describe_is_the_same(pair, obj):
    a, b, _, _ = pair
    da = a.salesforce("GET", f"{API}/sobjects/{obj}/describe").json()
    db = b.salesforce("GET", f"{API}/sobjects/{obj}/describe").json()
    assert [(f["name"], f["type"]) for f in da["fields"]] == [(f["name"], f["type"]) for f in db["fields"]]


@pytest.mark.parametrize("obj", LAZY_OBJECTS)
def test_full_and_incremental_loads_page_identically(pair, obj):
    """The loader's query: a closed SystemModstamp range, ordered by SystemModstamp and Id, paged."""
    fields = "Id, SystemModstamp, IsDeleted, CurrencyIsoCode"
    full = f"SELECT {fields} FROM {obj} ORDER BY SystemModstamp ASC, Id ASC"
    ra, rb = _both(pair, full, all_rows=True, batch_size=200)
    assert len(ra) > 400 and ra == rb
    middle = ra[len(ra) // 2]["SystemModstamp"][:19] + "Z"
    last = ra[-len(ra) // 4]["SystemModstamp"][:19] + "Z"
    incremental = (f"SELECT {fields} FROM {obj} WHERE SystemModstamp > {middle} AND SystemModstamp <= {last} "
                   "ORDER BY SystemModstamp ASC, Id ASC")
    ia, ib = _both(pair, incremental, all_rows=True, batch_size=200)
    assert 0 < len(ia) < len(ra) and ia == ib


@pytest.mark.parametrize("query", [
    # no ORDER BY: compared as sets (row order without ORDER BY is not specified)
    f"SELECT Id, pse__Project__c, pse__Billable__c FROM {SPLIT} WHERE pse__Billable__c = true AND pse__Approved__c = false",
    f"SELECT Id FROM {SPLIT} WHERE SystemModstamp >= 2026-01-01T00:00:00Z",
    # orders the columns cannot answer: the records are sorted as records
    f"SELECT Id, pse__Total_Hours__c FROM {HEADER} ORDER BY pse__Total_Hours__c DESC, Id LIMIT 500",
    f"SELECT Id, pse__Amount__c FROM {ITEM} WHERE pse__Category__c = 'Expense' ORDER BY Id DESC",
    f"SELECT Id FROM {ITEM} ORDER BY Id LIMIT 50 OFFSET 25",
    f"SELECT Id FROM {SPLIT} WHERE SystemModstamp = 2000-01-01T00:00:00Z",
])
def test_other_queries_agree(pair, query):
    ra, rb = _both(pair, query)
    if "ORDER BY" in query:
        assert ra == rb
    else:
        key = lambda r: r["Id"]  # noqa: E731
        assert sorted(ra, key=key) == sorted(rb, key=key)
    if "2000-01-01" not in query:
        assert ra


def test_count_and_lookup_by_id(pair):
    a, b, eager, _ = pair
    for obj in LAZY_OBJECTS:
        query = f"SELECT COUNT() FROM {obj} WHERE SystemModstamp > 2025-06-01T00:00:00Z"
        ca = a.salesforce("GET", f"{API}/query/", params={"q": query}).json()["totalSize"]
        cb = b.salesforce("GET", f"{API}/query/", params={"q": query}).json()["totalSize"]
        assert ca == cb > 0
    record = eager.records("salesforce", SPLIT)[7]
    for rid in (record["Id"], record["Id"][:15]):
        ga = a.salesforce("GET", f"{API}/sobjects/{SPLIT}/{rid}").json()
        gb = b.salesforce("GET", f"{API}/sobjects/{SPLIT}/{rid}").json()
        assert ga == gb and ga["Id"] == record["Id"]
    wrong_suffix = record["Id"][:15] + "ZZZ"
    assert a.salesforce("GET", f"{API}/sobjects/{SPLIT}/{wrong_suffix}").status_code == \
        b.salesforce("GET", f"{API}/sobjects/{SPLIT}/{wrong_suffix}").status_code == 404


def test_patches_and_the_clock_reach_both(pair):
    """A server-side delete is served by queryAll only; an advance's new and changed rows arrive in both."""
    a, b, eager, lazy = pair
    victim = eager.records("salesforce", SPLIT)[3]["Id"]
    for sb in (eager, lazy):
        sb.patch_record("salesforce", SPLIT, victim, IsDeleted=True, SystemModstamp="2026-03-01T00:00:00.000+0000")
    q = f"SELECT Id, IsDeleted FROM {SPLIT} WHERE Id = '{victim}'"
    assert a.soql(q) == b.soql(q) == []
    assert a.soql(q, all_rows=True) == b.soql(q, all_rows=True) == [
        {"attributes": a.soql(q, all_rows=True)[0]["attributes"], "Id": victim, "IsDeleted": True}]

    before = {sb: sb.status()["counts"]["salesforce"][SPLIT] for sb in (eager, lazy)}
    sa, sb_ = eager.advance(5), lazy.advance(5)
    assert sa["changes"] == sb_["changes"]
    assert eager.status()["counts"]["salesforce"] == lazy.status()["counts"]["salesforce"]
    assert eager.status()["counts"]["salesforce"][SPLIT] > before[eager]
    query = f"SELECT Id, SystemModstamp, pse__Status__c, pse__Billed__c FROM {SPLIT} ORDER BY SystemModstamp, Id"
    ra, rb = _both(pair, query, all_rows=True)
    assert ra == rb
    assert any(r["Id"] == victim and r["IsDeleted"] for r in a.soql(
        f"SELECT Id, IsDeleted FROM {SPLIT} ORDER BY SystemModstamp, Id", all_rows=True))
