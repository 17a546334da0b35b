"""Great Expectations: every committed suite passes on built worlds and fails on a bad row (naming
the rule), each validation rebuilds the data docs, and a failing payload suite blocks its writeback.

Reads the session's dbt builds (``world_builds``); nothing here builds a warehouse of its own.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, asset, materialize

from expectations import load_suite, suite_names
from tests.fixtures.dbt_build import Built

PAYLOAD_SUITES = {"rev_crm_invoice_payment_status", "rev_billing_schedule"}
BLOCKING = PAYLOAD_SUITES | {"invoice_payment_status"}
WARNING = {"ar_ageing", "billing_schedule", "revenue_leakage"}


@pytest.fixture(scope="module")
def built(world_builds) -> Built:
    return world_builds.get(42, 1.0)


def test_the_committed_suites_are_the_payloads_and_the_finance_marts():
    assert set(suite_names()) == BLOCKING | WARNING
    for name in suite_names():
        suite = load_suite(name)
        assert suite["name"] == name
        assert suite["meta"]["blocking"] is (name in BLOCKING), name
        rules = [e["meta"]["rule"] for e in suite["expectations"]]
        assert len(rules) == len(set(rules)), f"{name}: every expectation has its own rule name"
    assert {load_suite(n)["meta"]["relation"].split(".")[0] for n in PAYLOAD_SUITES} == {"reverse_etl"}


@pytest.mark.parametrize("world", [(42, 1.0), (7, 4.0)], ids=["seed42-scale1", "seed7-scale4"])
def test_every_suite_passes_on_a_built_world(world, world_builds):
    from expectations.runner import validate_table

    warehouse = world_builds.get(*world).warehouse
    for name in suite_names():
        outcome = validate_table(warehouse, name, docs=False)
        assert outcome.success, outcome.summary() + f" {outcome.failed}"
        assert outcome.rows > 0 and outcome.evaluated == len(load_suite(name)["expectations"])


def _first(frame: pd.DataFrame, **where) -> int:
    """Index of the first row matching ``column=value`` pairs."""
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column] == value
    assert mask.any(), f"no row with {where}"
    return int(mask.idxmax())


def _duplicate_installment(frame: pd.DataFrame) -> None:
    """A second pending installment for a contract: Stripe would bill two months at once."""
    row = frame.iloc[0].copy()
    row["external_id"] = row["contract_id"] + "-209912"
    frame.loc[len(frame)] = row


def _set(column, value, **where):
    def mutate(frame: pd.DataFrame) -> None:
        frame.loc[_first(frame, **where) if where else frame.index[0], column] = value
    return mutate


BAD_ROWS = [
    # suite, mutation, the rules that must fail (in suite order)
    ("rev_crm_invoice_payment_status", _set("CurrencyIsoCode", "CHF"), ["currency_enabled_in_crm"]),
    ("rev_crm_invoice_payment_status", _set("Aging_Bucket__c", "current", Payment_Status__c="paid"),
     ["paid_is_in_the_paid_bucket"]),
    ("rev_crm_invoice_payment_status", _set("content_hash", None), ["content_hash_not_null"]),
    ("rev_billing_schedule", _duplicate_installment, ["one_installment_per_contract"]),
    ("rev_billing_schedule", _set("amount", 0), ["amount_positive_within_stripe_limit"]),
    ("rev_billing_schedule", _set("currency", "USD"), ["currency_iso_4217_lower", "currency_billed"]),
    ("invoice_payment_status", _set("paid_amount", 10**9), ["paid_within_total"]),
    ("ar_ageing", _set("unapplied_cash_amount", 5.0), ["unapplied_cash_non_positive"]),
    ("billing_schedule", _set("invoice_count", 1, status="missed"), ["not_invoiced_has_no_invoice"]),
    ("revenue_leakage", _set("leakage_rate", 1.5), ["leakage_rate_is_a_share"]),
]


@pytest.mark.parametrize(("suite", "mutate", "rules"), BAD_ROWS,
                         ids=[f"{s}-{r[0]}" for s, _, r in BAD_ROWS])
def test_a_bad_row_fails_the_rule_that_guards_against_it(suite, mutate, rules, built):
    from expectations.runner import read_table, validate_frame

    frame = read_table(built.warehouse, load_suite(suite)["meta"]["relation"])
    mutate(frame)
    outcome = validate_frame(frame, suite)
    assert not outcome.success
    assert [f["rule"] for f in outcome.failed] == rules, outcome.failed
    assert all(f["unexpected_count"] for f in outcome.failed)


def test_each_validation_rebuilds_the_data_docs(built, tmp_path):
    from expectations.runner import data_docs_dir, read_table, validate_frame, validate_table

    warehouse = tmp_path / "q2c.duckdb"
    shutil.copy(built.warehouse, warehouse)
    good = validate_table(warehouse, "rev_billing_schedule", run_name="run-good")
    assert good.success and good.docs_index == data_docs_dir(warehouse) / "index.html"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update reverse_etl.rev_billing_schedule set amount = 0 "
                    "where external_id = (select min(external_id) from reverse_etl.rev_billing_schedule)")
    bad = validate_table(warehouse, "rev_billing_schedule", run_name="run-bad")
    assert not bad.success
    index = bad.docs_index.read_text()
    for page in (good.docs_page, bad.docs_page):
        assert page.is_file() and page.relative_to(bad.docs_index.parent).as_posix() in index
    assert "rev_billing_schedule" in index and "run-bad" in index
    assert "amount" in bad.docs_page.read_text()
    assert (data_docs_dir(warehouse) / "expectations" / "rev_billing_schedule.html").is_file()
    assert (warehouse.parent / "gx" / "great_expectations.yml").is_file()  # a file-based GX project

    # Only the newest results of a suite are kept, in the store and in the docs.
    frame = read_table(warehouse, "marts.revenue_leakage")
    pages = [validate_frame(frame, "revenue_leakage", project_dir=tmp_path, run_name=f"r{i}", keep=2).docs_page
             for i in range(3)]
    assert [p.is_file() for p in pages] == [False, True, True]
    stored = list((tmp_path / "gx" / "uncommitted" / "validations" / "revenue_leakage").rglob("*.json"))
    assert len(stored) == 2
    index = bad.docs_index.read_text()
    assert "validations/revenue_leakage/r0/" not in index and "validations/revenue_leakage/r2/" in index


def test_a_check_per_suite_blocking_where_it_guards_a_writeback():
    from orchestration.quality import CHECKS, suite_asset_key

    specs = {spec.name: spec for check in CHECKS for spec in check.check_specs}
    assert set(specs) == {f"gx_{name}" for name in suite_names()}
    for name in suite_names():
        spec = specs[f"gx_{name}"]
        assert spec.asset_key == suite_asset_key(name)
        assert spec.blocking is (name in BLOCKING), name
    assert specs["gx_rev_billing_schedule"].asset_key == AssetKey(["reverse_etl", "rev_billing_schedule"])
    assert specs["gx_rev_crm_invoice_payment_status"].asset_key == AssetKey(
        ["reverse_etl", "rev_crm_invoice_payment_status"])
    assert {check.op.pool for check in CHECKS} == {"duckdb_writer"}


# ------------------------------------------------------------------ the billing writeback, blocked


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    from sandbox.server import Sandbox

    with Sandbox(tmp_path_factory.mktemp("sandbox"), seed=42, scale=1.0) as sb:  # the world `built` holds
        yield sb


@pytest.fixture
def billing_env(built, sandbox, tmp_path, monkeypatch) -> Path:
    saved = dict(os.environ)
    warehouse = tmp_path / "warehouse" / "q2c.duckdb"
    warehouse.parent.mkdir()
    shutil.copy(built.warehouse, warehouse)
    monkeypatch.setenv("Q2C_TARGET", "sandbox")
    monkeypatch.setenv("Q2C_SANDBOX_DIR", str(sandbox.state_dir))
    monkeypatch.setenv("Q2C_WAREHOUSE_PATH", str(warehouse))
    yield warehouse
    os.environ.clear()  # sandbox_link.configure() set the connectors' configuration: put it back
    os.environ.update(saved)


@asset(key=AssetKey(["reverse_etl", "rev_billing_schedule"]))
def rev_billing_schedule() -> None:
    """Stands in for the dbt model: the payload table is already in the copied warehouse."""


def _run_billing_writeback():
    from orchestration.quality import CHECKS
    from orchestration.writeback import billing_schedule_writeback

    (check,) = [c for c in CHECKS if AssetKey(["reverse_etl", "rev_billing_schedule"]) in
                {k.asset_key for k in c.check_keys}]
    return materialize([rev_billing_schedule, check, billing_schedule_writeback],
                       instance=DagsterInstance.ephemeral(), raise_on_error=False)


def test_a_failing_payload_suite_blocks_the_billing_writeback(billing_env, sandbox):
    with duckdb.connect(str(billing_env)) as con:
        # A second pending installment for one contract: Stripe would put both on the next invoice.
        con.execute("""insert into reverse_etl.rev_billing_schedule
                       select contract_id || '-209912', stripe_customer_id, contract_id, amount, currency,
                              description, period_start + 2678400, period_end + 2678400, content_hash
                       from reverse_etl.rev_billing_schedule order by external_id limit 1""")
    stripe_writes = len(sandbox.writes("stripe"))
    result = _run_billing_writeback()

    (evaluation,) = result.get_asset_check_evaluations()
    assert (evaluation.check_name, evaluation.passed, evaluation.severity.value) == (
        "gx_rev_billing_schedule", False, "ERROR")
    assert evaluation.metadata["failed_rules"].value == ["one_installment_per_contract"]
    docs = Path(evaluation.metadata["data_docs"].value)
    assert docs == billing_env.parent / "gx_data_docs" / "index.html" and docs.is_file()
    assert not result.success
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "writeback__billing__billing_schedule" not in started
    assert AssetKey(["writeback", "billing", "billing_schedule"]) not in {
        e.asset_key for e in result.get_asset_materialization_events()}
    assert len(sandbox.writes("stripe")) == stripe_writes


def test_a_passing_payload_suite_lets_the_billing_writeback_post(billing_env, sandbox):
    with duckdb.connect(str(billing_env), read_only=True) as con:
        (payload,) = con.execute("select count(*) from reverse_etl.rev_billing_schedule").fetchone()
    stripe_writes = len(sandbox.writes("stripe"))
    result = _run_billing_writeback()

    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed
    (materialization,) = [e for e in result.get_asset_materialization_events()
                          if e.asset_key == AssetKey(["writeback", "billing", "billing_schedule"])]
    assert materialization.step_materialization_data.materialization.metadata["records_sent"].value == payload
    assert len(sandbox.writes("stripe")) == stripe_writes + payload
