"""The writeback targets: which payload model feeds which sink, how a row becomes a payload, in which mode."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from reverse_etl.config import MIRROR, UPSERT

CRM_OBJECT = "Q2C_Invoice_Status__c"
CRM_EXTERNAL_ID_FIELD = "Q2C_Invoice_Id__c"
# Columns the engine reads and never sends: the key, the hash, and the deal's correlation id.
ENGINE_COLUMNS = frozenset({"external_id", "content_hash", "correlation_id"})


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
            if k not in ENGINE_COLUMNS and k != CRM_EXTERNAL_ID_FIELD}


def billing_schedule_payload(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _json_value(row[k]) for k in
            ("stripe_customer_id", "contract_id", "amount", "currency", "description",
             "period_start", "period_end")}


@dataclass(frozen=True)
class CorrelationLookup:
    """Where the engine finds a record's correlation id when the payload has no ``correlation_id`` column.

    ``select <key_column>, <column> from <relation>``, matched on the payload's ``payload_column``.
    """

    relation: str
    key_column: str
    payload_column: str
    column: str = "correlation_id"


@dataclass(frozen=True)
class Target:
    name: str
    relation: str
    system: str
    mode: str = UPSERT  # the default; Q2C_WRITEBACK_MODE_<NAME> or the run's config override it
    correlation: CorrelationLookup | None = None
    refused_modes: tuple[tuple[str, str], ...] = ()  # (mode, why): modes no setting may choose for this target

    def refusal(self, mode: str) -> str | None:
        """Why this target never syncs in ``mode``, or None if it may."""
        return dict(self.refused_modes).get(mode)


# Upsert by default: invoices leave the payload only if the source deletes them, and the CRM keeps its
# copy. Mirror is allowed (Q2C_WRITEBACK_MODE_CRM_PAYMENT_STATUS=mirror or run config): the CRM's status
# record of an invoice the ERPs no longer hold is then deleted (soft: the CRM's recycle bin keeps it).
CRM_PAYMENT_STATUS = Target(
    "crm_payment_status", "reverse_etl.rev_crm_invoice_payment_status", "salesforce", UPSERT,
    CorrelationLookup("canonical.invoice", "invoice_id", CRM_EXTERNAL_ID_FIELD))
# Upsert, never mirror (although the Stripe sink can delete): each cycle the payload moves on to the
# next installment, and the one it drops has been (or is being) invoiced - deleting it would unbill it.
BILLING_SCHEDULE = Target(
    "billing_schedule", "reverse_etl.rev_billing_schedule", "stripe", UPSERT,
    CorrelationLookup("canonical.contract", "contract_id", "contract_id"),
    refused_modes=((MIRROR, "each cycle the installment that leaves the payload is the one being invoiced, and "
                            "deleting its pending invoice item would unbill it"),))
TARGETS = {t.name: t for t in (CRM_PAYMENT_STATUS, BILLING_SCHEDULE)}


def refusal(target: str, mode: str) -> str | None:
    """Why the target named ``target`` never syncs in ``mode`` (None if it may, or is not a known target)."""
    known = TARGETS.get(target)
    return None if known is None else known.refusal(mode)
