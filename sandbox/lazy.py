"""Serving the world's largest objects without rendering them: records made on demand.

At the large end of the scale knob, timecard headers, splits and billing event items are
millions of rows in ``sandbox.world_columns``. Rendered as dicts they would take 15-20 GB, twice
over (the world's and the store's copy). Above ``lazy_rows`` rows (``Sandbox(lazy_rows=...)``,
``Q2C_SANDBOX_LAZY_ROWS``) such an object is served from its columns instead:

- ``LazyRecords`` is the world's read-only sequence of the object's records as of the clock;
  a record is rendered when it is read.
- ``LazyTable`` is the store's table over it: server-side changes to single records (test hooks,
  clock merges over them) are kept in an overlay; everything else is rendered from the columns
  at the world's current clock, so an advance costs nothing here.
- ``LazyView`` is the consistent snapshot ``Store.rows`` hands out, and ``LazyView.select`` runs
  a SOQL query over it holding row numbers, not records: ``SystemModstamp`` ranges and the
  ``ORDER BY SystemModstamp, Id`` of an incremental loader are answered from integer columns,
  and a page of a query locator renders only its own records.

Results are the ones the rendered path gives (tests compare both on the same world); the one
difference is the order of rows a query does not order: new rows appear at their place in the
columns instead of at the end.
"""

from __future__ import annotations

import os
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

DEFAULT_LAZY_ROWS = 250_000
_DELETED = object()


def lazy_rows_default() -> int:
    """Row count above which a columnar object is served lazily (env ``Q2C_SANDBOX_LAZY_ROWS``)."""
    raw = os.environ.get("Q2C_SANDBOX_LAZY_ROWS", "").strip()
    if not raw:
        return DEFAULT_LAZY_ROWS
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"Q2C_SANDBOX_LAZY_ROWS must be an integer row count, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"Q2C_SANDBOX_LAZY_ROWS must be >= 0, got {value}")
    return value


def sf_unix(text: str) -> int:
    """Unix seconds of a Salesforce REST datetime (``2026-05-01T10:00:00.000+0000``)."""
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp())


def id_number(record_id: str) -> int:
    """The number inside a sandbox Salesforce id (``a0X000000000123AAA`` -> 123), or -1."""
    digits = record_id[3:15]
    return int(digits) if digits.isdigit() else -1


class Columns:
    """Per-cutoff caches over one ``ColumnTable``: visible positions, modstamps, id lookup."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self._visible: tuple[int, array] | None = None
        self._mods: tuple[int, array] | None = None
        self._by_n: Callable[[int], int | None] | None = None

    def visible(self, cutoff: int) -> array:
        """Positions of the records visible at ``cutoff``, in table order."""
        cached = self._visible
        if cached is None or cached[0] != cutoff:
            t_sub = self.table.cols[self.table.VISIBLE_FROM]
            cached = self._visible = (cutoff, array("q", (p for p, t in enumerate(t_sub) if t <= cutoff)))
        return cached[1]

    def modstamps(self, cutoff: int) -> array:
        """``SystemModstamp`` (unix seconds) of each visible record, aligned with ``visible``."""
        cached = self._mods
        if cached is None or cached[0] != cutoff:
            cached = self._mods = (cutoff, self.table.modstamps(self.visible(cutoff), cutoff))
        return cached[1]

    def position(self, record_id: str) -> int | None:
        """The table position holding ``record_id`` (visible or not), or None."""
        n = id_number(record_id)
        if n < 0 or not len(self.table):
            return None
        if self._by_n is None:
            ns = self.table.cols["n"]
            if all(ns[i] < ns[i + 1] for i in range(len(ns) - 1)):
                def by_n(n: int, ns: Any = ns) -> int | None:
                    i = bisect_left(ns, n)
                    return i if i < len(ns) and ns[i] == n else None
            else:
                index = {v: p for p, v in enumerate(ns)}
                by_n = index.get
            self._by_n = by_n
        pos = self._by_n(n)
        key = None if pos is None else self.table.key_of(pos)
        if key is None or not (key == record_id or (len(record_id) == 15 and key[:15] == record_id)):
            return None
        return pos


def columns_of(table: Any) -> Columns:
    """The (shared) caches of a columnar table."""
    cols = getattr(table, "_lazy_columns", None)
    if cols is None:
        cols = table._lazy_columns = Columns(table)
    return cols


class LazyRecords(Sequence):
    """The world's records of one columnar object as of ``cutoff``, rendered when read."""

    def __init__(self, columns: Columns, cutoff: int) -> None:
        self.columns = columns
        self.cutoff = cutoff
        self._positions = columns.visible(cutoff)

    def __len__(self) -> int:
        return len(self._positions)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self.columns.table.render_at(p, self.cutoff) for p in self._positions[i]]
        return self.columns.table.render_at(self._positions[i], self.cutoff)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        render, cutoff = self.columns.table.render_at, self.cutoff
        for p in self._positions:
            yield render(p, cutoff)

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]


class LazyTable:
    """A store table over a columnar object at the world's current cutoff, plus an overlay."""

    lazy = True

    def __init__(self, key_field: str, columns: Columns, cutoff: Callable[[], int]) -> None:
        self.key_field = key_field
        self.columns = columns
        self._cutoff = cutoff
        self.overlay: dict[int, Any] = {}  # position -> replacing record, or _DELETED

    def __len__(self) -> int:
        cutoff = self._cutoff()
        return len(self.columns.visible(cutoff)) - sum(
            1 for pos, rec in self.overlay.items() if rec is _DELETED and self._visible(pos, cutoff))

    def warm(self) -> None:
        """Compute the visible rows and their modstamps for the current cutoff now, not on the first query."""
        self.columns.modstamps(self._cutoff())

    def _visible(self, pos: int, cutoff: int) -> bool:
        return self.columns.table.cols[self.columns.table.VISIBLE_FROM][pos] <= cutoff

    def get(self, key: str) -> dict[str, Any] | None:
        pos = self.columns.position(key)
        if pos is None:
            return None
        rec = self.overlay.get(pos)
        if rec is _DELETED:
            return None
        if rec is not None:
            return rec
        return self.columns.table.render_at(pos, self._cutoff())

    def patched(self, key: str) -> dict[str, Any] | None:
        """The overlay record replacing ``key``'s rendering, if a server-side change put one."""
        pos = self.columns.position(key)
        rec = None if pos is None else self.overlay.get(pos)
        return None if rec is _DELETED else rec

    def put(self, record: dict[str, Any]) -> bool:
        key = record[self.key_field]
        pos = self.columns.position(key)
        if pos is None:
            raise KeyError(f"{self.columns.table.obj} {key!r} is not a record of the world; this object "
                           "accepts no new records")
        rendered = self.columns.table.render_at(pos, self._cutoff())
        was_new = rendered is None or self.overlay.get(pos) is _DELETED
        if record == rendered:
            self.overlay.pop(pos, None)
        else:
            self.overlay[pos] = record
        return was_new

    def delete(self, key: str) -> bool:
        pos = self.columns.position(key)
        if pos is None or self.get(key) is None:
            return False
        self.overlay[pos] = _DELETED
        return True

    @property
    def rows(self) -> LazyView:
        return self.view()

    def view(self) -> LazyView:
        return LazyView(self.columns, self._cutoff(), dict(self.overlay))


class LazyView(Sequence):
    """A snapshot of a ``LazyTable``: its records in table order, rendered when read."""

    def __init__(self, columns: Columns, cutoff: int, overlay: dict[int, Any]) -> None:
        self.columns = columns
        self.cutoff = cutoff
        self.overlay = overlay
        self._positions = columns.visible(cutoff)
        self._deleted = ({i for i, p in enumerate(self._positions) if overlay.get(p) is _DELETED}
                         if any(r is _DELETED for r in overlay.values()) else set())

    def _handles(self) -> Iterator[int]:
        deleted = self._deleted
        return (i for i in range(len(self._positions)) if i not in deleted) if deleted else iter(
            range(len(self._positions)))

    def record(self, handle: int) -> dict[str, Any]:
        """The record at ``handle`` (an index into the visible positions)."""
        pos = self._positions[handle]
        rec = self.overlay.get(pos)
        return rec if rec is not None else self.columns.table.render_at(pos, self.cutoff)

    def __len__(self) -> int:
        return len(self._positions) - len(self._deleted)

    def __getitem__(self, i: Any) -> Any:
        if self._deleted:
            handles = list(self._handles())
            return [self.record(h) for h in handles[i]] if isinstance(i, slice) else self.record(handles[i])
        if isinstance(i, slice):
            return [self.record(h) for h in range(len(self._positions))[i]]
        return self.record(range(len(self._positions))[i])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for h in self._handles():
            yield self.record(h)

    def sample(self, n: int) -> list[dict[str, Any]]:
        """Up to ``n`` records spread evenly over the table (for typing fields)."""
        total = len(self._positions)
        step = max(1, total // max(n, 1))
        return [self.record(h) for h in range(0, total, step) if h not in self._deleted]

    # ------------------------------------------------------------------ queries
    def select(self, query: Any, *, include_deleted: bool) -> Sequence:
        """The records ``query`` (a ``sandbox.soql.SoqlQuery``) matches, sorted and sliced, as a lazy sequence.

        Records taken from the columns are never deleted, so their ``IsDeleted`` test is skipped;
        a ``SystemModstamp`` range is tested on the integer column first and the full predicate only
        where the query has conditions on other fields. Overlay records are tested as records.
        """
        mods = self.columns.modstamps(self.cutoff)
        lo, lo_incl, hi, hi_incl = query.modstamp_bounds()
        residual = query.residual
        predicate = query.predicate
        overlay, positions = self.overlay, self._positions
        keys: dict[int, int] = {}  # handle -> modstamp of overlay records
        hits = array("q")
        for h in self._handles():
            rec = overlay.get(positions[h])
            if rec is not None:
                if (include_deleted or not rec.get("IsDeleted")) and predicate(rec):
                    hits.append(h)
                    keys[h] = sf_unix(rec["SystemModstamp"])
                continue
            m = mods[h]
            if lo is not None and (m < lo or (m == lo and not lo_incl)):
                continue
            if hi is not None and (m > hi or (m == hi and not hi_incl)):
                continue
            if residual and not predicate(self.record(h)):
                continue
            hits.append(h)
        order = query.order_fields()
        if order is None:  # an order the columns cannot answer: sort the records themselves
            records = [self.record(h) for h in hits]
            return query.finish(records)
        if order:
            ns = self.columns.table.cols["n"]

            def mod_of(h: int) -> int:
                return keys[h] if h in keys else mods[h]

            def n_of(h: int) -> int:
                return id_number(overlay[positions[h]]["Id"]) if h in keys else ns[positions[h]]

            key: Callable[[int], Any] = {  # ids number below 2**32: one integer key per row
                ("SystemModstamp",): mod_of, ("SystemModstamp", "Id"): lambda h: mod_of(h) << 32 | n_of(h),
                ("Id",): n_of}[order]
            if not keys and order == ("SystemModstamp",):
                key = mods.__getitem__
            hits = array("q", sorted(hits, key=key))
        start = query.offset or 0
        end = None if query.limit is None else start + query.limit
        return Handles(self, hits[start:end])


class Handles(Sequence):
    """Query results as row handles of a ``LazyView``, rendered when read."""

    def __init__(self, view: LazyView, handles: array) -> None:
        self.view = view
        self.handles = handles

    def __len__(self) -> int:
        return len(self.handles)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self.view.record(h) for h in self.handles[i]]
        return self.view.record(self.handles[i])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for h in self.handles:
            yield self.view.record(h)
