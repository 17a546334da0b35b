"""Stripe billing source: every object the billing system serves, merged on ``id``.

Tables (``raw_stripe.<name>``): ``customers``, ``invoices``, ``invoiceitems``, ``subscriptions``
(canceled ones included: the list is asked for ``status=all``), ``invoice_payments``, ``tax_rates``,
``credit_notes`` (issued and voided; ``credit_note.*`` events) and ``subscription_schedules`` (every
status; ``subscription_schedule.*`` events).

Increments. Stripe objects carry ``created`` but no updated timestamp, and invoices, customers
and subscriptions change after creation (an invoice is finalized, paid, voided; a subscription
renews or is canceled). So each table's run is one of three modes, recorded in its
``q2c_load_metrics`` row:

- ``full``: the first run lists everything. Before listing it notes the newest retained event
  for the object: every change after that note arrives as an event, changes before it are in
  the list.
- ``events``: later runs read, per table, the events newer than the event cursor (the newest
  event processed, kept in the resource's state; ``/v1/events`` paged forward with
  ``ending_before``) and apply each event's ``data.object`` snapshot, the newest per object id
  winning; a repeated delivery of an event is dropped by its id, and an older snapshot never
  overwrites a newer one. They also list objects created since the ``created`` cursor minus a lag
  window (``created[gte]``), which catches new objects whatever their events; a listed object
  wins over its event snapshots because it is read after them. ``*.deleted`` events
  (customers, draft invoices, invoice items) keep the row with ``deleted = true``.
- ``reconcile``: the full list again, merged over what is there, to catch anything events
  missed. It runs every ``reconcile_every`` runs (counting the last full list), on demand
  (``reconcile=True``, or ``SOURCES__STRIPE__RECONCILE=true``), and whenever the event cursor has
  left Stripe's 30-day event retention (the API no longer returns that event): the changes in
  between can no longer be read as events.

Columns. Pages become Arrow tables under a column ``Contract`` (``ingestion.contract``) kept in
the resource's state: declared kinds per field (``helpers.STRIPE_OBJECTS``), amounts as integers
in minor units, timestamps as integer unix seconds (what staging expects), new fields admitted
as they arrive (schema drift), values that no longer fit their column quarantined with their
record (the cursors move on; the next reconciliation reads the record again). Nesting is decided here, not by dlt (``max_table_nesting=0``, and Arrow tables are not
normalized anyway): a dict field is flattened one level into ``<field>__<key>`` columns (the
names dlt gave them before: ``metadata__legal_entity``, ``status_transitions__paid_at``);
anything deeper and every list is a ``json`` column holding the JSON text - the invoice and credit note
lines (``lines__data``), the subscription items (``items__data``), the schedule phases (``phases``), taxes,
refunds, ``parent__subscription_details``.
JSON columns rather than child tables because a merge replaces them with their parent row (no
orphaned lines when a draft's lines change) and events carry them inline.

Invoice shapes. The API version is pinned (``Stripe-Version``) but event payloads are rendered
in the version of the event, so one table can hold both invoice shapes. The columns of both are
declared - before 2025-03-31 ("Basil"): ``subscription``, ``subscription_details__metadata``,
``charge``, ``payment_intent``, ``paid``, ``paid_out_of_band``, ``quote``; from Basil on:
``parent__type``, ``parent__subscription_details``, ``parent__quote_details``, ``total_taxes``,
with payments in ``invoice_payments`` - and every row records the version its payload was
rendered in (``_stripe_api_version``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import dlt
from dlt.extract.resource import DltResource

from ingestion.contract import Contract, ResourceRun, batched, to_arrow
from ingestion.stripe.helpers import (
    API_VERSION_COLUMN,
    STRIPE_API_VERSION,
    STRIPE_OBJECTS,
    StripeClient,
    StripeObject,
    column_kind,
    flatten,
)

log = logging.getLogger(__name__)
SYSTEM = "stripe"
FULL, EVENTS, RECONCILE = "full", "events", "reconcile"
# created[gte] re-reads this window before the cursor: objects committed while the last run was
# listing, or stamped a little before they became visible, are read again (the merge makes it idempotent).
LAG_SECONDS = 24 * 3600
# A full list (reconciliation) at least every this many runs of a table, the full list included; 0: never.
RECONCILE_EVERY_RUNS = 7
BATCH_ROWS = 10_000  # records per Arrow batch handed to dlt


@dataclass
class _Progress:
    """What one run of a table reached: the newest ``created`` and the newest event seen."""

    max_created: int | None = None
    newest_event: dict[str, Any] | None = None  # {"id", "created"}
    events_read: int = 0

    def saw(self, obj: dict[str, Any]) -> None:
        created = obj.get("created")
        if isinstance(created, int) and not isinstance(created, bool) and (
                self.max_created is None or created > self.max_created):
            self.max_created = created


def choose_mode(state: dict[str, Any], client: StripeClient, *, reconcile: bool, reconcile_every: int) -> str:
    """``full`` on the first run, ``reconcile`` when due or asked for, else ``events``."""
    if "created_cursor" not in state:
        return FULL
    if reconcile:
        return RECONCILE
    if reconcile_every > 0 and int(state.get("runs_since_full_list", 0)) >= reconcile_every:
        return RECONCILE
    cursor = state.get("event_cursor")
    if cursor and not client.event_retained(cursor["id"]):
        return RECONCILE  # past the event retention: the changes since can only be listed
    return EVENTS


def _list_row(obj: dict[str, Any], spec: StripeObject, client: StripeClient) -> dict[str, Any]:
    row = flatten(obj, spec)
    row[API_VERSION_COLUMN] = client.api_version
    return row


def _event_row(event: dict[str, Any], spec: StripeObject, client: StripeClient) -> dict[str, Any]:
    row = flatten(event["data"]["object"], spec)
    row[API_VERSION_COLUMN] = event.get("api_version") or client.api_version
    if event.get("type") in spec.deleted_by:
        row["deleted"] = True
    return row


def latest_snapshots(client: StripeClient, spec: StripeObject, cursor: dict[str, Any] | None,
                     progress: _Progress) -> dict[str, dict[str, Any]]:
    """The newest event per object id among the events after ``cursor`` (all retained ones without it).

    Events are ranked by (``created``, position in the API's order), so the pages may come in
    either direction; an event delivered twice counts once.
    """
    forward = cursor is not None
    pages = client.event_pages_after(cursor["id"], spec.events) if forward else client.event_pages(spec.events)
    best: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}
    newest: tuple[tuple[int, int], dict[str, Any]] | None = None
    seen: set[str] = set()
    seq = 0
    for page in pages:
        # forward: pages get newer, each page newest first; backward: everything newest first
        for event in (reversed(page) if forward else page):
            seq += 1 if forward else -1
            if event["id"] in seen:
                continue
            seen.add(event["id"])
            rank = (int(event.get("created") or 0), seq)
            if newest is None or rank > newest[0]:
                newest = (rank, event)
            obj = (event.get("data") or {}).get("object") or {}
            if obj.get("object") != spec.object or not obj.get("id"):
                continue
            if obj["id"] not in best or rank > best[obj["id"]][0]:
                best[obj["id"]] = (rank, event)
    progress.events_read = len(seen)
    if newest is not None:
        progress.newest_event = {"id": newest[1]["id"], "created": int(newest[1].get("created") or 0)}
    return {object_id: event for object_id, (_, event) in best.items()}


def _everything(client: StripeClient, spec: StripeObject, progress: _Progress) -> Iterator[list[dict[str, Any]]]:
    """``full`` / ``reconcile``: note the newest event, then list every object."""
    newest = client.newest_event(spec.events)
    if newest is not None:
        progress.newest_event = {"id": newest["id"], "created": int(newest.get("created") or 0)}
    for page in client.list_pages(spec.resource, spec.list_params):
        for obj in page:
            progress.saw(obj)
        yield [_list_row(obj, spec, client) for obj in page]


def _changes(client: StripeClient, spec: StripeObject, state: dict[str, Any], lag_seconds: int,
             progress: _Progress) -> Iterator[list[dict[str, Any]]]:
    """``events``: the newest snapshot of each object changed since the event cursor, and new objects."""
    latest = latest_snapshots(client, spec, state.get("event_cursor"), progress)
    since = max(0, int(state["created_cursor"]) - lag_seconds)
    for page in client.list_pages(spec.resource, {**spec.list_params, "created[gte]": since}):
        for obj in page:
            progress.saw(obj)
            latest.pop(obj["id"], None)  # listed after the events were read: at least as new
        yield [_list_row(obj, spec, client) for obj in page]
    rest = list(latest.values())
    for event in rest:
        progress.saw(event["data"]["object"])
    if rest:
        yield [_event_row(event, spec, client) for event in rest]


def stripe_object_resource(client: StripeClient, spec: StripeObject, *, reconcile: bool = False,
                           reconcile_every: int = RECONCILE_EVERY_RUNS, lag_seconds: int = LAG_SECONDS,
                           batch_rows: int = BATCH_ROWS) -> DltResource:
    """The resource loading ``spec`` into its table (see the module docstring for the modes)."""

    def records() -> Iterator[Any]:
        state = dlt.current.resource_state()
        contract = Contract.from_state(state.get("contract"))
        contract.admit({**spec.columns, API_VERSION_COLUMN: "string"})
        mode = choose_mode(state, client, reconcile=reconcile, reconcile_every=reconcile_every)
        run = ResourceRun(SYSTEM, spec.resource, key="id", mode=mode)
        progress = _Progress()
        pages = _changes(client, spec, state, lag_seconds, progress) if mode == EVENTS \
            else _everything(client, spec, progress)
        for batch in batched(pages, batch_rows):
            yield from run.convert(batch, contract, extra_kinds=column_kind)
        if mode != EVENTS and run.extracted == 0:
            # nothing to list: still create the table with its declared columns
            yield to_arrow([], contract, system=SYSTEM, obj=spec.resource, key="id").table

        state["contract"] = contract.to_state()
        state["created_cursor"] = max(int(state.get("created_cursor", 0)), progress.max_created or 0)
        if progress.newest_event is not None:
            state["event_cursor"] = progress.newest_event
        elif mode != EVENTS:
            state.pop("event_cursor", None)  # no event retained when the list began: every later one is new
        state["runs_since_full_list"] = int(state.get("runs_since_full_list", 0)) + 1 if mode == EVENTS else 1
        log.info("stripe %s: %s run, %d events read, %d rows extracted, %d quarantined", spec.resource, mode,
                 progress.events_read, run.extracted, run.quarantined)
        cursor = {"created": state["created_cursor"], "event": (state.get("event_cursor") or {}).get("id")}
        yield run.finish(cursor=json.dumps(cursor, separators=(",", ":")))

    return dlt.resource(records, name=spec.resource, primary_key="id", write_disposition="merge",
                        max_table_nesting=0)


@dlt.source(name="stripe", max_table_nesting=0)
def stripe_source(
    base_url: str = dlt.config.value,
    api_key: str = dlt.secrets.value,
    ca_bundle: str | None = None,
    api_version: str = STRIPE_API_VERSION,
    reconcile: bool = False,
    reconcile_every: int = RECONCILE_EVERY_RUNS,
    lag_seconds: int = LAG_SECONDS,
) -> Iterable[DltResource]:
    """Customers, invoices, invoice items, subscriptions, subscription schedules, invoice payments, credit notes
    and tax rates from Stripe."""
    client = StripeClient(base_url, api_key, ca_bundle, api_version)
    return [stripe_object_resource(client, spec, reconcile=reconcile, reconcile_every=reconcile_every,
                                   lag_seconds=lag_seconds) for spec in STRIPE_OBJECTS.values()]
