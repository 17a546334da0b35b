"""One sink per writeback target. A sink sends records and reports one result per record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Outcome:
    """What the target said about one record."""

    external_id: str
    ok: bool
    target_id: str | None = None
    error: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Change:
    """One record to send: its payload, its content hash, and what was synced before (if anything)."""

    external_id: str
    payload: dict[str, Any]
    content_hash: str
    target_id: str | None
    operation: str  # "create" | "update"
    prior_hash: str | None = None


class Sink(Protocol):
    name: str
    batch_size: int

    def send(self, batch: list[Change]) -> list[Outcome]: ...
