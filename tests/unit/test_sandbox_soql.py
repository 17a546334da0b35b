"""SOQL subset: parsing, typing and evaluation, without a server."""

from __future__ import annotations

import pytest

from sandbox.soql import compile_soql
from sandbox.sqlcore import QueryError

SCHEMAS = {
    "Account": {"Id": "id", "IsDeleted": "boolean", "Name": "string", "Industry": "picklist",
                "Amount__c": "currency", "Since__c": "date", "SystemModstamp": "datetime",
                "ParentId": "reference"},
}
ROWS = [
    {"Id": "001000000000001AAA", "IsDeleted": False, "Name": "Acme Holdings", "Industry": "Retail",
     "Amount__c": 100.0, "Since__c": "2025-01-01", "SystemModstamp": "2026-01-01T00:00:00.000+0000",
     "ParentId": None},
    {"Id": "001000000000002AAA", "IsDeleted": False, "Name": "Globex Group", "Industry": None,
     "Amount__c": 250.5, "Since__c": "2025-06-01", "SystemModstamp": "2026-01-01T10:30:00.000+0000",
     "ParentId": "001000000000001AAA"},
    {"Id": "001000000000003AAA", "IsDeleted": True, "Name": "Initech Labs", "Industry": "Technology",
     "Amount__c": None, "Since__c": None, "SystemModstamp": "2026-02-01T00:00:00.000+0000",
     "ParentId": None},
]


def ids(query: str, include_deleted: bool = True) -> list[str]:
    q = compile_soql(query, SCHEMAS)
    return [r["Id"][-4:-3] for r in q.run(ROWS, include_deleted=include_deleted)]


def error(query: str) -> QueryError:
    with pytest.raises(QueryError) as info:
        compile_soql(query, SCHEMAS)
    return info.value


def test_select_fields_are_canonicalised_in_order():
    q = compile_soql("select name, ID from account", SCHEMAS)
    assert q.object == "Account" and q.fields == ["Name", "Id"]


def test_datetimes_compare_as_instants_in_any_offset_format():
    assert ids("SELECT Id FROM Account WHERE SystemModstamp > 2026-01-01T00:00:00Z") == ["2", "3"]
    assert ids("SELECT Id FROM Account WHERE SystemModstamp > 2026-01-01T00:00:00.000+0000") == ["2", "3"]
    # 11:00+01:00 is 10:00Z: the 10:30Z row is later, the midnight row is not.
    assert ids("SELECT Id FROM Account WHERE SystemModstamp >= 2026-01-01T11:00:00+01:00") == ["2", "3"]
    assert ids("SELECT Id FROM Account WHERE SystemModstamp = 2026-01-01T10:30:00Z") == ["2"]


def test_dates_and_numbers():
    assert ids("SELECT Id FROM Account WHERE Since__c >= 2025-03-01") == ["2"]
    assert ids("SELECT Id FROM Account WHERE Amount__c > 100") == ["2"]
    assert ids("SELECT Id FROM Account WHERE Amount__c = 100.0") == ["1"]


def test_wrongly_typed_literals_are_rejected_like_salesforce():
    assert error("SELECT Id FROM Account WHERE SystemModstamp > '2026-01-01T00:00:00Z'").code == "INVALID_FIELD"
    assert error("SELECT Id FROM Account WHERE SystemModstamp > 2026-01-01").code == "INVALID_FIELD"
    assert "must be of type string" in error("SELECT Id FROM Account WHERE Name = 5").message
    assert error("SELECT Id FROM Account WHERE Amount__c > '5'").code == "INVALID_FIELD"


def test_boolean_logic_and_precedence():
    assert ids("SELECT Id FROM Account WHERE IsDeleted = false AND Amount__c > 200 OR Name = 'initech labs'") == [
        "2", "3"]
    assert ids("SELECT Id FROM Account WHERE IsDeleted = false AND (Amount__c > 200 OR Name = 'Initech Labs')") == [
        "2"]
    assert ids("SELECT Id FROM Account WHERE NOT Name = 'Acme Holdings'") == ["2", "3"]


def test_null_semantics():
    assert ids("SELECT Id FROM Account WHERE Industry = null") == ["2"]
    assert ids("SELECT Id FROM Account WHERE Industry != null") == ["1", "3"]
    assert ids("SELECT Id FROM Account WHERE Industry != 'Retail'") == ["2", "3"]  # != matches nulls
    assert ids("SELECT Id FROM Account WHERE Industry NOT IN ('Retail')") == ["2", "3"]
    assert ids("SELECT Id FROM Account WHERE Amount__c < 1000") == ["1", "2"]


def test_in_like_and_case_insensitive_text():
    assert ids("SELECT Id FROM Account WHERE Industry IN ('retail', 'TECHNOLOGY')") == ["1", "3"]
    assert ids("SELECT Id FROM Account WHERE Name LIKE 'acme%'") == ["1"]
    assert ids("SELECT Id FROM Account WHERE Name LIKE '%o_ex%'") == ["2"]
    assert ids("SELECT Id FROM Account WHERE ParentId = '001000000000001'") == ["2"]  # 15-char id


def test_escaped_quotes():
    rows = [{**ROWS[0], "Name": "O'Brien"}]
    q = compile_soql(r"SELECT Id FROM Account WHERE Name = 'O\'Brien'", SCHEMAS)
    assert len(q.run(rows, include_deleted=False)) == 1


def test_order_limit_offset():
    assert ids("SELECT Id FROM Account ORDER BY Amount__c DESC") == ["2", "1", "3"]  # nulls last when DESC
    assert ids("SELECT Id FROM Account ORDER BY Amount__c") == ["3", "1", "2"]  # nulls first when ASC
    assert ids("SELECT Id FROM Account ORDER BY Amount__c ASC NULLS LAST") == ["1", "2", "3"]
    assert ids("SELECT Id FROM Account ORDER BY IsDeleted, Name DESC LIMIT 2") == ["2", "1"]
    assert ids("SELECT Id FROM Account ORDER BY Name LIMIT 1 OFFSET 1") == ["2"]


def test_deleted_rows_hidden_unless_include_deleted():
    assert ids("SELECT Id FROM Account", include_deleted=False) == ["1", "2"]


def test_count():
    q = compile_soql("SELECT COUNT() FROM Account WHERE Amount__c > 0", SCHEMAS)
    assert q.count_only and len(q.run(ROWS, include_deleted=True)) == 2


@pytest.mark.parametrize("query", [
    "SELECT FROM Account",
    "SELECT Id FROM Account WHERE",
    "SELECT Id FROM Account; DELETE FROM Account",
    "SELECT Id FROM Account WHERE Name = 'x' UNION SELECT Id FROM Account",
    "DELETE FROM Account",
    "SELECT Id FROM Account WHERE Name = 'unterminated",
    "SELECT Id FROM Account LIMIT -1",
    "SELECT Id, Id FROM Account",
    "",
])
def test_malformed_queries(query):
    assert error(query).code == "MALFORMED_QUERY"


def test_unknown_names():
    err = error("SELECT Id, Bogus__c FROM Account")
    assert err.code == "INVALID_FIELD" and "Bogus__c" in err.message
    assert error("SELECT Id FROM Account WHERE Nope = 1").code == "INVALID_FIELD"
    assert error("SELECT Id FROM Account ORDER BY Nope").code == "INVALID_FIELD"
    assert error("SELECT Id FROM Nothing__c").code == "INVALID_TYPE"
