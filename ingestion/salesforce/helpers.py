"""Salesforce REST client: OAuth2 client-credentials token, describe, SOQL with nextRecordsUrl paging.

Also serves the Certinia PSA objects, which live on the same org and API.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from ingestion.http import ApiSession, check

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SOQL_EPOCH = "1970-01-01T00:00:00.000+0000"


def soql_datetime(value: str) -> str:
    """Render a cursor value as a SOQL datetime literal, parsing it strictly first.

    Cursor values come from source data; they are parsed into a datetime and re-rendered,
    never pasted into the query as they arrived.
    """
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_identifier(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not a Salesforce API name: {name!r}")
    return name


class SalesforceClient:
    """A logged-in Salesforce REST API client. The token is fetched on first use."""

    def __init__(self, base_url: str, client_id: str, client_secret: str, api_version: str = "59.0",
                 ca_bundle: str | None = None, system: str = "salesforce") -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.api_version = api_version
        self.system = system
        self.session = ApiSession(ca_bundle, system=system)
        self._instance_url: str | None = None

    def _login(self) -> None:
        resp = self.session.post(
            f"{self.base_url}/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": self.client_id,
                  "client_secret": self._client_secret})
        check(self.system, "OAuth2 token request", resp)
        body = resp.json()
        self._instance_url = body.get("instance_url", self.base_url).rstrip("/")
        self.session.headers["Authorization"] = f"Bearer {body['access_token']}"

    @property
    def instance_url(self) -> str:
        if self._instance_url is None:
            self._login()
        assert self._instance_url is not None
        return self._instance_url

    def request(self, method: str, path_or_url: str, what: str, **kwargs: Any) -> Any:
        """One API call (logging in again once if the token expired); the JSON body, or raises."""
        url = path_or_url if path_or_url.startswith("http") else self.instance_url + path_or_url
        resp = self.session.request(method, url, **kwargs)
        if resp.status_code == 401:
            self._login()
            resp = self.session.request(method, url, **kwargs)
        return check(self.system, what, resp).json()

    def _get(self, path_or_url: str, what: str, **kwargs: Any) -> dict[str, Any]:
        return self.request("GET", path_or_url, what, **kwargs)

    def describe(self, sobject: str) -> dict[str, str]:
        """The object's fields and their Salesforce types (``{"Id": "id", "Amount": "currency", ...}``)."""
        body = self._get(f"/services/data/v{self.api_version}/sobjects/{soql_identifier(sobject)}/describe",
                         f"describe {sobject}")
        return {soql_identifier(f["name"]): str(f.get("type", "string")) for f in body["fields"]}

    def describe_fields(self, sobject: str) -> list[str]:
        return list(self.describe(sobject))

    def query_all(self, soql: str, what: str, batch_size: int = 2000) -> Iterator[list[dict[str, Any]]]:
        """Run SOQL through ``queryAll`` (deleted rows included) and yield one list per page."""
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        body = self._get(f"/services/data/v{self.api_version}/queryAll/", what,
                         params={"q": soql}, headers=headers)
        while True:
            records = body.get("records", [])
            for rec in records:
                rec.pop("attributes", None)
            if records:
                yield records
            next_url = body.get("nextRecordsUrl")
            if body.get("done", True) or not next_url:
                return
            body = self._get(next_url, what, headers=headers)
