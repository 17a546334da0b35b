"""A thin ``requests`` client for a running ``Sandbox`` (tests and local scripts).

It passes ``verify=<ca bundle>`` on every request - a per-request ``verify`` is the one setting
``REQUESTS_CA_BUNDLE`` does not override - and knows how each system authenticates.
"""

from __future__ import annotations

from typing import Any

import requests

from sandbox.server import Sandbox


class CaSession(requests.Session):
    """A ``requests`` session that passes ``verify=<ca_bundle>`` on every request that sets none.

    For SDKs that take a session (``simple_salesforce.Salesforce(session=...)``): a session-wide
    ``verify`` would lose to ``REQUESTS_CA_BUNDLE``; a per-request one does not.
    """

    def __init__(self, ca_bundle: str | bool) -> None:
        super().__init__()
        self.ca_bundle = ca_bundle

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("verify") is None:
            kwargs["verify"] = self.ca_bundle
        return super().request(method, url, *args, **kwargs)


class SandboxClient:
    """HTTP helper bound to one sandbox; tokens are fetched lazily and cached."""

    def __init__(self, sandbox: Sandbox, timeout: float = 10.0) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()
        self.verify: str | bool = str(sandbox.ca_bundle) if sandbox.ca_bundle else True
        self.timeout = timeout
        self._tokens: dict[str, str] = {}

    def close(self) -> None:
        self.session.close()

    def request(self, system: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        """``method`` ``path`` on ``system``'s server, unauthenticated unless headers say otherwise."""
        kwargs.setdefault("verify", self.verify)
        kwargs.setdefault("timeout", self.timeout)
        url = path if path.startswith("http") else self.sandbox.urls[system] + path
        return self.session.request(method, url, **kwargs)

    # ------------------------------------------------------------------ tokens
    def salesforce_token(self) -> str:
        if "salesforce" not in self._tokens:
            creds = self.sandbox.credentials["salesforce"]
            r = self.request("salesforce", "POST", "/services/oauth2/token", data={
                "grant_type": "client_credentials", **creds})
            r.raise_for_status()
            self._tokens["salesforce"] = r.json()["access_token"]
        return self._tokens["salesforce"]

    def netsuite_token(self) -> str:
        if "netsuite" not in self._tokens:
            creds = self.sandbox.credentials["netsuite"]
            r = self.request("netsuite", "POST", "/services/rest/auth/oauth2/v1/token", data={
                "grant_type": "client_credentials", **creds})
            r.raise_for_status()
            self._tokens["netsuite"] = r.json()["access_token"]
        return self._tokens["netsuite"]

    # ------------------------------------------------------------------ authenticated calls
    def salesforce(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.salesforce_token()}", **kwargs.pop("headers", {})}
        return self.request("salesforce", method, path, headers=headers, **kwargs)

    def stripe(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.sandbox.credentials['stripe']['api_key']}",
                   **kwargs.pop("headers", {})}
        return self.request("stripe", method, path, headers=headers, **kwargs)

    def netsuite(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.netsuite_token()}", "Prefer": "transient",
                   **kwargs.pop("headers", {})}
        return self.request("netsuite", method, path, headers=headers, **kwargs)

    def soql(self, query: str, *, all_rows: bool = False, batch_size: int | None = None) -> list[dict[str, Any]]:
        """Every record of a SOQL query, following ``nextRecordsUrl``."""
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"} if batch_size else {}
        r = self.salesforce("GET", f"/services/data/v59.0/{'queryAll' if all_rows else 'query'}/",
                            params={"q": query}, headers=headers)
        r.raise_for_status()
        page = r.json()
        records = list(page["records"])
        while not page["done"]:
            r = self.salesforce("GET", page["nextRecordsUrl"], headers=headers)
            r.raise_for_status()
            page = r.json()
            records.extend(page["records"])
        return records

    def suiteql(self, query: str, *, limit: int = 1000) -> list[dict[str, Any]]:
        """Every item of a SuiteQL query, following the ``next`` links."""
        url = f"/services/rest/query/v1/suiteql?limit={limit}&offset=0"
        items: list[dict[str, Any]] = []
        while url:
            r = self.netsuite("POST", url, json={"q": query})
            r.raise_for_status()
            page = r.json()
            items.extend(page["items"])
            url = next((link["href"] for link in page["links"] if link["rel"] == "next"), "")
        return items

    def stripe_list(self, resource: str, **params: Any) -> list[dict[str, Any]]:
        """Every object of a Stripe list, walking ``starting_after``."""
        params.setdefault("limit", 100)
        out: list[dict[str, Any]] = []
        while True:
            r = self.stripe("GET", f"/v1/{resource}", params=params)
            r.raise_for_status()
            page = r.json()
            out.extend(page["data"])
            if not page["has_more"]:
                return out
            params["starting_after"] = page["data"][-1]["id"]
