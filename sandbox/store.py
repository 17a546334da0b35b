"""The sandbox's mutable state: every system's records, the write log and Stripe idempotency keys.

One ``Store`` holds the world's records per (system, object), keyed by the vendor's id field.
Records are never mutated in place - a write replaces the dict - so a list returned by
``rows()`` is a consistent snapshot that readers may use without holding the lock.

Every accepted write is appended to ``writes.jsonl`` together with its *effects* (the records as
they stand after the write). ``replay()`` re-applies those effects on start-up, so a restarted
sandbox for the same world holds exactly what clients wrote to it, with the same ids and
timestamps; entries logged against a different world (seed, scale or clock) are skipped.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from sandbox.events import EventLog, world_events
from sandbox.lazy import LazyRecords, LazyTable
from sandbox.world import DEFAULT_RATES, World, visible_cutoff

log = logging.getLogger(__name__)

KEY_FIELD = {"salesforce": "Id", "stripe": "id", "netsuite": "id"}
LOG_VERSION = 1
EVENTS_FILE = "events.jsonl"  # next to the write log
_PUBLIC_FIELDS = ("system", "method", "path", "object", "key", "idempotency_key", "replayed", "status",
                  "body", "response", "at")


class Table:
    """Records of one object in insertion order, indexed by key.

    ``find`` looks records up by another field (a vendor's external id), as the vendors' own
    indexes do: each lookup index is built on first use and kept current by ``put``, so an
    upsert by external id costs O(1), not a scan of the object.
    """

    def __init__(self, key_field: str, rows: Iterable[dict[str, Any]] = ()) -> None:
        self.key_field = key_field
        self.rows: list[dict[str, Any]] = []
        self.index: dict[str, int] = {}
        self._lookups: dict[str, dict[Any, str]] = {}  # field -> value -> key of the first live record
        self._max_numbers: dict[tuple[int, int], int] = {}  # (start, end) of the key -> largest number there
        for row in rows:
            self.put(row)

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, key: str) -> dict[str, Any] | None:
        pos = self.index.get(key)
        return None if pos is None else self.rows[pos]

    def put(self, record: dict[str, Any]) -> bool:
        """Insert or replace ``record`` by key; True if it was new."""
        key = record[self.key_field]
        pos = self.index.get(key)
        if pos is None:
            self.index[key] = len(self.rows)
            self.rows.append(record)
            for field, lookup in self._lookups.items():
                value = record.get(field)
                if value is not None and _live(record):
                    lookup.setdefault(value, key)
            for (start, end), largest in self._max_numbers.items():
                number = _number(key, start, end)
                if number is not None and number > largest:
                    self._max_numbers[(start, end)] = number
            return True
        old = self.rows[pos]
        self.rows[pos] = record
        for field in [f for f in self._lookups if old.get(f) != record.get(f) or _live(old) != _live(record)]:
            del self._lookups[field]  # which record holds the value first may have changed: rebuilt on next use
        return False

    def find(self, field: str, value: Any) -> dict[str, Any] | None:
        """The first live record (not ``IsDeleted``), in insertion order, whose ``field`` is ``value``."""
        lookup = self._lookups.get(field)
        if lookup is None:
            lookup = {}
            for row in self.rows:
                held = row.get(field)
                if held is not None and _live(row):
                    lookup.setdefault(held, row[self.key_field])
            self._lookups[field] = lookup
        key = lookup.get(value)
        return None if key is None else self.get(key)

    def max_key_number(self, start: int, end: int) -> int:
        """The largest number written in ``key[start:end]`` over all keys (0 if none)."""
        if (start, end) not in self._max_numbers:
            numbers = (_number(k, start, end) for k in self.index)
            self._max_numbers[(start, end)] = max((n for n in numbers if n is not None), default=0)
        return self._max_numbers[(start, end)]

    def delete(self, key: str) -> bool:
        """Remove the record with ``key`` (a vendor-side deletion); True if there was one."""
        pos = self.index.pop(key, None)
        if pos is None:
            return False
        del self.rows[pos]
        for other, p in self.index.items():
            if p > pos:
                self.index[other] = p - 1
        self._lookups.clear()  # rebuilt on next use; deletions are rare
        return True


def _live(record: dict[str, Any]) -> bool:
    return not record.get("IsDeleted")


def _number(key: str, start: int, end: int) -> int | None:
    part = key[start:end]
    return int(part) if part.isdigit() else None


class Store:
    """Thread-safe records + write log. Take ``lock`` around read-modify-write sequences."""

    def __init__(self, world: World, log_path: Path | None = None) -> None:
        self.lock = threading.RLock()
        self.world_id = {"seed": world.seed, "scale": world.scale, "clock": world.clock.isoformat()}
        if getattr(world, "rates", None) and world.rates != DEFAULT_RATES:  # another world than the default one
            self.world_id["rates"] = dict(sorted(world.rates.items()))
        self._log_path = log_path
        self._tables: dict[str, dict[str, Table]] = {}
        self._writes: list[dict[str, Any]] = []
        self._idempotency: dict[str, dict[str, Any]] = {}
        for system, objects in (("salesforce", world.salesforce), ("stripe", world.stripe),
                                ("netsuite", world.netsuite)):
            for obj, records in objects.items():
                if isinstance(records, LazyRecords):  # rendered on demand at the world's clock
                    self._tables.setdefault(system, {})[obj] = LazyTable(
                        KEY_FIELD[system], records.columns, lambda: visible_cutoff(world.clock))
                    continue
                # The world is shared with the caller; the store owns its own copies.
                table = self.table(system, obj, create=True)
                for rec in copy.deepcopy(records):
                    table.put(rec)
        # Stripe's event log: the world's lifecycle events now, later changes through emit_event().
        self.events = EventLog(f"{world.seed}:{world.scale}", lambda: world.clock, lock=self.lock,
                               log_path=log_path.with_name(EVENTS_FILE) if log_path is not None else None,
                               world_id=self.world_id)
        self.events.emit_world(world_events({obj: t.rows for obj, t in self._tables.get("stripe", {}).items()}))

    # ------------------------------------------------------------------ tables
    def table(self, system: str, obj: str, *, create: bool = False) -> Table:
        with self.lock:
            tables = self._tables.setdefault(system, {})
            if obj not in tables:
                if not create:
                    raise KeyError(f"unknown object {system}/{obj}")
                tables[obj] = Table(KEY_FIELD[system])
            return tables[obj]

    def lazy_table(self, system: str, obj: str) -> LazyTable | None:
        """The object's table if it is served on demand (``sandbox.lazy``), else None."""
        with self.lock:
            table = self._tables.get(system, {}).get(obj)
            return table if isinstance(table, LazyTable) else None

    def warm(self) -> None:
        """Build the row indexes of objects served on demand for the current clock (see ``sandbox.lazy``)."""
        with self.lock:
            lazy = [t for tables in self._tables.values() for t in tables.values() if isinstance(t, LazyTable)]
        for table in lazy:
            table.warm()

    def ensure_table(self, system: str, obj: str) -> None:
        self.table(system, obj, create=True)

    def objects(self, system: str) -> list[str]:
        with self.lock:
            return list(self._tables.get(system, {}))

    def rows(self, system: str, obj: str) -> Sequence[dict[str, Any]]:
        """A snapshot of the object's records (treat the dicts as read-only).

        A list, or for an object served on demand a ``sandbox.lazy.LazyView`` (a sequence that
        renders records as they are read and answers SOQL through ``select``).
        """
        with self.lock:
            table = self.table(system, obj)
            return table.view() if isinstance(table, LazyTable) else list(table.rows)

    def get(self, system: str, obj: str, key: str) -> dict[str, Any] | None:
        with self.lock:
            return self.table(system, obj).get(key)

    def find(self, system: str, obj: str, field: str, value: Any) -> dict[str, Any] | None:
        """The first live record of the object whose ``field`` is ``value`` (an external id lookup)."""
        with self.lock:
            table = self.table(system, obj)
            if isinstance(table, LazyTable):
                return next((r for r in table.view() if r.get(field) == value and _live(r)), None)
            return table.find(field, value)

    def max_key_number(self, system: str, obj: str, start: int, end: int) -> int:
        """The largest number in ``key[start:end]`` over the object's keys (for the next generated id)."""
        with self.lock:
            table = self.table(system, obj)
            if isinstance(table, LazyTable):
                numbers = (_number(r[table.key_field], start, end) for r in table.view())
                return max((n for n in numbers if n is not None), default=0)
            return table.max_key_number(start, end)

    def put(self, system: str, obj: str, record: dict[str, Any]) -> bool:
        """Store ``record`` without logging it (server-side changes and test hooks only)."""
        with self.lock:
            return self.table(system, obj, create=True).put(record)

    def delete(self, system: str, obj: str, key: str) -> bool:
        """Remove a record without logging it (a vendor-side deletion made by the world's clock)."""
        with self.lock:
            return self.table(system, obj, create=True).delete(key)

    def counts(self) -> dict[str, dict[str, int]]:
        with self.lock:
            return {system: {obj: len(t) for obj, t in tables.items()}
                    for system, tables in self._tables.items()}

    # ------------------------------------------------------------------ events
    def emit_event(self, type: str, obj: dict[str, Any], created: int,  # noqa: A002 - Stripe's name
                   previous_attributes: dict[str, Any] | None = None,
                   request: dict[str, Any] | None = None) -> dict[str, Any]:
        """Record a Stripe event (``invoice.paid``, ...) carrying ``obj``'s full snapshot at ``created``.

        Call it whenever a Stripe object changes (``*.updated`` events take ``previous_attributes``,
        the changed fields' earlier values). Logged to ``events.jsonl`` and replayed on start;
        emitting an identical event again is a no-op. See ``sandbox.events``.
        """
        return self.events.emit(type, obj, created, previous_attributes, request)

    # ------------------------------------------------------------------ writes
    def commit(self, entry: dict[str, Any], effects: list[tuple[str, dict[str, Any]]]) -> None:
        """Apply ``effects`` ((object, record) pairs of ``entry['system']``) and log ``entry``."""
        with self.lock:
            record = {"v": LOG_VERSION, "world": self.world_id, **entry,
                      "effects": [{"object": obj, "record": rec} for obj, rec in effects]}
            line = json.dumps(record, separators=(",", ":"), sort_keys=True, default=str)
            if self._log_path is not None:
                with self._log_path.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
            self._apply(json.loads(line))

    def _apply(self, record: dict[str, Any]) -> None:
        system = record["system"]
        for effect in record.get("effects", []):
            self.table(system, effect["object"], create=True).put(effect["record"])
        self._writes.append({k: record.get(k) for k in _PUBLIC_FIELDS})
        key = record.get("idempotency_key")
        if key and not record.get("replayed"):
            self._idempotency[key] = {k: record.get(k) for k in (
                "method", "path", "body", "status", "response", "at")}

    def replay(self, before_write: Callable[[int], None] | None = None) -> int:
        """Re-apply the logged writes (and events) of this world; returns how many writes were applied.

        ``before_write(n)`` is called before the (n+1)-th write is applied and once more at the end,
        so server-side changes made between writes (the world's clock) can be replayed in order.
        """
        self.events.replay()
        if self._log_path is None or not self._log_path.exists():
            return 0
        applied = skipped = 0
        with self.lock, self._log_path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    log.warning("sandbox: ignoring unreadable line %d of %s", lineno, self._log_path)
                    continue
                if record.get("v") != LOG_VERSION or record.get("world") != self.world_id:
                    skipped += 1
                    continue
                if before_write is not None:
                    before_write(applied)
                self._apply(record)
                applied += 1
            if before_write is not None:
                before_write(applied)
        if skipped:
            log.warning("sandbox: skipped %d logged writes made against another world (seed/scale/clock)",
                        skipped)
        return applied

    def writes(self, system: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy([w for w in self._writes if system is None or w["system"] == system])

    def write_count(self) -> int:
        with self.lock:
            return len(self._writes)

    def idempotency(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            return self._idempotency.get(key)
