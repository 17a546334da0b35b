"""The writeback engine: read a payload model, diff it against the last synced state, send the difference.

A payload model has one row per target record, an ``external_id`` and a ``content_hash``.
Records whose hash equals the last state the target accepted are not sent, so an unchanged
rerun sends nothing. State is written after every batch, so a run that dies part-way resends
only the batch that was in flight, and that batch's requests are idempotent (upsert by
external id, or an idempotency key from record key and content hash).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from reverse_etl import state
from reverse_etl.sinks import Change, Outcome, Sink

log = logging.getLogger(__name__)

KEY_COLUMN = "external_id"
HASH_COLUMN = "content_hash"


class PayloadError(ValueError):
    """The payload model cannot be synced as it stands (names the model and the problem)."""


@dataclass
class SyncResult:
    target: str
    sync_run_id: str
    dry_run: bool
    payload_rows: int = 0
    to_create: int = 0
    to_update: int = 0
    unchanged: int = 0
    succeeded: int = 0
    failed: int = 0
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return self.succeeded + self.failed

    def as_metadata(self) -> dict[str, Any]:
        return {"target": self.target, "sync_run_id": self.sync_run_id, "dry_run": self.dry_run,
                "payload_rows": self.payload_rows, "to_create": self.to_create, "to_update": self.to_update,
                "unchanged": self.unchanged, "succeeded": self.succeeded, "failed": self.failed}


def read_payload(con: duckdb.DuckDBPyConnection, relation: str) -> list[dict[str, Any]]:
    """All rows of a payload model (``schema.table``), as dicts, checking the key is usable."""
    schema, _, table = relation.partition(".")
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table]).fetchone()
    if not exists or not exists[0]:
        raise PayloadError(f"payload model {relation} does not exist in the warehouse (has dbt built it?)")
    cur = con.execute(f'select * from "{schema}"."{table}"')
    columns = [d[0] for d in cur.description]
    for needed in (KEY_COLUMN, HASH_COLUMN):
        if needed not in columns:
            raise PayloadError(f"payload model {relation} has no column {needed!r}")
    rows = [dict(zip(columns, r, strict=True)) for r in cur.fetchall()]
    seen: set[str] = set()
    duplicates: set[str] = set()
    for row in rows:
        key = row[KEY_COLUMN]
        if key is None:
            raise PayloadError(f"payload model {relation} has a row with a null {KEY_COLUMN}")
        if key in seen:
            duplicates.add(key)
        seen.add(key)
    if duplicates:
        sample = ", ".join(sorted(duplicates)[:5])
        raise PayloadError(f"payload model {relation}: {KEY_COLUMN} is not unique "
                           f"({len(duplicates)} duplicated, e.g. {sample}); refusing to sync")
    return rows


def diff(rows: list[dict[str, Any]], synced: dict[str, state.SyncedRecord],
         payload_of: Callable[[dict[str, Any]], dict[str, Any]]) -> tuple[list[Change], int]:
    """Changes to send (new and changed records, in key order) and the count of unchanged ones."""
    changes: list[Change] = []
    unchanged = 0
    for row in sorted(rows, key=lambda r: r[KEY_COLUMN]):
        key, digest = row[KEY_COLUMN], row[HASH_COLUMN]
        prior = synced.get(key)
        if prior is not None and prior.content_hash == digest:
            unchanged += 1
            continue
        changes.append(Change(external_id=key, payload=payload_of(row), content_hash=digest,
                              target_id=prior.target_id if prior else None,
                              operation="update" if prior else "create",
                              prior_hash=prior.content_hash if prior else None))
    return changes, unchanged


def _record(con: duckdb.DuckDBPyConnection, sink: Sink, run_id: str, changes: list[Change],
            outcomes: list[Outcome]) -> None:
    at = state.now()
    by_key = {c.external_id: c for c in changes}
    con.execute("begin transaction")
    try:
        for out in outcomes:
            change = by_key[out.external_id]
            con.execute(
                f"insert into {state.SCHEMA}.sync_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, sink.name, out.external_id, change.operation, "ok" if out.ok else "failed",
                 out.error, out.idempotency_key, out.target_id or change.target_id,
                 change.payload.get("correlation_id"), at])
            if out.ok:
                con.execute(
                    f"insert or replace into {state.SCHEMA}.sync_state values (?, ?, ?, ?, ?, ?)",
                    [sink.name, out.external_id, change.content_hash, out.target_id or change.target_id,
                     at, run_id])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def sync(con: duckdb.DuckDBPyConnection, sink: Sink, relation: str,
         payload_of: Callable[[dict[str, Any]], dict[str, Any]], dry_run: bool = False,
         progress: Callable[[str], None] | None = None) -> SyncResult:
    """Sync the payload model ``relation`` to ``sink``; returns counts and per-record errors."""
    state.ensure(con)
    run_id = uuid.uuid4().hex
    result = SyncResult(target=sink.name, sync_run_id=run_id, dry_run=dry_run)
    rows = read_payload(con, relation)
    changes, result.unchanged = diff(rows, state.load(con, sink.name), payload_of)
    result.payload_rows = len(rows)
    result.to_create = sum(c.operation == "create" for c in changes)
    result.to_update = len(changes) - result.to_create
    con.execute(f"insert into {state.SCHEMA}.sync_runs values (?, ?, ?, null, ?, ?, ?, ?, ?, null, null)",
                [run_id, sink.name, state.now(), dry_run, result.payload_rows, result.to_create,
                 result.to_update, result.unchanged])
    try:
        if not dry_run:
            for start in range(0, len(changes), sink.batch_size):
                batch = changes[start:start + sink.batch_size]
                outcomes = sink.send(batch)
                _record(con, sink, run_id, batch, outcomes)
                for out in outcomes:
                    if out.ok:
                        result.succeeded += 1
                    else:
                        result.failed += 1
                        result.errors[out.external_id] = out.error or "rejected"
                if progress:
                    progress(f"{sink.name}: {min(start + sink.batch_size, len(changes))}/{len(changes)} sent")
    finally:
        con.execute(f"update {state.SCHEMA}.sync_runs set finished_at = ?, succeeded = ?, failed = ? "
                    "where sync_run_id = ?", [state.now(), result.succeeded, result.failed, run_id])
    log.info("writeback %s: %s", sink.name, result.as_metadata())
    return result
