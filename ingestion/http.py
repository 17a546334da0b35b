"""The HTTP session every source and sink uses: TLS trust, retries, timeouts.

One setting decides which certificate authorities are trusted: ``Q2C_CA_BUNDLE`` (a PEM file).
The sandbox writes a bundle holding the system CAs plus its own, so the same setting reaches
the sandbox and the real vendors. It is passed per request, because ``requests`` lets the
``REQUESTS_CA_BUNDLE`` environment variable override a session-wide ``verify``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

DEFAULT_TIMEOUT = (10, 120)  # connect, read (seconds)
_sleep = time.sleep  # the wait before asking again for an answer that did not parse (tests patch it)
RETRY_STATUSES = (429, 500, 502, 503, 504)


class MalformedResponse(requests.RequestException):
    """A successful answer whose JSON body does not parse (cut off, garbled), after every retry."""


class ApiSession(requests.Session):
    """A session with a fixed CA bundle, a default timeout and retries that honour Retry-After.

    A 2xx answer that says it is JSON is parsed here, once: a body that does not parse (a
    response cut off in transit) is asked for again like a 5xx, and after ``max_retries`` raises
    :class:`MalformedResponse` naming the system and the request. ``response.json()`` then
    returns the parsed body without parsing it again.
    """

    def __init__(self, ca_bundle: str | bool | None = None, timeout: Any = DEFAULT_TIMEOUT,
                 max_retries: int = 5, backoff_factor: float = 0.5, system: str = "api") -> None:
        super().__init__()
        self.system = system
        self._max_retries = max_retries
        self._backoff = backoff_factor
        resolved = ca_bundle if ca_bundle not in (None, "") else os.environ.get("Q2C_CA_BUNDLE") or True
        self._verify = resolved
        self._timeout = timeout
        retry = Retry(
            total=max_retries, connect=max_retries, read=max_retries, status=max_retries,
            backoff_factor=backoff_factor, status_forcelist=RETRY_STATUSES,
            allowed_methods=None,  # reads go through POST too (SuiteQL); writes carry idempotency keys
            respect_retry_after_header=True, raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=8)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("verify", self._verify)
        kwargs.setdefault("timeout", self._timeout)
        for attempt in range(self._max_retries + 1):
            resp = super().request(method, url, **kwargs)
            if not (200 <= resp.status_code < 300 and resp.content
                    and "json" in resp.headers.get("Content-Type", "").lower()):
                return resp
            try:
                parsed = json.loads(resp.content)
            except ValueError as exc:
                if attempt == self._max_retries:
                    raise MalformedResponse(
                        f"{self.system}: {method} {urlsplit(str(url)).path} answered HTTP {resp.status_code} with "
                        f"a body that is not valid JSON ({exc}; {len(resp.content)} bytes), "
                        f"{attempt + 1} times", response=resp) from None
                _sleep(self._backoff * (2 ** attempt))
                continue
            resp.json = lambda _parsed=parsed, **_kw: _parsed  # type: ignore[method-assign]
            return resp
        raise AssertionError("unreachable")


class SourceApiError(RuntimeError):
    """An API answered with an error: names the system, the request and what the API said."""

    def __init__(self, system: str, what: str, response: requests.Response) -> None:
        body = response.text[:500]
        super().__init__(f"{system}: {what} failed with HTTP {response.status_code}: {body}")
        self.system = system
        self.status_code = response.status_code


def check(system: str, what: str, response: requests.Response) -> requests.Response:
    if response.status_code >= 400:
        raise SourceApiError(system, what, response)
    return response
