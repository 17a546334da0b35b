"""Salesforce object schemas: field types of the world's objects and the writable status object.

Types follow the Salesforce describe vocabulary (id, reference, string, picklist, boolean, double,
currency, percent, int, date, datetime). Known fields are typed explicitly; any other field the
world carries is inferred from its values, so the schema follows the world generator.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.sqlcore import parse_date, parse_instant
from sandbox.world import SF_PREFIX

SYSTEM_FIELDS = ("Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp")

# Writable custom object the reverse-ETL upserts invoice status into.
STATUS_OBJECT = "Q2C_Invoice_Status__c"
STATUS_EXTERNAL_ID = "Q2C_Invoice_Id__c"
STATUS_PREFIX = "a3Q"

_FIELD_TYPES: dict[str, str] = {
    "Id": "id", "IsDeleted": "boolean",
    "CreatedDate": "datetime", "LastModifiedDate": "datetime", "SystemModstamp": "datetime",
    "ActivatedDate": "datetime",
    "CloseDate": "date", "StartDate": "date", "EndDate": "date", "pse__Start_Date__c": "date",
    "pse__End_Date__c": "date", "Invoice_Date__c": "date", "Due_Date__c": "date",
    "AccountId": "reference", "SBQQ__Opportunity__c": "reference", "pse__Account__c": "reference",
    "pse__Opportunity__c": "reference", "pse__Project__c": "reference", "pse__Resource__c": "reference",
    "Account__c": "reference", "Contract__c": "reference",
    "Amount": "currency", "Contract_Amount__c": "currency", "pse__Default_Bill_Rate__c": "currency",
    "pse__Bill_Rate__c": "currency", "pse__Total_Billable_Amount__c": "currency",
    "Total_Amount__c": "currency", "Paid_Amount__c": "currency", "Open_Amount__c": "currency",
    "Probability": "percent", "pse__Total_Hours__c": "double", "Days_Past_Due__c": "double",
    "ContractTerm": "int",
    "StageName": "picklist", "Type": "picklist", "Industry": "picklist", "Status": "picklist",
    "CurrencyIsoCode": "picklist", "pse__Resource_Role__c": "picklist", "Billing_Model__c": "picklist",
    "Billing_Frequency__c": "picklist", "pse__Billing_Type__c": "picklist", "pse__Stage__c": "picklist",
    "pse__Status__c": "picklist", "Legal_Entity__c": "picklist", "Source_System__c": "picklist",
    "Payment_Status__c": "picklist", "Aging_Bucket__c": "picklist",
}
# What each reference field points at.
REFERENCE_TO: dict[str, str] = {
    "AccountId": "Account", "SBQQ__Opportunity__c": "Opportunity", "pse__Account__c": "Account",
    "pse__Opportunity__c": "Opportunity", "pse__Project__c": "pse__Proj__c",
    "pse__Resource__c": "Contact", "Account__c": "Account", "Contract__c": "Contract",
}
_STRING_LENGTH = {"Name": 80}
DEFAULT_STRING_LENGTH = 255

_STATUS_FIELDS = (
    "Id", "IsDeleted", "Name", STATUS_EXTERNAL_ID, "Account__c", "Contract__c", "Invoice_Number__c",
    "Source_System__c", "CurrencyIsoCode", "Invoice_Date__c", "Due_Date__c", "Total_Amount__c",
    "Paid_Amount__c", "Open_Amount__c", "Payment_Status__c", "Days_Past_Due__c", "Aging_Bucket__c",
    "CreatedDate", "LastModifiedDate", "SystemModstamp",
)
_SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


@dataclass
class ObjectSchema:
    """One sObject: ordered field types plus what describe reports about it."""

    name: str
    fields: dict[str, str]
    external_ids: frozenset[str] = frozenset()
    writable: bool = False
    key_prefix: str | None = None
    custom: bool = field(init=False)

    def __post_init__(self) -> None:
        self.custom = self.name.endswith("__c")

    def describe(self) -> dict[str, Any]:
        """The describe payload (the subset of Salesforce's that clients rely on)."""
        fields = []
        for name, ftype in self.fields.items():
            system = name in SYSTEM_FIELDS
            entry: dict[str, Any] = {
                "name": name, "label": _label(name), "type": ftype,
                "nillable": not system and name != STATUS_EXTERNAL_ID,
                "externalId": name in self.external_ids, "custom": name.endswith("__c"),
                "createable": self.writable and not system, "updateable": self.writable and not system,
                "filterable": True, "sortable": True, "unique": name in self.external_ids or name == "Id",
                "caseSensitive": name in self.external_ids,
                "length": string_length(name) if ftype in ("string", "picklist") else 0,
                "referenceTo": [REFERENCE_TO[name]] if name in REFERENCE_TO else [],
            }
            fields.append(entry)
        return {"name": self.name, "label": _label(self.name), "custom": self.custom,
                "keyPrefix": self.key_prefix, "queryable": True, "retrieveable": True,
                "createable": self.writable, "updateable": self.writable, "deletable": False,
                "fields": fields}


def string_length(name: str) -> int:
    return _STRING_LENGTH.get(name, DEFAULT_STRING_LENGTH)


def build_schemas(objects: Mapping[str, Iterable[Mapping[str, Any]]]) -> dict[str, ObjectSchema]:
    """Schemas for the world's objects (typed from their records) plus the writable status object."""
    schemas: dict[str, ObjectSchema] = {}
    for obj, records in objects.items():
        if obj == STATUS_OBJECT:
            continue
        names: dict[str, list[Any]] = {name: [] for name in SYSTEM_FIELDS}
        for rec in records:
            for key, value in rec.items():
                names.setdefault(key, []).append(value)
        # Id first, the system timestamps last, as describe lists them.
        ordered = ["Id", "IsDeleted"] + [n for n in names if n not in SYSTEM_FIELDS] + list(SYSTEM_FIELDS[2:])
        schemas[obj] = ObjectSchema(obj, {n: _FIELD_TYPES.get(n) or infer_type(n, names[n]) for n in ordered},
                                    key_prefix=SF_PREFIX.get(obj))
    schemas[STATUS_OBJECT] = ObjectSchema(
        STATUS_OBJECT, {n: _FIELD_TYPES.get(n, "string") for n in _STATUS_FIELDS},
        external_ids=frozenset({STATUS_EXTERNAL_ID}), writable=True, key_prefix=STATUS_PREFIX)
    return schemas


def infer_type(name: str, values: Iterable[Any]) -> str:
    """The Salesforce type of a field nobody declared, from its non-null values."""
    seen = [v for v in values if v is not None]
    if not seen:
        return "string"
    if all(isinstance(v, bool) for v in seen):
        return "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in seen):
        return "int" if not name.endswith("__c") else "double"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in seen):
        return "double"
    if all(isinstance(v, str) for v in seen):
        if all(parse_date(v) is not None for v in seen):
            return "date"
        if all("T" in v and parse_instant(v) is not None for v in seen):
            return "datetime"
        prefixes = set(SF_PREFIX.values())
        if all(_SF_ID.match(v) and v[:3] in prefixes for v in seen):
            return "reference"
    return "string"


def is_sf_id(value: str) -> bool:
    return bool(_SF_ID.match(value))


def _label(name: str) -> str:
    base = name[:-3] if name.endswith("__c") else name
    base = base.split("__", 1)[-1]
    return base.replace("_", " ")
