"""SuiteQL subset: parsing, Oracle-style typing and three-valued logic, without a server."""

from __future__ import annotations

import pytest

from sandbox.netsuite import build_schemas, ns_string
from sandbox.sqlcore import QueryError
from sandbox.suiteql import compile_suiteql, oracle_format

ROWS = [
    {"id": "9", "tranid": "INV1", "type": "CustInvc", "trandate": "2026-01-31", "foreigntotal": 100.0,
     "custbody_q2c_applied_to": None, "lastmodifieddate": "2026-02-01T10:00:00Z"},
    {"id": "10", "tranid": "PYMT10", "type": "CustPymt", "trandate": "2026-02-15", "foreigntotal": 50.5,
     "custbody_q2c_applied_to": "9", "lastmodifieddate": "2026-02-15T21:00:00Z"},
    {"id": "11", "tranid": "INV2", "type": "CustInvc", "trandate": "2026-02-28", "foreigntotal": 0.5,
     "custbody_q2c_applied_to": None, "lastmodifieddate": "2026-03-01T00:00:00Z"},
]
SCHEMAS = build_schemas({"transaction": ROWS})


def ids(query: str) -> list[str]:
    return [r["id"] for r in compile_suiteql(query, SCHEMAS).run(ROWS)]


def error(query: str) -> QueryError:
    with pytest.raises(QueryError) as info:
        compile_suiteql(query, SCHEMAS)
    return info.value


def test_transaction_is_just_a_table_name():
    q = compile_suiteql("SELECT * FROM transaction", SCHEMAS)
    assert q.table == "transaction" and q.columns[0] == "id"
    assert ids("select t.id, T.TRANID from TRANSACTION t where t.type = 'CustInvc'") == ["9", "11"]


def test_timestamps_compare_as_instants():
    assert ids("SELECT id FROM transaction WHERE lastmodifieddate > "
               "TO_TIMESTAMP('2026-02-01 10:00:00', 'YYYY-MM-DD HH24:MI:SS')") == ["10", "11"]
    assert ids("SELECT id FROM transaction WHERE lastmodifieddate >= "
               "TO_TIMESTAMP('2026-02-01T10:00:00', 'YYYY-MM-DD\"T\"HH24:MI:SS')") == ["9", "10", "11"]
    assert ids("SELECT id FROM transaction WHERE lastmodifieddate < TO_DATE('2026-03-01', 'YYYY-MM-DD')") == [
        "9", "10"]
    assert ids("SELECT id FROM transaction WHERE trandate BETWEEN TO_DATE('2026-02-01', 'YYYY-MM-DD') "
               "AND TO_DATE('02/28/2026', 'MM/DD/YYYY')") == ["10", "11"]


def test_dates_need_conversion_functions():
    assert "TO_TIMESTAMP" in error("SELECT id FROM transaction WHERE lastmodifieddate > '2026-01-01'").message
    assert "ORA-01861" in error("SELECT id FROM transaction WHERE trandate > TO_DATE('2026-01-01', 'MM/DD/YYYY')"
                                ).message
    assert "needs a value and a format" in error(
        "SELECT id FROM transaction WHERE trandate > TO_DATE('2026-01-01')").message


def test_ids_are_numeric():
    assert ids("SELECT id FROM transaction ORDER BY id DESC") == ["11", "10", "9"]
    assert ids("SELECT id FROM transaction WHERE id > 9") == ["10", "11"]
    assert ids("SELECT id FROM transaction WHERE id IN ('9', 11)") == ["9", "11"]


def test_three_valued_logic():
    assert ids("SELECT id FROM transaction WHERE custbody_q2c_applied_to IS NULL") == ["9", "11"]
    assert ids("SELECT id FROM transaction WHERE custbody_q2c_applied_to IS NOT NULL") == ["10"]
    assert ids("SELECT id FROM transaction WHERE custbody_q2c_applied_to != 9") == []  # NULL is not "not 9"
    assert ids("SELECT id FROM transaction WHERE custbody_q2c_applied_to = NULL") == []
    assert ids("SELECT id FROM transaction WHERE NOT (custbody_q2c_applied_to = 9)") == []
    assert ids("SELECT id FROM transaction WHERE type NOT IN ('CustPymt', NULL)") == []
    assert ids("SELECT id FROM transaction WHERE custbody_q2c_applied_to = 9 OR type = 'CustInvc'") == [
        "9", "10", "11"]


def test_order_nulls_last_ascending():
    assert ids("SELECT id FROM transaction ORDER BY custbody_q2c_applied_to, id") == ["10", "9", "11"]
    assert ids("SELECT id FROM transaction ORDER BY custbody_q2c_applied_to DESC, id") == ["9", "11", "10"]


def test_like_is_case_sensitive_and_quotes_double():
    assert ids("SELECT id FROM transaction WHERE tranid LIKE 'INV%'") == ["9", "11"]
    assert ids("SELECT id FROM transaction WHERE tranid LIKE 'inv%'") == []
    assert ids("SELECT id FROM transaction WHERE tranid = 'it''s'") == []


@pytest.mark.parametrize("query, fragment", [
    ("SELECT id FROM nothing", "Record 'nothing' was not found"),
    ("SELECT bogus FROM transaction", "Field 'bogus'"),
    ("SELECT x.id FROM transaction t", "Unknown identifier"),
    ("SELECT id FROM transaction LIMIT 5", "LIMIT/OFFSET"),
    ("SELECT id FROM transaction; DROP TABLE transaction", "unexpected token"),
    ("UPDATE transaction SET id = 1", "unexpected token"),
    ("SELECT id FROM transaction WHERE id = 'abc'", "ORA-01722"),
])
def test_errors(query, fragment):
    assert fragment in error(query).message


def test_oracle_format_masks():
    assert oracle_format("YYYY-MM-DD HH24:MI:SS") == ("%Y-%m-%d %H:%M:%S", True)
    assert oracle_format("DD/MM/YYYY") == ("%d/%m/%Y", False)


@pytest.mark.parametrize("value, text", [
    (15000, "15000"), (15000.0, "15000"), (0.5, ".5"), (-0.25, "-.25"), (1234.56, "1234.56"),
    (True, "T"), ("x", "x"),
])
def test_values_render_as_netsuite_strings(value, text):
    assert ns_string(value) == text
