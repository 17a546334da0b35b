"""Billing schedule -> billing: Stripe invoice items, one POST per schedule line.

Idempotency, in two layers:

- Every POST carries an ``Idempotency-Key`` derived from the target, the record key, the
  content last synced, the content now and the item it updates (a retried request replays; a
  record whose content goes A -> B -> A gets a new key for each step, so Stripe never sees one
  key with two bodies).
- Before creating a line the sink looks for an item already carrying the line's external id in
  its metadata (``q2c_external_id``), and updates that one instead. A run that died after Stripe
  created an item but before the sync state was saved therefore never creates a second item,
  whatever changed in between and however long ago (Stripe forgets keys after 24 h).

New lines are created (``POST /v1/invoiceitems``); changed lines update the item
(``POST /v1/invoiceitems/<id>``). The customer and currency of an item cannot change: a line
whose customer or currency changed is rejected with an error naming the field.
"""

from __future__ import annotations

import hashlib
from typing import Any

import requests

from ingestion.stripe.helpers import StripeClient
from reverse_etl.sinks import Change, Outcome

METADATA_KEY = "q2c_external_id"


def idempotency_key(target: str, external_id: str, prior_hash: str | None, content_hash: str,
                    target_id: str | None) -> str:
    """Same request, same key; any other request (new content, other prior state, create vs update), a new key."""
    parts = (target, external_id, prior_hash or "new", content_hash, target_id or "create")
    return "q2c-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:48]


def form_body(payload: dict[str, Any], external_id: str, create: bool) -> dict[str, Any]:
    """Stripe's form encoding of one invoice item (nested keys as ``period[start]``)."""
    amount = payload["amount"]
    if int(amount) != amount:
        raise ValueError(f"{external_id}: amount {amount!r} is not an integer number of minor units")
    form: dict[str, Any] = {
        "amount": int(amount),
        "description": payload["description"],
        "period[start]": int(payload["period_start"]),
        "period[end]": int(payload["period_end"]),
        f"metadata[{METADATA_KEY}]": external_id,
        "metadata[salesforce_contract_id]": payload["contract_id"],
    }
    if create:
        form["customer"] = payload["stripe_customer_id"]
        form["currency"] = payload["currency"]
    return form


def _error(resp: requests.Response) -> str:
    try:
        message = resp.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = resp.text[:300]
    return f"HTTP {resp.status_code}: {message}"


class StripeInvoiceItemSink:
    def __init__(self, client: StripeClient, name: str = "billing_schedule") -> None:
        self.name = name
        self.batch_size = 50
        self.client = client
        self._existing: dict[str, dict[str, dict[str, Any]]] = {}  # customer -> external id -> item

    def _existing_item(self, customer: str, external_id: str) -> dict[str, Any] | None:
        """An invoice item of ``customer`` already carrying ``external_id`` (listed once per customer)."""
        if customer not in self._existing:
            items: dict[str, dict[str, Any]] = {}
            for page in self.client.list_pages("invoiceitems", {"customer": customer}):
                for item in page:
                    key = (item.get("metadata") or {}).get(METADATA_KEY)
                    if key:
                        items[key] = item
            self._existing[customer] = items
        return self._existing[customer].get(external_id)

    def _send_one(self, change: Change) -> Outcome:
        payload = change.payload
        if change.target_id is not None:
            current: dict[str, Any] | None = self.client.retrieve("invoiceitems", change.target_id)
        else:
            current = self._existing_item(payload["stripe_customer_id"], change.external_id)
        target_id = current["id"] if current is not None else None
        key = idempotency_key(self.name, change.external_id, change.prior_hash, change.content_hash, target_id)
        if current is not None:
            for field, expected in (("customer", payload["stripe_customer_id"]), ("currency", payload["currency"])):
                if current.get(field) != expected:
                    return Outcome(change.external_id, False, idempotency_key=key,
                                   error=f"{field} of invoice item {current['id']} is {current.get(field)!r}, "
                                         f"the schedule says {expected!r}; Stripe cannot change it")
        form = form_body(payload, change.external_id, create=target_id is None)
        path = "/v1/invoiceitems" if target_id is None else f"/v1/invoiceitems/{target_id}"
        resp = self.client.post(path, form, key)
        if resp.status_code >= 400:
            return Outcome(change.external_id, False, error=_error(resp), idempotency_key=key)
        return Outcome(change.external_id, True, target_id=resp.json()["id"], idempotency_key=key)

    def send(self, batch: list[Change]) -> list[Outcome]:
        outcomes = []
        for change in batch:
            try:
                outcomes.append(self._send_one(change))
            except (requests.RequestException, ValueError, RuntimeError) as exc:
                outcomes.append(Outcome(change.external_id, False, error=f"{type(exc).__name__}: {exc}"))
        return outcomes
