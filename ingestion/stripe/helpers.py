"""Stripe API access (list paging, the events endpoint) and what the source declares per object.

- Lists: ``limit`` / ``starting_after`` / ``has_more``, newest first.
- Events (``/v1/events``): newest first. Reading *forward* from a known event uses
  ``ending_before=<id>``: each page holds the ``limit`` events just newer than the id (still
  newest first), and the next page is ``ending_before=<newest id of the page>`` while
  ``has_more``. Events are listed and retrievable for 30 days only, so whether an event cursor
  is still usable is asked of the API (``GET /v1/events/{id}`` answers 404 once it expired).
- ``STRIPE_OBJECTS``: per warehouse table, the list path, the object type, the events that carry
  its snapshots and the declared column kinds (``ingestion.contract``) of both invoice shapes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from ingestion.contract import infer_kind
from ingestion.http import ApiSession, check

STRIPE_API_VERSION = "2026-10-28.endive"
PAGE_LIMIT = 100


class StripeClient:
    def __init__(self, base_url: str, api_key: str, ca_bundle: str | None = None,
                 api_version: str = STRIPE_API_VERSION) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self.session = ApiSession(ca_bundle, system="stripe")
        self.session.headers["Authorization"] = f"Bearer {api_key}"
        self.session.headers["Stripe-Version"] = api_version

    def list_pages(self, resource: str, params: dict[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Yield every page of ``GET /v1/<resource>``, following ``starting_after`` while ``has_more``."""
        query: dict[str, Any] = {"limit": PAGE_LIMIT, **(params or {})}
        while True:
            resp = check("stripe", f"list {resource}",
                         self.session.get(f"{self.base_url}/v1/{resource}", params=query))
            body = resp.json()
            data = body.get("data", [])
            if data:
                yield data
            if not body.get("has_more") or not data:
                return
            query["starting_after"] = data[-1]["id"]

    def retrieve(self, resource: str, object_id: str) -> dict[str, Any]:
        resp = self.session.get(f"{self.base_url}/v1/{resource}/{object_id}")
        return check("stripe", f"retrieve {resource}/{object_id}", resp).json()

    def post(self, path: str, form: dict[str, Any], idempotency_key: str) -> requests.Response:
        """A form-encoded POST carrying an idempotency key; the response as it came (the caller judges it)."""
        return self.session.post(f"{self.base_url}{path}", data=form, headers={"Idempotency-Key": idempotency_key})

    # ------------------------------------------------------------------ events
    def newest_event(self, event_filter: Mapping[str, Any]) -> dict[str, Any] | None:
        """The newest retained event matching ``event_filter`` (``{"type": "invoice.*"}``), or None."""
        resp = check("stripe", "list events", self.session.get(
            f"{self.base_url}/v1/events", params={"limit": 1, **event_filter}))
        data = resp.json().get("data", [])
        return data[0] if data else None

    def event_retained(self, event_id: str) -> bool:
        """Whether ``event_id`` can still be retrieved (False once past Stripe's 30-day retention)."""
        resp = self.session.get(f"{self.base_url}/v1/events/{event_id}")
        if resp.status_code == 404:
            return False
        check("stripe", f"retrieve event {event_id}", resp)
        return True

    def event_pages_after(self, event_id: str, event_filter: Mapping[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Pages of the retained events newer than ``event_id``, oldest page first (each page newest first)."""
        query: dict[str, Any] = {"limit": PAGE_LIMIT, **event_filter, "ending_before": event_id}
        while True:
            resp = check("stripe", "list events", self.session.get(f"{self.base_url}/v1/events", params=query))
            body = resp.json()
            data = body.get("data", [])
            if data:
                yield data
            if not body.get("has_more") or not data:
                return
            query["ending_before"] = data[0]["id"]

    def event_pages(self, event_filter: Mapping[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Pages of every retained event matching ``event_filter``, newest page first."""
        yield from self.list_pages("events", dict(event_filter))


# ---------------------------------------------------------------------------------------------- objects
@dataclass(frozen=True)
class StripeObject:
    """One warehouse table: what to list, which events carry its snapshots, its declared columns.

    ``columns`` uses the raw layer's names: a dict field is flattened one level into
    ``<field>__<key>`` columns (``metadata__legal_entity``, ``status_transitions__paid_at``);
    anything deeper, and every list, is one ``json`` column.
    """

    resource: str  # list path (/v1/<resource>) and table name
    object: str  # the objects' ``object`` value
    events: dict[str, Any]  # /v1/events filter: ``type`` (wildcards) or ``types[]`` (exact names)
    columns: dict[str, str]
    list_params: dict[str, Any] = field(default_factory=dict)
    deleted_by: frozenset[str] = frozenset()  # event types whose snapshot is a deleted object
    dict_fields: frozenset[str] = field(init=False)  # fields flattened into ``<field>__<key>`` columns

    def __post_init__(self) -> None:
        object.__setattr__(self, "dict_fields", frozenset(n.split("__", 1)[0] for n in self.columns if "__" in n))


_COMMON = {"id": "string", "object": "string", "livemode": "bool", "created": "int"}
_METADATA_KIND = "string"  # Stripe metadata values are always strings

# Columns both invoice shapes carry, then those only one of them has (domain.md, "Breaking change in
# 2025-03-31.basil"): the pre-Basil flat links and payment fields, and the Basil ``parent``.
_INVOICE_COLUMNS = {
    **_COMMON, "number": "string", "customer": "string", "status": "string", "collection_method": "string",
    "billing_reason": "string", "currency": "string", "description": "string",
    "effective_at": "int", "due_date": "int", "period_start": "int", "period_end": "int",
    "subtotal": "int", "subtotal_excluding_tax": "int", "total_excluding_tax": "int", "total": "int",
    "amount_due": "int", "amount_paid": "int", "amount_remaining": "int", "starting_balance": "int",
    "pre_payment_credit_notes_amount": "int", "post_payment_credit_notes_amount": "int",
    "ending_balance": "int", "attempt_count": "int", "attempted": "bool", "auto_advance": "bool",
    "hosted_invoice_url": "string", "invoice_pdf": "string", "deleted": "bool",
    "status_transitions__finalized_at": "int", "status_transitions__paid_at": "int",
    "status_transitions__voided_at": "int", "status_transitions__marked_uncollectible_at": "int",
    "lines__object": "string", "lines__data": "json", "lines__has_more": "bool", "lines__total_count": "int",
    "lines__url": "string", "discounts": "json", "total_discount_amounts": "json",
    "metadata__salesforce_contract_id": "string", "metadata__salesforce_project_id": "string",
    "metadata__legal_entity": "string",
    # Basil (2025-03-31) and later
    "parent__type": "string", "parent__subscription_details": "json", "parent__quote_details": "json",
    "amount_overpaid": "int", "total_taxes": "json",
    # before Basil
    "subscription": "string", "subscription_details__metadata": "json", "subscription_proration_date": "int",
    "quote": "string", "charge": "string", "payment_intent": "string", "paid": "bool", "paid_out_of_band": "bool",
    "tax": "int", "total_tax_amounts": "json",
}

STRIPE_OBJECTS: dict[str, StripeObject] = {o.resource: o for o in (
    StripeObject(
        "customers", "customer",
        {"types[]": ["customer.created", "customer.updated", "customer.deleted"]},
        {**_COMMON, "name": "string", "email": "string", "phone": "string", "description": "string",
         "currency": "string", "balance": "int", "delinquent": "bool", "tax_exempt": "string",
         "invoice_prefix": "string", "default_source": "string", "deleted": "bool",
         "address__line1": "string", "address__line2": "string", "address__city": "string",
         "address__state": "string", "address__postal_code": "string", "address__country": "string",
         "invoice_settings__default_payment_method": "string",
         "metadata__salesforce_account_id": "string", "metadata__legal_entity": "string"},
        deleted_by=frozenset({"customer.deleted"})),
    StripeObject("invoices", "invoice", {"type": "invoice.*"}, _INVOICE_COLUMNS,
                 deleted_by=frozenset({"invoice.deleted"})),
    StripeObject(
        "invoiceitems", "invoiceitem", {"type": "invoiceitem.*"},
        {**_COMMON, "customer": "string", "invoice": "string", "amount": "int", "currency": "string",
         "date": "int", "description": "string", "discountable": "bool", "discounts": "json",
         "proration": "bool", "quantity": "int", "unit_amount_decimal": "string", "deleted": "bool",
         "period__start": "int", "period__end": "int",
         # Basil and later
         "parent__type": "string", "parent__subscription_details": "json", "pricing__type": "string",
         "pricing__price_details": "json", "pricing__unit_amount_decimal": "string",
         # before Basil
         "subscription": "string", "subscription_item": "string", "price": "json", "plan": "json",
         "unit_amount": "int",
         "metadata__q2c_external_id": "string"},
        deleted_by=frozenset({"invoiceitem.deleted"})),
    StripeObject(
        # The list hides canceled subscriptions unless asked for every status.
        "subscriptions", "subscription", {"type": "customer.subscription.*"},
        {**_COMMON, "customer": "string", "status": "string", "collection_method": "string", "currency": "string",
         "days_until_due": "int", "start_date": "int", "billing_cycle_anchor": "int", "cancel_at": "int",
         "cancel_at_period_end": "bool", "canceled_at": "int", "ended_at": "int", "trial_start": "int",
         "trial_end": "int", "latest_invoice": "string", "schedule": "string", "default_tax_rates": "json",
         "items__object": "string", "items__data": "json", "items__has_more": "bool", "items__url": "string",
         "items__total_count": "int",
         # before Basil (moved to the items since)
         "current_period_start": "int", "current_period_end": "int",
         "metadata__salesforce_contract_id": "string", "metadata__salesforce_account_id": "string",
         "metadata__legal_entity": "string"},
        list_params={"status": "all"}),
    StripeObject(
        "invoice_payments", "invoice_payment", {"type": "invoice_payment.*"},
        {**_COMMON, "invoice": "string", "amount_paid": "int", "amount_requested": "int", "currency": "string",
         "is_default": "bool", "status": "string", "status_transitions__paid_at": "int",
         "status_transitions__canceled_at": "int", "payment__type": "string", "payment__payment_intent": "string",
         "payment__charge": "string"}),
    StripeObject(
        "tax_rates", "tax_rate", {"type": "tax_rate.*"},
        {**_COMMON, "active": "bool", "country": "string", "state": "string", "display_name": "string",
         "description": "string", "inclusive": "bool", "jurisdiction": "string", "percentage": "float",
         "effective_percentage": "float", "tax_type": "string"}),
    StripeObject(
        # Issued (or voided) against one invoice: pre_payment ones lowered its amount_due, post_payment ones
        # were refunded or settled outside Stripe. Lines (with their taxes) stay one JSON column.
        "credit_notes", "credit_note", {"type": "credit_note.*"},
        {**_COMMON, "invoice": "string", "customer": "string", "customer_account": "string", "number": "string",
         "status": "string", "type": "string", "reason": "string", "memo": "string", "currency": "string",
         "amount": "int", "amount_shipping": "int", "subtotal": "int", "subtotal_excluding_tax": "int",
         "total": "int", "total_excluding_tax": "int", "discount_amount": "int", "pre_payment_amount": "int",
         "post_payment_amount": "int", "out_of_band_amount": "int", "effective_at": "int", "voided_at": "int",
         "customer_balance_transaction": "string", "pdf": "string", "discount_amounts": "json",
         "pretax_credit_amounts": "json", "refunds": "json", "total_taxes": "json", "shipping_cost": "json",
         "lines__object": "string", "lines__data": "json", "lines__has_more": "bool", "lines__total_count": "int",
         "lines__url": "string",
         "metadata__salesforce_contract_id": "string", "metadata__legal_entity": "string"}),
    StripeObject(
        # Every schedule is listed (Stripe hides none); the phases with their items stay one JSON column.
        "subscription_schedules", "subscription_schedule", {"type": "subscription_schedule.*"},
        {**_COMMON, "customer": "string", "customer_account": "string", "subscription": "string",
         "released_subscription": "string", "status": "string", "end_behavior": "string", "canceled_at": "int",
         "completed_at": "int", "released_at": "int", "application": "string", "test_clock": "string",
         "current_phase__start_date": "int", "current_phase__end_date": "int", "phases": "json",
         "billing_mode__type": "string", "billing_mode__flexible": "json", "billing_mode__updated_at": "int",
         "default_settings__application_fee_percent": "float", "default_settings__automatic_tax": "json",
         "default_settings__billing_cycle_anchor": "string", "default_settings__billing_thresholds": "json",
         "default_settings__collection_method": "string", "default_settings__default_payment_method": "string",
         "default_settings__description": "string", "default_settings__invoice_settings": "json",
         "default_settings__on_behalf_of": "string", "default_settings__transfer_data": "json",
         "metadata__salesforce_contract_id": "string", "metadata__salesforce_account_id": "string",
         "metadata__legal_entity": "string", "metadata__q2c_renewal_of": "string"}),
)}
API_VERSION_COLUMN = "_stripe_api_version"  # the API version the row's payload was rendered in


def flatten(obj: Mapping[str, Any], spec: StripeObject) -> dict[str, Any]:
    """A Stripe object as one raw row: dict fields flattened one level (``a__b``), the rest as served.

    A dict field that is null (``parent: null``) adds nothing when the spec declares its flattened
    columns, so no stray ``parent`` column appears beside ``parent__type``.
    """
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            for sub, inner in value.items():
                out[f"{key}__{sub}"] = inner
        elif value is None and key in spec.dict_fields:
            continue
        else:
            out[key] = value
    return out


def column_kind(name: str, values: list[Any]) -> str:
    """Kind of a column no declaration names (``to_arrow``'s ``extra_kinds``): metadata is text."""
    return _METADATA_KIND if name.startswith("metadata__") else infer_kind(values)
