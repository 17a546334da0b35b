"""Stripe list paging: ``limit`` / ``starting_after`` / ``has_more``, newest first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from ingestion.http import ApiSession, check

STRIPE_API_VERSION = "2026-10-28.endive"
PAGE_LIMIT = 100


class StripeClient:
    def __init__(self, base_url: str, api_key: str, ca_bundle: str | None = None,
                 api_version: str = STRIPE_API_VERSION) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = ApiSession(ca_bundle)
        self.session.headers["Authorization"] = f"Bearer {api_key}"
        self.session.headers["Stripe-Version"] = api_version

    def list_pages(self, resource: str, params: dict[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Yield every page of ``GET /v1/<resource>``, following ``starting_after`` while ``has_more``."""
        query: dict[str, Any] = {"limit": PAGE_LIMIT, **(params or {})}
        while True:
            resp = check("stripe", f"list {resource}",
                         self.session.get(f"{self.base_url}/v1/{resource}", params=query))
            body = resp.json()
            data = body.get("data", [])
            if data:
                yield data
            if not body.get("has_more") or not data:
                return
            query["starting_after"] = data[-1]["id"]

    def retrieve(self, resource: str, object_id: str) -> dict[str, Any]:
        resp = self.session.get(f"{self.base_url}/v1/{resource}/{object_id}")
        return check("stripe", f"retrieve {resource}/{object_id}", resp).json()

    def post(self, path: str, form: dict[str, Any], idempotency_key: str) -> requests.Response:
        """A form-encoded POST carrying an idempotency key; the response as it came (the caller judges it)."""
        return self.session.post(f"{self.base_url}{path}", data=form, headers={"Idempotency-Key": idempotency_key})
