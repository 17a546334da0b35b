"""The quarantine's screens: values that do not convert (the contract) and values that cannot be right."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ingestion.contract import Contract, to_arrow
from ingestion.validation import screen

ODD_BUT_VALID = "Zoë \u202eRTL\u202c 🎉 e\u0301 \u200b株式会社 O'Brien'); drop table x; --"


def _quarantine(records, columns, system="certinia", obj="pse__Timecard__c", key="Id"):
    batch = to_arrow(records, Contract(dict(columns)), system=system, obj=obj, key=key)
    return batch.table, {(q["record_id"], q["field"]): q["reason"] for q in batch.quarantine}


def test_odd_but_valid_text_loads_unchanged_and_invalid_text_goes_to_quarantine():
    table, bad = _quarantine(
        [{"Id": "1", "Name": ODD_BUT_VALID}, {"Id": "2", "Name": "Brown \ud800"}, {"Id": "3", "Name": "a\x00b"},
         {"Id": "4", "Name": "x" * 131_073}, {"Id": "5", "Name": "x" * 131_072}],
        {"Id": "string", "Name": "string"}, system="salesforce", obj="Account")
    assert table.column("Name").to_pylist() == [ODD_BUT_VALID, "x" * 131_072]
    assert set(bad) == {("2", "Name"), ("3", "Name"), ("4", "Name")}
    assert bad[("2", "Name")].startswith("not valid Unicode text") and "U+D800" in bad[("2", "Name")]
    assert "NUL" in bad[("3", "Name")] and "131,073 characters" in bad[("4", "Name")]


def test_a_lone_surrogate_in_a_json_field_is_quarantined_not_a_crash():
    table, bad = _quarantine([{"Id": "1", "Meta": "ok"}, {"Id": "2", "Meta": "\udc00"}],
                             {"Id": "string", "Meta": "json"}, system="stripe", obj="customers")
    assert table.column("Id").to_pylist() == ["1"] and list(bad) == [("2", "Meta")]


def test_bounds_required_fields_currencies_and_dates():
    columns = {"Id": "string", "pse__Project__c": "string", "pse__Resource__c": "string",
               "pse__Total_Hours__c": "float", "pse__Monday_Hours__c": "float", "CurrencyIsoCode": "string",
               "pse__Start_Date__c": "date", "IsDeleted": "bool"}
    good = {"Id": "ok", "pse__Project__c": "p", "pse__Resource__c": "r", "pse__Total_Hours__c": 40,
            "pse__Monday_Hours__c": 8, "CurrencyIsoCode": "USD", "pse__Start_Date__c": "2026-06-29"}
    records = [good,
               {**good, "Id": "hours", "pse__Total_Hours__c": -8},
               {**good, "Id": "day", "pse__Monday_Hours__c": 25},
               {**good, "Id": "project", "pse__Project__c": None},
               {**good, "Id": "blank", "pse__Resource__c": "  "},
               {**good, "Id": "currency", "CurrencyIsoCode": "XYZ"},
               {**good, "Id": "no_currency", "CurrencyIsoCode": None},  # missing is not unknown
               {**good, "Id": "future", "pse__Start_Date__c": "2999-01-01"},
               {**good, "Id": "past", "pse__Start_Date__c": "0001-01-01"},
               {"Id": "deleted", "IsDeleted": True}]  # vendors strip deleted records: not required
    table, bad = _quarantine(records, columns)
    assert table.column("Id").to_pylist() == ["ok", "no_currency", "deleted"]
    assert bad == {
        ("hours", "pse__Total_Hours__c"): "-8.0 is outside 0 .. 168 (hours of one week)",
        ("day", "pse__Monday_Hours__c"): "25.0 is outside 0 .. 24 (hours booked on one day)",
        ("project", "pse__Project__c"): "a required field is empty",
        ("blank", "pse__Resource__c"): "a required field is empty",
        ("currency", "CurrencyIsoCode"): "currency 'XYZ' is not an ISO 4217 code",
        ("future", "pse__Start_Date__c"): "date 2999-01-01 is outside 1970-01-01 .. 2100-12-31",
        ("past", "pse__Start_Date__c"): "date 0001-01-01 is outside 1970-01-01 .. 2100-12-31",
    }


def test_amount_named_fields_get_the_absurd_magnitude_check_and_others_do_not():
    table = pa.table({"total": [10 ** 13, 5], "created": [10 ** 13, 5], "amount_due": [-1, 0],
                      "customer": ["cus_1", "cus_2"], "currency": ["usd", "gbp"]})
    problems = screen(table, "stripe", "invoices")
    assert problems == {0: [("total", "10000000000000 is outside -1e+12 .. 1e+12"),
                            ("amount_due", "-1 is outside 0 .. 1e+12")]}


@pytest.mark.parametrize(("obj", "column", "value"), [("ar_receipt", "RCPT_AMT", -250.0),
                                                       ("ar_invoice_hdr", "GROSS_AMT_CENTS", -1)])
def test_the_legacy_erp_tables_are_screened_by_the_names_its_loader_uses(obj, column, value):
    table = pa.table({column: [value], "CURR_CD": ["EUR"], "CUST_NO": ["C1"], "INV_DT": ["20260101"],
                      "RCPT_DT": ["20260101"]})
    assert [f for f, _ in screen(table, "legacy_erp", obj)[0]] == [column]
