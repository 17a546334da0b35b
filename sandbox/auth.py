"""Bearer tokens and credential parsing shared by the simulated vendors.

Tokens are stateless HMAC-signed JWT-style strings: they carry their own expiry and are keyed by
the system's client secret, so they survive a sandbox restart with the same credentials and stop
working as soon as the credentials change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Issues and verifies access tokens for one system and one client."""

    def __init__(self, system: str, client_id: str, client_secret: str, ttl_seconds: int,
                 prefix: str = "", now: Callable[[], float] = time.time) -> None:
        self.system = system
        self.client_id = client_id
        self.ttl = ttl_seconds
        self.prefix = prefix
        self._now = now
        self._key = hashlib.sha256(f"q2c-sandbox-token\0{system}\0{client_id}\0{client_secret}".encode()).digest()

    def issue(self) -> tuple[str, int]:
        """A new token and its issue time (unix seconds)."""
        iat = int(self._now())
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        claims = {"iss": f"q2c-sandbox/{self.system}", "sub": self.client_id, "iat": iat, "exp": iat + self.ttl}
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}"
        sig = _b64(hmac.new(self._key, signing_input.encode(), hashlib.sha256).digest())
        return f"{self.prefix}{signing_input}.{sig}", iat

    def verify(self, token: str | None) -> bool:
        if not token or not token.startswith(self.prefix):
            return False
        parts = token[len(self.prefix):].split(".")
        if len(parts) != 3:
            return False
        expected = _b64(hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            return False
        try:
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, binascii.Error):
            return False
        return isinstance(claims, dict) and float(claims.get("exp", 0)) > self._now()


def bearer_token(authorization: str | None, schemes: tuple[str, ...] = ("bearer",)) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() not in schemes or not value.strip():
        return None
    return value.strip()


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(user, password) of an ``Authorization: Basic ...`` header."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else (user, "")


def secrets_equal(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
