"""Salesforce CRM + CPQ source.

Each object is one resource, loaded incrementally on ``SystemModstamp`` through ``queryAll``
(so soft deletes arrive as rows with ``IsDeleted = true``) and merged on ``Id``. Rows at the
last cursor value are read again on the next run (``>=``) and merged, rather than dropped by
dlt's boundary de-duplication, so a record modified twice within one timestamp tick is not lost. The field
list comes from the object's describe call, so new custom fields flow in without a code change.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import dlt
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.extract.resource import DltResource

from ingestion.salesforce.helpers import SOQL_EPOCH, SalesforceClient, soql_datetime
from ingestion.salesforce.settings import API_VERSION, CRM_OBJECTS, CURSOR_FIELD

_naming = NamingConvention()


def table_name(sobject: str) -> str:
    """The warehouse table an object lands in (dlt's snake_case: pse__Proj__c -> pse_proj_c)."""
    return _naming.normalize_table_identifier(sobject)


def sobject_resource(client: SalesforceClient, sobject: str) -> DltResource:
    def records(
        modstamp: dlt.sources.incremental[str] = dlt.sources.incremental(
            CURSOR_FIELD, initial_value=SOQL_EPOCH, range_start="closed", primary_key=()),
    ) -> Iterator[list[dict[str, Any]]]:
        fields = client.describe_fields(sobject)
        soql = (f"SELECT {', '.join(fields)} FROM {sobject} "
                f"WHERE {CURSOR_FIELD} >= {soql_datetime(modstamp.start_value)} "
                f"ORDER BY {CURSOR_FIELD} ASC, Id ASC")
        yield from client.query_all(soql, what=f"query {sobject}")

    return dlt.resource(records, name=table_name(sobject), primary_key="Id",
                        write_disposition="merge", max_table_nesting=0)


def salesforce_objects(client: SalesforceClient, objects: Sequence[str]) -> Iterable[DltResource]:
    return [sobject_resource(client, obj) for obj in objects]


@dlt.source(name="salesforce", max_table_nesting=0)
def salesforce_source(
    base_url: str = dlt.config.value,
    client_id: str = dlt.config.value,
    client_secret: str = dlt.secrets.value,
    api_version: str = API_VERSION,
    ca_bundle: str | None = None,
    objects: Sequence[str] = CRM_OBJECTS,
) -> Iterable[DltResource]:
    """CRM objects (accounts, opportunities, contracts) from the Salesforce REST API."""
    client = SalesforceClient(base_url, client_id, client_secret, api_version, ca_bundle, system="salesforce")
    return salesforce_objects(client, objects)
