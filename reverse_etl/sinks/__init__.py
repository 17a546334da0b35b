"""One sink per writeback target. A sink sends records and reports one result per record.

Every sink has ``name``, ``batch_size`` and ``send``. Three capabilities are optional; the
engine uses them when a sink has them (``hasattr``) and says so when a mode needs one it lacks:

- ``existing(changes) -> {external_id: target_id}``: which of these records the target holds
  already (``update_only`` asks it before refusing to create).
- ``confirm(changes) -> {external_id: Outcome}``: records of a run that died in flight whose
  content the target already holds, so they need not be sent again (``Outcome.sent`` False).
- ``delete(changes) -> list[Outcome]``: removes records from the target (``mirror`` needs it). A
  change's ``target_id`` may be None (a create left in doubt by a dead run): the sink finds the
  record by external id, and reports a record already absent as deleted (ok).

Both sinks delete (Salesforce composite delete, Stripe ``DELETE /v1/invoiceitems``); a target
can still refuse ``mirror`` (``billing_schedule`` does: docs/writebacks.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

OPERATIONS = ("create", "update", "delete")


@dataclass(frozen=True)
class Outcome:
    """What the target said about one record.

    ``sent`` is False when the sink found the target already holding the record's content and sent
    nothing (the engine logs it as ``confirmed``). ``in_doubt`` marks a failure after which the target
    may still have applied the record (a lost connection, a timeout, a 5xx): the engine keeps its
    journal row, so the next sync asks the target before sending it again.
    """

    external_id: str
    ok: bool
    target_id: str | None = None
    error: str | None = None
    idempotency_key: str | None = None
    sent: bool = True
    in_doubt: bool = False


@dataclass(frozen=True)
class Change:
    """One record to send: its payload, its content hash, and what was synced before (if anything).

    ``operation`` is ``create``, ``update`` or ``delete`` (a delete has an empty payload and the hash
    last synced as ``prior_hash``).
    """

    external_id: str
    payload: dict[str, Any]
    content_hash: str
    target_id: str | None
    operation: str
    prior_hash: str | None = None
    correlation_id: str | None = None


def idempotency_key(target: str, external_id: str, prior_hash: str | None, content_hash: str,
                    target_id: str | None) -> str:
    """Same request, same key; any other request (new content, other prior state, create vs update), a new key.

    Built from the record key and the content hash (and what the request replaces), so a record whose
    content goes A -> B -> A gets a new key for each step and no key is ever reused for another body.
    """
    parts = (target, external_id, prior_hash or "new", content_hash, target_id or "create")
    return "q2c-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:48]


def change_key(target: str, change: Change) -> str:
    """The idempotency key of ``change`` as the engine journals and logs it."""
    digest = "deleted" if change.operation == "delete" else change.content_hash
    return idempotency_key(target, change.external_id, change.prior_hash, digest, change.target_id)


class Sink(Protocol):
    name: str
    batch_size: int

    def send(self, batch: list[Change]) -> list[Outcome]: ...
