"""One way to open the warehouse the dbt models live in: the DuckDB file or the PostgreSQL database.

Everything that reads models or keeps state next to them outside dbt (the GX validations, the
writeback engine and its sync log, the alerts' control queue, the run summary) opens the
warehouse here, so a deployment on PostgreSQL (``Q2C_DBT_TARGET``/``Q2C_DESTINATION`` =
``postgres``) needs no other change.

``connect()`` returns a DuckDB connection, or a :class:`PostgresConnection`: the part of DuckDB's
connection API those callers use (``execute(sql, params)`` with ``?`` placeholders returning a
cursor with ``fetchone``/``fetchall``/``description``, ``close``, and ``with``), over psycopg2
in autocommit mode so the callers' own ``begin transaction``/``commit`` statements delimit
transactions. The SQL they send is written to run on both engines. Values always travel as
parameters, never formatted into the statement.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from orchestration import settings

DUCKDB = "duckdb"
POSTGRES = "postgres"


def kind() -> str:
    """Where the models are: the dbt target (``duckdb`` or ``postgres``)."""
    from orchestration.dbt_project import dbt_target

    return dbt_target()


def exists(path: str | Path | None = None) -> bool:
    """Is there a warehouse to read? (A DuckDB file, ``path`` or ``Q2C_WAREHOUSE_PATH``, may not
    have been created yet; a server always is.)"""
    return kind() == POSTGRES or Path(path or settings.warehouse_path()).exists()


def connect(read_only: bool = False, path: str | Path | None = None) -> Any:
    """A connection to the warehouse: DuckDB at ``path`` (default ``Q2C_WAREHOUSE_PATH``), or PostgreSQL."""
    if kind() == POSTGRES:
        return PostgresConnection.open()
    return duckdb.connect(str(path or settings.warehouse_path()), read_only=read_only)


def errors() -> tuple[type[BaseException], ...]:
    """The exception types a failed statement raises on either engine (for ``except``)."""
    import psycopg2

    return (duckdb.Error, psycopg2.Error)


def read_frame(con: Any, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    """The result of ``sql`` as a DataFrame, from either kind of connection."""
    if isinstance(con, duckdb.DuckDBPyConnection):
        return con.execute(sql, params or []).df()
    cur = con.execute(sql, params or [])
    return pd.DataFrame.from_records(cur.fetchall(), columns=[d[0] for d in cur.description])


_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|\?|%")


def to_pyformat(sql: str) -> str:
    """DuckDB's ``?`` placeholders as psycopg2's ``%s`` (and a literal ``%`` as ``%%``), leaving
    quoted strings, quoted identifiers and comments as they are."""
    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        return {"?": "%s", "%": "%%"}.get(token, token)

    return _TOKENS.sub(swap, sql)


class PostgresConnection:
    """A psycopg2 connection that takes DuckDB-style statements (see the module docstring)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._conn.autocommit = True

    @classmethod
    def open(cls, dsn: str | None = None) -> PostgresConnection:
        import psycopg2

        from ingestion.destinations import postgres_credentials

        creds = postgres_credentials(dsn)
        params = {"host": creds.host, "port": creds.port, "dbname": creds.database, "user": creds.username,
                  "password": creds.password, "connect_timeout": creds.connect_timeout, **(creds.query or {})}
        try:
            conn = psycopg2.connect(**{k: v for k, v in params.items() if v is not None},
                                    options="-c TimeZone=UTC")
        except psycopg2.OperationalError as exc:
            # libpq's message names host and database, never the password; add which setting it came from.
            raise ConnectionError(f"cannot connect to the PostgreSQL warehouse {creds}: "
                                  f"{str(exc).strip()}") from None
        return cls(conn)

    def execute(self, sql: str, params: list[Any] | tuple[Any, ...] | None = None) -> Any:
        cur = self._conn.cursor()
        if params:
            cur.execute(to_pyformat(sql), list(params))
        else:  # psycopg2 reads no placeholders (and no %) without parameters
            cur.execute(sql)
        return cur

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> PostgresConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
