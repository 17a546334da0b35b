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

- Before any POST the sink compares the item it found with the line: when Stripe already holds
  the line's content (a run died after Stripe answered, before the state was saved) nothing is
  sent and the record is reported confirmed. So a rerun after a crash sends nothing twice.

New lines are created (``POST /v1/invoiceitems``); changed lines update the item
(``POST /v1/invoiceitems/<id>``). The customer and currency of an item cannot change: a line
whose customer or currency changed is rejected with an error naming the field.

``existing`` (items found by id or metadata) serves ``update_only``. ``delete`` serves ``mirror``:
it finds the item (by id, else by its ``q2c_external_id`` metadata), checks it still carries the
record's key, and deletes it (``DELETE /v1/invoiceitems/<id>``). An item already gone (no item, or
404 ``resource_missing``) is reported done; an item that must stay (Stripe answers 400 for one on a
finalized invoice) fails alone. Stripe ignores idempotency keys on DELETE, which is idempotent in
effect. The ``billing_schedule`` target refuses ``mirror`` all the same (``reverse_etl.targets``):
the installment that leaves its payload each cycle is the one being invoiced.
"""

from __future__ import annotations

from typing import Any

import requests

from ingestion.stripe.helpers import StripeClient
from reverse_etl.sinks import Change, Outcome, change_key, idempotency_key

__all__ = ["METADATA_KEY", "StripeInvoiceItemSink", "form_body", "holds", "idempotency_key"]

METADATA_KEY = "q2c_external_id"

BATCH_SIZE = 50  # invoice items a batch (each its own POST, with its own idempotency key)


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


def holds(item: dict[str, Any], payload: dict[str, Any], external_id: str) -> bool:
    """Whether the invoice item already carries every field the line would send."""
    metadata = item.get("metadata") or {}
    period = item.get("period") or {}
    try:
        return (item.get("customer") == payload["stripe_customer_id"] and item.get("currency") == payload["currency"]
                and item.get("amount") == int(payload["amount"]) and item.get("description") == payload["description"]
                and period.get("start") == int(payload["period_start"])
                and period.get("end") == int(payload["period_end"])
                and metadata.get(METADATA_KEY) == external_id
                and metadata.get("salesforce_contract_id") == payload["contract_id"])
    except (TypeError, ValueError, KeyError):
        return False


def _error(resp: requests.Response) -> str:
    try:
        message = resp.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = resp.text[:300]
    return f"HTTP {resp.status_code}: {message}"


def _gone(resp: requests.Response) -> bool:
    """A 404 ``resource_missing``: the item does not exist (never did, or was deleted)."""
    if resp.status_code != 404:
        return False
    try:
        return resp.json()["error"].get("code") == "resource_missing"
    except (ValueError, KeyError, TypeError, AttributeError):
        return False


class StripeInvoiceItemSink:
    def __init__(self, client: StripeClient, name: str = "billing_schedule", batch_size: int = BATCH_SIZE) -> None:
        self.name = name
        self.batch_size = batch_size
        self.client = client
        self._existing: dict[str, dict[str, dict[str, Any]]] = {}  # customer -> external id -> item
        self._all_items: dict[str, dict[str, Any]] | None = None  # external id -> item, every customer

    @staticmethod
    def _by_key(pages: Any) -> dict[str, dict[str, Any]]:
        items: dict[str, dict[str, Any]] = {}
        for page in pages:
            for item in page:
                key = (item.get("metadata") or {}).get(METADATA_KEY)
                if key:
                    items[key] = item
        return items

    def _existing_item(self, customer: str, external_id: str) -> dict[str, Any] | None:
        """An invoice item of ``customer`` already carrying ``external_id`` (listed once per customer)."""
        if customer not in self._existing:
            self._existing[customer] = self._by_key(self.client.list_pages("invoiceitems", {"customer": customer}))
        return self._existing[customer].get(external_id)

    def _current(self, change: Change) -> dict[str, Any] | None:
        if change.target_id is not None:
            return self.client.retrieve("invoiceitems", change.target_id)
        return self._existing_item(change.payload["stripe_customer_id"], change.external_id)

    def existing(self, changes: list[Change]) -> dict[str, str]:
        """External id -> invoice item id of the lines Stripe holds already (by id, else by metadata)."""
        found = {}
        for change in changes:
            current = self._current(change)
            if current is not None:
                found[change.external_id] = current["id"]
        return found

    def _send_one(self, change: Change) -> Outcome:
        payload = change.payload
        current = self._current(change)
        target_id = current["id"] if current is not None else None
        key = idempotency_key(self.name, change.external_id, change.prior_hash, change.content_hash, target_id)
        if current is not None and holds(current, payload, change.external_id):
            return Outcome(change.external_id, True, target_id=target_id, idempotency_key=key, sent=False)
        if current is not None:
            for field, expected in (("customer", payload["stripe_customer_id"]), ("currency", payload["currency"])):
                if current.get(field) != expected:
                    return Outcome(change.external_id, False, idempotency_key=key,
                                   error=f"{field} of invoice item {current['id']} is {current.get(field)!r}, "
                                         f"the schedule says {expected!r}; Stripe cannot change it")
        form = form_body(payload, change.external_id, create=target_id is None)
        path = "/v1/invoiceitems" if target_id is None else f"/v1/invoiceitems/{target_id}"
        try:
            resp = self.client.post(path, form, key)
        except requests.RequestException as exc:  # the POST may have reached Stripe: in doubt
            return Outcome(change.external_id, False, error=f"{type(exc).__name__}: {exc}", idempotency_key=key,
                           in_doubt=True)
        if resp.status_code >= 400:
            return Outcome(change.external_id, False, error=_error(resp), idempotency_key=key,
                           in_doubt=resp.status_code >= 500)
        return Outcome(change.external_id, True, target_id=resp.json()["id"], idempotency_key=key)

    def send(self, batch: list[Change]) -> list[Outcome]:
        outcomes = []
        for change in batch:
            try:
                outcomes.append(self._send_one(change))
            except (requests.RequestException, ValueError, RuntimeError) as exc:  # before the POST: not sent
                outcomes.append(Outcome(change.external_id, False, error=f"{type(exc).__name__}: {exc}",
                                        sent=False))
        return outcomes

    # ------------------------------------------------------------------ delete
    def _item_to_delete(self, change: Change) -> dict[str, Any] | None:
        """The item of a removed line as Stripe holds it now, or None if it is gone.

        A delete carries no payload (no customer), so without the item's id every item is listed
        once (per sink) and matched on its ``q2c_external_id`` metadata.
        """
        if change.target_id is not None:
            resp = self.client.session.get(f"{self.client.base_url}/v1/invoiceitems/{change.target_id}")
            if _gone(resp):
                return None
            if resp.status_code >= 400:
                raise RuntimeError(f"retrieve invoice item {change.target_id}: {_error(resp)}")
            return resp.json()
        if self._all_items is None:
            self._all_items = self._by_key(self.client.list_pages("invoiceitems"))
        return self._all_items.get(change.external_id)

    def _delete_one(self, change: Change) -> Outcome:
        key = change_key(self.name, change)
        item = self._item_to_delete(change)
        if item is None:  # deleted already (by a run that died before recording it, or by someone)
            return Outcome(change.external_id, True, target_id=change.target_id, idempotency_key=key, sent=False)
        holder = (item.get("metadata") or {}).get(METADATA_KEY)
        if holder != change.external_id:
            return Outcome(change.external_id, False, target_id=item["id"], idempotency_key=key, sent=False,
                           error=f"invoice item {item['id']} carries {METADATA_KEY}={holder!r}, not "
                                 f"{change.external_id!r}; not deleted")
        try:
            resp = self.client.session.delete(f"{self.client.base_url}/v1/invoiceitems/{item['id']}")
        except requests.RequestException as exc:  # the DELETE may have reached Stripe: in doubt
            return Outcome(change.external_id, False, target_id=item["id"], error=f"{type(exc).__name__}: {exc}",
                           idempotency_key=key, in_doubt=True)
        if _gone(resp):  # deleted in between: done all the same
            return Outcome(change.external_id, True, target_id=item["id"], idempotency_key=key)
        if resp.status_code >= 400:
            return Outcome(change.external_id, False, target_id=item["id"], error=_error(resp), idempotency_key=key,
                           in_doubt=resp.status_code >= 500)
        if self._all_items is not None:
            self._all_items.pop(change.external_id, None)
        return Outcome(change.external_id, True, target_id=item["id"], idempotency_key=key)

    def delete(self, batch: list[Change]) -> list[Outcome]:
        """Delete the invoice items of lines removed from the payload (mirror), one DELETE per item."""
        outcomes = []
        for change in batch:
            try:
                outcomes.append(self._delete_one(change))
            except (requests.RequestException, ValueError, RuntimeError) as exc:  # before the DELETE: not sent
                outcomes.append(Outcome(change.external_id, False, error=f"{type(exc).__name__}: {exc}",
                                        idempotency_key=change_key(self.name, change), sent=False))
        return outcomes
