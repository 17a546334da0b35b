"""The ERP's raw Arrow batches as typed tables under the column contract, column by column, vectorized.

``dlt``'s ``sql_table`` (pyarrow backend) gives each batch as an Arrow table typed from what the
driver returns: on the sandbox's SQLite file that is text for the ``YYYYMMDD`` dates, the
``YYYYMMDDHHMMSS`` stamps and the two-decimal amounts, integers for the cents; an engine with real
date, timestamp or numeric columns returns those. ``typed`` casts every column to its pinned kind
with Arrow compute (no Python per value) when every value fits, exactly as the contract's per-value
conversion would (``ingestion.contract``): an invalid date (``20250231``), a stamp that is not one
or an amount that is not a number makes it return None, and the caller sends that batch through the
contract's per-record path, which quarantines the records that do not convert, field by field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.contract import ARROW, Contract

TIMESTAMP = pa.timestamp("us", tz="UTC")
_DATE_TEXT = (r"^\d{8}$", "%Y%m%d")
_STAMP_TEXT = (r"^\d{14}$", "%Y%m%d%H%M%S")
Column = pa.Array | pa.ChunkedArray


class Unfit(ValueError):
    """A value of the column does not convert on the vectorized path."""


def kind_of(t: pa.DataType) -> str:
    """The contract kind of a column the ERP gained (the contract lacks it), from its Arrow type."""
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    return "string"


def _any(mask: Column) -> bool:
    return bool(pc.any(mask).as_py())


def _text_times(col: Column, pattern: str, fmt: str) -> Column:
    """Fixed-width ``fmt`` text as a (naive) timestamp column; blanks are NULL; raises Unfit unless every
    other value matches ``pattern`` and is a real date/time (Arrow's strptime would roll ``20250231`` over
    to March: the parsed value must print back as the text)."""
    blank = pc.equal(pc.utf8_trim_whitespace(col), "")
    wellformed = pc.match_substring_regex(col, pattern)
    if _any(pc.and_(pc.invert(blank), pc.invert(wellformed))):
        raise Unfit("not fixed-width date text")
    text = pc.if_else(wellformed, col, pa.scalar(None, pa.string()))
    parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
    if parsed.null_count != text.null_count or _any(pc.not_equal(pc.strftime(parsed, format=fmt), text)):
        raise Unfit("not a real date")
    return parsed


def stamps(col: Column | None) -> Column | None:
    """The column's values that are stamps (``YYYYMMDDHHMMSS`` text, or native timestamps) as UTC
    timestamps, NULL where a value is not one; for the cursor, which counts every row read."""
    if col is None:
        return None
    t = col.type
    if pa.types.is_timestamp(t):
        return col.cast(TIMESTAMP) if t.tz is not None else col.cast(pa.timestamp(t.unit)).cast(TIMESTAMP)
    if pa.types.is_date(t):
        return col.cast(pa.timestamp("s")).cast(TIMESTAMP)
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return None
    pattern, fmt = _STAMP_TEXT
    text = pc.if_else(pc.match_substring_regex(col, pattern), col, pa.scalar(None, col.type))
    parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
    valid = pc.equal(pc.strftime(parsed, format=fmt), text)  # NULL where unparsed, false where rolled over
    return pc.if_else(valid, parsed, pa.scalar(None, parsed.type)).cast(pa.timestamp("us")).cast(TIMESTAMP)


def convert(col: Column, kind: str) -> Column:
    """``col`` as ``kind``'s Arrow type; raises Unfit (or an Arrow error) when a value does not fit."""
    t, target = col.type, ARROW[kind]
    if pa.types.is_null(t):
        return pa.nulls(len(col), target)
    if pa.types.is_large_string(t):
        col, t = col.cast(pa.string()), pa.string()
    text = pa.types.is_string(t)
    if kind == "string":
        if text:
            return col
    elif kind == "int":
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) or text:
            return col.cast(target)  # safe cast: a fraction, an overflow or a non-number raises
    elif kind == "float":
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) or text:
            out = col.cast(target)  # text: "12.34"; anything else ("n/a", " 1.5") raises
            if _any(pc.is_nan(out)) or _any(pc.is_inf(out)):
                raise Unfit("not finite")
            return out
    elif kind == "bool":
        if pa.types.is_boolean(t):
            return col
    elif kind == "date":
        if text:
            return _text_times(col, *_DATE_TEXT).cast(pa.date32())
        if pa.types.is_date(t):
            return col.cast(target)
        if pa.types.is_timestamp(t):  # e.g. Oracle DATE, which carries a time of day
            return col.cast(pa.timestamp(t.unit), safe=False).cast(pa.date32(), safe=False)
    elif kind == "timestamp":
        if text:
            return _text_times(col, *_STAMP_TEXT).cast(pa.timestamp("us")).cast(TIMESTAMP)
        if pa.types.is_timestamp(t) or pa.types.is_date(t):
            return stamps(col)
    raise Unfit(f"{t} does not convert to {kind} here")


def keys_not_null(table: pa.Table, key: Sequence[str]) -> pa.Table:
    """``table`` with its key columns declared non-nullable (as the warehouse's primary key is), where
    they hold no NULL."""
    schema = table.schema
    for name in key:
        i = schema.get_field_index(name)
        if i >= 0 and schema.field(i).nullable and not table.column(i).null_count:
            schema = schema.set(i, schema.field(i).with_nullable(False))
    return table if schema is table.schema else table.cast(schema)


def typed(table: pa.Table, contract: Contract, key: Sequence[str]) -> pa.Table | None:
    """``table`` with the contract's columns, in its order, each of its kind; None when a value does
    not fit (or a key is missing), to send the batch through the contract's per-record path.

    Columns the contract lacks join it with the kind of their Arrow type; contract columns missing
    from the batch are NULL. The key columns are declared non-nullable.
    """
    for name in table.column_names:
        if name not in contract.columns:
            contract.columns[name] = kind_of(table.schema.field(name).type)
    arrays: dict[str, Any] = {}
    for name, kind in contract.columns.items():
        if name not in table.column_names:
            arrays[name] = pa.nulls(table.num_rows, ARROW[kind])
            continue
        try:
            arrays[name] = convert(table.column(name), kind)
        except (Unfit, pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            return None
    out = pa.table(arrays)
    if any(out.column(k).null_count for k in key if k in arrays):
        return None
    return keys_not_null(out, key)
