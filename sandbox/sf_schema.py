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
from sandbox.world_model import SF_FIELDS

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
# The world's CPQ, PSA and CRM-sync objects (sandbox.world_model.SF_FIELDS): fields whose type
# cannot be told from values alone (dates, references, money), so describe is right at any clock.
_FIELD_TYPES.update({
    **dict.fromkeys(("SBQQ__StartDate__c", "SBQQ__EndDate__c", "SBQQ__ExpirationDate__c", "ServiceDate",
                     "pse__Expense_Date__c", "pse__Target_Date__c", "pse__Actual_Date__c", "pse__Date__c",
                     "pse__Invoice_Date__c", "Approved_Date__c"), "date"),
    "Last_Synced__c": "datetime",
    **dict.fromkeys(("SBQQ__NetAmount__c", "SBQQ__CustomerAmount__c", "SBQQ__ListPrice__c", "SBQQ__NetPrice__c",
                     "SBQQ__NetTotal__c", "UnitPrice", "ListPrice", "TotalPrice", "pse__Suggested_Bill_Rate__c",
                     "pse__Average_Cost_Rate__c", "pse__Cost_Rate_Amount__c", "pse__Default_Cost_Rate__c",
                     "pse__Milestone_Amount__c", "pse__Amount__c", "pse__Billing_Amount__c", "pse__Summary_Amount__c",
                     "pse__Unit_Price__c", "Amount_Paid__c"), "currency"),
    **dict.fromkeys(("Quantity", "SBQQ__Quantity__c", "pse__Quantity__c", "pse__Scheduled_Hours__c",
                     "pse__Monday_Hours__c", "pse__Tuesday_Hours__c", "pse__Wednesday_Hours__c",
                     "pse__Thursday_Hours__c", "pse__Friday_Hours__c", "pse__Saturday_Hours__c",
                     "pse__Sunday_Hours__c", "Contract_Version__c"), "double"),
    "SBQQ__SubscriptionTerm__c": "int",
})
# What each reference field points at.
REFERENCE_TO: dict[str, str] = {
    "AccountId": "Account", "SBQQ__Opportunity__c": "Opportunity", "pse__Account__c": "Account",
    "pse__Opportunity__c": "Opportunity", "pse__Project__c": "pse__Proj__c",
    "pse__Resource__c": "Contact", "Account__c": "Account", "Contract__c": "Contract",
    "ParentId": "Account", "SBQQ__PrimaryQuote__c": "SBQQ__Quote__c", "SBQQ__AmendedContract__c": "Contract",
    "OpportunityId": "Opportunity", "Product2Id": "Product2", "SBQQ__QuoteLine__c": "SBQQ__QuoteLine__c",
    "SBQQ__Account__c": "Account", "SBQQ__Opportunity2__c": "Opportunity", "SBQQ__MasterContract__c": "Contract",
    "SBQQ__Quote__c": "SBQQ__Quote__c", "SBQQ__Product__c": "Product2", "pse__Project_Manager__c": "Contact",
    "pse__Rate_Card__c": "pse__Rate_Card__c", "pse__Assignment__c": "pse__Assignment__c",
    "pse__Timecard_Header__c": "pse__Timecard_Header__c", "pse__Billing_Event_Item__c": "pse__Billing_Event_Item__c",
    "pse__Billing_Event__c": "pse__Billing_Event__c", "pse__Timecard_Split__c": "pse__Timecard__c",
    "pse__Expense__c": "pse__Expense__c", "pse__Milestone__c": "pse__Milestone__c",
    "Billing_Event__c": "pse__Billing_Event__c",
}
for _name in REFERENCE_TO:
    _FIELD_TYPES.setdefault(_name, "reference")
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
        for name in SF_FIELDS.get(obj, ()):  # every field, even when no record has one yet
            names.setdefault(name, [])
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
