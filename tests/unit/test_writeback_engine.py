"""The writeback engine on a real DuckDB file and on a real PostgreSQL database (the warehouse of a
Postgres deployment, through ``orchestration.warehouse``), with a recording sink standing in for
the target API."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orchestration.warehouse import PostgresConnection
from reverse_etl import engine
from reverse_etl.sinks import Change, Outcome
from tests.support.postgres import SUPERUSER, PostgresServer, postgres_server  # noqa: F401  (the fixture)


class RecordingSink:
    name = "test_target"
    batch_size = 2

    def __init__(self, reject: set[str] | None = None) -> None:
        self.sent: list[Change] = []
        self.reject = reject or set()

    def send(self, batch: list[Change]) -> list[Outcome]:
        self.sent.extend(batch)
        return [Outcome(c.external_id, c.external_id not in self.reject,
                        target_id=None if c.external_id in self.reject else f"T-{c.external_id}",
                        error="REQUIRED_FIELD_MISSING: Amount" if c.external_id in self.reject else None)
                for c in batch]


_databases = iter(range(1, 10_000))


def _fresh_postgres_database(server: PostgresServer) -> str:
    """A new database owned by the login role; its DSN."""
    import psycopg2

    name = f"engine_{next(_databases)}"
    admin = psycopg2.connect(host=str(server.socket_dir), port=server.port, user=SUPERUSER, dbname="postgres")
    try:
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'create database "{name}" owner "{server.user}"')
    finally:
        admin.close()
    return server.dsn.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["duckdb", "postgres"])
def con(request, tmp_path: Path):
    if request.param == "duckdb":
        connection = duckdb.connect(str(tmp_path / "wh.duckdb"))
        numbers = "range(5) t(i)"
    else:
        connection = PostgresConnection.open(_fresh_postgres_database(request.getfixturevalue("postgres_server")))
        numbers = "generate_series(0, 4) t(i)"
    with connection:
        connection.execute("create schema reverse_etl")
        connection.execute(f"""create table reverse_etl.payload as
                               select 'k' || i as external_id, md5('v' || i) as content_hash, i as amount
                               from {numbers}""")
        yield connection


def payload(row):
    return {"amount": row["amount"]}


def test_first_sync_sends_all_and_rerun_sends_nothing(con):
    sink = RecordingSink()
    first = engine.sync(con, sink, "reverse_etl.payload", payload)
    assert (first.to_create, first.succeeded, first.failed) == (5, 5, 0)
    assert [c.external_id for c in sink.sent] == ["k0", "k1", "k2", "k3", "k4"]
    again = engine.sync(con, RecordingSink(), "reverse_etl.payload", payload)
    assert (again.sent, again.unchanged) == (0, 5)
    (logged,) = con.execute("select count(*) from q2c_sync.sync_log where status = 'ok'").fetchone()
    assert logged == 5


def test_changed_row_is_sent_once_as_an_update_with_the_target_id(con):
    engine.sync(con, RecordingSink(), "reverse_etl.payload", payload)
    con.execute("update reverse_etl.payload set content_hash = 'changed', amount = 99 where external_id = 'k3'")
    sink = RecordingSink()
    result = engine.sync(con, sink, "reverse_etl.payload", payload)
    assert (result.to_update, result.to_create, result.unchanged) == (1, 0, 4)
    assert [(c.external_id, c.operation, c.target_id, c.payload) for c in sink.sent] == [
        ("k3", "update", "T-k3", {"amount": 99})]


def test_rejected_record_is_kept_and_retried_until_it_succeeds(con):
    first = engine.sync(con, RecordingSink(reject={"k1"}), "reverse_etl.payload", payload)
    assert (first.succeeded, first.failed) == (4, 1)
    assert first.errors == {"k1": "REQUIRED_FIELD_MISSING: Amount"}
    sink = RecordingSink()
    second = engine.sync(con, sink, "reverse_etl.payload", payload)
    assert [c.external_id for c in sink.sent] == ["k1"]
    assert second.succeeded == 1
    (error,) = con.execute("select error from q2c_sync.sync_log where external_id = 'k1' and status = 'failed'").fetchone()
    assert error == "REQUIRED_FIELD_MISSING: Amount"


def test_duplicate_keys_are_refused_before_anything_is_sent(con):
    con.execute("insert into reverse_etl.payload values ('k2', 'x', 1)")
    sink = RecordingSink()
    with pytest.raises(engine.PayloadError, match="not unique.*k2"):
        engine.sync(con, sink, "reverse_etl.payload", payload)
    assert sink.sent == []


def test_dry_run_counts_but_sends_nothing(con):
    sink = RecordingSink()
    result = engine.sync(con, sink, "reverse_etl.payload", payload, dry_run=True)
    assert (result.to_create, result.sent) == (5, 0)
    assert sink.sent == []
    assert engine.sync(con, RecordingSink(), "reverse_etl.payload", payload).succeeded == 5


def test_missing_payload_model_names_itself(con):
    with pytest.raises(engine.PayloadError, match="reverse_etl.nope does not exist"):
        engine.sync(con, RecordingSink(), "reverse_etl.nope", payload)


# ---------------------------------------------------------------------------------------------- modes, guard, crash
class Target:
    """A recording sink with a memory: the records it holds, so it can answer existing/confirm/delete."""

    name = "test_target"
    batch_size = 2

    def __init__(self, reject: set[str] | None = None, reject_delete: set[str] | None = None) -> None:
        self.held: dict[str, dict] = {}
        self.sent: list[Change] = []
        self.deleted: list[Change] = []
        self.reject, self.reject_delete = reject or set(), reject_delete or set()

    def send(self, batch: list[Change]) -> list[Outcome]:
        self.sent.extend(batch)
        out = []
        for c in batch:
            if c.external_id in self.reject:
                out.append(Outcome(c.external_id, False, error="FIELD_INTEGRITY_EXCEPTION"))
            else:
                self.held[c.external_id] = c.payload
                out.append(Outcome(c.external_id, True, target_id=f"T-{c.external_id}"))
        return out

    def existing(self, changes: list[Change]) -> dict[str, str]:
        return {c.external_id: f"T-{c.external_id}" for c in changes if c.external_id in self.held}

    def confirm(self, changes: list[Change]) -> dict[str, Outcome]:
        return {c.external_id: Outcome(c.external_id, True, target_id=f"T-{c.external_id}", sent=False)
                for c in changes if self.held.get(c.external_id) == c.payload}

    def delete(self, batch: list[Change]) -> list[Outcome]:
        self.deleted.extend(batch)
        out = []
        for c in batch:
            if c.external_id in self.reject_delete:
                out.append(Outcome(c.external_id, False, error="ENTITY_IS_LOCKED"))
            else:
                self.held.pop(c.external_id, None)
                out.append(Outcome(c.external_id, True, target_id=c.target_id))
        return out


class UpsertOnly:
    name, batch_size = "test_target", 2

    def send(self, batch):
        return [Outcome(c.external_id, True, target_id=f"T-{c.external_id}") for c in batch]


class ProcessDied(BaseException):
    """Stands for the process being killed after the target answered: nothing catches it."""


class DiesAfterFirstBatch(Target):
    def send(self, batch):
        super().send(batch)
        raise ProcessDied


def _log(con, *where: str) -> list[tuple]:
    sql = "select primary_key, operation, status from q2c_sync.writeback_log"
    return con.execute(sql + (" where " + " and ".join(where) if where else "") + " order by 1").fetchall()


def _sync(con, sink, **kw):
    return engine.sync(con, sink, "reverse_etl.payload", payload, **kw)


def test_removed_row_is_logged_once_and_left_alone_in_upsert_mode(con):
    target = Target()
    _sync(con, target)
    con.execute("delete from reverse_etl.payload where external_id = 'k4'")
    result = _sync(con, target)
    assert (result.removed, result.skipped, result.to_delete, result.sent) == (1, 1, 0, 0)
    assert "k4" in target.held and target.deleted == []
    (row,) = _log(con, f"sync_run_id = '{result.sync_run_id}'")
    assert row == ("k4", "delete", "skipped")
    again = _sync(con, target)
    assert (again.removed, again.skipped) == (0, 0)  # logged once, not every sync
    # Back in the payload unchanged: nothing to send, and it is live again.
    con.execute("insert into reverse_etl.payload values ('k4', md5('v4'), 4)")
    back = _sync(con, target)
    assert (back.unchanged, back.sent) == (5, 0)
    assert con.execute("select removed_at from q2c_sync.sync_state where external_id = 'k4'").fetchone() == (None,)


def test_mirror_deletes_removed_rows_and_retries_a_refused_delete(con):
    target = Target(reject_delete={"k3"})
    _sync(con, target, mode="mirror")
    con.execute("delete from reverse_etl.payload where external_id in ('k3', 'k4')")
    result = _sync(con, target, mode="mirror")
    assert (result.to_delete, result.succeeded, result.failed) == (2, 1, 1)
    assert [(c.external_id, c.target_id, c.operation) for c in target.deleted] == [
        ("k3", "T-k3", "delete"), ("k4", "T-k4", "delete")]
    assert result.errors == {"k3": "ENTITY_IS_LOCKED"}
    keys = {k for (k,) in con.execute("select external_id from q2c_sync.sync_state").fetchall()}
    assert keys == {"k0", "k1", "k2", "k3"}  # k4 deleted; k3 kept, so the delete is retried
    target.reject_delete.clear()
    retry = _sync(con, target, mode="mirror")
    assert [c.external_id for c in target.deleted[2:]] == ["k3"] and retry.succeeded == 1
    assert set(target.held) == {"k0", "k1", "k2"}


def test_mirror_is_refused_for_a_sink_that_cannot_delete(con):
    with pytest.raises(engine.SyncConfigError, match="test_target: mode mirror .* cannot delete"):
        _sync(con, UpsertOnly(), mode="mirror")
    with pytest.raises(engine.SyncConfigError, match="unknown sync mode 'merge'"):
        _sync(con, UpsertOnly(), mode="merge")


def test_update_only_updates_what_the_target_holds_and_creates_nothing(con):
    target = Target()
    target.held = {"k1": {"amount": -1}, "k3": {"amount": -1}}  # records someone else created
    result = _sync(con, target, mode="update_only")
    assert [(c.external_id, c.operation, c.target_id) for c in target.sent] == [
        ("k1", "update", "T-k1"), ("k3", "update", "T-k3")]
    assert (result.succeeded, result.skipped, result.to_create) == (2, 3, 0)
    skipped = con.execute("select external_id, error from q2c_sync.sync_log where status = 'skipped' "
                          "order by 1").fetchall()
    assert [k for k, _ in skipped] == ["k0", "k2", "k4"]
    assert "update_only: the target holds no record with this key" in skipped[0][1]
    # The skipped rows are looked at again: once the target holds k0 it is updated.
    target.held["k0"] = {"amount": -1}
    again = _sync(con, target, mode="update_only")
    assert [c.external_id for c in target.sent[2:]] == ["k0"] and again.skipped == 2


def test_change_guard_refuses_a_large_change_then_force_sends_it(con):
    first = _sync(con, Target())  # the first sync is exempt: it changes no synced record
    assert first.succeeded == 5
    con.execute("update reverse_etl.payload set content_hash = md5(content_hash), amount = amount + 1 "
                "where external_id in ('k0', 'k1', 'k2')")
    target = Target()
    with pytest.raises(engine.ChangeGuardError) as refused:
        _sync(con, target)
    message = str(refused.value)
    assert "test_target" in message and "3 of the 5 records" in message
    assert "60.0%" in message and "50.0%" in message
    assert target.sent == []
    status, error, share = con.execute(
        "select status, error, change_share from q2c_sync.sync_runs order by started_at desc limit 1").fetchone()
    assert (status, share) == ("refused", 0.6) and error == message
    dry = _sync(con, target, dry_run=True)  # a dry run says it would be refused, and raises nothing
    assert dry.refused == message and target.sent == []
    forced = _sync(con, target, force=True)
    assert (forced.succeeded, forced.forced) == (3, True)


def test_change_guard_limit_comes_from_the_environment(con, monkeypatch):
    _sync(con, Target())
    con.execute("update reverse_etl.payload set content_hash = md5(content_hash) where external_id < 'k3'")
    monkeypatch.setenv("Q2C_WRITEBACK_MAX_CHANGE_SHARE", "0.2")
    monkeypatch.setenv("Q2C_WRITEBACK_MAX_CHANGE_SHARE_TEST_TARGET", "0.7")  # the target's own wins
    result = _sync(con, Target())
    assert (result.succeeded, result.max_change_share) == (3, 0.7)
    monkeypatch.setenv("Q2C_WRITEBACK_MAX_CHANGE_SHARE_TEST_TARGET", "70%")
    with pytest.raises(engine.SyncConfigError, match="Q2C_WRITEBACK_MAX_CHANGE_SHARE_TEST_TARGET"):
        _sync(con, Target())


def test_correlation_id_is_logged_and_never_sent(con):
    con.execute("alter table reverse_etl.payload add column correlation_id varchar")
    con.execute("update reverse_etl.payload set correlation_id = '006OPP' || external_id")
    target = Target()
    engine.sync(con, target, "reverse_etl.payload", lambda row: {"amount": row["amount"]})
    logged = dict(con.execute("select external_id, correlation_id from q2c_sync.sync_log").fetchall())
    assert logged == {f"k{i}": f"006OPPk{i}" for i in range(5)}


def test_correlation_id_from_a_lookup_relation(con):
    from reverse_etl.targets import CorrelationLookup

    con.execute("create schema canonical")
    con.execute("create table canonical.deal as select 'k' || i as key, '006D' || i as correlation_id "
                "from (values (0), (1), (2)) t(i)")
    engine.sync(con, Target(), "reverse_etl.payload", payload,
                correlation=CorrelationLookup("canonical.deal", "key", "external_id"))
    logged = dict(con.execute("select external_id, correlation_id from q2c_sync.sync_log").fetchall())
    assert logged == {"k0": "006D0", "k1": "006D1", "k2": "006D2", "k3": None, "k4": None}


def test_every_sent_record_is_logged_with_its_idempotency_key_and_sent_at(con):
    _sync(con, Target(reject={"k2"}))
    rows = con.execute("select primary_key, status, idempotency_key, sent_at from q2c_sync.writeback_log "
                       "order by 1").fetchall()
    assert [(k, s) for k, s, _, _ in rows] == [("k0", "ok"), ("k1", "ok"), ("k2", "failed"), ("k3", "ok"),
                                               ("k4", "ok")]
    assert all(key.startswith("q2c-") and sent is not None for _, _, key, sent in rows)
    assert len({key for _, _, key, _ in rows}) == 5


def test_records_in_doubt_after_a_crash_are_confirmed_not_sent_again(con):
    dying = DiesAfterFirstBatch()
    with pytest.raises(ProcessDied):
        _sync(con, dying)
    assert set(dying.held) == {"k0", "k1"}  # the target took the first batch; the state never heard
    assert con.execute("select count(*) from q2c_sync.sync_state").fetchone() == (0,)
    pending = con.execute("select external_id from q2c_sync.sync_pending order by 1").fetchall()
    assert pending == [("k0",), ("k1",)]
    target = Target()
    target.held = dict(dying.held)
    result = _sync(con, target)
    assert [c.external_id for c in target.sent] == ["k2", "k3", "k4"]  # k0, k1 not sent twice
    assert (result.in_doubt, result.confirmed, result.succeeded, result.sent) == (2, 2, 5, 3)
    assert _log(con, f"sync_run_id = '{result.sync_run_id}'", "status = 'confirmed'") == [
        ("k0", "create", "confirmed"), ("k1", "create", "confirmed")]
    assert con.execute("select count(*) from q2c_sync.sync_pending").fetchone() == (0,)
    assert con.execute("select count(*) from q2c_sync.sync_state").fetchone() == (5,)


def test_a_record_in_doubt_whose_content_went_back_is_sent_again(con):
    _sync(con, Target())
    con.execute("update reverse_etl.payload set content_hash = 'B', amount = 100 where external_id = 'k0'")
    dying = DiesAfterFirstBatch()
    with pytest.raises(ProcessDied):
        _sync(con, dying)  # the target may now hold B, the state still says A
    con.execute("update reverse_etl.payload set content_hash = md5('v0'), amount = 0 where external_id = 'k0'")
    target = Target()
    target.held = {"k0": {"amount": 100}}
    result = _sync(con, target)
    assert [(c.external_id, c.payload) for c in target.sent] == [("k0", {"amount": 0})]
    assert result.in_doubt == 1


def test_runs_killed_mid_sync_are_marked_interrupted(con):
    engine.state.ensure(con)
    con.execute("insert into q2c_sync.sync_runs (sync_run_id, target, started_at, dry_run, status) "
                "values ('dead', 'test_target', now(), false, 'running')")
    _sync(con, Target())
    assert con.execute("select status from q2c_sync.sync_runs where sync_run_id = 'dead'").fetchone() == (
        "interrupted",)


def test_dry_run_logs_its_plan_and_changes_no_state(con):
    _sync(con, Target())
    con.execute("update reverse_etl.payload set content_hash = 'x' where external_id = 'k1'")
    con.execute("delete from reverse_etl.payload where external_id = 'k4'")
    target = Target()
    result = _sync(con, target, dry_run=True, mode="mirror")
    assert (result.to_update, result.to_delete, result.sent) == (1, 1, 0) and target.sent == []
    assert _log(con, f"sync_run_id = '{result.sync_run_id}'") == [("k1", "update", "planned"),
                                                                   ("k4", "delete", "planned")]
    assert con.execute("select count(*) from q2c_sync.sync_state where removed_at is null").fetchone() == (5,)


def test_tables_of_an_older_version_get_the_new_columns(con):
    con.execute("create schema q2c_sync")
    con.execute("""create table q2c_sync.sync_log (sync_run_id varchar not null, target varchar not null,
                   external_id varchar not null, operation varchar not null, status varchar not null,
                   error varchar, idempotency_key varchar, target_id varchar, correlation_id varchar,
                   attempted_at timestamptz not null)""")
    con.execute("insert into q2c_sync.sync_log values ('old', 't', 'x', 'create', 'ok', null, null, null, null, "
                "now())")
    assert _sync(con, Target()).succeeded == 5
    assert con.execute("select count(*), count(sent_at) from q2c_sync.sync_log").fetchone() == (6, 5)


def test_retrying_rejected_changes_does_not_trip_the_guard_again(con):
    _sync(con, Target())
    con.execute("update reverse_etl.payload set content_hash = md5(content_hash) where external_id < 'k3'")
    rejected = _sync(con, Target(reject={"k0", "k1", "k2"}), force=True)  # a forced change the target refuses
    assert (rejected.failed, rejected.change_share) == (3, 0.6)
    retry = _sync(con, Target())  # the same three changes again: already past a guard, so not counted
    assert (retry.succeeded, retry.change_share) == (3, 0.0)
