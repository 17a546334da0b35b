"""The sandbox store's external-id lookups: what the linear scan they replace returned, kept current by every write."""

from __future__ import annotations

from sandbox.store import Table


def _scan(table: Table, field: str, value: str) -> dict | None:
    """The reference: the first live record in insertion order holding ``value``."""
    return next((r for r in table.rows if r.get(field) == value and not r.get("IsDeleted")), None)


def test_find_answers_what_a_scan_answers_through_inserts_updates_and_deletes() -> None:
    table = Table("Id", [{"Id": "a00000000000001AAA", "Ext__c": "X", "IsDeleted": False},
                         {"Id": "a00000000000002AAA", "Ext__c": "X", "IsDeleted": False},
                         {"Id": "a00000000000003AAA", "Ext__c": "Y", "IsDeleted": False}])
    steps = [
        lambda: None,
        lambda: table.put({"Id": "a00000000000004AAA", "Ext__c": "Z", "IsDeleted": False}),  # new value
        lambda: table.put({"Id": "a00000000000005AAA", "Ext__c": "X", "IsDeleted": False}),  # a later duplicate
        lambda: table.put({"Id": "a00000000000001AAA", "Ext__c": "X", "IsDeleted": True}),   # the first one deleted
        lambda: table.put({"Id": "a00000000000003AAA", "Ext__c": "W", "IsDeleted": False}),  # its value changed
        lambda: table.delete("a00000000000002AAA"),                                          # removed outright
        lambda: table.put({"Id": "a00000000000001AAA", "Ext__c": "X", "IsDeleted": False}),  # undeleted
    ]
    for step in steps:
        step()
        for value in ("X", "Y", "Z", "W", "nothing"):
            assert table.find("Ext__c", value) == _scan(table, "Ext__c", value), value
    assert table.find("Ext__c", "X")["Id"] == "a00000000000001AAA"


def test_the_next_id_number_follows_every_insert_and_never_goes_back() -> None:
    table = Table("Id", [{"Id": "a00000000000007AAA"}, {"Id": "a00000000000003AAA"}, {"Id": "not-a-number"}])
    assert table.max_key_number(3, 15) == 7
    table.put({"Id": "a00000000000012AAA"})
    assert table.max_key_number(3, 15) == 12
    table.delete("a00000000000012AAA")
    assert table.max_key_number(3, 15) == 12  # ids are not reused, as on the vendor
