"""Stripe billing source: ``customers`` and ``invoices``, each listed in full on every run and merged on ``id``.

Stripe objects carry no ``updated`` field, and both change after creation (an invoice is paid
or voided; a customer's metadata, balance and delinquency change), so an increment on
``created`` would miss those changes. The events endpoint (``/v1/events``) with a periodic full
reconciliation replaces these full lists in a later step; until then correctness costs one
full list per run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import dlt
from dlt.extract.resource import DltResource

from ingestion.stripe.helpers import StripeClient


@dlt.source(name="stripe", max_table_nesting=1)
def stripe_source(
    base_url: str = dlt.config.value,
    api_key: str = dlt.secrets.value,
    ca_bundle: str | None = None,
) -> Iterable[DltResource]:
    client = StripeClient(base_url, api_key, ca_bundle)

    @dlt.resource(name="customers", primary_key="id", write_disposition="merge")
    def customers() -> Iterator[list[dict[str, Any]]]:
        yield from client.list_pages("customers")

    @dlt.resource(name="invoices", primary_key="id", write_disposition="merge")
    def invoices() -> Iterator[list[dict[str, Any]]]:
        yield from client.list_pages("invoices")

    return [customers, invoices]
