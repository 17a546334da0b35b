"""The writeback engine on a real DuckDB file, with a recording sink standing in for the target API."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from reverse_etl import engine
from reverse_etl.sinks import Change, Outcome


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


@pytest.fixture
def con(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.execute("create schema reverse_etl")
        con.execute("""create table reverse_etl.payload as
                       select 'k' || i as external_id, md5('v' || i) as content_hash, i as amount
                       from range(5) t(i)""")
        yield con


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
