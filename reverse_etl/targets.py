"""The writeback targets: which payload model feeds which sink, and how a row becomes a payload."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

CRM_OBJECT = "Q2C_Invoice_Status__c"
CRM_EXTERNAL_ID_FIELD = "Q2C_Invoice_Id__c"
_ENGINE_COLUMNS = {"external_id", "content_hash"}


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def crm_payment_status_payload(row: dict[str, Any]) -> dict[str, Any]:
    """Every target field of the row except the external id, which the sink sets itself."""
    return {k: _json_value(v) for k, v in row.items()
            if k not in _ENGINE_COLUMNS and k != CRM_EXTERNAL_ID_FIELD}


def billing_schedule_payload(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _json_value(row[k]) for k in
            ("stripe_customer_id", "contract_id", "amount", "currency", "description",
             "period_start", "period_end")}


@dataclass(frozen=True)
class Target:
    name: str
    relation: str
    system: str


CRM_PAYMENT_STATUS = Target("crm_payment_status", "reverse_etl.rev_crm_invoice_payment_status", "salesforce")
BILLING_SCHEDULE = Target("billing_schedule", "reverse_etl.rev_billing_schedule", "stripe")
