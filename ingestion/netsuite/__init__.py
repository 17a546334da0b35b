"""NetSuite cloud ERP source, over SuiteQL.

Tables with ``lastmodifieddate`` (customer, transaction) load incrementally on it and merge on
``id``; the small reference tables (subsidiary, currency) are re-read whole and merged. Every
query orders by ``id``, as NetSuite requires for stable paging.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.extract.resource import DltResource

from ingestion.netsuite.helpers import NetSuiteClient

INCREMENTAL_TABLES = ("customer", "transaction")
REFERENCE_TABLES = ("subsidiary", "currency")
EPOCH = "1970-01-01T00:00:00Z"


def suiteql_timestamp(value: str) -> str:
    """A ``TO_TIMESTAMP`` call for a cursor value, parsed strictly and re-rendered."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    text = parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"TO_TIMESTAMP('{text}', 'YYYY-MM-DD HH24:MI:SS')"


def _incremental_table(client: NetSuiteClient, table: str) -> DltResource:
    def rows(
        modified: dlt.sources.incremental[str] = dlt.sources.incremental(
            "lastmodifieddate", initial_value=EPOCH, range_start="closed", primary_key=()),
    ) -> Iterator[list[dict[str, Any]]]:
        query = (f"SELECT * FROM {table} WHERE lastmodifieddate >= "
                 f"{suiteql_timestamp(modified.start_value)} ORDER BY id")
        yield from client.suiteql_pages(query, what=f"SuiteQL {table}")

    return dlt.resource(rows, name=table, primary_key="id", write_disposition="merge")


def _reference_table(client: NetSuiteClient, table: str) -> DltResource:
    def rows() -> Iterator[list[dict[str, Any]]]:
        yield from client.suiteql_pages(f"SELECT * FROM {table} ORDER BY id", what=f"SuiteQL {table}")

    return dlt.resource(rows, name=table, primary_key="id", write_disposition="merge")


@dlt.source(name="netsuite", max_table_nesting=0)
def netsuite_source(
    base_url: str = dlt.config.value,
    client_id: str = dlt.config.value,
    client_secret: str = dlt.secrets.value,
    ca_bundle: str | None = None,
) -> Iterable[DltResource]:
    client = NetSuiteClient(base_url, client_id, client_secret, ca_bundle)
    return [*(_reference_table(client, t) for t in REFERENCE_TABLES),
            *(_incremental_table(client, t) for t in INCREMENTAL_TABLES)]
