"""Legacy ERP source: the on-premises AR database (customers, invoice headers and lines, receipts).

The ERP is a SQL database with its own, older schema (``sandbox/legacy_erp.py``; on the sandbox a
SQLite file at ``sources.legacy_erp.database_path``, set by ``orchestration.sandbox_link``). It is
read with the standard library's ``sqlite3`` (read-only, one snapshot per load) rather than dlt's
``sql_database`` source, for the types and the increments:

- types: ``sql_database``'s pyarrow backend types columns from the declared SQL types, so the
  ERP's ``YYYYMMDD`` dates and ``YYYYMMDDHHMMSS`` stamps and its text amounts would land as text,
  and a bad value would fail the load. Here every column has a pinned kind in a ``Contract``
  (``ingestion.contract``): ``*_CENTS`` stay integers (cents, exact), ``*_DT`` become dates,
  ``LAST_UPD_TS`` a UTC timestamp, the two-decimal text amounts (``RCPT_AMT``, ``QTY``,
  ``UNIT_PRICE``) floats (exact to the cent at these magnitudes; cast to decimal downstream). A value
  that does not convert quarantines its record (``q2c_quarantine``) instead of failing the load.
- increments: ``sql_database``'s incremental cannot apply a lag to a text cursor. Here each table
  with ``LAST_UPD_TS`` reads the rows stamped at or after ``cursor - lag`` (``lag_days``, default
  5; text comparison is exact on fixed-width stamps), ordered by primary key, and merges on the
  primary key. ``AR_INVOICE_LINE`` has no stamp: its rows are read with their header's
  (``AR_INVOICE_HDR.LAST_UPD_TS``), since this ERP writes an invoice's lines with it. The cursor
  (newest stamp read) lives in the resource's state and commits with the load.
- deletes and gaps: the key list of every table is read every run (a local query) and compared
  with the keys in the warehouse. Keys gone from the ERP are merged as tombstones (the key plus
  ``_q2c_deleted = true``, dlt's ``hard_delete`` column), which delete the rows, and logged in
  ``q2c_deletions``; keys the ERP has but the warehouse lacks (a change that arrived later than
  the lag window) are read by key and loaded. Records quarantined before are not re-read that way
  (their keys are kept in state), so a bad record is quarantined once per change, not every run.

Every resource ends with a metrics row in ``q2c_load_metrics``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from ingestion.contract import Contract, ResourceRun, batched
from ingestion.legacy_erp.helpers import (
    PARENT_TS,
    TABLES,
    LegacyDatabase,
    LegacyTable,
    format_stamp,
    normalize,
    parse_stamp,
)
from ingestion.netsuite.helpers import deletes, warehouse_keys

__all__ = ["TABLES", "legacy_erp_source"]

SYSTEM = "legacy_erp"
LAG_DAYS = 5.0
BATCH_ROWS = 20_000
QUARANTINE_MEMORY = 10_000  # quarantined keys remembered in state, at most


def _table_keys(spec: LegacyTable, table: pa.Table) -> set[tuple[Any, ...]]:
    cols = [table.column(k).to_pylist() for k in spec.key]
    return set(zip(*cols, strict=True))


def _resource(db: LegacyDatabase, spec: LegacyTable, *, lag: timedelta, batch_rows: int) -> DltResource:
    def rows() -> Iterator[Any]:
        state = dlt.current.resource_state()
        contract = Contract.from_state(state.get("contract"))
        contract.admit(spec.kinds)
        cursor: str | None = state.get("cursor")
        newest = datetime.fromisoformat(cursor) if cursor else None
        since = None if newest is None else format_stamp(newest - lag)
        run = ResourceRun(SYSTEM, spec.name, key=spec.key[0], mode="incremental" if cursor else "full")
        seen: set[tuple[Any, ...]] = set()
        loaded_now: set[tuple[Any, ...]] = set()

        def convert(batch: list[dict[str, Any]]) -> Iterator[Any]:
            nonlocal newest
            stamps = [r.pop(PARENT_TS, None) if spec.parent else r.get(spec.cursor or "") for r in batch]
            for stamp in stamps:
                parsed = parse_stamp(stamp) if stamp else None
                if parsed is not None and (newest is None or parsed > newest):
                    newest = parsed
            normalize(batch, contract.columns)
            seen.update(spec.key_of(r) for r in batch)
            for item in run.convert(batch, contract):
                if isinstance(item, pa.Table):
                    loaded_now.update(_table_keys(spec, item))
                yield item

        sql, params = spec.select(since)
        for batch in batched(db.pages(sql, params), batch_rows):
            yield from convert(batch)

        present = db.keys(spec)
        loaded = warehouse_keys(spec.name, spec.key)
        quarantined = {tuple(k) for k in state.get("quarantined", [])}
        if loaded is not None:
            gone = (loaded | seen) - present if present or not loaded else set()
            yield from deletes(SYSTEM, spec.name, gone, spec.key, contract.columns)
            missing = present - loaded - seen - quarantined
            if missing:
                run.mode += "+gapfill"
                for batch in batched(db.rows_by_key(spec, missing), batch_rows):
                    yield from convert(batch)
        quarantined = (quarantined | (seen - loaded_now)) - loaded_now
        quarantined &= present
        state["quarantined"] = [list(k) for k in sorted(quarantined)] if len(quarantined) <= QUARANTINE_MEMORY else []
        state["contract"] = contract.to_state()
        if newest is not None:
            state["cursor"] = newest.isoformat()
        yield run.finish(cursor=state.get("cursor"))

    return dlt.resource(rows, name=spec.name, primary_key=list(spec.key), write_disposition="merge",
                        max_table_nesting=0)


@dlt.source(name="legacy_erp", max_table_nesting=0)
def legacy_erp_source(
    database_path: str = dlt.config.value,
    tables: Sequence[str] = tuple(TABLES),
    lag_days: float = LAG_DAYS,
    batch_rows: int = BATCH_ROWS,
) -> Iterable[DltResource]:
    """The legacy ERP's receivables (entities before their cut-over to NetSuite)."""
    unknown = set(tables) - set(TABLES)
    if unknown:
        raise ValueError(f"unknown legacy ERP table(s) {sorted(unknown)}; known: {sorted(TABLES)}")
    db = LegacyDatabase(database_path)  # opened on first read, not here (definitions load without it)
    lag = timedelta(days=float(lag_days))
    return [_resource(db, TABLES[t], lag=lag, batch_rows=batch_rows) for t in tables]
