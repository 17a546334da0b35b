"""Sync state and sync log, kept in the warehouse so BI tools can query them.

``sync_state`` holds, per target and record, the content hash last accepted by the target
(and the target's own id for the record). ``sync_log`` holds every attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

SCHEMA = "q2c_sync"

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
"""


@dataclass(frozen=True)
class SyncedRecord:
    content_hash: str
    target_id: str | None


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def load(con: duckdb.DuckDBPyConnection, target: str) -> dict[str, SyncedRecord]:
    rows = con.execute(
        f"select external_id, content_hash, target_id from {SCHEMA}.sync_state where target = ?",
        [target]).fetchall()
    return {ext: SyncedRecord(h, tid) for ext, h, tid in rows}


def now() -> datetime:
    return datetime.now(UTC)
