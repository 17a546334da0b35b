"""Cursor values reach SOQL and SuiteQL only after strict parsing: nothing from the source is pasted in."""

from __future__ import annotations

import pytest

from ingestion.netsuite import suiteql_timestamp
from ingestion.salesforce.helpers import soql_datetime, soql_identifier


@pytest.mark.parametrize(("cursor", "literal"), [
    ("2026-05-01T10:00:00.000+0000", "2026-05-01T10:00:00Z"),
    ("2026-05-01T12:00:00+0200", "2026-05-01T10:00:00Z"),
    ("2026-05-01T10:00:00Z", "2026-05-01T10:00:00Z"),
    ("1970-01-01T00:00:00.000+0000", "1970-01-01T00:00:00Z"),
])
def test_soql_datetime(cursor, literal):
    assert soql_datetime(cursor) == literal


def test_suiteql_timestamp():
    assert suiteql_timestamp("2026-05-01T10:00:00Z") == "TO_TIMESTAMP('2026-05-01 10:00:00', 'YYYY-MM-DD HH24:MI:SS')"


@pytest.mark.parametrize("evil", ["2026-01-01T00:00:00Z OR Id != null", "2026-01-01'; DROP TABLE x; --", ""])
def test_injection_attempts_are_rejected(evil):
    with pytest.raises(ValueError):
        soql_datetime(evil)
    with pytest.raises(ValueError):
        suiteql_timestamp(evil)


def test_identifiers_are_checked():
    assert soql_identifier("pse__Proj__c") == "pse__Proj__c"
    with pytest.raises(ValueError):
        soql_identifier("Id FROM Account --")
