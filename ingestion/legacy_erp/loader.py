"""The table loader ``sql_table`` runs for each legacy table: window, contract, reconciliation, metrics.

dlt's ``sql_table`` reflects the table (when the load runs), builds the resource and its hints and
calls its table loader's ``load_rows``; this one (``table_loader_class=LegacyTableLoader``) reads
what dlt's own ``TableLoader`` reads, the same way (a SQLAlchemy connection, ``yield_per``
partitions, dlt's Arrow conversion), and adds what the legacy ERP needs around it:

1. the lag window: the rows stamped at or after ``cursor - lag`` (all rows on the first run), in
   key order; lines read with their header's stamp;
2. each batch typed under the column contract, vectorized (``ingestion.legacy_erp.arrow``), or
   through the contract's per-record path when a value does not fit, which quarantines its record;
3. key reconciliation: tombstones for keys gone from the ERP, reads by key for keys the warehouse
   lacks (changes that arrived later than the lag window);
4. the cursor (newest stamp read) and the contract in the resource's state, and a metrics row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from dlt.sources.sql_database import TableLoader
from dlt.sources.sql_database.arrow_helpers import row_tuples_to_arrow

from ingestion.contract import Contract, ResourceRun
from ingestion.deletions import deletes, warehouse_keys
from ingestion.legacy_erp import arrow
from ingestion.legacy_erp.helpers import (
    KEY_CHUNK,
    PARENT_TS,
    TABLES,
    LegacyTable,
    by_keys,
    key_list,
    normalize,
    parse_stamp,
    window,
)
from ingestion.validation import screen

SYSTEM = "legacy_erp"
SETTINGS = "q2c_legacy_erp"  # the key of the settings in sql_table's backend_kwargs
QUARANTINE_MEMORY = 10_000  # quarantined keys remembered in state, at most


@dataclass(frozen=True)
class Settings:
    lag: timedelta


class LegacyTableLoader(TableLoader):
    """``sql_table``'s loader for one legacy table (its settings come in ``backend_kwargs``)."""

    def load_rows(self, backend_kwargs: dict[str, Any] | None = None) -> Iterator[Any]:
        options = dict(backend_kwargs or {})
        settings: Settings = options.pop(SETTINGS)
        spec = TABLES[self.table.name.upper()]
        yield from _TableRun(self, spec, settings, tz=options.get("tz", "UTC")).rows()

    def batches(self, query: sa.Select[Any]) -> Iterator[tuple[list[str], list[tuple[Any, ...]]]]:
        """The query's rows, ``chunk_size`` at a time, with the column names in upper case."""
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=self.chunk_size).execute(query)
            try:
                names = [c.upper() for c in result.keys()]  # noqa: SIM118 - a result, not a dict
                for partition in result.partitions(size=self.chunk_size):
                    yield names, [tuple(row) for row in partition]
            finally:
                result.close()

    def keys(self, query: sa.Select[Any]) -> set[tuple[Any, ...]]:
        """The rows of a query without parameters (the key list), as tuples.

        Read with the driver's cursor, the statement compiled by SQLAlchemy for the engine: the whole
        key list is read every run, and SQLAlchemy's rows cost about half again as much for it.
        """
        sql = str(query.compile(self.engine))
        out: set[tuple[Any, ...]] = set()
        with self.engine.connect() as conn:
            cursor = conn.connection.cursor()
            try:
                cursor.execute(sql)
                while rows := cursor.fetchmany(self.chunk_size):
                    out.update(map(tuple, rows))
            finally:
                cursor.close()
        return out

    def reflect(self, name: str) -> sa.Table:
        """Another table of the same database (and schema), reflected into this table's metadata."""
        metadata = self.table.metadata
        key = f"{metadata.schema}.{name}" if metadata.schema else name
        return metadata.tables.get(key) or sa.Table(name, metadata, autoload_with=self.engine)


class _TableRun:
    """One load of one table."""

    def __init__(self, loader: LegacyTableLoader, spec: LegacyTable, settings: Settings, tz: str) -> None:
        self.loader, self.spec, self.settings, self.tz = loader, spec, settings, tz
        self.state = dlt.current.resource_state()
        self.contract = Contract.from_state(self.state.get("contract"))
        self.contract.admit(spec.kinds)
        cursor: str | None = self.state.get("cursor")
        self.newest = datetime.fromisoformat(cursor) if cursor else None
        self.run = ResourceRun(SYSTEM, spec.name, key=spec.key[0], mode="incremental" if cursor else "full")
        self.seen: set[tuple[Any, ...]] = set()
        self.loaded_now: set[tuple[Any, ...]] = set()

    def rows(self) -> Iterator[Any]:
        spec, loader, state = self.spec, self.loader, self.state
        # sql_table has just set the reflected columns (names only: no types at minimal reflection) as the
        # resource's column hints; the quarantine, metrics and tombstone tables this resource also writes
        # would inherit them. The types come from the contract, the key from the primary_key hint.
        yield dlt.mark.with_hints([], dlt.mark.make_hints(columns={}))
        since = None if self.newest is None else self.newest - self.settings.lag
        parent = loader.reflect(spec.parent[0].lower()) if spec.parent else None
        for names, rows in loader.batches(window(spec, loader.table, since, parent)):
            yield from self.convert(names, rows)

        present = loader.keys(key_list(spec, loader.table))
        loaded = warehouse_keys(spec.name, spec.key)
        quarantined = {tuple(k) for k in state.get("quarantined", [])}
        if loaded is not None:
            gone = (loaded | self.seen) - present if present or not loaded else set()
            yield from deletes(SYSTEM, spec.name, gone, spec.key, self.contract.columns)
            missing = sorted(present - loaded - self.seen - quarantined)
            if missing:
                self.run.mode += "+gapfill"
                for i in range(0, len(missing), KEY_CHUNK):
                    for names, rows in loader.batches(by_keys(spec, loader.table, missing[i:i + KEY_CHUNK])):
                        yield from self.convert(names, rows)
        quarantined = (quarantined | (self.seen - self.loaded_now)) - self.loaded_now
        quarantined &= present
        state["quarantined"] = [list(k) for k in sorted(quarantined)] if len(quarantined) <= QUARANTINE_MEMORY else []
        state["contract"] = self.contract.to_state()
        if self.newest is not None:
            state["cursor"] = self.newest.isoformat()
        yield self.run.finish(cursor=state.get("cursor"))

    # ------------------------------------------------------------------ one batch

    def convert(self, names: list[str], rows: Sequence[tuple[Any, ...]]) -> Iterator[Any]:
        """Typed Arrow for the batch (vectorized), or the contract's per-record path when a value does not fit."""
        if not rows:
            return
        try:  # dlt's conversion, as its pyarrow backend does it (types from the values: no reflected types)
            table = row_tuples_to_arrow(rows, columns={n: {"name": n} for n in names}, tz=self.tz)
        except Exception:  # noqa: BLE001 - e.g. one column mixing types (SQLite allows it): per record
            yield from self._per_record([dict(zip(names, r, strict=True)) for r in rows])
            return
        stamp = PARENT_TS if self.spec.parent else self.spec.cursor
        if stamp in table.column_names:
            self._advance(arrow.stamps(table.column(stamp)))
        if PARENT_TS in table.column_names:
            table = table.drop_columns([PARENT_TS])
        keys = set(zip(*(table.column(k).to_pylist() for k in self.spec.key), strict=True))
        self.seen |= keys
        out = arrow.typed(table, self.contract, self.spec.key)
        if out is None or screen(out, SYSTEM, self.spec.name):  # a value that does not fit, or cannot be right
            yield from self._per_record(table.to_pylist(), stamped=True)
            return
        self.run.extracted += out.num_rows
        self.run.loaded += out.num_rows
        self.loaded_now |= keys
        yield out

    def _per_record(self, records: list[dict[str, Any]], stamped: bool = False) -> Iterator[Any]:
        """The contract's per-record path; ``stamped``: the batch's keys and stamps are already counted."""
        spec = self.spec
        if not stamped:
            self.seen.update(spec.key_of(r) for r in records)
            column = PARENT_TS if spec.parent else spec.cursor
            if column is not None:
                parsed = [p for p in (parse_stamp(r.get(column)) for r in records) if p is not None]
                self._advance(pa.array(parsed, arrow.TIMESTAMP))
        for r in records:
            r.pop(PARENT_TS, None)
        normalize(records, self.contract.columns)
        for item in self.run.convert(records, self.contract):
            if isinstance(item, pa.Table):
                self.loaded_now.update(zip(*(item.column(k).to_pylist() for k in spec.key), strict=True))
                item = arrow.keys_not_null(item, spec.key)
            yield item

    def _advance(self, stamps: Any) -> None:
        if stamps is None or len(stamps) == stamps.null_count:
            return
        top = pc.max(stamps).as_py()
        if top is not None and (self.newest is None or top > self.newest):
            self.newest = top
