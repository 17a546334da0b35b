"""Payment status -> CRM: Salesforce composite upsert by external id, 200 records per call.

Upsert by external id is idempotent by itself: sending a record twice leaves one record.
One rejected record fails alone (``allOrNone: false``); its error comes back per record.
"""

from __future__ import annotations

from typing import Any

import requests

from ingestion.http import SourceApiError
from ingestion.salesforce.helpers import SalesforceClient
from reverse_etl.sinks import Change, Outcome

COMPOSITE_LIMIT = 200


class SalesforceUpsertSink:
    def __init__(self, client: SalesforceClient, sobject: str, external_id_field: str,
                 name: str = "crm_payment_status") -> None:
        self.name = name
        self.batch_size = COMPOSITE_LIMIT
        self.client = client
        self.sobject = sobject
        self.external_id_field = external_id_field

    def send(self, batch: list[Change]) -> list[Outcome]:
        if len(batch) > COMPOSITE_LIMIT:
            raise ValueError(f"a composite upsert takes at most {COMPOSITE_LIMIT} records, got {len(batch)}")
        records: list[dict[str, Any]] = [
            {"attributes": {"type": self.sobject}, **c.payload, self.external_id_field: c.external_id}
            for c in batch]
        try:
            results = self.client.request(
                "PATCH",
                f"/services/data/v{self.client.api_version}/composite/sobjects/{self.sobject}/{self.external_id_field}",
                f"composite upsert of {self.sobject}", json={"allOrNone": False, "records": records})
        except (SourceApiError, requests.RequestException) as exc:
            # The whole call failed: every record of the batch failed with it, and is retried next sync.
            return [Outcome(c.external_id, False, error=f"{type(exc).__name__}: {exc}") for c in batch]
        outcomes = []
        for change, result in zip(batch, results, strict=True):
            if result.get("success"):
                outcomes.append(Outcome(change.external_id, True, target_id=result.get("id")))
            else:
                errors = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in result.get("errors", []))
                outcomes.append(Outcome(change.external_id, False, error=errors or "rejected"))
        return outcomes
