"""The world's timeline: every record with its lifecycle, rendered as of any clock date.

A record (``Rec``) is created at ``t`` and may change later (``update``) or be deleted
(``delete``). Each of these events has two times: ``t``, the business time the vendor stamps on
the record (Salesforce ``SystemModstamp``, NetSuite ``lastmodifieddate``), and ``vis``, when the
change becomes visible to readers. They are equal except for *late-arriving* changes, which are
committed (visible) days after the time they carry - exactly what an incremental loader with a
high-water mark on the cursor column misses.

``Table.render(rec, cutoff)`` gives the record as a reader sees it at ``cutoff`` (unix seconds):
``None`` before it exists; Salesforce records carry ``IsDeleted`` and the system timestamps;
deleted NetSuite rows disappear (SuiteQL cannot see them) and are listed in ``Timeline.deletions``.

The world's clock is a date; a record is visible on clock day ``D`` if its ``vis`` falls on or
before the end of ``D`` (UTC). ``Timeline.changes(old_day, new_day)`` lists what advancing the
clock from ``old_day`` to ``new_day`` changes, record by record.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.world_model import DAY, legacy_ts, ns_ts, sf_ts

log = logging.getLogger(__name__)
KEY_FIELD = {"salesforce": "Id", "stripe": "id", "netsuite": "id", "legacy": None}
# Cursor column an incremental loader would use, per system (None: none the sandbox serves).
CURSOR_FIELD = {"salesforce": "SystemModstamp", "netsuite": "lastmodifieddate", "stripe": "created",
                "legacy": "LAST_UPD_TS"}


class Rec:
    """One record's lifecycle. ``fields`` is the record as created; ``events`` its later changes."""

    __slots__ = ("key", "t", "vis", "fields", "events")

    def __init__(self, key: str, t: int, fields: dict[str, Any], vis: int | None = None) -> None:
        self.key = key
        self.t = t
        self.vis = t if vis is None else max(vis, t)
        self.fields = fields
        self.events: list[tuple[int, int, dict[str, Any] | None]] | None = None

    def update(self, t: int, updates: dict[str, Any], vis: int | None = None) -> None:
        """Change ``updates`` at business time ``t`` (visible at ``vis``, default ``t``)."""
        if self.events is None:
            self.events = []
        self.events.append((t if vis is None else max(vis, t), t, updates))

    def delete(self, t: int, vis: int | None = None) -> None:
        if self.events is None:
            self.events = []
        self.events.append((t if vis is None else max(vis, t), t, None))

    def sort(self) -> None:
        if self.events:
            self.events.sort(key=lambda e: (e[0], e[1]))

    def value(self, name: str, cutoff: int | None = None) -> Any:
        """A field's value as of ``cutoff`` (default: at the end of the record's whole lifecycle)."""
        value = self.fields.get(name)
        for vis, _t, upd in self.events or ():
            if cutoff is not None and vis > cutoff:
                break
            if upd is not None and name in upd:
                value = upd[name]
        return value

    def last_t(self) -> int:
        return max([self.t, *(e[1] for e in self.events or ())])


@dataclass(frozen=True)
class Change:
    """What one record looks like before and after the clock moved (``None`` = not there)."""

    system: str
    obj: str
    key: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    at: int  # business time of the latest event in the window (unix seconds)


class Table:
    """One object's records, in creation order, indexed by key and by the days their events show."""

    def __init__(self, system: str, obj: str) -> None:
        self.system = system
        self.obj = obj
        self.rows: list[Rec] = []
        self.index: dict[str, int] = {}
        self.by_day: dict[int, list[int]] = defaultdict(list)

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, rec: Rec) -> None:
        if rec.key in self.index:
            raise KeyError(f"duplicate {self.system} {self.obj} key {rec.key!r}")
        rec.sort()
        pos = len(self.rows)
        self.index[rec.key] = pos
        self.rows.append(rec)
        days = {rec.vis // DAY}
        for vis, _t, _u in rec.events or ():
            days.add(vis // DAY)
        for d in days:
            self.by_day[d].append(pos)

    def get(self, key: str) -> Rec | None:
        pos = self.index.get(key)
        return None if pos is None else self.rows[pos]

    def touched(self, pos: int, vis: int) -> None:
        """Index a change added to an already stored record (at ``pos``) for its visible day."""
        self.rows[pos].sort()
        self.by_day[vis // DAY].append(pos)

    def render(self, rec: Rec, cutoff: int) -> dict[str, Any] | None:
        if rec.vis > cutoff:
            return None
        out = dict(rec.fields)
        mod = rec.t
        deleted = False
        for vis, t, upd in rec.events or ():
            if vis > cutoff:
                break
            if upd is None:
                deleted = True
            else:
                out.update(upd)
            if t > mod:
                mod = t
        if self.system == "salesforce":
            out["IsDeleted"] = deleted
            out["CreatedDate"] = sf_ts(rec.t)
            out["LastModifiedDate"] = sf_ts(mod)
            out["SystemModstamp"] = sf_ts(mod)
            return out
        if deleted:
            return None
        if self.system == "netsuite":
            if "lastmodifieddate" in out:
                out["lastmodifieddate"] = ns_ts(mod)
            if "linelastmodifieddate" in out:
                out["linelastmodifieddate"] = ns_ts(mod)
        elif self.system == "legacy" and "LAST_UPD_TS" in out:
            out["LAST_UPD_TS"] = legacy_ts(mod)
        return out

    def at(self, cutoff: int) -> list[dict[str, Any]]:
        out = []
        for rec in self.rows:
            r = self.render(rec, cutoff)
            if r is not None:
                out.append(r)
        return out

    # Position-based access, shared with the columnar tables (sandbox.world_columns).
    def render_at(self, pos: int, cutoff: int) -> dict[str, Any] | None:
        return self.render(self.rows[pos], cutoff)

    def key_of(self, pos: int) -> str:
        return self.rows[pos].key

    def lifecycle(self, pos: int) -> tuple[int, int, list[tuple[int, int, bool]]]:
        """(created t, created vis, [(vis, t, is_delete), ...]) of the record at ``pos``."""
        rec = self.rows[pos]
        return rec.t, rec.vis, [(vis, t, upd is None) for vis, t, upd in rec.events or ()]

    def positions_between(self, old_day: int, new_day: int) -> list[int]:
        seen: set[int] = set()
        for d in range(old_day + 1, new_day + 1):
            seen.update(self.by_day.get(d, ()))
        return sorted(seen)


def cutoff_of(day: int) -> int:
    """The last second of clock day ``day``."""
    return (day + 1) * DAY - 1


class Timeline:
    """Every table of every system, plus the truth about deletions and late-arriving changes."""

    def __init__(self) -> None:
        self.tables: dict[tuple[str, str], Table] = {}

    def table(self, system: str, obj: str) -> Table:
        key = (system, obj)
        table = self.tables.get(key)
        if table is None:
            table = self.tables[key] = Table(system, obj)
        return table

    def add(self, system: str, obj: str, rec: Rec) -> None:
        self.table(system, obj).add(rec)

    def register(self, table: Any) -> Any:
        """Use ``table`` (e.g. a columnar table) for its (system, obj)."""
        self.tables[(table.system, table.obj)] = table
        return table

    def get(self, system: str, obj: str, key: str) -> Rec | None:
        table = self.tables.get((system, obj))
        return None if table is None else table.get(key)

    def objects(self, system: str) -> list[str]:
        return [obj for (s, obj) in self.tables if s == system]

    def render_system(self, system: str, day: int, lazy_rows: int | None = None) -> dict[str, Sequence[dict[str, Any]]]:
        """Each object's records as of ``day``; columnar objects of at least ``lazy_rows`` rows stay
        unrendered (``sandbox.lazy.LazyRecords``)."""
        from sandbox.lazy import LazyRecords, columns_of

        cutoff = cutoff_of(day)
        out: dict[str, Sequence[dict[str, Any]]] = {}
        for (s, obj), t in self.tables.items():
            if s != system:
                continue
            if lazy_rows is not None and hasattr(t, "modstamps") and len(t) >= lazy_rows:
                out[obj] = LazyRecords(columns_of(t), cutoff)
            else:
                out[obj] = t.at(cutoff)
        return out

    def changes(self, old_day: int, new_day: int) -> Iterator[Change]:
        """Every record whose rendering differs between the two clock days, in table order."""
        old_cut, new_cut = cutoff_of(old_day), cutoff_of(new_day)
        for (system, obj), table in self.tables.items():
            for pos in table.positions_between(old_day, new_day):
                old, new = table.render_at(pos, old_cut), table.render_at(pos, new_cut)
                if old == new:
                    continue
                t0, vis0, events = table.lifecycle(pos)
                at = t0 if vis0 > old_cut else max(
                    (t for vis, t, _ in events if old_cut < vis <= new_cut), default=t0)
                yield Change(system, obj, table.key_of(pos), old, new, at)

    def deletions(self, day: int) -> list[dict[str, Any]]:
        """Deleted records as of clock ``day``: system, object, id, when (``deleted_at``) and visible."""
        cutoff = cutoff_of(day)
        out = []
        for (system, obj), table in self.tables.items():
            for pos in range(len(table)):
                for vis, t, deleted in table.lifecycle(pos)[2]:
                    if deleted and vis <= cutoff:
                        out.append({"system": system, "object": obj, "id": table.key_of(pos),
                                    "deleted_at": t, "visible_at": vis})
        out.sort(key=lambda d: (d["visible_at"], d["system"], d["object"], d["id"]))
        return out

    def late_changes(self, day: int, since_day: int | None = None) -> list[dict[str, Any]]:
        """Changes (inserts, updates) that became visible after the time they carry, as of clock ``day``.

        ``cursor`` is the business time (unix seconds) the change carries in the system's cursor
        column; ``visible_at`` when it became readable. With ``since_day``, only those that became
        visible after that clock day.
        """
        cutoff = cutoff_of(day)
        since = cutoff_of(since_day) if since_day is not None else -1
        out = []
        for (system, obj), table in self.tables.items():
            for pos in range(len(table)):
                t0, vis0, events = table.lifecycle(pos)
                if vis0 > t0 and since < vis0 <= cutoff:
                    out.append({"system": system, "object": obj, "id": table.key_of(pos), "change": "insert",
                                "cursor_field": CURSOR_FIELD[system], "cursor": t0, "visible_at": vis0})
                for vis, t, deleted in events:
                    if vis > t and since < vis <= cutoff:
                        out.append({"system": system, "object": obj, "id": table.key_of(pos),
                                    "change": "delete" if deleted else "update",
                                    "cursor_field": CURSOR_FIELD[system], "cursor": t, "visible_at": vis})
        out.sort(key=lambda d: (d["visible_at"], d["system"], d["object"], d["id"]))
        return out

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (system, obj), table in self.tables.items():
            out.setdefault(system, {})[obj] = len(table)
        return out


# ------------------------------------------------------------------------------- serving changes
ADVANCES_FILE = "advances.jsonl"  # next to the write log; replayed on start (and removed by a reset)
ADVANCE_LOG_VERSION = 1
_INVOICE_STATUS_EVENT = {"open": "invoice.finalized", "paid": "invoice.paid", "void": "invoice.voided",
                         "uncollectible": "invoice.marked_uncollectible"}
# Credit note / subscription schedule statuses with their own event, and the field that dates them.
_STATUS_EVENT = {
    ("credit_note", "void"): ("credit_note.voided", "voided_at"),
    ("subscription_schedule", "canceled"): ("subscription_schedule.canceled", "canceled_at"),
    ("subscription_schedule", "completed"): ("subscription_schedule.completed", "completed_at"),
    ("subscription_schedule", "released"): ("subscription_schedule.released", "released_at"),
}
_WITH_LIFECYCLE = frozenset({"invoice", "credit_note", "subscription_schedule"})


def apply_changes(store: Any, changes: list[Change]) -> dict[str, Any]:
    """Put what the clock changed into a sandbox ``Store`` (and Stripe's event log).

    Fields the world did not change keep what clients wrote; a change the world made wins over
    a client's value of the same field. NetSuite/Stripe rows that disappear are deleted from the
    store. Returns counts per system/object of inserts, updates and deletes.
    """
    import copy

    from sandbox.events import EVENT_PREFIX, lifecycle

    summary: dict[str, dict[str, dict[str, int]]] = {}
    emit = getattr(store, "emit_event", None)
    for ch in changes:
        if ch.system not in ("salesforce", "stripe", "netsuite"):
            continue
        with store.lock:
            lazy = store.lazy_table(ch.system, ch.obj)
            current = None if lazy is not None else store.get(ch.system, ch.obj, ch.key)
            if lazy is not None:  # rendered from the timeline at the new clock already
                kind = _lazy_change(lazy, ch)
            elif ch.new is None:
                kind = "delete"
                if current is not None:
                    store.delete(ch.system, ch.obj, ch.key)
            else:
                if current is None:
                    kind, record = "insert", copy.deepcopy(ch.new)
                elif ch.old is None:
                    # A record the world creates now under a key a client already used (NetSuite's record
                    # service numbers new records max(id) + 1, which the world's later records may hold).
                    log.warning("sandbox clock: new %s %s %s replaces a client-written record with the same id",
                                ch.system, ch.obj, ch.key)
                    kind, record = "collision", copy.deepcopy(ch.new)
                else:
                    kind = "update"
                    changed = {k: v for k, v in ch.new.items() if ch.old is None or ch.old.get(k) != v}
                    record = {**current, **copy.deepcopy(changed)}
                if ch.system == "salesforce" and ch.new.get("IsDeleted") and not (ch.old or {}).get("IsDeleted"):
                    kind = "delete"
                store.put(ch.system, ch.obj, record)
        counts = summary.setdefault(ch.system, {}).setdefault(ch.obj, {})
        counts[kind] = counts.get(kind, 0) + 1
        if ch.system == "stripe" and emit is not None and ch.new is not None:
            for etype, snapshot, created, previous in _stripe_events(ch, EVENT_PREFIX, lifecycle):
                emit(etype, snapshot, created, previous)
    return summary


def _lazy_change(table: Any, ch: Change) -> str:
    """Apply a clock change to a table served on demand (``sandbox.lazy.LazyTable``); returns its kind.

    The table already renders the new state; only a record a server-side patch replaced needs
    the world's changed fields merged over the patch, as for rendered tables.
    """
    if ch.new is None or (ch.new.get("IsDeleted") and not (ch.old or {}).get("IsDeleted")):
        kind = "delete"
    else:
        kind = "insert" if ch.old is None else "update"
    patched = table.patched(ch.key)
    if patched is not None and ch.new is not None:
        changed = {k: v for k, v in ch.new.items() if ch.old is None or ch.old.get(k) != v}
        table.put({**patched, **changed})
    return kind


def _stripe_events(ch: Change, prefixes: dict[str, str], lifecycle: Any) -> list[tuple[str, dict, int, dict | None]]:
    new, old = ch.new or {}, ch.old
    kind = new.get("object", "")
    prefix = prefixes.get(kind, kind)
    if old is None:
        if kind in _WITH_LIFECYCLE:  # created and maybe ended in the window: each step its event
            return [(t, snap, created, None) for t, snap, created in lifecycle(new)]
        return [(f"{prefix}.created", new, ch.at, None)]  # as sandbox.events.world_events names them
    previous = {k: old.get(k) for k in new if old.get(k) != new.get(k)}
    if not previous:
        return []
    if kind == "invoice" and "status" in previous and new.get("status") in _INVOICE_STATUS_EVENT:
        etype = _INVOICE_STATUS_EVENT[new["status"]]
        transitions = new.get("status_transitions") or {}
        at = {"invoice.paid": "paid_at", "invoice.voided": "voided_at", "invoice.finalized": "finalized_at",
              "invoice.marked_uncollectible": "marked_uncollectible_at"}[etype]
        return [(etype, new, int(transitions.get(at) or ch.at), None)]
    if kind == "subscription" and previous.get("status") is not None and new.get("status") == "canceled":
        return [("customer.subscription.deleted", new, ch.at, previous)]
    if "status" in previous and (kind, new.get("status")) in _STATUS_EVENT:
        etype, field = _STATUS_EVENT[(kind, new.get("status"))]
        return [(etype, new, int(new.get(field) or ch.at), None)]
    return [(f"{prefix}.updated", new, ch.at, previous)]


def read_advances(path: Any, world_id: dict[str, Any]) -> list[dict[str, Any]]:
    """The advances logged at ``path`` for ``world_id``, in order (others are skipped)."""
    import json

    out: list[dict[str, Any]] = []
    if path is None or not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("v") == ADVANCE_LOG_VERSION and entry.get("world") == world_id:
            out.append(entry)
    return out


def log_advance(path: Any, world_id: dict[str, Any], days: int, writes: int, clock: str) -> None:
    import json
    from datetime import UTC, datetime

    entry = {"v": ADVANCE_LOG_VERSION, "world": world_id, "days": days, "writes": writes, "clock": clock,
             "at": datetime.now(UTC).isoformat()}
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")
