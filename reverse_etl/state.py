"""Sync state, intent journal, sync log and sync runs, kept in the warehouse so BI tools can query them.

- ``sync_state``: per target and record, the content hash last accepted by the target and the
  target's own id for the record; ``removed_at`` is set once the record left the payload while the
  mode left it in the target (upsert, update_only). Mirror deletes drop the row.
- ``sync_pending``: the intent journal. A batch's records are written (and committed) here before
  the batch is sent, and removed in the transaction that records the target's answer. Rows left
  over are records a dead run may or may not have delivered ("in doubt"); the next sync resolves them.
- ``sync_log``: one row per record per sync run: what the diff called for (``operation``) and what
  became of it (``status``), with error, idempotency key, target id, correlation id and ``sent_at``.
- ``sync_runs``: one row per sync run: mode, counts, guard figures, status and error.
- ``writeback_log`` (view): the log joined to its run, the shape BI tools read (docs/writebacks.md).

Tables made by an older version get the new columns (``add column if not exists``). The SQL runs
on DuckDB and on PostgreSQL (``orchestration.warehouse``), with values always passed as parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

SCHEMA = "q2c_sync"

# sync_log.status values
OK, FAILED, CONFIRMED, SKIPPED, PLANNED = "ok", "failed", "confirmed", "skipped", "planned"
# sync_runs.status values
RUNNING, SUCCEEDED, PARTIAL, REFUSED, ERROR, INTERRUPTED, DRY_RUN = (
    "running", "succeeded", "partial", "refused", "failed", "interrupted", "dry_run")

DDL = f"""
create schema if not exists {SCHEMA};
create table if not exists {SCHEMA}.sync_state (
    target varchar not null,
    external_id varchar not null,
    content_hash varchar not null,
    target_id varchar,
    synced_at timestamptz not null,
    sync_run_id varchar not null,
    primary key (target, external_id)
);
alter table {SCHEMA}.sync_state add column if not exists removed_at timestamptz;
create table if not exists {SCHEMA}.sync_pending (
    target varchar not null,
    external_id varchar not null,
    sync_run_id varchar not null,
    operation varchar not null,
    content_hash varchar not null,
    target_id varchar,
    idempotency_key varchar,
    intended_at timestamptz not null,
    primary key (target, external_id)
);
create table if not exists {SCHEMA}.sync_log (
    sync_run_id varchar not null,
    target varchar not null,
    external_id varchar not null,
    operation varchar not null,
    status varchar not null,
    error varchar,
    idempotency_key varchar,
    target_id varchar,
    correlation_id varchar,
    attempted_at timestamptz not null
);
alter table {SCHEMA}.sync_log add column if not exists sent_at timestamptz;
alter table {SCHEMA}.sync_log add column if not exists content_hash varchar;
create table if not exists {SCHEMA}.sync_runs (
    sync_run_id varchar primary key,
    target varchar not null,
    started_at timestamptz not null,
    finished_at timestamptz,
    dry_run boolean not null,
    payload_rows integer,
    to_create integer,
    to_update integer,
    unchanged integer,
    succeeded integer,
    failed integer
);
alter table {SCHEMA}.sync_runs add column if not exists mode varchar;
alter table {SCHEMA}.sync_runs add column if not exists status varchar;
alter table {SCHEMA}.sync_runs add column if not exists error varchar;
alter table {SCHEMA}.sync_runs add column if not exists to_delete integer;
alter table {SCHEMA}.sync_runs add column if not exists removed integer;
alter table {SCHEMA}.sync_runs add column if not exists skipped integer;
alter table {SCHEMA}.sync_runs add column if not exists confirmed integer;
alter table {SCHEMA}.sync_runs add column if not exists in_doubt integer;
alter table {SCHEMA}.sync_runs add column if not exists sent integer;
alter table {SCHEMA}.sync_runs add column if not exists last_synced integer;
alter table {SCHEMA}.sync_runs add column if not exists change_share double precision;
alter table {SCHEMA}.sync_runs add column if not exists max_change_share double precision;
alter table {SCHEMA}.sync_runs add column if not exists forced boolean;
create or replace view {SCHEMA}.writeback_log as
select
    l.sync_run_id,
    l.target,
    r.mode,
    r.dry_run,
    r.status as run_status,
    l.external_id as primary_key,
    l.operation,
    l.status,
    l.error,
    l.correlation_id,
    l.idempotency_key,
    l.target_id,
    l.content_hash,
    l.sent_at,
    l.attempted_at as logged_at,
    r.started_at as run_started_at
from {SCHEMA}.sync_log as l
left join {SCHEMA}.sync_runs as r on r.sync_run_id = l.sync_run_id;
comment on view {SCHEMA}.writeback_log is 'One row per record per writeback sync run: what the diff called for (operation: create, update, delete), what became of it (status: ok, failed, confirmed, skipped, planned), the error, correlation id, idempotency key and when it was sent (docs/writebacks.md).';
"""


@dataclass(frozen=True)
class SyncedRecord:
    content_hash: str
    target_id: str | None
    removed_at: datetime | None = None


@dataclass(frozen=True)
class Pending:
    """A record journalled by a run that never recorded the target's answer."""

    sync_run_id: str
    operation: str
    content_hash: str
    target_id: str | None


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def now() -> datetime:
    return datetime.now(UTC)


def load(con: duckdb.DuckDBPyConnection, target: str) -> dict[str, SyncedRecord]:
    rows = con.execute(
        f"select external_id, content_hash, target_id, removed_at from {SCHEMA}.sync_state where target = ?",
        [target]).fetchall()
    return {ext: SyncedRecord(h, tid, removed) for ext, h, tid, removed in rows}


def load_pending(con: duckdb.DuckDBPyConnection, target: str) -> dict[str, Pending]:
    rows = con.execute(
        f"select external_id, sync_run_id, operation, content_hash, target_id from {SCHEMA}.sync_pending "
        "where target = ?", [target]).fetchall()
    return {ext: Pending(run, op, h, tid) for ext, run, op, h, tid in rows}


# Keys of the tables whose rows are replaced (``insert_rows(..., replace=True)``).
PRIMARY_KEYS = {"sync_state": ("target", "external_id"), "sync_pending": ("target", "external_id")}


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
                replace: bool = False, chunk: int = 250) -> None:
    """Insert ``rows`` in multi-row statements (one round trip per ``chunk`` rows, not per row);
    with ``replace``, a row whose key exists replaces it (``on conflict ... do update``)."""
    rows = list(rows)
    head = f"insert into {SCHEMA}.{table} ({', '.join(columns)}) values "
    tail = ""
    if replace:
        key = PRIMARY_KEYS[table]
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
        tail = f" on conflict ({', '.join(key)}) do update set {updates}"
    one = "(" + ", ".join("?" for _ in columns) + ")"
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        con.execute(head + ", ".join(one for _ in part) + tail, [v for row in part for v in row])


def keys_in(keys: Sequence[str]) -> str:
    """``external_id in (?, ?, ...)`` for ``keys`` (pass them as parameters; at most ``KEY_CHUNK``)."""
    return "external_id in (" + ", ".join("?" for _ in keys) + ")"


KEY_CHUNK = 500


def chunks(keys: Sequence[str]) -> Iterable[list[str]]:
    keys = list(keys)
    for start in range(0, len(keys), KEY_CHUNK):
        yield keys[start:start + KEY_CHUNK]


def delete_keys(con: duckdb.DuckDBPyConnection, table: str, target: str, keys: Sequence[str]) -> None:
    for part in chunks(keys):
        con.execute(f"delete from {SCHEMA}.{table} where target = ? and {keys_in(part)}", [target, *part])


def mark_interrupted(con: duckdb.DuckDBPyConnection, target: str) -> int:
    """Runs of ``target`` that never finished (the process died): marked ``interrupted``; how many."""
    where = "where target = ? and finished_at is null and coalesce(status, 'running') = 'running'"
    (n,) = con.execute(f"select count(*) from {SCHEMA}.sync_runs {where}", [target]).fetchone()
    if n:
        con.execute(f"update {SCHEMA}.sync_runs set status = ?, error = ? {where}",
                    [INTERRUPTED, "the process ended before the run finished; the next run resolved its "
                                  "in-flight records", target])
    return int(n)
