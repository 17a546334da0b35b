"""The writeback engine: read a payload model, diff it against the last synced state, send the difference.

A payload model has one row per target record, an ``external_id`` (its primary key, which must be
unique and not null) and a ``content_hash``; a ``correlation_id`` column, when present, is logged
and never sent. The diff against ``q2c_sync.sync_state`` (what the target last accepted) finds:

- new rows (``create``) and changed rows (``update``); unchanged rows are not sent;
- removed rows: keys synced before that are gone from the payload. What happens to them is the
  target's **mode** (``reverse_etl.config``): ``upsert`` (the default) creates and updates and
  leaves removed rows in the target (logged once, ``skipped``); ``update_only`` never creates (a
  row the target does not hold is logged ``skipped`` and looked at again next sync) and leaves
  removed rows alone; ``mirror`` also deletes removed rows in the target (only for sinks that can
  delete, and never for a target that refuses it: ``billing_schedule``, see ``reverse_etl.targets``).

Records the target rejected are not written to the state, so every later sync sends them again
until they succeed. A sync that would change (update or delete) more than ``max_change_share`` of
the records last synced is refused (``ChangeGuardError``) unless forced; the first sync is exempt.

Crash safety. Before each batch is sent its records are written, and committed, to the intent
journal (``sync_pending``); the transaction that records the target's answers (log and state)
removes them. A process killed between the two leaves journal rows: the next sync treats those
records as in doubt, asks the sink whether the target already holds their content
(``confirm``), logs the ones it does as ``confirmed`` without sending them, and sends the rest.
Nothing is lost (the state only moves on what the target confirmed) and nothing is sent twice
where the target can be asked; where it cannot, the resend is idempotent (upsert by external id,
idempotency keys from record key and content hash).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from reverse_etl import config, state, targets
from reverse_etl.config import MIRROR, UPDATE_ONLY, UPSERT, SyncConfigError
from reverse_etl.sinks import Change, Outcome, Sink, change_key
from reverse_etl.targets import CorrelationLookup

log = logging.getLogger(__name__)

KEY_COLUMN = "external_id"
HASH_COLUMN = "content_hash"
CORRELATION_COLUMN = "correlation_id"
MODE_EFFECT = {UPSERT: "creates and updates records", UPDATE_ONLY: "updates records the target holds",
               MIRROR: "deletes removed rows in the target"}

__all__ = ["ChangeGuardError", "PayloadError", "SyncConfigError", "SyncResult", "read_payload", "plan", "sync"]


class PayloadError(ValueError):
    """The payload model cannot be synced as it stands (names the model and the problem)."""


class ChangeGuardError(RuntimeError):
    """A sync would change more than the allowed share of the records last synced; nothing was sent."""

    def __init__(self, target: str, changing: int, last_synced: int, share: float, limit: float,
                 updates: int, deletes: int) -> None:
        self.target, self.changing, self.last_synced = target, changing, last_synced
        self.share, self.limit = share, limit
        super().__init__(
            f"writeback {target}: refused: {changing} of the {last_synced} records last synced would change "
            f"({updates} updates, {deletes} deletes) = {share:.1%}, above the limit of {limit:.1%}. Nothing was "
            f"sent. If the change is intended, rerun with force (Dagster run config `force: true`) or raise "
            f"the limit (max_change_share, Q2C_WRITEBACK_MAX_CHANGE_SHARE_{target.upper()}).")


@dataclass
class SyncResult:
    target: str
    sync_run_id: str
    dry_run: bool
    mode: str = config.DEFAULT_MODE
    payload_rows: int = 0
    to_create: int = 0
    to_update: int = 0
    to_delete: int = 0
    unchanged: int = 0
    removed: int = 0  # keys that left the payload in this sync (deleted in mirror, else skipped)
    skipped: int = 0
    in_doubt: int = 0
    confirmed: int = 0
    succeeded: int = 0  # confirmed included
    failed: int = 0
    sent: int = 0  # records actually transmitted to the target
    last_synced: int = 0
    change_share: float = 0.0
    max_change_share: float = config.DEFAULT_MAX_CHANGE_SHARE
    forced: bool = False
    refused: str | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def as_metadata(self) -> dict[str, Any]:
        return {"target": self.target, "sync_run_id": self.sync_run_id, "dry_run": self.dry_run,
                "mode": self.mode, "payload_rows": self.payload_rows, "to_create": self.to_create,
                "to_update": self.to_update, "to_delete": self.to_delete, "unchanged": self.unchanged,
                "removed": self.removed, "skipped": self.skipped, "in_doubt": self.in_doubt,
                "confirmed": self.confirmed, "succeeded": self.succeeded, "failed": self.failed,
                "sent": self.sent, "last_synced": self.last_synced, "change_share": round(self.change_share, 4),
                "max_change_share": self.max_change_share, "forced": self.forced,
                "refused": self.refused or ""}


@dataclass
class Plan:
    """What one sync will do, before anything is sent."""

    changes: list[Change] = field(default_factory=list)  # creates and updates, in key order
    deletes: list[Change] = field(default_factory=list)  # mirror only
    skipped: list[tuple[Change, str]] = field(default_factory=list)  # logged, not sent
    newly_removed: list[str] = field(default_factory=list)  # state rows to mark removed_at
    revived: list[str] = field(default_factory=list)  # state rows back in the payload, unchanged
    unchanged: int = 0
    removed: int = 0
    in_doubt: set[str] = field(default_factory=set)


def _split(relation: str) -> tuple[str, str]:
    schema, _, table = relation.partition(".")
    return schema, table


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    schema, table = _split(relation)
    found = con.execute("select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
                        [schema, table]).fetchone()
    return bool(found and found[0])


def read_payload(con: duckdb.DuckDBPyConnection, relation: str) -> list[dict[str, Any]]:
    """All rows of a payload model (``schema.table``), as dicts, checking the key is usable."""
    if not _exists(con, relation):
        raise PayloadError(f"payload model {relation} does not exist in the warehouse (has dbt built it?)")
    schema, table = _split(relation)
    cur = con.execute(f"select * from {_ident(schema)}.{_ident(table)}")
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
        if row[HASH_COLUMN] is None:
            raise PayloadError(f"payload model {relation}: row {key} has a null {HASH_COLUMN}")
        if key in seen:
            duplicates.add(key)
        seen.add(key)
    if duplicates:
        sample = ", ".join(sorted(duplicates)[:5])
        raise PayloadError(f"payload model {relation}: {KEY_COLUMN} is not unique "
                           f"({len(duplicates)} duplicated, e.g. {sample}); refusing to sync")
    return rows


def correlations(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]],
                 lookup: CorrelationLookup | None) -> Callable[[dict[str, Any]], str | None]:
    """How to find a row's correlation id: its ``correlation_id`` column, else ``lookup``, else none."""
    if rows and CORRELATION_COLUMN in rows[0]:
        return lambda row: None if row[CORRELATION_COLUMN] is None else str(row[CORRELATION_COLUMN])
    if lookup is None or not rows:
        return lambda row: None
    if lookup.payload_column not in rows[0]:
        log.warning("correlation lookup: the payload has no column %s; correlation ids stay null",
                    lookup.payload_column)
        return lambda row: None
    if not _exists(con, lookup.relation):
        log.warning("correlation lookup: %s does not exist; correlation ids stay null", lookup.relation)
        return lambda row: None
    schema, table = _split(lookup.relation)
    try:
        mapping = dict(con.execute(
            f"select cast({_ident(lookup.key_column)} as varchar), cast(max({_ident(lookup.column)}) as varchar) "
            f"from {_ident(schema)}.{_ident(table)} group by 1").fetchall())
    except Exception as exc:  # DuckDB or PostgreSQL: the correlation ids are worth a warning, not a failed writeback
        log.warning("correlation lookup in %s failed (%s); correlation ids stay null", lookup.relation, exc)
        return lambda row: None
    column = lookup.payload_column
    return lambda row: None if row[column] is None else mapping.get(str(row[column]))


def plan(rows: list[dict[str, Any]], synced: dict[str, state.SyncedRecord],
         payload_of: Callable[[dict[str, Any]], dict[str, Any]], mode: str = config.DEFAULT_MODE,
         pending: dict[str, state.Pending] | None = None,
         correlation_of: Callable[[dict[str, Any]], str | None] | None = None) -> Plan:
    """The diff by primary key: creates and updates to send, removed rows to delete or skip (per mode)."""
    pending = pending or {}
    out = Plan()
    keys: set[str] = set()
    for row in sorted(rows, key=lambda r: r[KEY_COLUMN]):
        key, digest = row[KEY_COLUMN], row[HASH_COLUMN]
        keys.add(key)
        prior, intent = synced.get(key), pending.get(key)
        # A record in doubt whose journalled content differs from the payload is a change even when the
        # state says unchanged: the dead run may have delivered the journalled content.
        if prior is not None and prior.content_hash == digest and (intent is None or intent.content_hash == digest):
            out.unchanged += 1
            if prior.removed_at is not None:
                out.revived.append(key)
            continue
        target_id = prior.target_id if prior else (intent.target_id if intent else None)
        out.changes.append(Change(external_id=key, payload=payload_of(row), content_hash=digest,
                                  target_id=target_id, operation="update" if prior else "create",
                                  prior_hash=prior.content_hash if prior else None,
                                  correlation_id=correlation_of(row) if correlation_of else None))
        if intent is not None:
            out.in_doubt.add(key)
    for key in sorted((set(synced) | set(pending)) - keys):
        prior, intent = synced.get(key), pending.get(key)
        if prior is not None and prior.removed_at is not None and mode != MIRROR and intent is None:
            continue  # left the payload earlier and was logged then
        last_hash = prior.content_hash if prior else intent.content_hash  # type: ignore[union-attr]
        target_id = prior.target_id if prior else intent.target_id  # type: ignore[union-attr]
        gone = Change(external_id=key, payload={}, content_hash=last_hash, target_id=target_id,
                      operation="delete", prior_hash=last_hash)
        out.removed += 1
        if mode == MIRROR:
            out.deletes.append(gone)
            if intent is not None:
                out.in_doubt.add(key)
        else:
            out.skipped.append((gone, f"removed from the payload; mode {mode} leaves it in the target"))
            if prior is not None and prior.removed_at is None:
                out.newly_removed.append(key)
    return out


def _update_only(sink: Sink, changes: list[Change]) -> tuple[list[Change], list[tuple[Change, str]]]:
    """Creates become updates of the target's record where it holds one; the others are skipped."""
    creates = [c for c in changes if c.operation == "create"]
    found = sink.existing(creates) if creates else {}  # type: ignore[attr-defined]
    kept, skipped = [], []
    for change in changes:
        if change.operation != "create":
            kept.append(change)
        elif change.external_id in found:
            kept.append(Change(change.external_id, change.payload, change.content_hash,
                               found[change.external_id], "update", None, change.correlation_id))
        else:
            skipped.append((change, "update_only: the target holds no record with this key; not created "
                                    "(looked at again next sync)"))
    return kept, skipped


# ---------------------------------------------------------------------------------------------- recording
_LOG_COLUMNS = ("sync_run_id", "target", "external_id", "operation", "status", "error", "idempotency_key",
                "target_id", "correlation_id", "attempted_at", "sent_at", "content_hash")
_STATE_COLUMNS = ("target", "external_id", "content_hash", "target_id", "synced_at", "sync_run_id", "removed_at")
_PENDING_COLUMNS = ("target", "external_id", "sync_run_id", "operation", "content_hash", "target_id",
                    "idempotency_key", "intended_at")


class _Transaction:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        self.con.execute("begin transaction")
        return self.con

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.con.execute("commit" if exc_type is None else "rollback")


def _journal(con: duckdb.DuckDBPyConnection, target: str, run_id: str, batch: list[Change]) -> None:
    """The batch's intents, committed before the batch is sent."""
    at = state.now()
    with _Transaction(con):
        state.insert_rows(con, "sync_pending", _PENDING_COLUMNS, (
            (target, c.external_id, run_id, c.operation, c.content_hash, c.target_id, change_key(target, c), at)
            for c in batch), replace=True)


def _record(con: duckdb.DuckDBPyConnection, target: str, run_id: str, changes: list[Change],
            outcomes: list[Outcome], sent_at: Any, result: SyncResult) -> None:
    """The target's answers: log rows, state moved on for accepted records, journal rows resolved."""
    at = state.now()
    by_key = {c.external_id: c for c in changes}
    logged, kept, dropped, resolved = [], [], [], []
    for out in outcomes:
        change = by_key[out.external_id]
        target_id = out.target_id or change.target_id
        status = state.FAILED if not out.ok else (state.OK if out.sent else state.CONFIRMED)
        logged.append((run_id, target, out.external_id, change.operation, status, out.error,
                       out.idempotency_key or change_key(target, change), target_id, change.correlation_id,
                       at, sent_at if out.sent else None, change.content_hash))
        if out.ok:
            if change.operation == "delete":
                dropped.append(out.external_id)
            else:
                kept.append((target, out.external_id, change.content_hash, target_id, at, run_id, None))
        if out.ok or not out.in_doubt:
            resolved.append(out.external_id)
        result.sent += bool(out.sent)
        if out.ok:
            result.succeeded += 1
            result.confirmed += not out.sent
        else:
            result.failed += 1
            result.errors[out.external_id] = out.error or "rejected"
    with _Transaction(con):
        state.insert_rows(con, "sync_log", _LOG_COLUMNS, logged)
        state.insert_rows(con, "sync_state", _STATE_COLUMNS, kept, replace=True)
        state.delete_keys(con, "sync_state", target, dropped)
        state.delete_keys(con, "sync_pending", target, resolved)


def _attempted(con: duckdb.DuckDBPyConnection, target: str) -> set[tuple[str, str]]:
    """(key, content hash) of changes the target rejected before (deletes as hash ``deleted``)."""
    rows = con.execute(
        f"select distinct external_id, case when operation = 'delete' then 'deleted' else content_hash end "
        f"from {state.SCHEMA}.sync_log where target = ? and status = ? and content_hash is not null",
        [target, state.FAILED]).fetchall()
    return {(k, h) for k, h in rows}


def _log_unsent(con: duckdb.DuckDBPyConnection, target: str, run_id: str, entries: list[tuple[Change, str]],
                status: str) -> None:
    at = state.now()
    state.insert_rows(con, "sync_log", _LOG_COLUMNS, (
        (run_id, target, c.external_id, c.operation, status, reason, change_key(target, c), c.target_id,
         c.correlation_id, at, None, c.content_hash) for c, reason in entries))


def _send(con: duckdb.DuckDBPyConnection, sink: Sink, run_id: str, changes: list[Change],
          call: Callable[[list[Change]], list[Outcome]], result: SyncResult, verb: str,
          progress: Callable[[str], None] | None) -> None:
    for start in range(0, len(changes), sink.batch_size):
        batch = changes[start:start + sink.batch_size]
        _journal(con, sink.name, run_id, batch)
        sent_at = state.now()
        outcomes = call(batch)
        if sorted(o.external_id for o in outcomes) != sorted(c.external_id for c in batch):
            raise RuntimeError(f"sink {sink.name} answered for other records than it was sent")
        _record(con, sink.name, run_id, batch, outcomes, sent_at, result)
        if progress:
            progress(f"{sink.name}: {min(start + sink.batch_size, len(changes))}/{len(changes)} {verb}")


# ---------------------------------------------------------------------------------------------- sync
def sync(con: duckdb.DuckDBPyConnection, sink: Sink, relation: str,
         payload_of: Callable[[dict[str, Any]], dict[str, Any]], dry_run: bool = False,
         progress: Callable[[str], None] | None = None, *, mode: str | None = None,
         max_change_share: float | None = None, force: bool = False,
         correlation: CorrelationLookup | None = None) -> SyncResult:
    """Sync the payload model ``relation`` to ``sink``; returns counts and per-record errors.

    ``mode`` and ``max_change_share`` default to the environment's setting for ``sink.name``, else
    ``upsert`` and 0.5 (``reverse_etl.config``). ``force`` skips the change-share guard for this run.
    """
    mode = config.check_mode(mode, f"mode of {sink.name}") if mode else config.resolve_mode(sink.name)
    limit = config.resolve_max_change_share(sink.name, max_change_share)
    if (why := targets.refusal(sink.name, mode)) is not None:
        others = ", ".join(m for m in config.MODES if targets.refusal(sink.name, m) is None)
        raise SyncConfigError(f"writeback {sink.name}: mode {mode} {MODE_EFFECT[mode]}, and this target never "
                              f"syncs so: {why}; use {others}")
    if mode == MIRROR and not hasattr(sink, "delete"):
        raise SyncConfigError(f"writeback {sink.name}: mode mirror deletes removed rows in the target, and this "
                              f"sink ({type(sink).__name__}) cannot delete; use upsert or update_only")
    if mode == UPDATE_ONLY and not hasattr(sink, "existing"):
        raise SyncConfigError(f"writeback {sink.name}: mode update_only must ask the target which records it "
                              f"holds, and this sink ({type(sink).__name__}) cannot; use upsert")
    state.ensure(con)
    interrupted = state.mark_interrupted(con, sink.name)
    run_id = uuid.uuid4().hex
    result = SyncResult(target=sink.name, sync_run_id=run_id, dry_run=dry_run, mode=mode,
                        max_change_share=limit, forced=force)
    con.execute(f"insert into {state.SCHEMA}.sync_runs (sync_run_id, target, started_at, dry_run, mode, status, "
                "max_change_share, forced) values (?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, sink.name, state.now(), dry_run, mode, state.RUNNING, limit, force])
    run_status, run_error = state.ERROR, None
    try:
        try:
            rows = read_payload(con, relation)
        except PayloadError as exc:
            run_status, run_error = state.REFUSED, str(exc)
            raise
        synced = state.load(con, sink.name)
        pending = state.load_pending(con, sink.name)
        if pending:
            log.warning("writeback %s: %d records in doubt from %d interrupted run(s); resolving them",
                        sink.name, len(pending), interrupted)
        todo = plan(rows, synced, payload_of, mode, pending, correlations(con, rows, correlation))
        if mode == UPDATE_ONLY:
            todo.changes, refused = _update_only(sink, todo.changes)
            todo.skipped.extend(refused)
        result.payload_rows = len(rows)
        result.to_create = sum(c.operation == "create" for c in todo.changes)
        result.to_update = len(todo.changes) - result.to_create
        result.to_delete = len(todo.deletes)
        result.unchanged, result.removed = todo.unchanged, todo.removed
        result.skipped, result.in_doubt = len(todo.skipped), len(todo.in_doubt)
        result.last_synced = sum(r.removed_at is None for r in synced.values())
        # Retries of changes an earlier sync attempted (and the target rejected) passed that sync's guard.
        retried = _attempted(con, sink.name)
        updates = sum(c.operation == "update" and c.prior_hash is not None
                      and (c.external_id, c.content_hash) not in retried for c in todo.changes)
        deletes = sum((c.external_id, "deleted") not in retried for c in todo.deletes)
        changing = updates + deletes
        result.change_share = changing / max(result.last_synced, 1) if synced else 0.0
        guard = None
        if result.change_share > limit:
            guard = ChangeGuardError(sink.name, changing, result.last_synced, result.change_share, limit,
                                     updates, deletes)
            if not force:
                result.refused = str(guard)
            else:
                log.warning("writeback %s: forced past the change guard: %s", sink.name, guard)
        if dry_run:
            planned = [(c, None) for c in todo.changes] + [(c, None) for c in todo.deletes] + todo.skipped
            _log_unsent(con, sink.name, run_id, planned, state.PLANNED)  # type: ignore[arg-type]
            run_status, run_error = state.DRY_RUN, result.refused and f"would be refused: {result.refused}"
            log.info("writeback %s (dry run): %s", sink.name, result.as_metadata())
            return result
        if result.refused:
            run_status, run_error = state.REFUSED, result.refused
            assert guard is not None
            raise guard
        at = state.now()
        with _Transaction(con):
            _log_unsent(con, sink.name, run_id, todo.skipped, state.SKIPPED)
            for part in state.chunks(todo.newly_removed):
                con.execute(f"update {state.SCHEMA}.sync_state set removed_at = ? where target = ? "
                            f"and {state.keys_in(part)}", [at, sink.name, *part])
            for part in state.chunks(todo.revived):
                con.execute(f"update {state.SCHEMA}.sync_state set removed_at = null where target = ? "
                            f"and {state.keys_in(part)}", [sink.name, *part])
        doubtful = [c for c in todo.changes if c.external_id in todo.in_doubt]
        if doubtful and hasattr(sink, "confirm"):
            held = sink.confirm(doubtful)  # type: ignore[attr-defined]
            if held:
                confirmed = [c for c in doubtful if c.external_id in held]
                _record(con, sink.name, run_id, confirmed, [held[c.external_id] for c in confirmed], None, result)
                todo.changes = [c for c in todo.changes if c.external_id not in held]
        _send(con, sink, run_id, todo.changes, sink.send, result, "sent", progress)
        if todo.deletes:
            _send(con, sink, run_id, todo.deletes, sink.delete, result, "deleted", progress)  # type: ignore[attr-defined]
        # Journal rows of dead runs whose records needed nothing this time (unchanged again, or skipped).
        con.execute(f"delete from {state.SCHEMA}.sync_pending where target = ? and sync_run_id <> ?",
                    [sink.name, run_id])
        run_status = state.PARTIAL if result.failed else state.SUCCEEDED
    except BaseException as exc:
        if run_error is None:
            run_error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        con.execute(
            f"update {state.SCHEMA}.sync_runs set finished_at = ?, status = ?, error = ?, payload_rows = ?, "
            "to_create = ?, to_update = ?, to_delete = ?, unchanged = ?, removed = ?, skipped = ?, in_doubt = ?, "
            "confirmed = ?, succeeded = ?, failed = ?, sent = ?, last_synced = ?, change_share = ? "
            "where sync_run_id = ?",
            [state.now(), run_status, run_error, result.payload_rows, result.to_create, result.to_update,
             result.to_delete, result.unchanged, result.removed, result.skipped, result.in_doubt,
             result.confirmed, result.succeeded, result.failed, result.sent, result.last_synced,
             result.change_share, run_id])
    log.info("writeback %s: %s", sink.name, result.as_metadata())
    return result
