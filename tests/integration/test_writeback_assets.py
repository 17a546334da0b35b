"""The Dagster writeback assets pass their run config (mode, guard, force, dry run) to the engine."""

from __future__ import annotations

import os
from collections import Counter

import duckdb
import pytest
from dagster import DagsterInstance, materialize

from orchestration.writeback import billing_schedule_writeback
from sandbox.server import Sandbox

OP = "writeback__billing__billing_schedule"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with Sandbox(tmp_path_factory.mktemp("sandbox"), seed=42, scale=1.0) as sb:
        yield sb


@pytest.fixture
def warehouse(sandbox, tmp_path, monkeypatch):
    saved = dict(os.environ)
    monkeypatch.setenv("Q2C_TARGET", "sandbox")
    monkeypatch.setenv("Q2C_SANDBOX_DIR", str(sandbox.state_dir))
    monkeypatch.setenv("Q2C_WAREHOUSE_PATH", str(tmp_path / "wh.duckdb"))
    customer = sandbox.records("stripe", "customers")[2]
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.execute("create schema reverse_etl")
        con.execute("""create table reverse_etl.rev_billing_schedule as
                       select ? || '-C' || i || '-202607' as external_id, 'h1' as content_hash,
                              ? as stripe_customer_id, 'C' || i as contract_id, 70000 + i as amount,
                              ? as currency, 'Installment ' || i as description,
                              1785542400 as period_start, 1788220799 as period_end
                       from range(4) t(i)""", [tmp_path.name, customer["id"], customer["currency"]])
    yield tmp_path / "wh.duckdb"
    os.environ.clear()  # sandbox_link.configure() set the connectors' configuration: put it back
    os.environ.update(saved)


def _run(config: dict | None = None):
    run_config = {"ops": {OP: {"config": config}}} if config else None
    return materialize([billing_schedule_writeback], run_config=run_config, instance=DagsterInstance.ephemeral(),
                       raise_on_error=False)


def _metadata(result) -> dict:
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.step_materialization_data.materialization.metadata.items()}


def test_run_config_reaches_the_engine(sandbox, warehouse, tmp_path):
    first = _run()
    assert first.success and _metadata(first)["records_sent"] == 4
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update reverse_etl.rev_billing_schedule set amount = amount + 1, content_hash = 'h2' "
                    "where contract_id <> 'C0'")
    refused = _run()
    assert not refused.success
    (failure,) = [e for e in refused.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "billing_schedule: refused: 3 of the 4 records last synced" in str(failure.event_specific_data.error)

    dry = _run({"dry_run": True, "mode": "update_only", "max_change_share": 0.9})
    assert dry.success
    meta = _metadata(dry)
    assert (meta["mode"], meta["to_update"], meta["records_sent"], meta["max_change_share"]) == (
        "update_only", 3, 0, 0.9)

    forced = _run({"force": True})
    assert forced.success
    assert (_metadata(forced)["records_sent"], _metadata(forced)["forced"]) == (3, True)
    items = Counter(i["metadata"]["q2c_external_id"] for i in sandbox.records("stripe", "invoiceitems")
                    if i["metadata"].get("q2c_external_id", "").startswith(tmp_path.name))
    assert items == Counter({f"{tmp_path.name}-C{i}-202607": 1 for i in range(4)})
    with duckdb.connect(str(warehouse), read_only=True) as con:
        runs = con.execute("select mode, status, forced from q2c_sync.sync_runs order by started_at").fetchall()
    assert runs == [("upsert", "succeeded", False), ("upsert", "refused", False),
                    ("update_only", "dry_run", False), ("upsert", "succeeded", True)]


def test_a_mode_from_the_environment_that_the_target_cannot_do_is_refused(warehouse, monkeypatch):
    monkeypatch.setenv("Q2C_WRITEBACK_MODE_BILLING_SCHEDULE", "mirror")
    result = _run()
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "mode mirror deletes removed rows in the target" in str(failure.event_specific_data.error)
