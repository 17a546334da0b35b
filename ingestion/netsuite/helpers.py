"""NetSuite REST client: OAuth2 client-credentials token and SuiteQL paging (limit/offset/links)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ingestion.http import ApiSession, check

PAGE_LIMIT = 1000


class NetSuiteClient:
    def __init__(self, base_url: str, client_id: str, client_secret: str, ca_bundle: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.session = ApiSession(ca_bundle)
        self._logged_in = False

    def _login(self) -> None:
        resp = self.session.post(
            f"{self.base_url}/services/rest/auth/oauth2/v1/token",
            data={"grant_type": "client_credentials"}, auth=(self.client_id, self._client_secret))
        body = check("netsuite", "OAuth2 token request", resp).json()
        self.session.headers["Authorization"] = f"Bearer {body['access_token']}"
        self._logged_in = True

    def suiteql_pages(self, query: str, what: str) -> Iterator[list[dict[str, Any]]]:
        """Run a SuiteQL query and yield one list of rows per page, following the ``next`` link."""
        if not self._logged_in:
            self._login()
        url: str | None = f"{self.base_url}/services/rest/query/v1/suiteql"
        params: dict[str, Any] | None = {"limit": PAGE_LIMIT, "offset": 0}
        while url:
            resp = self.session.post(url, params=params, json={"q": query}, headers={"Prefer": "transient"})
            if resp.status_code == 401:
                self._login()
                resp = self.session.post(url, params=params, json={"q": query}, headers={"Prefer": "transient"})
            body = check("netsuite", what, resp).json()
            items = body.get("items", [])
            for item in items:
                item.pop("links", None)
            if items:
                yield items
            if not body.get("hasMore"):
                return
            url = next((link["href"] for link in body.get("links", []) if link.get("rel") == "next"), None)
            params = None  # the next link carries limit and offset
