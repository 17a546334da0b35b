"""The column contract: typed Arrow batches, lossless coercions, quarantine of values that do not fit."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from ingestion.contract import Contract, batched, infer_kind, to_arrow


def _contract(**kinds: str) -> Contract:
    c = Contract()
    c.admit(kinds)
    return c


def test_clean_records_take_the_fast_path_with_declared_types():
    c = _contract(Id="string", Amount="float", Hours="int", Modstamp="timestamp", Day="date", Active="bool",
                  Meta="json")
    recs = [{"Id": "a1", "Amount": 1, "Hours": 2, "Modstamp": "2026-01-01T10:00:00.000+0000", "Day": "2026-01-01",
             "Active": True, "Meta": {"b": 1, "a": [1]}},
            {"Id": "a2", "Amount": 2.5, "Modstamp": "2026-01-02T00:00:00Z", "Active": False}]
    batch = to_arrow(recs, c, system="s", obj="o", key="Id")
    assert batch.quarantine == []
    t = batch.table
    assert t.schema.field("Amount").type == pa.float64() and t.schema.field("Hours").type == pa.int64()
    assert t.schema.field("Modstamp").type == pa.timestamp("us", tz="UTC")
    assert t.schema.field("Day").type == pa.date32() and t.schema.field("Active").type == pa.bool_()
    rows = t.to_pylist()
    assert rows[0]["Modstamp"] == datetime(2026, 1, 1, 10, tzinfo=UTC) and rows[0]["Day"] == date(2026, 1, 1)
    assert json.loads(rows[0]["Meta"]) == {"a": [1], "b": 1}
    assert rows[1]["Hours"] is None and rows[1]["Day"] is None  # omitted fields are nulls


@pytest.mark.parametrize("kind, value, expected", [
    ("float", "12.5", 12.5), ("int", 3.0, 3), ("int", "7", 7), ("bool", "true", True), ("string", 42, "42"),
    ("string", True, "true"), ("date", "2026-03-01T08:00:00Z", date(2026, 3, 1)),
    ("timestamp", "2026-03-01 08:00:00", datetime(2026, 3, 1, 8, tzinfo=UTC)),
])
def test_lossless_coercions_are_accepted(kind, value, expected):
    # Mixed with a clean value, so the slow path decides.
    clean = {"float": 1.0, "int": 1, "bool": False, "string": "x", "date": "2026-01-01",
             "timestamp": "2026-01-01T00:00:00Z"}[kind]
    batch = to_arrow([{"Id": "1", "v": clean}, {"Id": "2", "v": value}], _contract(Id="string", v=kind),
                     system="s", obj="o", key="Id")
    assert batch.quarantine == [] and batch.table.column("v").to_pylist()[1] == expected


@pytest.mark.parametrize("kind, value", [
    ("float", True), ("float", "n/a"), ("int", 2.5), ("bool", 1), ("date", "31/12/2026"), ("timestamp", 17),
    ("float", float("nan")),
])
def test_values_that_do_not_fit_quarantine_their_record(kind, value):
    recs = [{"Id": "good", "v": None}, {"Id": "bad", "v": value, "other": "kept in the payload"}]
    batch = to_arrow(recs, _contract(Id="string", v=kind), system="salesforce", obj="X", key="Id")
    assert batch.table.column("Id").to_pylist() == ["good"]
    assert [(q["system"], q["object"], q["record_id"], q["field"]) for q in batch.quarantine] == [
        ("salesforce", "X", "bad", "v")]
    assert json.loads(batch.quarantine[0]["raw_payload"]) == recs[1] or kind == "float"  # nan is not JSON
    assert batch.quarantine[0]["reason"]


def test_a_record_with_two_bad_fields_gives_two_rows_and_one_record():
    recs = [{"Id": "x", "a": "no", "b": "no"}]
    batch = to_arrow(recs, _contract(Id="string", a="float", b="date"), system="s", obj="o", key="Id")
    assert batch.table.num_rows == 0 and sorted(q["field"] for q in batch.quarantine) == ["a", "b"]


def test_the_contract_pins_kinds_and_admits_new_fields():
    c = _contract(Id="string", Amount="float")
    assert c.admit({"Id": "string", "Amount": "string", "New__c": "bool"}) == ["New__c"]
    assert c.columns == {"Id": "string", "Amount": "float", "New__c": "bool"}  # Amount keeps its kind
    again = Contract.from_state(c.to_state())
    assert again.columns == c.columns
    with pytest.raises(ValueError, match="unknown kind"):
        c.admit({"Odd": "decimal"})


def test_undeclared_fields_are_inferred_and_added():
    c = _contract(Id="string")
    batch = to_arrow([{"Id": "1", "n": 1}, {"Id": "2", "n": 2.5, "flag": True, "obj": {"k": 1}}], c,
                     system="s", obj="o", key="Id")
    assert c.columns == {"Id": "string", "n": "float", "flag": "bool", "obj": "json"}
    assert batch.table.column("n").to_pylist() == [1.0, 2.5]


def test_infer_kind_and_batching():
    assert infer_kind([None, 1, 2]) == "int" and infer_kind(["a", 1]) == "string" and infer_kind([]) == "string"
    pages = [[{"i": i} for i in range(3)] for _ in range(5)]
    sizes = [len(b) for b in batched(pages, 7)]
    assert sizes == [9, 6] and sum(sizes) == 15


def test_a_record_without_its_key_is_quarantined():
    batch = to_arrow([{"Id": None, "v": 1.0}, {"Id": "k", "v": 2.0}], _contract(Id="string", v="float"),
                     system="s", obj="o", key="Id")
    assert batch.table.column("Id").to_pylist() == ["k"] and not batch.table.schema.field("Id").nullable
    assert [(q["record_id"], q["field"], q["reason"]) for q in batch.quarantine] == [(None, "Id", "missing primary key")]
