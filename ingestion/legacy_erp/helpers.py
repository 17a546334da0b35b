"""The legacy ERP's database (a SQLite file, read-only) and its tables' keys, increments and column kinds."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

FETCH_ROWS = 5_000
KEY_CHUNK = 200  # keys per gap-fill query (SQLite allows 32,766 parameters)
PARENT_TS = "__q2c_parent_ts"  # the parent's stamp, carried by a child row while it is read


@dataclass(frozen=True)
class LegacyTable:
    """A legacy table: key, increment column (or the parent whose stamp the rows follow), column kinds."""

    table: str
    key: tuple[str, ...]
    kinds: Mapping[str, str]
    cursor: str | None = None
    parent: tuple[str, str] | None = None  # (parent table, join column) when the rows carry no stamp

    @property
    def name(self) -> str:
        """The resource / warehouse table name."""
        return self.table.lower()

    def key_of(self, record: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(record[k] for k in self.key)

    def select(self, since: str | None) -> tuple[str, list[Any]]:
        """The read: all rows, or those stamped at or after ``since`` (``YYYYMMDDHHMMSS``), by key."""
        order = ", ".join(f"t.{k}" for k in self.key)
        if self.parent is not None:
            parent, col = self.parent
            sql = (f"SELECT t.*, p.LAST_UPD_TS AS {PARENT_TS} FROM {self.table} t "
                   f"JOIN {parent} p ON p.{col} = t.{col}")
            if since is None:
                return f"{sql} ORDER BY {order}", []
            return f"{sql} WHERE p.LAST_UPD_TS >= ? ORDER BY {order}", [since]
        if since is None or self.cursor is None:
            return f"SELECT t.* FROM {self.table} t ORDER BY {order}", []
        return f"SELECT t.* FROM {self.table} t WHERE t.{self.cursor} >= ? ORDER BY {order}", [since]


def _kinds(columns: str, **by_kind: str) -> dict[str, str]:
    kinds = {c: kind for kind, names in by_kind.items() for c in names.split()}
    out = {c: kinds.pop(c, "string") for c in columns.split()}
    if kinds:
        raise ValueError(f"kinds given for undeclared columns {sorted(kinds)}")
    return out


# Kinds: *_CENTS integers; YYYYMMDD dates -> date; LAST_UPD_TS (YYYYMMDDHHMMSS, UTC) -> timestamp;
# two-decimal text amounts and quantities -> float; codes and references text.
TABLES: dict[str, LegacyTable] = {t.table: t for t in (
    LegacyTable("CUSTOMER_MASTER", ("CUST_NO",), _kinds(
        "CUST_NO CUST_NAME ENTITY_CD COUNTRY_CD CURRENCY_CD SF_ACCT_REF CREATED_DT STATUS_CD LAST_UPD_TS",
        date="CREATED_DT", timestamp="LAST_UPD_TS"), cursor="LAST_UPD_TS"),
    LegacyTable("AR_INVOICE_HDR", ("INV_NO",), _kinds(
        "INV_NO ENTITY_CD CUST_NO INV_DT DUE_DT CURR_CD NET_AMT_CENTS TAX_AMT_CENTS GROSS_AMT_CENTS OPEN_AMT_CENTS "
        "STATUS TAX_CD PSA_BE_REF SF_CONTRACT_REF PROJECT_REF LAST_UPD_TS",
        date="INV_DT DUE_DT", int="NET_AMT_CENTS TAX_AMT_CENTS GROSS_AMT_CENTS OPEN_AMT_CENTS",
        timestamp="LAST_UPD_TS"), cursor="LAST_UPD_TS"),
    # Lines carry no stamp: they are read with their invoice header's (written together in this ERP).
    LegacyTable("AR_INVOICE_LINE", ("INV_NO", "LINE_NO"), _kinds(
        "INV_NO LINE_NO DESCR QTY UNIT_PRICE LINE_AMT_CENTS TAX_CD",
        int="LINE_NO LINE_AMT_CENTS", float="QTY UNIT_PRICE"), parent=("AR_INVOICE_HDR", "INV_NO")),
    LegacyTable("AR_RECEIPT", ("RCPT_NO",), _kinds(
        "RCPT_NO ENTITY_CD CUST_NO RCPT_DT CURR_CD RCPT_AMT APPLIED_INV_NO BANK_REF LAST_UPD_TS",
        date="RCPT_DT", float="RCPT_AMT", timestamp="LAST_UPD_TS"), cursor="LAST_UPD_TS"),
)}

_DATE = re.compile(r"^\d{8}$")
_STAMP = re.compile(r"^\d{14}$")


def parse_stamp(text: str) -> datetime | None:
    """A ``YYYYMMDDHHMMSS`` stamp (UTC) as a datetime; None when it is not one."""
    if not isinstance(text, str) or not _STAMP.match(text):
        return None
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def format_stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def normalize(records: Iterable[dict[str, Any]], kinds: Mapping[str, str]) -> None:
    """Rewrite the ERP's text dates and stamps as ISO text, in place, so the contract reads them.

    Blank dates (the ERP's "no date") become NULL; a value that is not a real date or stamp stays as
    it is, so the contract quarantines its record with the raw value.
    """
    dates = [c for c, k in kinds.items() if k == "date"]
    stamps = [c for c, k in kinds.items() if k == "timestamp"]
    for rec in records:
        for col in dates:
            v = rec.get(col)
            if isinstance(v, str):
                if not v.strip():
                    rec[col] = None
                elif _DATE.match(v):
                    with contextlib.suppress(ValueError):  # not a real date: left for the contract
                        rec[col] = date(int(v[:4]), int(v[4:6]), int(v[6:])).isoformat()
        for col in stamps:
            v = rec.get(col)
            if isinstance(v, str):
                if not v.strip():
                    rec[col] = None
                else:
                    parsed = parse_stamp(v)
                    if parsed is not None:
                        rec[col] = parsed.strftime("%Y-%m-%dT%H:%M:%SZ")


class LegacyDatabase:
    """The ERP's SQLite file, opened read-only on first use, one connection per source (per load).

    The sandbox replaces the file atomically on every clock advance; an open connection keeps
    reading the file it opened, so every table of one load comes from the same version.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._con: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def connection(self) -> sqlite3.Connection:
        with self._lock:
            if self._con is None:
                if not self.path.is_file():
                    raise FileNotFoundError(f"legacy ERP database not found at {self.path} "
                                            "(sources.legacy_erp.database_path)")
                con = sqlite3.connect(f"file:{quote(str(self.path.resolve()))}?mode=ro", uri=True,
                                      check_same_thread=False)
                self._con = con
            return self._con

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def pages(self, sql: str, params: Sequence[Any] = ()) -> Iterator[list[dict[str, Any]]]:
        cur = self.connection().execute(sql, list(params))
        cols = [d[0] for d in cur.description]
        while rows := cur.fetchmany(FETCH_ROWS):
            yield [dict(zip(cols, r, strict=True)) for r in rows]

    def keys(self, spec: LegacyTable) -> set[tuple[Any, ...]]:
        cols = ", ".join(spec.key)
        return {tuple(r) for r in self.connection().execute(f"SELECT {cols} FROM {spec.table}")}

    def rows_by_key(self, spec: LegacyTable, keys: Iterable[tuple[Any, ...]]) -> Iterator[list[dict[str, Any]]]:
        """The rows of ``keys`` (the ones still there), a page per chunk of keys."""
        wanted = sorted(keys)
        match = "(" + " AND ".join(f"{k} = ?" for k in spec.key) + ")"
        for i in range(0, len(wanted), KEY_CHUNK):
            chunk = wanted[i:i + KEY_CHUNK]
            params = [v for key in chunk for v in key]
            sql = (f"SELECT * FROM {spec.table} WHERE {' OR '.join([match] * len(chunk))} "
                   f"ORDER BY {', '.join(spec.key)}")
            yield from self.pages(sql, params)
