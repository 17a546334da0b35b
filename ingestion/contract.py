"""Typed Arrow batches from API pages, under a column contract, with a quarantine for bad records.

Every source turns its pages of JSON records into Arrow tables here, for two reasons:

- speed: dlt normalizes Python dicts at ~13k rows/s per core, Arrow tables at ~1M rows/s
  (``../shared/reference/stack-notes.md``); building one Arrow column per field is the cheap part;
- a schema contract: each column has a pinned kind (``KINDS``), fixed the first time the column
  is seen (from the vendor's describe or the source's declaration) and kept in the resource's
  state, so a vendor that starts serving another type for a field (schema drift) does not change
  the warehouse column. A value that does not convert to its column's kind sends the whole
  record to quarantine - one row per bad field with the system, object, record id, field,
  reason and the raw payload - instead of breaking the load or vanishing. New fields are
  added to the contract with the kind the vendor declares (or infers from values).

Conversions accept what is lossless (``"12.5"`` for a double, ``2.0`` for an integer, a number
for a string column); anything else is quarantined (``true`` for a double, ``"n/a"`` for a date).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import chain
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.validation import screen

KINDS = ("string", "bool", "int", "float", "date", "timestamp", "json")
ARROW = {"string": pa.string(), "bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(),
         "date": pa.date32(), "timestamp": pa.timestamp("us", tz="UTC"), "json": pa.string()}
QUARANTINE_TABLE = "q2c_quarantine"
QUARANTINE_COLUMNS = {
    "system": {"data_type": "text", "nullable": False},
    "object": {"data_type": "text", "nullable": False},
    "record_id": {"data_type": "text", "nullable": True},
    "field": {"data_type": "text", "nullable": True},
    "reason": {"data_type": "text", "nullable": False},
    "raw_payload": {"data_type": "text", "nullable": False},
    "quarantined_at": {"data_type": "timestamp", "nullable": False},
}


class BadValue(ValueError):
    """A value that does not convert to its column's kind."""


# ------------------------------------------------------------------ per-value conversions (slow path)

def _valid_text(v: str) -> str:
    try:
        v.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadValue(f"not valid Unicode text: {exc.reason} (U+{ord(v[exc.start]):04X} at character "
                       f"{exc.start})") from None
    return v


def _to_string(v: Any) -> str:
    if isinstance(v, str):
        return _valid_text(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v) if isinstance(v, float) else str(v)
    if isinstance(v, dict | list):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    raise BadValue(f"expected text, got {type(v).__name__}")


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false", "t", "f"):
        return v.strip().lower() in ("true", "t")
    raise BadValue(f"expected a boolean, got {v!r}")


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        raise BadValue(f"expected a number, got {v!r}")
    if isinstance(v, int | float):
        out = float(v)
    elif isinstance(v, str):
        try:
            out = float(v.strip())
        except ValueError:
            raise BadValue(f"expected a number, got {v!r}") from None
    else:
        raise BadValue(f"expected a number, got {type(v).__name__}")
    if not math.isfinite(out):
        raise BadValue(f"expected a finite number, got {v!r}")
    return out


def _to_int(v: Any) -> int:
    out = _to_float(v) if not isinstance(v, int) or isinstance(v, bool) else v
    if isinstance(out, float):
        if not out.is_integer():
            raise BadValue(f"expected an integer, got {v!r}")
        out = int(out)
    if not -(2**63) <= out < 2**63:
        raise BadValue(f"integer out of range: {v!r}")
    return out


def _to_date(v: Any) -> date:
    if isinstance(v, str):
        text = v.strip()
        try:
            return date.fromisoformat(text) if len(text) == 10 else _to_timestamp(text).date()
        except (ValueError, BadValue):
            pass
    raise BadValue(f"expected a date (YYYY-MM-DD), got {v!r}")


def _to_timestamp(v: Any) -> datetime:
    if isinstance(v, str):
        text = v.strip().replace(" ", "T", 1)
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        elif len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
            text = text[:-2] + ":" + text[-2:]
        try:
            out = datetime.fromisoformat(text)
        except ValueError:
            raise BadValue(f"expected a timestamp, got {v!r}") from None
        return out.replace(tzinfo=UTC) if out.tzinfo is None else out.astimezone(UTC)
    raise BadValue(f"expected a timestamp, got {v!r}")


def _to_json(v: Any) -> str:
    return _valid_text(v) if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":"), default=str)


CONVERT: dict[str, Callable[[Any], Any]] = {
    "string": _to_string, "bool": _to_bool, "int": _to_int, "float": _to_float, "date": _to_date,
    "timestamp": _to_timestamp, "json": _to_json}


# ------------------------------------------------------------------ columns (fast path)

def _column(values: list[Any], kind: str) -> pa.Array:
    """The Arrow column for ``values`` of ``kind``; raises (any Arrow error) when a value does not fit."""
    target = ARROW[kind]
    if kind == "json":
        return pa.array([None if v is None else _to_json(v) for v in values], pa.string())
    inferred = pa.array(values)  # raises on mixed types (e.g. bool and float)
    t = inferred.type
    if pa.types.is_null(t):
        return pa.nulls(len(values), target)
    if kind == "string":
        if pa.types.is_string(t):
            return inferred
        if pa.types.is_large_string(t):
            return inferred.cast(target)
        raise pa.ArrowInvalid("not text")
    if kind == "bool":
        if pa.types.is_boolean(t):
            return inferred
        raise pa.ArrowInvalid("not boolean")
    if kind == "float":
        if pa.types.is_integer(t):
            return inferred.cast(target)
        if pa.types.is_floating(t):
            if pc.any(pc.is_nan(inferred)).as_py() or pc.any(pc.is_inf(inferred)).as_py():
                raise pa.ArrowInvalid("not finite")
            return inferred.cast(target)
        raise pa.ArrowInvalid("not numeric")
    if kind == "int":
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            return inferred.cast(target)  # safe cast: a fraction raises
        raise pa.ArrowInvalid("not integer")
    if kind in ("date", "timestamp"):
        if pa.types.is_string(t):
            return inferred.cast(target)  # ISO dates; ISO instants with Z or a +hhmm / +hh:mm offset
        raise pa.ArrowInvalid("not a date/time string")
    raise ValueError(f"unknown column kind {kind!r}")  # pragma: no cover


# ------------------------------------------------------------------ the contract

@dataclass
class Contract:
    """Pinned column kinds of one table, in order (``{"Id": "string", ...}``), kept in resource state."""

    columns: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> Contract:
        return cls(dict(state or {}))

    def to_state(self) -> dict[str, str]:
        return dict(self.columns)

    def admit(self, declared: Mapping[str, str]) -> list[str]:
        """Add columns the vendor declares that the contract lacks; returns the added names.

        A column already in the contract keeps its kind even if the vendor now declares another
        (the values are converted, or their records quarantined).
        """
        added = [name for name in declared if name not in self.columns]
        for name in added:
            kind = declared[name]
            if kind not in KINDS:
                raise ValueError(f"column {name!r}: unknown kind {kind!r}; expected one of {KINDS}")
            self.columns[name] = kind
        return added


@dataclass
class Batch:
    """What one conversion gives: the typed table and the quarantined records' rows."""

    table: pa.Table
    quarantine: list[dict[str, Any]]


def infer_kind(values: Iterable[Any]) -> str:
    """The kind of a column nobody declared, from its non-null values (text when mixed or unknown)."""
    kinds = set()
    for v in values:
        if v is None:
            continue
        kinds.add("bool" if isinstance(v, bool) else "int" if isinstance(v, int) else "float"
                  if isinstance(v, float) else "json" if isinstance(v, dict | list) else "string")
        if len(kinds) > 2:
            break
    if kinds == {"int", "float"}:
        return "float"
    return kinds.pop() if len(kinds) == 1 else "string"


def to_arrow(records: Sequence[Mapping[str, Any]], contract: Contract, *, system: str, obj: str, key: str,
             now: datetime | None = None, extra_kinds: Callable[[str, list[Any]], str] | None = None) -> Batch:
    """Convert ``records`` (one or more API pages) to a table with the contract's columns.

    Fields a record carries that the contract lacks are admitted with an inferred kind
    (``extra_kinds(name, values)`` may decide instead). Records with a value that does not
    convert are left out of the table and returned as quarantine rows.
    """
    n = len(records)
    seen = dict.fromkeys(chain.from_iterable(records))  # every field any record carries, first seen first
    new = [k for k in seen if k not in contract.columns]
    for name in new:
        values = [rec.get(name) for rec in records]
        contract.columns[name] = extra_kinds(name, values) if extra_kinds else infer_kind(values)
    arrays: dict[str, pa.Array] = {}
    bad: dict[int, list[tuple[str, str]]] = {}
    for name, kind in contract.columns.items():
        values = [rec.get(name) for rec in records]
        try:
            arrays[name] = _column(values, kind)
            continue
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError,
                ValueError):  # UnicodeEncodeError (a lone surrogate) is a ValueError
            pass
        convert = CONVERT[kind]
        out: list[Any] = []
        for i, v in enumerate(values):
            if v is None:
                out.append(None)
                continue
            try:
                out.append(convert(v))
            except BadValue as exc:
                bad.setdefault(i, []).append((name, str(exc)))
                out.append(None)
        arrays[name] = pa.array(out, ARROW[kind])
    if key in arrays and arrays[key].null_count:
        for i, rec in enumerate(records):
            if rec.get(key) is None:
                bad.setdefault(i, []).append((key, "missing primary key"))
    table = pa.table(arrays) if arrays else pa.table({})
    for i, problems in screen(table, system, obj).items():  # values that convert yet cannot be right
        already = {name for name, _ in bad.get(i, ())}  # a value that did not convert is not reported twice
        extra = [(name, reason) for name, reason in problems if name not in already]
        if extra:
            bad.setdefault(i, []).extend(extra)
    quarantine: list[dict[str, Any]] = []
    if bad:
        at = now or datetime.now(UTC)
        keep = pa.array([i not in bad for i in range(n)])
        table = table.filter(keep)
        for i in sorted(bad):
            rec = records[i]
            payload = json.dumps(rec, sort_keys=True, separators=(",", ":"), default=str)
            rid = rec.get(key)
            for name, reason in bad[i]:
                quarantine.append({"system": system, "object": obj, "record_id": None if rid is None else str(rid),
                                   "field": name, "reason": reason, "raw_payload": payload, "quarantined_at": at})
    if key in contract.columns:  # the key is never null (dlt's merge key hint says so too)
        i = table.schema.get_field_index(key)
        table = table.cast(table.schema.set(i, table.schema.field(i).with_nullable(False)))
    return Batch(table, quarantine)


def batched(pages: Iterable[list[dict[str, Any]]], rows: int) -> Iterator[list[dict[str, Any]]]:
    """Concatenate pages into batches of at least ``rows`` records (the last one may be smaller)."""
    buf: list[dict[str, Any]] = []
    for page in pages:
        buf.extend(page)
        if len(buf) >= rows:
            yield buf
            buf = []
    if buf:
        yield buf


# ------------------------------------------------------------------ one resource's run

METRICS_TABLE = "q2c_load_metrics"
METRICS_COLUMNS = {
    "system": {"data_type": "text", "nullable": False},
    "resource": {"data_type": "text", "nullable": False},
    "started_at": {"data_type": "timestamp", "nullable": False},
    "finished_at": {"data_type": "timestamp", "nullable": False},
    "duration_s": {"data_type": "double", "nullable": False},
    "rows_extracted": {"data_type": "bigint", "nullable": False},
    "rows_loaded": {"data_type": "bigint", "nullable": False},
    "rows_quarantined": {"data_type": "bigint", "nullable": False},
    "cursor_reached": {"data_type": "text", "nullable": True},
    "mode": {"data_type": "text", "nullable": True},
}


class ResourceRun:
    """Counts one resource's extraction and yields its data, quarantine rows and metrics row.

    Inside a dlt resource::

        run = ResourceRun("certinia", "pse__Timecard__c", key="Id")
        for records in batched(pages, BATCH_ROWS):
            yield from run.convert(records, contract)
        yield run.finish(cursor=state["cursor"])

    Quarantine rows go to ``q2c_quarantine`` and the metrics row to ``q2c_load_metrics`` of the
    same dataset (both appended), in the same load package as the data: they land together or not
    at all, and a rerun after a crash writes them again with the data.
    """

    def __init__(self, system: str, obj: str, *, key: str, mode: str = "incremental",
                 cursor_column: str | None = None, cursor: str | None = None) -> None:
        self.system, self.obj, self.key, self.mode = system, obj, key, mode
        self.started_at = datetime.now(UTC)
        self._t0 = _monotonic()
        self.extracted = self.loaded = self.quarantined = 0
        # The newest cursor value loaded (a timestamp column): starts at the committed cursor, if any.
        self.cursor_column = cursor_column
        self.newest: datetime | None = datetime.fromisoformat(cursor) if cursor else None

    def cursor(self) -> str | None:
        """The cursor to commit: the newest ``cursor_column`` value loaded so far (ISO, UTC)."""
        return None if self.newest is None else self.newest.astimezone(UTC).isoformat()

    def convert(self, records: Sequence[Mapping[str, Any]], contract: Contract, **kw: Any) -> Iterator[Any]:
        import dlt

        batch = to_arrow(records, contract, system=self.system, obj=self.obj, key=self.key, **kw)
        self.extracted += len(records)
        self.loaded += batch.table.num_rows
        self.quarantined += len({(q["record_id"], q["raw_payload"]) for q in batch.quarantine})
        if batch.table.num_rows:
            if self.cursor_column is not None:
                top = pc.max(batch.table[self.cursor_column]).as_py()
                if top is not None and (self.newest is None or top > self.newest):
                    self.newest = top
            yield batch.table
        if batch.quarantine:
            yield dlt.mark.with_hints(batch.quarantine, dlt.mark.make_hints(
                table_name=QUARANTINE_TABLE, write_disposition="append", primary_key=[], merge_key=[],
                columns=QUARANTINE_COLUMNS),
                create_table_variant=True)

    def finish(self, cursor: Any = None) -> Any:
        import dlt

        row = {"system": self.system, "resource": self.obj, "started_at": self.started_at,
               "finished_at": datetime.now(UTC), "duration_s": round(_monotonic() - self._t0, 3),
               "rows_extracted": self.extracted, "rows_loaded": self.loaded,
               "rows_quarantined": self.quarantined, "cursor_reached": None if cursor is None else str(cursor),
               "mode": self.mode}
        return dlt.mark.with_hints([row], dlt.mark.make_hints(
            table_name=METRICS_TABLE, write_disposition="append", primary_key=[], merge_key=[],
            columns=METRICS_COLUMNS),
            create_table_variant=True)


def _monotonic() -> float:
    import time

    return time.perf_counter()
