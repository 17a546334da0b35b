"""Where the raw layer lands, by configuration: the DuckDB warehouse file (default) or PostgreSQL.

| variable | default | meaning |
| --- | --- | --- |
| ``Q2C_DESTINATION`` | ``duckdb`` | ``duckdb``: the file at ``Q2C_WAREHOUSE_PATH``; ``postgres``: a PostgreSQL database |
| ``Q2C_POSTGRES_DSN`` | (none) | the PostgreSQL connection: a libpq URI (``postgresql://user:password@host:port/db``) or ``key=value`` string |

Without ``Q2C_POSTGRES_DSN`` the Postgres credentials come from dlt's own configuration,
``destination.postgres.credentials``: the ``DESTINATION__POSTGRES__CREDENTIALS`` environment
variable (or its ``__HOST``/``__USERNAME``/... fields) or ``[destination.postgres]`` in
``.dlt/secrets.toml``. Passwords are never shown: every message and repr here masks them.

Each destination has its loader file format (``LOADER_FILE_FORMATS``). DuckDB: parquet (its
default ``insert_values`` is ~50x slower there). PostgreSQL: ``insert_values``, dlt's default
there, the one lossless and complete path in dlt 1.31: ``csv`` (``COPY``) was ~2.4x faster on
normalize+load but loads empty strings as NULL (DuckDB keeps them), and parquet (ADBC ``COPY``)
fails on a zero-row Arrow table ("Must pass schema, or at least one RecordBatch"), which the
sources yield to create empty tables.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlt.common.destination import Destination
    from dlt.destinations.impl.postgres.configuration import PostgresCredentials

DESTINATION_ENV = "Q2C_DESTINATION"
POSTGRES_DSN_ENV = "Q2C_POSTGRES_DSN"
DUCKDB = "duckdb"
POSTGRES = "postgres"
DEFAULT_DESTINATION = DUCKDB
LOADER_FILE_FORMATS: dict[str, str] = {
    DUCKDB: "parquet",
    POSTGRES: "insert_values",
}
DESTINATIONS = tuple(LOADER_FILE_FORMATS)
_DLT_SETTING = "destination.postgres.credentials (DESTINATION__POSTGRES__CREDENTIALS, or .dlt/secrets.toml)"


class DestinationConfigError(ValueError):
    """The destination configuration is unknown, incomplete or malformed (names the setting; no secrets)."""


def destination_type(value: str | None = None) -> str:
    """``value``, else ``Q2C_DESTINATION``, else ``duckdb``; validated."""
    raw = value if value is not None else os.environ.get(DESTINATION_ENV, "")
    kind = raw.strip().lower() or DEFAULT_DESTINATION
    if kind in ("postgresql", "pg"):
        kind = POSTGRES
    if kind not in DESTINATIONS:
        raise DestinationConfigError(
            f"{DESTINATION_ENV} must be one of {', '.join(repr(d) for d in DESTINATIONS)}, got {raw.strip()!r}")
    return kind


def loader_file_format(kind: str | None = None) -> str:
    """The loader file format for a destination (the configured one by default)."""
    return LOADER_FILE_FORMATS[destination_type(kind)]


def postgres_credentials(dsn: str | None = None) -> PostgresCredentials:
    """PostgreSQL credentials: ``dsn``, else ``Q2C_POSTGRES_DSN``, else dlt's ``destination.postgres.credentials``."""
    dsn = dsn if dsn is not None else os.environ.get(POSTGRES_DSN_ENV)
    if dsn is not None and dsn.strip():
        return _credentials_from_dsn(dsn.strip(), POSTGRES_DSN_ENV)
    return _credentials_from_dlt_config()


def _credentials_from_dsn(dsn: str, setting: str) -> PostgresCredentials:
    """Parse a libpq DSN (URI or ``key=value``); an error never repeats any of it (it holds the password)."""
    import psycopg2.extensions
    from dlt.destinations.impl.postgres.configuration import PostgresCredentials

    creds = PostgresCredentials()
    try:
        params = psycopg2.extensions.parse_dsn(dsn)
        creds.host = params.pop("host", None)
        creds.port = int(params.pop("port", None) or creds.port)
        creds.database = params.pop("dbname", None)
        creds.username = params.pop("user", None)
        creds.password = params.pop("password", None)
        if "connect_timeout" in params:
            creds.connect_timeout = int(params.pop("connect_timeout"))
    except Exception:
        raise DestinationConfigError(
            f"{setting} is not a valid PostgreSQL connection string; expected "
            "postgresql://user:password@host:port/database or 'host=... port=... dbname=... user=... "
            "password=...' (value not shown: it may hold a password)") from None
    creds.query = params  # sslmode, options, ... passed through to libpq
    missing = [name for name, v in (("host", creds.host), ("database", creds.database),
                                    ("user", creds.username), ("password", creds.password)) if not v]
    if missing:
        raise DestinationConfigError(f"{setting} lacks {', '.join(missing)}: {_mask(creds)}")
    creds.resolve()
    return creds


def _credentials_from_dlt_config() -> PostgresCredentials:
    from dlt.common.configuration import resolve_configuration
    from dlt.common.configuration.exceptions import ConfigurationException
    from dlt.destinations.impl.postgres.configuration import PostgresCredentials

    try:
        return resolve_configuration(PostgresCredentials(), sections=("destination", "postgres", "credentials"))
    except ConfigurationException as exc:
        missing = sorted(getattr(exc, "traces", None) or ())  # the fields dlt could not find
        partial = f" (found only some of its fields; missing: {', '.join(missing)})" if len(missing) < 4 else ""
        raise DestinationConfigError(
            f"{DESTINATION_ENV}=postgres needs credentials: set {POSTGRES_DSN_ENV} "
            f"(postgresql://user:password@host:port/database) or dlt's {_DLT_SETTING}{partial}") from None


def _mask(creds: Any) -> str:
    """``postgresql://user:***@host:port/db`` (dlt renders credentials with the password hidden)."""
    return str(creds)


DUCKDB_MEMORY_ENV = "Q2C_DUCKDB_MEMORY_LIMIT"
DEFAULT_DUCKDB_MEMORY_LIMIT = "512MB"


def make_destination(warehouse_path: str | Path | None = None, kind: str | None = None) -> Destination:
    """The dlt destination: DuckDB at ``warehouse_path``, or PostgreSQL from its credentials."""
    import dlt

    kind = destination_type(kind)
    if kind == POSTGRES:
        return dlt.destinations.postgres(credentials=postgres_credentials())
    if warehouse_path is None:
        raise DestinationConfigError(
            f"{DESTINATION_ENV}=duckdb needs the warehouse file (Q2C_WAREHOUSE_PATH) as warehouse_path")
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    # A load's memory stays bounded as tables grow: DuckDB spills past this instead of holding
    # everything (its default is 80 % of the machine's memory).
    limit = os.environ.get(DUCKDB_MEMORY_ENV, "").strip() or DEFAULT_DUCKDB_MEMORY_LIMIT
    return dlt.destinations.duckdb(credentials=DuckDbCredentials(
        str(warehouse_path), global_config={"memory_limit": limit}))


def describe(warehouse_path: str | Path | None = None, kind: str | None = None) -> str:
    """Where loads go, for logs: ``duckdb <path>`` or ``postgres postgresql://user:***@host:port/db``."""
    kind = destination_type(kind)
    if kind == POSTGRES:
        return f"postgres {_mask(postgres_credentials())}"
    return f"duckdb {warehouse_path}"
