"""Salesforce CRM + CPQ source (and, through ``salesforce_objects``, the Certinia PSA source).

Each object is one resource, read through ``queryAll`` (soft deletes arrive as rows with
``IsDeleted = true``) and merged on ``Id``:

- increment: ``SystemModstamp``. The cursor (the newest modstamp loaded) lives in the resource's
  state and commits with the load package, so a run killed mid-load starts again from the last
  committed cursor. Each run reads from ``cursor - lag`` (``LAG_SECONDS``): changes committed
  late carry an older modstamp, and the re-read window catches them; the merge makes re-reading
  idempotent.
- types: the field list and types come from the object's describe call; the first load pins each
  column's kind in a ``Contract`` (``ingestion.contract``), new fields join it, and a value that
  no longer fits its column (schema drift) quarantines its record instead of failing the load.
- speed: records become Arrow tables (``ingestion.contract.to_arrow``), which dlt loads without
  per-row normalization.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import dlt
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.extract.resource import DltResource

from ingestion.contract import Contract, ResourceRun, batched
from ingestion.salesforce.helpers import SalesforceClient, soql_datetime
from ingestion.salesforce.settings import (
    API_VERSION,
    BATCH_ROWS,
    CRM_OBJECTS,
    CURSOR_FIELD,
    FIELD_KINDS,
    LAG_SECONDS,
)

_naming = NamingConvention()


def table_name(sobject: str) -> str:
    """The warehouse table an object lands in (dlt's snake_case: pse__Proj__c -> pse_proj_c)."""
    return _naming.normalize_table_identifier(sobject)


def field_kinds(describe: dict[str, str]) -> dict[str, str]:
    """Contract kinds for the fields of a describe call."""
    return {name: FIELD_KINDS.get(sf_type, "string") for name, sf_type in describe.items()}


def sobject_resource(client: SalesforceClient, sobject: str, *, system: str = "salesforce",
                     lag_seconds: int = LAG_SECONDS, batch_rows: int = BATCH_ROWS) -> DltResource:
    def records() -> Iterator[Any]:
        state = dlt.current.resource_state()
        cursor: str | None = state.get("cursor")
        contract = Contract.from_state(state.get("contract"))
        describe = client.describe(sobject)
        contract.admit(field_kinds(describe))
        where = ""
        if cursor is not None:
            since = datetime.fromisoformat(cursor) - timedelta(seconds=lag_seconds)
            where = f"WHERE {CURSOR_FIELD} >= {soql_datetime(since.isoformat())} "
        soql = f"SELECT {', '.join(describe)} FROM {sobject} {where}ORDER BY {CURSOR_FIELD} ASC, Id ASC"
        run = ResourceRun(system, sobject, key="Id", mode="incremental" if cursor else "full",
                          cursor_column=CURSOR_FIELD, cursor=cursor)
        for batch in batched(client.query_all(soql, what=f"query {sobject}"), batch_rows):
            yield from run.convert(batch, contract)
        state["contract"] = contract.to_state()
        if run.cursor() is not None:
            state["cursor"] = run.cursor()
        yield run.finish(cursor=state.get("cursor"))

    return dlt.resource(records, name=table_name(sobject), primary_key="Id", write_disposition="merge",
                        max_table_nesting=0)


def salesforce_objects(client: SalesforceClient, objects: Sequence[str], *, system: str = "salesforce",
                       lag_seconds: int = LAG_SECONDS) -> Iterable[DltResource]:
    return [sobject_resource(client, obj, system=system, lag_seconds=lag_seconds) for obj in objects]


@dlt.source(name="salesforce", max_table_nesting=0)
def salesforce_source(
    base_url: str = dlt.config.value,
    client_id: str = dlt.config.value,
    client_secret: str = dlt.secrets.value,
    api_version: str = API_VERSION,
    ca_bundle: str | None = None,
    objects: Sequence[str] = CRM_OBJECTS,
    lag_seconds: int = LAG_SECONDS,
) -> Iterable[DltResource]:
    """CRM and CPQ objects (accounts, opportunities and their products, quotes, contracts) from Salesforce."""
    client = SalesforceClient(base_url, client_id, client_secret, api_version, ca_bundle, system="salesforce")
    return salesforce_objects(client, objects, lag_seconds=lag_seconds)
