"""Stripe's event log: what ``GET /v1/events`` lists, and the API other sandbox code emits into.

An event is Stripe's envelope around a snapshot of one object at the moment something happened::

    {"id": "evt_1...", "object": "event", "api_version": "2026-10-28.endive", "created": 1751000000,
     "data": {"object": {...full object...}, "previous_attributes": {...}},   # the latter on *.updated only
     "livemode": false, "pending_webhooks": 0, "request": {"id": "req_..." | null, "idempotency_key": ...},
     "type": "invoice.paid"}

Where events come from:

- the world's Stripe objects get their lifecycle at build (``world_events``), dated by the objects'
  own timestamps: ``customer.created``; ``invoice.created``, ``invoice.finalized``,
  ``invoice.paid`` / ``invoice.marked_uncollectible`` / ``invoice.voided`` from ``status_transitions``;
  ``credit_note.created`` then ``credit_note.voided`` (``voided_at``); ``subscription_schedule.created``
  then ``.canceled`` / ``.completed`` / ``.released`` (``canceled_at``, ``completed_at``, ``released_at``);
  ``<object>.created`` for any other object type the world carries;
- client writes (``invoiceitem.created``, ``invoiceitem.updated``);
- anything else that changes an object later (the world clock) calls ``Store.emit_event``.

Event ids are derived from the event's content (``namespace``, type, object id, time, payload,
request), so a rebuilt world yields the same ids and emitting the same event twice is a no-op.
Events emitted after build are appended to ``events.jsonl`` and replayed on start, next to the
write log; lines written against another world are skipped, as for writes.

Retention follows Stripe: only events of the last ``RETENTION_DAYS`` days before the world's clock
(its end of day) are listed or retrievable; the log keeps the older ones.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import json
import logging
import re
import string
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

API_VERSION = "2026-10-28.endive"
RETENTION_DAYS = 30
LOG_VERSION = 1
MAX_TYPES = 20
_ALNUM = string.digits + string.ascii_uppercase + string.ascii_lowercase
# Event-name prefix per object type where it differs from the object's name.
EVENT_PREFIX = {"subscription": "customer.subscription"}
# Invoice lifecycle: (status_transitions field, event type, status once it happened).
INVOICE_TRANSITIONS = (
    ("finalized_at", "invoice.finalized", "open"),
    ("marked_uncollectible_at", "invoice.marked_uncollectible", "uncollectible"),
    ("paid_at", "invoice.paid", "paid"),
    ("voided_at", "invoice.voided", "void"),
)

# Subscription schedule endings: (time field, event type, status once it happened). A credit note's one
# ending is ``voided_at``: ``credit_note.voided``.
SCHEDULE_TRANSITIONS = (
    ("canceled_at", "subscription_schedule.canceled", "canceled"),
    ("completed_at", "subscription_schedule.completed", "completed"),
    ("released_at", "subscription_schedule.released", "released"),
)

WorldEvent = tuple[str, dict[str, Any], int]  # (type, object snapshot, created)


# ---------------------------------------------------------------------------------------------- world
def world_events(tables: Mapping[str, Iterable[Mapping[str, Any]]]) -> list[WorldEvent]:
    """The lifecycle events of the world's Stripe objects, oldest first (ties keep lifecycle order)."""
    out: list[WorldEvent] = []
    for records in tables.values():
        for rec in records:
            kind, created = rec.get("object"), rec.get("created")
            if not isinstance(kind, str) or created is None:
                continue
            out.extend(lifecycle(rec))
    out.sort(key=lambda e: e[2])  # stable: an object's events stay in lifecycle order
    return out


def lifecycle(obj: Mapping[str, Any]) -> list[WorldEvent]:
    """The events that brought a Stripe object where it is, oldest first; the last carries it as it is now.

    Invoices, credit notes and subscription schedules get their status transitions (``invoice_lifecycle``,
    ``credit_note_lifecycle``, ``schedule_lifecycle``); any other object its ``<object>.created``.
    """
    kind = str(obj.get("object"))
    if kind == "invoice":
        return invoice_lifecycle(obj)
    if kind == "credit_note":
        return credit_note_lifecycle(obj)
    if kind == "subscription_schedule":
        return schedule_lifecycle(obj)
    return [(f"{EVENT_PREFIX.get(kind, kind)}.created", dict(obj), int(obj["created"]))]


def credit_note_lifecycle(note: Mapping[str, Any]) -> list[WorldEvent]:
    """``credit_note.created`` (issued), then ``credit_note.voided`` at ``voided_at`` if it was voided."""
    created = int(note["created"])
    if note.get("status") != "void" or note.get("voided_at") is None:
        return [("credit_note.created", dict(note), created)]
    issued = {**note, "status": "issued", "voided_at": None}
    return [("credit_note.created", issued, created),
            ("credit_note.voided", dict(note), max(created, int(note["voided_at"])))]


def schedule_lifecycle(schedule: Mapping[str, Any]) -> list[WorldEvent]:
    """``subscription_schedule.created``, then ``.canceled`` / ``.completed`` / ``.released`` if it ended.

    The created event carries the schedule as it was made: ``not_started`` if its first phase starts
    later, else ``active`` in the phase it was made in (phases as they are now: a change between is not
    replayed), with the subscription it manages.
    """
    created = int(schedule["created"])
    ended = [(int(schedule[field]), etype) for field, etype, status in SCHEDULE_TRANSITIONS
             if schedule.get("status") == status and schedule.get(field) is not None]
    if not ended:
        return [("subscription_schedule.created", dict(schedule), created)]
    phases = schedule.get("phases") or []
    started = bool(phases) and int(phases[0]["start_date"]) <= created
    phase = next((p for p in phases if int(p["start_date"]) <= created < int(p["end_date"])), None)
    made = {**schedule, "status": "active" if started else "not_started",
            "current_phase": ({"end_date": phase["end_date"], "start_date": phase["start_date"]}
                              if started and phase is not None else None),
            "subscription": schedule.get("subscription") or schedule.get("released_subscription"),
            "released_subscription": None, **{field: None for field, _, _ in SCHEDULE_TRANSITIONS}}
    at, etype = ended[0]
    return [("subscription_schedule.created", made, created), (etype, dict(schedule), max(created, at))]


def invoice_lifecycle(invoice: Mapping[str, Any]) -> list[WorldEvent]:
    """``invoice.created`` then one event per status transition, each with the invoice as it stood then.

    The last event carries the invoice exactly as it is now; earlier ones roll back what had not
    happened yet (status, later transition times, payment amounts, the number of a draft).
    """
    created = int(invoice["created"])
    transitions = invoice.get("status_transitions") or {}
    steps = sorted(((max(created, int(transitions[field])), etype, field, status)
                    for field, etype, status in INVOICE_TRANSITIONS if transitions.get(field) is not None),
                   key=lambda s: s[0])
    events: list[WorldEvent] = [("invoice.created", _invoice_as_of(invoice, []), created)]
    for i, (at, etype, _field, _status) in enumerate(steps):
        events.append((etype, _invoice_as_of(invoice, [(f, s) for _, _, f, s in steps[:i + 1]]), at))
    events[-1] = (events[-1][0], dict(invoice), events[-1][2])
    return events


def _invoice_as_of(invoice: Mapping[str, Any], reached: list[tuple[str, str]]) -> dict[str, Any]:
    snap = dict(invoice)  # shallow: nested values are shared until EventLog.emit copies the snapshot
    done = {field for field, _ in reached}
    snap["status_transitions"] = {**(invoice.get("status_transitions") or {}),
                                  **{f: None for f, _, _ in INVOICE_TRANSITIONS if f not in done}}
    snap["status"] = reached[-1][1] if reached else "draft"
    if "paid_at" not in done:
        if "amount_paid" in snap:
            snap["amount_paid"] = 0
        if snap.get("post_payment_credit_notes_amount"):
            snap["post_payment_credit_notes_amount"] = 0  # credited after the payment
        if "amount_remaining" in snap:
            snap["amount_remaining"] = invoice.get("amount_due", snap["amount_remaining"])
    if not reached and "number" in snap:
        snap["number"] = None  # drafts are numbered when finalized
    return snap


# ---------------------------------------------------------------------------------------------- log
def type_matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    """Matches event types against names where ``*`` is a wildcard (``invoice.*``)."""
    regexes = [re.compile(".*".join(re.escape(part) for part in p.split("*"))) for p in patterns]
    return lambda etype: any(r.fullmatch(etype) for r in regexes)


class EventLog:
    """Events in time order, with content-derived ids, persistence and Stripe's retention window.

    ``clock`` returns the world's "today" (a ``date``, or a ``datetime`` taken as the exact now);
    ``lock`` is shared with the store so an event and the write that caused it land together.
    """

    def __init__(self, namespace: str, clock: Callable[[], date], *, lock: threading.RLock | None = None,
                 log_path: Path | None = None, world_id: Mapping[str, Any] | None = None) -> None:
        self.namespace = namespace
        self._clock = clock
        self._lock = lock or threading.RLock()
        self._log_path = log_path
        self._world_id = dict(world_id or {})
        self._events: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, tuple[int, int]] = {}
        self._order: list[tuple[int, int, str]] = []  # (created, seq, id), ascending
        self._seq = 0

    # ------------------------------------------------------------------ writing
    def emit(self, type: str, obj: Mapping[str, Any], created: int,  # noqa: A002 - Stripe's name
             previous_attributes: Mapping[str, Any] | None = None, request: Mapping[str, Any] | None = None,
             *, persist: bool = True) -> dict[str, Any]:
        """Record that ``type`` happened to ``obj`` (its full snapshot) at unix time ``created``.

        ``previous_attributes`` (for ``*.updated``) holds the changed fields' earlier values;
        ``request`` the API request that caused it (``{"id", "idempotency_key"}``; None for
        automatic changes). Returns the event (a copy). Emitting an identical event again returns
        the stored one and logs nothing.
        """
        return copy.deepcopy(self._emit(type, obj, created, previous_attributes, request, persist=persist))

    def _emit(self, type: str, obj: Mapping[str, Any], created: int,  # noqa: A002
              previous_attributes: Mapping[str, Any] | None, request: Mapping[str, Any] | None, *,
              persist: bool) -> dict[str, Any]:
        if not isinstance(type, str) or not re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", type):
            raise ValueError(f"not a Stripe event type: {type!r}")
        if not isinstance(obj, Mapping) or not obj.get("id"):
            raise ValueError("an event's object must be a dict with an 'id'")
        if isinstance(created, bool) or not isinstance(created, int | float):
            raise ValueError(f"created must be a unix time in seconds, got {created!r}")
        data: dict[str, Any] = {"object": obj}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        req = {"id": (request or {}).get("id"), "idempotency_key": (request or {}).get("idempotency_key")}
        text = json.dumps([self.namespace, type, obj["id"], int(created), data, req], sort_keys=True,
                          separators=(",", ":"), default=str)
        event_id = _event_id(int(created), text)
        with self._lock:
            existing = self._events.get(event_id)
            if existing is not None:
                return existing
            event = {"id": event_id, "object": "event", "api_version": API_VERSION, "created": int(created),
                     "data": json.loads(text)[4], "livemode": False, "pending_webhooks": 0, "request": req,
                     "type": type}
            self._add(event)
            if persist and self._log_path is not None:
                line = json.dumps({"v": LOG_VERSION, "world": self._world_id, "event": event},
                                  separators=(",", ":"), sort_keys=True)
                with self._log_path.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
            return event

    def emit_world(self, events: Iterable[WorldEvent]) -> int:
        """Add build-time events (not logged: the world regenerates them); returns how many were new."""
        before = len(self._events)
        for etype, obj, created in events:
            self._emit(etype, obj, created, None, None, persist=False)
        return len(self._events) - before

    def replay(self) -> int:
        """Re-add the logged events of this world; returns how many were added."""
        if self._log_path is None or not self._log_path.exists():
            return 0
        added = skipped = 0
        with self._lock, self._log_path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    log.warning("sandbox: ignoring unreadable line %d of %s", lineno, self._log_path)
                    continue
                if entry.get("v") != LOG_VERSION or entry.get("world") != self._world_id:
                    skipped += 1
                    continue
                event = entry.get("event")
                if isinstance(event, dict) and event.get("id") and event["id"] not in self._events:
                    self._add(event)
                    added += 1
        if skipped:
            log.warning("sandbox: skipped %d logged events of another world (seed/scale/clock)", skipped)
        return added

    def _add(self, event: dict[str, Any]) -> None:
        key = (int(event["created"]), self._seq)
        self._seq += 1
        self._events[event["id"]] = event
        self._keys[event["id"]] = key
        bisect.insort(self._order, (*key, event["id"]))

    # ------------------------------------------------------------------ reading
    def retention_cutoff(self) -> int:
        """The oldest ``created`` still listed: ``RETENTION_DAYS`` before the end of the clock's day."""
        clock = self._clock()
        if isinstance(clock, datetime):
            now = clock if clock.tzinfo else clock.replace(tzinfo=UTC)
        else:
            now = datetime.combine(clock + timedelta(days=1), time(0), tzinfo=UTC)
        return int((now - timedelta(days=RETENTION_DAYS)).timestamp())

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def get(self, event_id: str, *, include_expired: bool = False) -> dict[str, Any] | None:
        """The event (a copy), or None if unknown or, unless ``include_expired``, past retention."""
        with self._lock:
            event = self._events.get(event_id)
            if event is None or (not include_expired and event["created"] < self.retention_cutoff()):
                return None
            return copy.deepcopy(event)

    def all(self, *, include_expired: bool = True) -> list[dict[str, Any]]:
        """Every event (copies), oldest first."""
        cutoff = None if include_expired else self.retention_cutoff()
        with self._lock:
            return [copy.deepcopy(self._events[eid]) for created, _, eid in self._order
                    if cutoff is None or created >= cutoff]

    def page(self, *, limit: int, starting_after: str | None = None, ending_before: str | None = None,
             where: Callable[[dict[str, Any]], bool] = lambda _e: True) -> tuple[list[dict[str, Any]], bool]:
        """One page of retained events matching ``where``, newest first, and whether more follow.

        Raises ``KeyError`` if the cursor names no event.
        """
        cutoff = self.retention_cutoff()
        with self._lock:
            cursor = starting_after or ending_before
            pivot = self._keys.get(cursor) if cursor else None
            if cursor and pivot is None:
                raise KeyError(cursor)
            newest_first = self._newest_first(cutoff, where)
            if starting_after:
                rest = [e for k, e in newest_first if k < pivot]
                page, more = rest[:limit], len(rest) > limit
            elif ending_before:
                rest = [e for k, e in newest_first if k > pivot]
                page, more = rest[-limit:], len(rest) > limit
            else:
                page: list[dict[str, Any]] = []
                more = False
                for _, e in newest_first:
                    if len(page) == limit:
                        more = True
                        break
                    page.append(e)
            return [copy.deepcopy(e) for e in page], more

    def _newest_first(self, cutoff: int, where: Callable[[dict[str, Any]], bool]
                      ) -> Iterator[tuple[tuple[int, int], dict[str, Any]]]:
        for created, seq, eid in reversed(self._order):
            if created < cutoff:
                return
            event = self._events[eid]
            if where(event):
                yield (created, seq), event


def _event_id(created: int, content: str) -> str:
    """``evt_1`` + the time (6 base-62 digits, so ids sort by time) + 17 digits of the content's hash."""
    digest = int.from_bytes(hashlib.sha256(content.encode()).digest()[:16], "big")
    return "evt_1" + _base62(max(0, created), 6) + _base62(digest, 17)


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, r = divmod(number, 62)
        digits.append(_ALNUM[r])
    return "".join(reversed(digits))
