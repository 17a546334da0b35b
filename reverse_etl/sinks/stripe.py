"""Billing schedule -> billing: Stripe invoice items, one POST per schedule line.

Every POST carries an ``Idempotency-Key`` derived from the target, the record key and the
content hash, so a retried or re-run request for the same content creates nothing new.
New lines are created (``POST /v1/invoiceitems``); changed lines update the item created before
(``POST /v1/invoiceitems/<id>``).
"""

from __future__ import annotations

import hashlib
from typing import Any

import requests

from ingestion.http import ApiSession
from reverse_etl.sinks import Change, Outcome

STRIPE_FIELDS = ("customer", "amount", "currency", "description")


def idempotency_key(target: str, external_id: str, content_hash: str) -> str:
    digest = hashlib.sha256(f"{target}|{external_id}|{content_hash}".encode()).hexdigest()
    return f"q2c-{digest[:48]}"


def form_body(payload: dict[str, Any], external_id: str, create: bool) -> dict[str, Any]:
    """Stripe's form encoding of one invoice item (nested keys as ``period[start]``)."""
    form: dict[str, Any] = {
        "amount": int(payload["amount"]),
        "description": payload["description"],
        "period[start]": int(payload["period_start"]),
        "period[end]": int(payload["period_end"]),
        "metadata[q2c_external_id]": external_id,
        "metadata[salesforce_contract_id]": payload["contract_id"],
    }
    if create:
        form["customer"] = payload["stripe_customer_id"]
        form["currency"] = payload["currency"]
    return form


class StripeInvoiceItemSink:
    def __init__(self, base_url: str, api_key: str, ca_bundle: str | None = None,
                 name: str = "billing_schedule") -> None:
        self.name = name
        self.batch_size = 50
        self.base_url = base_url.rstrip("/")
        self.session = ApiSession(ca_bundle)
        self.session.headers["Authorization"] = f"Bearer {api_key}"

    def _post(self, change: Change) -> Outcome:
        key = idempotency_key(self.name, change.external_id, change.content_hash)
        create = change.target_id is None
        path = "/v1/invoiceitems" if create else f"/v1/invoiceitems/{change.target_id}"
        try:
            resp = self.session.post(f"{self.base_url}{path}",
                                     data=form_body(change.payload, change.external_id, create),
                                     headers={"Idempotency-Key": key})
        except requests.RequestException as exc:
            return Outcome(change.external_id, False, error=f"{type(exc).__name__}: {exc}", idempotency_key=key)
        if resp.status_code >= 400:
            try:
                message = resp.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = resp.text[:300]
            return Outcome(change.external_id, False, error=f"HTTP {resp.status_code}: {message}",
                           idempotency_key=key)
        return Outcome(change.external_id, True, target_id=resp.json()["id"], idempotency_key=key)

    def send(self, batch: list[Change]) -> list[Outcome]:
        return [self._post(change) for change in batch]
