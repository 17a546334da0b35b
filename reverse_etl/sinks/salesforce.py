"""Payment status -> CRM: Salesforce composite upsert by external id, 200 records per call.

Upsert by external id is idempotent by itself: sending a record twice leaves one record.
One rejected record fails alone (``allOrNone: false``); its error comes back per record.
"""

from __future__ import annotations

from typing import Any

from ingestion.http import ApiSession, check
from reverse_etl.sinks import Change, Outcome

COMPOSITE_LIMIT = 200


class SalesforceUpsertSink:
    def __init__(self, base_url: str, client_id: str, client_secret: str, sobject: str,
                 external_id_field: str, api_version: str = "59.0", ca_bundle: str | None = None,
                 name: str = "crm_payment_status") -> None:
        self.name = name
        self.batch_size = COMPOSITE_LIMIT
        self.base_url = base_url.rstrip("/")
        self.sobject = sobject
        self.external_id_field = external_id_field
        self.api_version = api_version
        self._client_id = client_id
        self._client_secret = client_secret
        self.session = ApiSession(ca_bundle)
        self._instance_url: str | None = None

    def _login(self) -> str:
        resp = self.session.post(
            f"{self.base_url}/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": self._client_id,
                  "client_secret": self._client_secret})
        body = check("salesforce", "OAuth2 token request", resp).json()
        self.session.headers["Authorization"] = f"Bearer {body['access_token']}"
        self._instance_url = body.get("instance_url", self.base_url).rstrip("/")
        return self._instance_url

    def send(self, batch: list[Change]) -> list[Outcome]:
        if len(batch) > COMPOSITE_LIMIT:
            raise ValueError(f"a composite upsert takes at most {COMPOSITE_LIMIT} records, got {len(batch)}")
        instance = self._instance_url or self._login()
        records: list[dict[str, Any]] = [
            {"attributes": {"type": self.sobject}, **c.payload, self.external_id_field: c.external_id}
            for c in batch]
        url = (f"{instance}/services/data/v{self.api_version}/composite/sobjects/"
               f"{self.sobject}/{self.external_id_field}")
        body = {"allOrNone": False, "records": records}
        resp = self.session.patch(url, json=body)
        if resp.status_code == 401:
            instance = self._login()
            resp = self.session.patch(url, json=body)
        results = check("salesforce", f"composite upsert of {self.sobject}", resp).json()
        outcomes = []
        for change, result in zip(batch, results, strict=True):
            if result.get("success"):
                outcomes.append(Outcome(change.external_id, True, target_id=result.get("id")))
            else:
                errors = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in result.get("errors", []))
                outcomes.append(Outcome(change.external_id, False, error=errors or "rejected"))
        return outcomes
