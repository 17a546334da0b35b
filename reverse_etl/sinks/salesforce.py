"""Payment status -> CRM: Salesforce composite upsert by external id, up to 200 records per call.

Upsert by external id is idempotent in effect: sending a record twice leaves one record with the
same fields. One rejected record fails alone (``allOrNone: false``); its error comes back per record.

Salesforce's REST API takes no idempotency key, so the key logged per record (record key + content
hash, ``reverse_etl.sinks.idempotency_key``) identifies the request in the sync log only. What makes
a rerun after a crash send nothing twice is ``confirm``: for records in doubt the sink reads them
back by external id (SOQL) and reports those whose fields already equal the payload, which the
engine then does not send. Records it cannot confirm are upserted again, which is harmless.

``existing`` (which keys the CRM holds) serves ``update_only``. ``delete`` serves ``mirror``: it reads
the live records of the batch's keys by external id (SOQL, ``IsDeleted = false``), so a record
someone already deleted (or a rerun after a crash deleted) is reported done without sending anything,
then deletes the rest by Id with a composite delete (``DELETE /composite/sobjects?ids=``, up to 200
ids, ``allOrNone=false``). Results come back per record; ``ENTITY_IS_DELETED`` (deleted in between)
counts as done, any other error fails that record alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import requests

from ingestion.http import SourceApiError
from ingestion.salesforce.helpers import SalesforceClient, soql_identifier
from reverse_etl.sinks import Change, Outcome, change_key

COMPOSITE_LIMIT = 200
ALREADY_DELETED = "ENTITY_IS_DELETED"
QUERY_CHUNK = 200  # external ids per SOQL IN (...), well inside SOQL's 100,000-character limit


def soql_string(value: str) -> str:
    """A SOQL string literal (backslash and quote escaped)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _instant(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():  # Salesforce's +0000
            try:
                parsed = datetime.fromisoformat(text[:-2] + ":" + text[-2:])
            except ValueError:
                return None
        else:
            return None
    return parsed if parsed.tzinfo is not None and "T" in text else None


def same_value(sent: Any, stored: Any) -> bool:
    """Whether a field the payload sends equals the value Salesforce holds (as its REST API renders it)."""
    if sent == "":
        sent = None  # Salesforce stores an empty string as null
    if sent is None or stored is None:
        return sent is None and stored is None
    if isinstance(sent, bool) or isinstance(stored, bool):
        return sent is stored
    if isinstance(sent, int | float) or isinstance(stored, int | float):
        try:
            return math.isclose(float(sent), float(stored), rel_tol=1e-12, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    sent_text, stored_text = str(sent), str(stored)
    if sent_text == stored_text:
        return True
    if sorted((len(sent_text), len(stored_text))) == [15, 18] and sent_text.isalnum() and stored_text.isalnum():
        return sent_text[:15] == stored_text[:15]  # the 15- and the 18-character id of one record
    sent_at, stored_at = _instant(sent_text), _instant(stored_text)
    return sent_at is not None and sent_at == stored_at


class SalesforceUpsertSink:
    def __init__(self, client: SalesforceClient, sobject: str, external_id_field: str,
                 name: str = "crm_payment_status", batch_size: int = COMPOSITE_LIMIT) -> None:
        if not 1 <= batch_size <= COMPOSITE_LIMIT:
            raise ValueError(f"batch_size must be 1..{COMPOSITE_LIMIT} (a composite call's limit), got {batch_size}")
        self.name = name
        self.batch_size = batch_size
        self.client = client
        self.sobject = soql_identifier(sobject)
        self.external_id_field = soql_identifier(external_id_field)

    # ------------------------------------------------------------------ send
    def send(self, batch: list[Change]) -> list[Outcome]:
        if len(batch) > COMPOSITE_LIMIT:
            raise ValueError(f"a composite upsert takes at most {COMPOSITE_LIMIT} records, got {len(batch)}")
        records: list[dict[str, Any]] = [
            {"attributes": {"type": self.sobject}, **c.payload, self.external_id_field: c.external_id}
            for c in batch]
        keys = {c.external_id: change_key(self.name, c) for c in batch}
        try:
            results = self.client.request(
                "PATCH",
                f"/services/data/v{self.client.api_version}/composite/sobjects/{self.sobject}/{self.external_id_field}",
                f"composite upsert of {self.sobject}", json={"allOrNone": False, "records": records})
        except (SourceApiError, requests.RequestException) as exc:
            # The whole call failed: every record of the batch failed with it, and is retried next sync.
            # A 4xx is a refusal; after a 5xx or a lost connection the upsert may have been applied.
            status = getattr(exc, "status_code", None)
            doubt = status is None or status >= 500
            return [Outcome(c.external_id, False, error=f"{type(exc).__name__}: {exc}",
                            idempotency_key=keys[c.external_id], in_doubt=doubt) for c in batch]
        outcomes = []
        for change, result in zip(batch, results, strict=True):
            key = keys[change.external_id]
            if result.get("success"):
                outcomes.append(Outcome(change.external_id, True, target_id=result.get("id"), idempotency_key=key))
            else:
                errors = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in result.get("errors", []))
                outcomes.append(Outcome(change.external_id, False, error=errors or "rejected", idempotency_key=key))
        return outcomes

    # ------------------------------------------------------------------ reads
    def _records(self, keys: list[str], fields: list[str]) -> Iterator[dict[str, Any]]:
        """The live records carrying these external ids, with ``fields`` (SOQL, ``QUERY_CHUNK`` ids a query)."""
        select = ", ".join(dict.fromkeys(["Id", self.external_id_field, *map(soql_identifier, fields)]))
        for start in range(0, len(keys), QUERY_CHUNK):
            chunk = ", ".join(soql_string(k) for k in keys[start:start + QUERY_CHUNK])
            soql = (f"SELECT {select} FROM {self.sobject} WHERE IsDeleted = false "
                    f"AND {self.external_id_field} IN ({chunk})")
            for page in self.client.query_all(soql, f"read back {self.sobject} by {self.external_id_field}"):
                yield from page

    def existing(self, changes: list[Change]) -> dict[str, str]:
        """External id -> Salesforce Id of the records the CRM holds already."""
        return {r[self.external_id_field]: r["Id"]
                for r in self._records([c.external_id for c in changes], [])}

    def confirm(self, changes: list[Change]) -> dict[str, Outcome]:
        """Records whose every payload field the CRM already holds (nothing to send for them)."""
        fields = sorted({f for c in changes for f in c.payload})
        held = {r[self.external_id_field]: r for r in self._records([c.external_id for c in changes], fields)}
        confirmed = {}
        for change in changes:
            record = held.get(change.external_id)
            if record is not None and all(same_value(v, record.get(f)) for f, v in change.payload.items()):
                confirmed[change.external_id] = Outcome(change.external_id, True, target_id=record["Id"],
                                                        idempotency_key=change_key(self.name, change), sent=False)
        return confirmed

    # ------------------------------------------------------------------ delete
    def delete(self, batch: list[Change]) -> list[Outcome]:
        """Delete the records of these keys (mirror). A record the CRM no longer holds is reported done."""
        if len(batch) > COMPOSITE_LIMIT:
            raise ValueError(f"a composite delete takes at most {COMPOSITE_LIMIT} records, got {len(batch)}")
        keys = {c.external_id: change_key(self.name, c) for c in batch}
        try:
            live = self.existing(batch)
        except (SourceApiError, requests.RequestException) as exc:  # nothing was sent
            return [Outcome(c.external_id, False, error=f"{type(exc).__name__}: {exc}",
                            idempotency_key=keys[c.external_id], sent=False) for c in batch]
        outcomes = {c.external_id: Outcome(c.external_id, True, target_id=c.target_id,
                                           idempotency_key=keys[c.external_id], sent=False)
                    for c in batch if c.external_id not in live}
        doomed = [c for c in batch if c.external_id in live]
        if doomed:
            outcomes.update(self._delete_ids(doomed, live, keys))
        return [outcomes[c.external_id] for c in batch]

    def _delete_ids(self, changes: list[Change], ids: dict[str, str], keys: dict[str, str]) -> dict[str, Outcome]:
        try:
            results = self.client.request(
                "DELETE", f"/services/data/v{self.client.api_version}/composite/sobjects",
                f"composite delete of {self.sobject}",
                params={"ids": ",".join(ids[c.external_id] for c in changes), "allOrNone": "false"})
        except (SourceApiError, requests.RequestException) as exc:
            status = getattr(exc, "status_code", None)
            doubt = status is None or status >= 500
            return {c.external_id: Outcome(c.external_id, False, target_id=ids[c.external_id],
                                           error=f"{type(exc).__name__}: {exc}",
                                           idempotency_key=keys[c.external_id], in_doubt=doubt) for c in changes}
        outcomes = {}
        for change, result in zip(changes, results, strict=True):
            target_id, key = ids[change.external_id], keys[change.external_id]
            codes = [e.get("statusCode") for e in result.get("errors", [])]
            if result.get("success") or codes == [ALREADY_DELETED]:
                outcomes[change.external_id] = Outcome(change.external_id, True, target_id=target_id,
                                                       idempotency_key=key)
            else:
                errors = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in result.get("errors", []))
                outcomes[change.external_id] = Outcome(change.external_id, False, target_id=target_id,
                                                       error=errors or "rejected", idempotency_key=key)
        return outcomes
