"""The legacy ERP's tables (keys, increments, column kinds), its connection and its SQL.

The SQL is built with SQLAlchemy Core on the reflected tables, so it runs on whatever engine holds
the ERP (SQLite on the sandbox; Oracle, SQL Server, PostgreSQL or MySQL on premises): the lag
window, the key list, the reads by key. Names are matched whatever case the engine reports them
in (SQLite keeps ``INV_NO`` as declared, PostgreSQL folds unquoted names to ``inv_no``, Oracle
reports case-insensitive names in lower case through SQLAlchemy).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

log = logging.getLogger(__name__)

KEY_CHUNK = 200  # keys per read-by-key query (SQLite allows 32,766 parameters; SQL Server 2,100)
PARENT_TS = "__Q2C_PARENT_TS"  # the parent's stamp, carried by a child row while it is read
STAMP_COLUMN = "LAST_UPD_TS"


class LegacyErpUnavailable(ConnectionError):
    """The ERP's database cannot be reached (the message never holds the password)."""


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
        """The resource / warehouse table name; also how the table is named to SQLAlchemy (lower case
        is its spelling of a case-insensitive name, which unquoted ERP tables have on every engine)."""
        return self.table.lower()

    def key_of(self, record: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(record[k] for k in self.key)


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


# ----------------------------------------------------------------------------- values

def parse_stamp(text: Any) -> datetime | None:
    """A ``YYYYMMDDHHMMSS`` stamp (UTC) - or a datetime, from an engine with real timestamps - as an
    aware datetime; None when it is not one."""
    if isinstance(text, datetime):
        return text.replace(tzinfo=UTC) if text.tzinfo is None else text.astimezone(UTC)
    if not isinstance(text, str) or not _STAMP.match(text):
        return None
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def format_stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def normalize(records: Iterable[dict[str, Any]], kinds: Mapping[str, str]) -> None:
    """Rewrite the ERP's values, in place, as the text the contract reads (``ingestion.contract``).

    ``YYYYMMDD`` dates and ``YYYYMMDDHHMMSS`` stamps become ISO text; blank dates and stamps (the
    ERP's "no date") become NULL; a value that is not a real date or stamp stays as it is, so the
    contract quarantines its record with the raw value. Values a driver returns typed (a ``date``,
    a ``datetime``, a ``Decimal``, from engines with real date and numeric columns) become the same
    text the contract reads from the sandbox's file.
    """
    dates = [c for c, k in kinds.items() if k == "date"]
    stamps = [c for c, k in kinds.items() if k == "timestamp"]
    others = [c for c, k in kinds.items() if k not in ("date", "timestamp")]
    for rec in records:
        for col in dates:
            v = rec.get(col)
            if isinstance(v, str):
                if not v.strip():
                    rec[col] = None
                elif _DATE.match(v):
                    with contextlib.suppress(ValueError):  # not a real date: left for the contract
                        rec[col] = date(int(v[:4]), int(v[4:6]), int(v[6:])).isoformat()
            elif isinstance(v, datetime):
                rec[col] = v.date().isoformat()
            elif isinstance(v, date):
                rec[col] = v.isoformat()
        for col in stamps:
            v = rec.get(col)
            if isinstance(v, str) and not v.strip():
                rec[col] = None
            elif isinstance(v, str | datetime):
                parsed = parse_stamp(v)
                if parsed is not None:
                    rec[col] = parsed.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if parsed.microsecond else "%Y-%m-%dT%H:%M:%SZ")
            elif isinstance(v, date):
                rec[col] = f"{v.isoformat()}T00:00:00Z"
        for col in others:
            v = rec.get(col)
            if isinstance(v, Decimal):
                rec[col] = str(v)
            elif isinstance(v, date):
                rec[col] = v.isoformat()


# ----------------------------------------------------------------------------- the connection

def database_url(credentials: Any = None, database_path: str | Path | None = None) -> sa.URL:
    """The SQLAlchemy URL of the ERP: ``database_path`` (a SQLite file, the sandbox's) when set, else
    ``credentials`` (a URL or dlt's ``ConnectionStringCredentials``).

    A SQLite file is opened read-only (``mode=ro``): the ERP is read, never written, and a wrong path
    fails instead of creating an empty database. ``postgresql://`` without a driver means the
    installed one (SQLAlchemy 2.1 assumes psycopg 3; the project ships psycopg2).
    """
    if database_path is not None and str(database_path).strip():
        return _sqlite_read_only(Path(database_path))
    if credentials is None or (isinstance(credentials, str) and not credentials.strip()):
        raise ValueError("the legacy ERP is not configured: set sources.legacy_erp.credentials (a SQLAlchemy URL, "
                         "e.g. oracle+oracledb://user:password@host:1521/?service_name=ERP) or "
                         "sources.legacy_erp.database_path (a SQLite file)")
    if isinstance(credentials, sa.URL):
        url = credentials
    elif isinstance(credentials, str):
        try:
            url = sa.make_url(credentials)
        except Exception:  # noqa: BLE001 - the message must not echo the value (it may hold a password)
            raise ValueError("sources.legacy_erp.credentials is not a SQLAlchemy URL "
                             "(driver://user:password@host:port/database)") from None
    else:  # dlt's ConnectionStringCredentials
        url = credentials.to_url()
    if url.drivername == "postgresql" and importlib.util.find_spec("psycopg") is None \
            and importlib.util.find_spec("psycopg2") is not None:
        url = url.set(drivername="postgresql+psycopg2")
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
            and not url.database.startswith("file:"):
        return _sqlite_read_only(Path(url.database))
    return url


def _sqlite_read_only(path: Path) -> sa.URL:
    target = path.expanduser().resolve() if str(path) not in ("", "-") else path
    return sa.make_url(f"sqlite:///file:{quote(str(target))}?mode=ro&uri=true")


def sqlite_path(url: sa.URL) -> Path | None:
    """The file of a read-only SQLite URL made by ``database_url``; None for other engines."""
    if url.get_backend_name() != "sqlite" or not (url.database or "").startswith("file:"):
        return None
    from urllib.parse import unquote

    return Path(unquote(url.database[len("file:"):]))


def safe_url(url: sa.URL) -> str:
    """The URL to show: the password masked."""
    return url.render_as_string(hide_password=True)


def mask(text: str, url: sa.URL) -> str:
    """``text`` with the URL's password (as given and URL-quoted) replaced by ``***``."""
    secret = url.password
    if secret:
        for form in {str(secret), quote(str(secret), safe="")}:
            text = text.replace(form, "***")
    return text


def make_engine(url: sa.URL) -> sa.Engine:
    """An engine for the ERP; connects on first use, not here.

    SQLite gets one connection for the whole load (``StaticPool``): the sandbox replaces its file
    atomically on every clock advance and an open connection keeps reading the file it opened, so
    every table of one load comes from the same version. A connection that fails raises
    ``LegacyErpUnavailable`` naming the database with its password masked.
    """
    kwargs: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    engine = sa.create_engine(url, **kwargs)
    where = safe_url(url)
    path = sqlite_path(url)

    @sa.event.listens_for(engine, "handle_error")
    def _unavailable(ctx: Any) -> Exception | None:
        if ctx.connection is not None or ctx.is_pre_ping:  # an error of a statement, not of connecting
            return None
        if path is not None and not path.is_file():
            return LegacyErpUnavailable(f"legacy ERP database not found at {path} (sources.legacy_erp.database_path)")
        reason = mask(f"{type(ctx.original_exception).__name__}: {ctx.original_exception}".strip(), url)
        return LegacyErpUnavailable(f"cannot connect to the legacy ERP database {where} "
                                    f"(sources.legacy_erp.credentials): {reason}")

    return engine


# ----------------------------------------------------------------------------- the SQL

def column(table: sa.Table, name: str) -> sa.Column[Any]:
    """The column ``name`` of ``table``, whatever case the engine reports it in."""
    wanted = name.upper()
    for col in table.columns:
        if col.name.upper() == wanted:
            return col
    raise KeyError(f"legacy ERP table {table.name} has no column {name}")


def _since_value(stamp: sa.Column[Any], since: datetime) -> Any:
    """``since`` as the stamp column holds it: ``YYYYMMDDHHMMSS`` text (compared as text: exact on a
    fixed-width stamp), or a datetime / date where the engine has real temporal columns."""
    if isinstance(stamp.type, sa.DateTime):
        return since if stamp.type.timezone else since.astimezone(UTC).replace(tzinfo=None)
    if isinstance(stamp.type, sa.Date):
        return since.astimezone(UTC).date()
    return format_stamp(since)


def window(spec: LegacyTable, table: sa.Table, since: datetime | None, parent: sa.Table | None = None) -> sa.Select[Any]:
    """The rows to read: all, or those stamped at or after ``since``, in key order.

    Lines (``spec.parent``) are joined to their header and carry its stamp as ``PARENT_TS``.
    """
    stamp: sa.Column[Any] | None = None
    if spec.parent is not None:
        if parent is None:
            raise ValueError(f"{spec.table}: the parent table {spec.parent[0]} is needed")
        join_col = spec.parent[1]
        stamp = column(parent, STAMP_COLUMN)
        query = (sa.select(table, stamp.label(PARENT_TS))
                 .select_from(table.join(parent, column(parent, join_col) == column(table, join_col))))
    else:
        query = sa.select(table)
        if spec.cursor is not None:
            stamp = column(table, spec.cursor)
    if since is not None and stamp is not None:
        query = query.where(stamp >= _since_value(stamp, since))
    return query.order_by(*(column(table, k) for k in spec.key))


def key_list(spec: LegacyTable, table: sa.Table) -> sa.Select[Any]:
    return sa.select(*(column(table, k) for k in spec.key))


def by_keys(spec: LegacyTable, table: sa.Table, keys: Sequence[tuple[Any, ...]]) -> sa.Select[Any]:
    """The rows of ``keys`` (at most ``KEY_CHUNK`` of them), in key order."""
    cols = [column(table, k) for k in spec.key]
    if len(cols) == 1:
        match = cols[0].in_([k[0] for k in keys])
    else:  # no row-value IN on SQL Server: OR of ANDs everywhere
        match = sa.or_(*(sa.and_(*(c == v for c, v in zip(cols, key, strict=True))) for key in keys))
    return sa.select(table).where(match).order_by(*cols)
