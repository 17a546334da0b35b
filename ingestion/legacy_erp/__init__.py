"""Legacy ERP source: the on-premises AR database (customers, invoice headers and lines, receipts).

The ERP is a SQL database with its own, older schema (``sandbox/legacy_erp.py``), read with dlt's
``sql_database`` source: one ``sql_table`` resource per table (SQLAlchemy, so any engine with a
driver: Oracle, SQL Server, PostgreSQL, MySQL; on the sandbox a SQLite file), pyarrow backend.

Configuration (``sources.legacy_erp``): ``credentials``, a SQLAlchemy URL (a secret: it is never
logged, and errors show it with the password masked), e.g. ``SOURCES__LEGACY_ERP__CREDENTIALS=
postgresql://user:password@erp-host:5432/erp``; or ``database_path``, a SQLite file, opened
read-only (the sandbox link sets it; when set it wins). ``db_schema`` names the ERP's schema when
it is not the connection's default; ``lag_days`` (5) and ``batch_rows`` (20,000) tune the reads.

How ``sql_table`` is used, and why not more of it:

- ``defer_table_reflect``: the tables are reflected when the load runs, so building the source
  (e.g. Dagster definitions) never connects; ``reflection_level="minimal"`` and dlt's
  ``remove_nullability_adapter`` as ``table_adapter_callback``: the warehouse types come from the
  column contract, not from the ERP's declared types (its dates, stamps and amounts are text), and
  only the key is NOT NULL (tombstones carry only the key);
- ``table_loader_class=LegacyTableLoader`` (``loader.py``) reads each table the way dlt's
  ``TableLoader`` does and adds the window, the contract, the reconciliation and the metrics;
- dlt's ``incremental`` is not used, on purpose: its lag works on ISO text and datetimes, not on
  this ERP's ``YYYYMMDDHHMMSS`` stamps; as a pipe step it would drop the rows read by key (older
  than the window, by definition) and it rejects the quarantine, metrics and tombstone items the
  resource yields. The cursor (the newest stamp read) is kept in the resource's state, as every
  q2c source does, and commits with the load.

What each table's run does (``loader.py``):

- types: every column has a pinned kind in a ``Contract`` (``ingestion.contract``): ``*_CENTS`` stay
  integers (cents, exact), ``*_DT`` become dates, ``LAST_UPD_TS`` a UTC timestamp, the two-decimal
  text amounts (``RCPT_AMT``, ``QTY``, ``UNIT_PRICE``) floats (exact to the cent at these
  magnitudes; cast to decimal downstream). Batches are cast with Arrow compute; a batch with a value
  that does not convert goes through the contract's per-record path, which quarantines that record
  (``q2c_quarantine``: record id, field, reason, raw payload) instead of failing the load.
- increments: each table with ``LAST_UPD_TS`` reads the rows stamped at or after ``cursor - lag``
  (``lag_days``; a text comparison, exact on fixed-width stamps, or a timestamp comparison where
  the column is one), ordered by primary key, and merges on the primary key. ``AR_INVOICE_LINE``
  has no stamp: its rows are read joined to their header and follow its ``LAST_UPD_TS``.
- deletes and gaps: the key list of every table is read every run and compared with the keys in
  the warehouse. Keys gone from the ERP are merged as tombstones (the key plus ``_q2c_deleted =
  true``, dlt's ``hard_delete`` column), which delete the rows, and logged in ``q2c_deletions``;
  keys the ERP has but the warehouse lacks (a change that arrived later than the lag window) are
  read by key and loaded. Records quarantined before are not re-read that way (their keys are kept
  in state), so a bad record is quarantined once per change, not every run.

Every resource ends with a metrics row in ``q2c_load_metrics``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta

import dlt
import sqlalchemy as sa
from dlt.common.configuration.specs import ConnectionStringCredentials
from dlt.extract.resource import DltResource
from dlt.sources.sql_database import remove_nullability_adapter, sql_table

from ingestion.legacy_erp.helpers import (
    TABLES,
    LegacyErpUnavailable,
    LegacyTable,
    database_url,
    make_engine,
    safe_url,
)
from ingestion.legacy_erp.loader import SETTINGS, LegacyTableLoader, Settings

__all__ = ["TABLES", "LegacyErpUnavailable", "legacy_erp_source"]

log = logging.getLogger(__name__)

LAG_DAYS = 5.0
BATCH_ROWS = 20_000


def _resource(engine: sa.Engine, spec: LegacyTable, settings: Settings, db_schema: str | None,
              batch_rows: int) -> DltResource:
    resource = sql_table(
        credentials=engine,
        table=spec.name,
        schema=db_schema,
        backend="pyarrow",
        chunk_size=batch_rows,
        reflection_level="minimal",
        defer_table_reflect=True,
        table_adapter_callback=remove_nullability_adapter,
        table_loader_class=LegacyTableLoader,
        backend_kwargs={SETTINGS: settings},
        primary_key=list(spec.key),
        write_disposition="merge",
    )
    resource.max_table_nesting = 0
    return resource


@dlt.source(name="legacy_erp", max_table_nesting=0)
def legacy_erp_source(
    credentials: ConnectionStringCredentials | None = None,
    database_path: str | None = None,
    db_schema: str | None = None,
    tables: Sequence[str] = tuple(TABLES),
    lag_days: float = LAG_DAYS,
    batch_rows: int = BATCH_ROWS,
) -> Iterable[DltResource]:
    """The legacy ERP's receivables (entities before their cut-over to NetSuite).

    ``credentials``: the ERP's SQLAlchemy URL; ``database_path``: a SQLite file instead (wins when set).
    """
    unknown = set(tables) - set(TABLES)
    if unknown:
        raise ValueError(f"unknown legacy ERP table(s) {sorted(unknown)}; known: {sorted(TABLES)}")
    url = database_url(credentials, database_path)
    log.info("legacy ERP: reading %s", safe_url(url))
    engine = make_engine(url)  # connects on the first read, not here (definitions load without the ERP)
    settings = Settings(lag=timedelta(days=float(lag_days)))
    return [_resource(engine, TABLES[t], settings, db_schema, int(batch_rows)) for t in tables]
