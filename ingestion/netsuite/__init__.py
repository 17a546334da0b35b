"""NetSuite cloud ERP source, over SuiteQL: every table the ERP serves, typed, incremental, with deletes.

One resource per table (``helpers.TABLES``), merged on its primary key (``id``; transaction lines on
``(transaction, id)``: NetSuite numbers lines within their transaction). Every query orders by the
key, as NetSuite requires for stable paging, and a read longer than SuiteQL's 100,000-row ceiling
continues with a new query after the last key read.

- Reference tables (subsidiary, currency, term, account, salestaxitem, nexus, accountingperiod,
  currencyrate: small, and without a modification stamp for most) are re-read whole every run.
- customer, job and transaction load incrementally on ``lastmodifieddate``, transactionline on
  ``linelastmodifieddate``. The cursor is the newest value loaded, kept in the resource's state
  (it commits with the load package, so a failed run starts again from the last committed cursor).
  Each run reads the rows stamped at or after ``cursor - lag`` (``lag_days``, default 5): NetSuite
  commits some changes
  days after the time they carry (payments entered late: ``lastmodifieddate`` = entry time), and
  the sandbox's arrive up to ~4 days late. Re-reading the window is idempotent thanks to the merge.
- Types: NetSuite returns every value as text (numbers the Oracle way, ``.5``; flags ``T``/``F``)
  and leaves NULL columns out. ``helpers.TABLES`` declares each column's kind (ids and references
  int, amounts float, dates date, stamps timestamp, flags bool) and pins it in the resource's
  ``Contract`` (``ingestion.contract``): a value that no longer converts (schema drift) sends its
  record to ``q2c_quarantine``; a column NetSuite adds joins the table as text. ``M/D/YYYY`` dates
  (NetSuite's user-preference format) are rewritten as ISO before the contract reads them.
- Deletes: a deleted NetSuite row simply vanishes from SuiteQL, so deletes are found by key
  reconciliation: the keys NetSuite still has are compared with the keys loaded in the warehouse,
  and each key that is gone is merged as a *tombstone* (the key plus ``_q2c_deleted = true``, a
  column with dlt's ``hard_delete`` hint), which deletes the row: raw tables mirror what NetSuite
  serves, so downstream models need no filter. Each deleted key is also appended to
  ``q2c_deletions`` (system, object, record id, detected at) as an audit trail.

  When: reference tables every run (their whole read is the key list, no extra query); the
  incremental tables on their first (full) read, and afterwards by a full key scan
  (``SELECT <key> FROM t ORDER BY <key>``) every ``reconcile_every`` runs (default 8; 0 = only when
  asked), when asked (``reconcile=True``, ``SOURCES__NETSUITE__RECONCILE=true``), or whenever a
  one-row probe's ``totalResults`` shows NetSuite holding fewer rows than the warehouse plus this
  run's rows (which proves a delete happened; one request per table and run). A read that returns
  no keys at all never deletes a non-empty table.

Every resource ends with a metrics row in ``q2c_load_metrics`` (``mode`` says full/incremental and
whether keys were scanned; ``cursor_reached`` the new cursor).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import dlt
from dlt.extract.resource import DltResource

from ingestion.contract import Contract, ResourceRun, batched
from ingestion.deletions import deletes, warehouse_keys
from ingestion.netsuite.helpers import (
    INCREMENTAL_TABLES,
    REFERENCE_TABLES,
    TABLES,
    NetSuiteClient,
    NsTable,
    normalize_dates,
    suiteql_timestamp,
)

__all__ = ["INCREMENTAL_TABLES", "REFERENCE_TABLES", "TABLES", "netsuite_source", "suiteql_timestamp"]

log = logging.getLogger(__name__)
SYSTEM = "netsuite"
LAG_DAYS = 5.0
BATCH_ROWS = 20_000
RECONCILE_EVERY = 8


def _keys(spec: NsTable, batch: Sequence[dict[str, Any]], into: set[tuple[Any, ...]]) -> bool:
    """Add the batch's keys to ``into``; False if a record's key is unreadable (then nothing is deleted)."""
    try:
        into.update(spec.key_of(r) for r in batch)
    except (KeyError, TypeError, ValueError):
        return False
    return True


def _gone(system: str, table: str, loaded: set[tuple[Any, ...]], present: set[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    if not present and loaded:
        log.warning("%s %s: the source returned no keys; not deleting the %d loaded rows", system, table, len(loaded))
        return set()
    return loaded - present


def _reference_resource(client: NetSuiteClient, spec: NsTable, batch_rows: int) -> DltResource:
    def rows() -> Iterator[Any]:
        state = dlt.current.resource_state()
        contract = Contract.from_state(state.get("contract"))
        contract.admit(spec.kinds)
        run = ResourceRun(SYSTEM, spec.name, key="id", mode="full")
        seen: set[tuple[Any, ...]] = set()
        keys_ok = True
        for batch in batched(client.keyset_pages(spec.name, spec.key), batch_rows):
            normalize_dates(batch, contract.columns)
            keys_ok = _keys(spec, batch, seen) and keys_ok
            yield from run.convert(batch, contract)
        state["contract"] = contract.to_state()
        loaded = warehouse_keys(spec.name, spec.key) if keys_ok else None
        if loaded is not None:
            yield from deletes(SYSTEM, spec.name, _gone(SYSTEM, spec.name, loaded, seen), spec.key, contract.columns)
        yield run.finish()

    return dlt.resource(rows, name=spec.name, primary_key=list(spec.key), write_disposition="merge",
                        max_table_nesting=0)


def _incremental_resource(client: NetSuiteClient, spec: NsTable, *, lag: timedelta, batch_rows: int,
                          reconcile_every: int, reconcile: bool) -> DltResource:
    assert spec.cursor is not None
    cursor_column = spec.cursor

    def rows() -> Iterator[Any]:
        state = dlt.current.resource_state()
        contract = Contract.from_state(state.get("contract"))
        contract.admit(spec.kinds)
        cursor: str | None = state.get("cursor")
        where = None
        if cursor is not None:
            where = f"{cursor_column} >= {suiteql_timestamp(datetime.fromisoformat(cursor) - lag)}"
        run = ResourceRun(SYSTEM, spec.name, key="id", mode="incremental" if cursor else "full",
                          cursor_column=cursor_column, cursor=cursor)
        seen: set[tuple[Any, ...]] = set()
        keys_ok = True
        for batch in batched(client.keyset_pages(spec.name, spec.key, where), batch_rows):
            normalize_dates(batch, contract.columns)
            keys_ok = _keys(spec, batch, seen) and keys_ok
            yield from run.convert(batch, contract)
        state["contract"] = contract.to_state()
        if run.cursor() is not None:
            state["cursor"] = run.cursor()
        runs = int(state.get("runs", 0)) + 1
        state["runs"] = runs
        loaded = warehouse_keys(spec.name, spec.key) if keys_ok else None
        if loaded is not None:
            if cursor is None:  # a full read: its keys are all NetSuite has
                yield from deletes(SYSTEM, spec.name, _gone(SYSTEM, spec.name, loaded, seen), spec.key,
                                   contract.columns)
            elif _scan_due(client, spec, len(loaded | seen), runs, reconcile_every, reconcile):
                run.mode = "incremental+keyscan"
                present: set[tuple[Any, ...]] = set()
                scan_ok = True
                for page in client.keyset_pages(spec.name, spec.key, columns=", ".join(spec.key)):
                    scan_ok = _keys(spec, page, present) and scan_ok
                if scan_ok:
                    yield from deletes(SYSTEM, spec.name, _gone(SYSTEM, spec.name, loaded | seen, present),
                                       spec.key, contract.columns)
        yield run.finish(cursor=state.get("cursor"))

    return dlt.resource(rows, name=spec.name, primary_key=list(spec.key), write_disposition="merge",
                        max_table_nesting=0)


def _scan_due(client: NetSuiteClient, spec: NsTable, known: int, runs: int, every: int, asked: bool) -> bool:
    """Whether to scan all keys this run: when asked, on schedule, or when NetSuite holds fewer rows
    than the warehouse will (a delete happened)."""
    if asked or (every > 0 and runs % every == 0):
        return True
    total = client.suiteql_total(f"SELECT {', '.join(spec.key)} FROM {spec.name}", what=f"SuiteQL {spec.name} count")
    return total is not None and total < known


@dlt.source(name="netsuite", max_table_nesting=0)
def netsuite_source(
    base_url: str = dlt.config.value,
    client_id: str = dlt.config.value,
    client_secret: str = dlt.secrets.value,
    ca_bundle: str | None = None,
    tables: Sequence[str] = tuple(TABLES),
    lag_days: float = LAG_DAYS,
    batch_rows: int = BATCH_ROWS,
    reconcile_every: int = RECONCILE_EVERY,
    reconcile: bool = False,
) -> Iterable[DltResource]:
    """Every SuiteQL table of the ERP: reference tables re-read whole, the rest incrementally."""
    unknown = set(tables) - set(TABLES)
    if unknown:
        raise ValueError(f"unknown NetSuite table(s) {sorted(unknown)}; known: {sorted(TABLES)}")
    client = NetSuiteClient(base_url, client_id, client_secret, ca_bundle)
    lag = timedelta(days=float(lag_days))
    out = []
    for name in tables:
        spec = TABLES[name]
        if spec.cursor is None:
            out.append(_reference_resource(client, spec, batch_rows))
        else:
            out.append(_incremental_resource(client, spec, lag=lag, batch_rows=batch_rows,
                                             reconcile_every=reconcile_every, reconcile=reconcile))
    return out
