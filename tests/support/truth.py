"""The sandbox's truth, and the warehouse compared with it (the end-to-end tests and the fault campaign).

``compare_raw`` checks every raw table against the records the sandbox serves at this moment:
the same keys (no gaps, nothing extra), each key once (no duplicates), and the fields that
change when a record changes (Salesforce's ``SystemModstamp`` and ``IsDeleted``, NetSuite's
``lastmodifieddate``, Stripe's status and amounts, the legacy ERP's ``LAST_UPD_TS`` and amounts)
equal. ``sandbox_totals`` computes invoiced and paid per currency from the sandbox's own records,
for the marts to be reconciled against.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ingestion.legacy_erp.helpers import TABLES as LEGACY_TABLES
from ingestion.salesforce import table_name
from ingestion.salesforce.settings import CRM_OBJECTS, PSA_OBJECTS
from sandbox.world_model import LEGAL_ENTITIES

SF_FIELDS = (("SystemModstamp", "system_modstamp"), ("IsDeleted", "is_deleted"))
STRIPE_FIELDS = ("status", "total", "amount_paid", "amount_remaining", "amount", "deleted")
NETSUITE_FIELDS = ("lastmodifieddate", "status", "foreigntotal", "exchangerate")
LEGACY_FIELDS = ("LAST_UPD_TS", "STATUS", "GROSS_AMT_CENTS", "OPEN_AMT_CENTS", "RCPT_AMT", "LINE_AMT_CENTS")


@dataclass
class TableDiff:
    relation: str
    checked: int = 0  # truth records compared
    missing: list[str] = field(default_factory=list)  # in the sandbox, not in the warehouse
    extra: list[str] = field(default_factory=list)  # in the warehouse, not in the sandbox
    duplicates: int = 0  # warehouse rows beyond one per key
    mismatched: list[tuple[str, str, Any, Any]] = field(default_factory=list)  # key, field, warehouse, sandbox

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.duplicates or self.mismatched)

    def describe(self, limit: int = 5) -> str:
        return (f"{self.relation}: {len(self.missing)} missing {self.missing[:limit]}, {len(self.extra)} extra "
                f"{self.extra[:limit]}, {self.duplicates} duplicates, {len(self.mismatched)} differ "
                f"{self.mismatched[:limit]}")


@dataclass
class RawComparison:
    tables: dict[str, TableDiff]

    @property
    def checked(self) -> int:
        return sum(t.checked for t in self.tables.values())

    @property
    def duplicates(self) -> int:
        return sum(t.duplicates for t in self.tables.values())

    @property
    def missing(self) -> int:
        return sum(len(t.missing) for t in self.tables.values())

    @property
    def extra(self) -> int:
        return sum(len(t.extra) for t in self.tables.values())

    @property
    def mismatched(self) -> int:
        return sum(len(t.mismatched) for t in self.tables.values())

    def problems(self) -> list[str]:
        return [t.describe() for t in self.tables.values() if not t.ok]


# ------------------------------------------------------------------------------------------ values
def _instant(v: Any) -> int | None:
    if isinstance(v, datetime):
        return int((v if v.tzinfo else v.replace(tzinfo=UTC)).timestamp())
    if isinstance(v, int | float):
        return int(v)
    if isinstance(v, str):
        text = v.strip()
        if len(text) == 14 and text.isdigit():  # the legacy ERP's YYYYMMDDHHMMSS
            return int(datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC).timestamp())
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())
    raise TypeError(f"not an instant: {v!r}")


def same(warehouse: Any, truth: Any) -> bool:
    """Is a warehouse value the sandbox's value, as typed by the loader?"""
    if warehouse is None or truth is None:
        return warehouse is None and (truth is None or truth == "" or truth is False)
    if isinstance(warehouse, bool):
        return warehouse == (truth in (True, "T", "true", "True", 1))
    if isinstance(warehouse, datetime):
        return _instant(warehouse) == _instant(truth)
    if isinstance(warehouse, date):
        return warehouse.isoformat() == str(truth)[:10] or warehouse.strftime("%Y%m%d") == str(truth)
    if isinstance(warehouse, int | float | Decimal):
        try:
            return abs(Decimal(str(warehouse)) - Decimal(str(truth))) < Decimal("0.000001")
        except ArithmeticError:
            return False
    return str(warehouse) == str(truth)


def _columns(con: Any, schema: str, table: str) -> list[str]:
    return [c for (c,) in con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, table]).fetchall()]


def _compare(con: Any, relation: str, key_columns: tuple[str, ...], truth: dict[str, dict[str, Any]],
             fields: Iterable[tuple[str, str]], allowed_missing: set[str]) -> TableDiff:
    diff = TableDiff(relation, checked=len(truth))
    schema, table = relation.split(".")
    present = set(_columns(con, schema, table))
    if not present:
        diff.missing = sorted(truth)
        return diff
    pairs = [(t, w) for t, w in fields if w in present]
    key_sql = " || '|' || ".join(f"cast({k} as varchar)" for k in key_columns)
    select = ", ".join([key_sql, *(w for _, w in pairs)])
    rows = con.execute(f"select {select} from {relation}").fetchall()
    seen: dict[str, tuple] = {}
    for row in rows:
        if row[0] in seen:
            diff.duplicates += 1
        seen[row[0]] = row[1:]
    diff.missing = sorted(k for k in truth if k not in seen and k not in allowed_missing)
    diff.extra = sorted(k for k in seen if k not in truth)
    for key, values in seen.items():
        record = truth.get(key)
        if record is None:
            continue
        for (t, w), value in zip(pairs, values, strict=True):
            if not same(value, record.get(t)):
                diff.mismatched.append((key, w, value, record.get(t)))
    return diff


# ------------------------------------------------------------------------------------------ raw layer
def compare_raw(con: Any, sandbox: Any, allowed_missing: dict[str, set[str]] | None = None,
                skip: dict[str, set[str]] | None = None) -> RawComparison:
    """Every raw table against the sandbox (``con``: a warehouse connection).

    ``allowed_missing``: per relation, keys the warehouse may not hold yet (e.g. what this very
    run wrote back to Stripe, which the next load reads). ``skip``: per relation, keys left out
    of the comparison altogether (records in quarantine).
    """
    allowed_missing, skip = allowed_missing or {}, skip or {}
    out: dict[str, TableDiff] = {}

    def add(relation: str, keys: tuple[str, ...], truth: dict[str, dict[str, Any]],
            fields: Iterable[tuple[str, str]]) -> None:
        for k in skip.get(relation, ()):
            truth.pop(k, None)
        diff = _compare(con, relation, keys, truth, fields, allowed_missing.get(relation, set()))
        diff.extra = [k for k in diff.extra if k not in skip.get(relation, ())]
        diff.mismatched = [m for m in diff.mismatched if m[0] not in skip.get(relation, ())]
        out[relation] = diff

    for schema, objects in (("raw_salesforce", CRM_OBJECTS), ("raw_certinia", PSA_OBJECTS)):
        for obj in objects:
            add(f"{schema}.{table_name(obj)}", ("id",), {r["Id"]: r for r in sandbox.records("salesforce", obj)},
                SF_FIELDS)
    for resource in sandbox.store.objects("stripe"):
        add(f"raw_stripe.{resource}", ("id",), {r["id"]: r for r in sandbox.records("stripe", resource)},
            [(f, f) for f in STRIPE_FIELDS])
    for table in sandbox.store.objects("netsuite"):
        add(f"raw_netsuite.{table}", ("id",), {str(r["id"]): r for r in sandbox.records("netsuite", table)},
            [(f, f) for f in NETSUITE_FIELDS])
    legacy = sqlite3.connect(f"file:{sandbox.status()['legacy_erp']}?mode=ro", uri=True)
    try:
        legacy.row_factory = sqlite3.Row
        for name, spec in LEGACY_TABLES.items():
            truth = {"|".join(str(r[k]) for k in spec.key): dict(r)
                     for r in legacy.execute(f"select * from {name}")}  # noqa: S608 - a fixed table name
            add(f"raw_legacy_erp.{name.lower()}", tuple(k.lower() for k in spec.key), truth,
                [(f, f.lower()) for f in LEGACY_FIELDS])
    finally:
        legacy.close()
    return RawComparison(out)


# ------------------------------------------------------------------------------------------ totals
def sandbox_totals(sandbox: Any) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """Invoiced and paid totals per currency, computed from the sandbox's own records.

    Issued invoices only (not NetSuite pending-approval/rejected/voided, not Stripe draft/void,
    legacy ERP invoices dated before their entity's cut-over);
    paid = what payments applied to them (an overpayment's excess and unapplied cash stay on the
    payment: NetSuite ``foreignpaymentamountused``).
    """
    symbols = {c["id"]: c["symbol"] for c in sandbox.records("netsuite", "currency")}
    invoiced: dict[str, Decimal] = defaultdict(Decimal)
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for tx in sandbox.records("netsuite", "transaction"):
        amount = Decimal(str(tx["foreigntotal"]))
        if tx["type"] == "CustInvc" and tx["status"] not in ("Pending Approval", "Rejected", "Voided"):
            invoiced[symbols[tx["currency"]]] += amount
        elif tx["type"] == "CustPymt" and tx["custbody_q2c_applied_to"]:
            used = tx.get("foreignpaymentamountused")
            paid[symbols[tx["currency"]]] += amount if used is None else Decimal(str(used))
    for inv in sandbox.records("stripe", "invoices"):
        if inv["status"] in ("draft", "void"):
            continue
        invoiced[inv["currency"].upper()] += Decimal(inv["total"]) / 100
        paid[inv["currency"].upper()] += Decimal(inv["amount_paid"]) / 100
    # The legacy ERP (its own database file): the invoices an entity issued before its cut-over
    # to NetSuite, and every receipt applied to them (some arrive after the cut-over).
    cutover = {le["legacy_code"]: date.fromisoformat(sandbox.world.cutover_dates()[le["id"]])
               for le in LEGAL_ENTITIES if le["legacy_code"]}
    legacy = sqlite3.connect(f"file:{sandbox.status()['legacy_erp']}?mode=ro", uri=True)
    try:
        kept = set()
        for inv_no, entity, inv_dt, currency, gross in legacy.execute(
                "select INV_NO, ENTITY_CD, INV_DT, CURR_CD, GROSS_AMT_CENTS from AR_INVOICE_HDR"):
            if date(int(inv_dt[:4]), int(inv_dt[4:6]), int(inv_dt[6:])) < cutover[entity]:
                kept.add(inv_no)
                invoiced[currency] += Decimal(gross) / 100
        for inv_no, currency, amount in legacy.execute("select APPLIED_INV_NO, CURR_CD, RCPT_AMT from AR_RECEIPT"):
            if inv_no in kept:
                paid[currency] += Decimal(amount)
    finally:
        legacy.close()
    return dict(invoiced), dict(paid)
