"""Certinia PSA source: the ``pse__`` objects, read through the same Salesforce REST API.

Same increments as the CRM source (``SystemModstamp`` through ``queryAll``, merge on ``Id``);
a separate source so PSA loads run, fail and are scheduled on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import dlt
from dlt.extract.resource import DltResource

from ingestion.salesforce import salesforce_objects
from ingestion.salesforce.helpers import SalesforceClient
from ingestion.salesforce.settings import API_VERSION, LAG_SECONDS, PSA_OBJECTS


@dlt.source(name="certinia", max_table_nesting=0)
def certinia_source(
    base_url: str = dlt.config.value,
    client_id: str = dlt.config.value,
    client_secret: str = dlt.secrets.value,
    api_version: str = API_VERSION,
    ca_bundle: str | None = None,
    objects: Sequence[str] = PSA_OBJECTS,
    lag_seconds: int = LAG_SECONDS,
) -> Iterable[DltResource]:
    """PSA projects, rate cards, assignments, milestones, timecards, expenses and billing events."""
    client = SalesforceClient(base_url, client_id, client_secret, api_version, ca_bundle, system="certinia")
    return salesforce_objects(client, objects, system="certinia", lag_seconds=lag_seconds)
