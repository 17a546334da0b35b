"""Automation: per-source load schedules, the nightly reconciliation, and the conditions that make
everything after a load follow it (evaluated with ``dagster.evaluate_automation_conditions``, the
same evaluator the ``q2c_automation`` sensor runs under the daemon)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetKey,
    AssetMaterialization,
    AssetSelection,
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    MaterializeResult,
    evaluate_automation_conditions,
    validate_run_config,
)

BILLING_WRITEBACK = AssetKey(["writeback", "billing", "billing_schedule"])
CRM_WRITEBACK = AssetKey(["writeback", "crm", "invoice_payment_status"])
BILLING_PAYLOAD = AssetKey(["reverse_etl", "rev_billing_schedule"])
CRM_PAYLOAD = AssetKey(["reverse_etl", "rev_crm_invoice_payment_status"])
PAYMENT_STATUS_MART = AssetKey(["marts", "invoice_payment_status"])
AFTER_DBT = AssetSelection.groups("writeback", "serving")
STAGING = AssetSelection.groups("staging")


@pytest.fixture(scope="module")
def defs(q2c_env):
    from orchestration.dbt_project import prepare_manifest

    prepare_manifest()
    from orchestration.definitions import defs

    return defs


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # preview/beta warnings of the automation APIs
        yield


class World:
    """An instance where everything was materialized once with every check passing, and the sensor's
    first tick (which requests nothing) has been evaluated; ticks evaluate ``selection`` (default: all)."""

    def __init__(self, defs, selection: AssetSelection | None = None):
        self.defs = defs
        self.selection = selection
        self.graph = defs.resolve_asset_graph()
        self.instance = DagsterInstance.ephemeral()
        self.materialize(self.graph.get_all_asset_keys())
        for check_key in self.graph.asset_check_keys:
            self.check(check_key.asset_key, check_key.name, passed=True)
        self.cursor = None
        assert self.tick() == set(), "the first tick requests nothing"

    def materialize(self, keys: Iterable[AssetKey]) -> None:
        for key in keys:
            self.instance.report_runless_asset_event(AssetMaterialization(key))

    def check(self, asset_key: AssetKey, name: str, passed: bool) -> None:
        """A check evaluation on the asset's latest materialization (reported after it)."""
        self.instance.report_runless_asset_event(AssetCheckEvaluation(
            asset_key=asset_key, check_name=name, passed=passed, severity=AssetCheckSeverity.ERROR))

    def blocking_checks(self, asset_key: AssetKey) -> list[str]:
        return sorted(c.name for c in self.graph.asset_check_keys
                      if c.asset_key == asset_key and self.graph.get_check_spec(c).blocking)

    def tick(self) -> set[AssetKey]:
        """One evaluation of the sensor (of the conditions of ``selection`` only, if given: faster): the
        asset keys it requests."""
        result = evaluate_automation_conditions(self.defs, self.instance, asset_selection=self.selection,
                                                cursor=self.cursor)
        self.cursor = result.cursor
        return {key for key in self.graph.get_all_asset_keys() if result.get_num_requested(key)}

    def downstream(self, keys: Iterable[AssetKey]) -> set[AssetKey]:
        keys = set(keys)
        return AssetSelection.assets(*keys).downstream().resolve(self.graph) - keys


def test_every_asset_after_the_loads_has_a_condition_and_one_running_sensor_evaluates_them(defs):
    from orchestration.automation import AUTOMATION_SENSOR_NAME
    from orchestration.transform import DBT_CONDITION

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.group_name == "ingestion":
            assert node.automation_condition is None, key  # the schedules load them
        elif node.group_name in ("writeback", "serving"):
            assert "all_deps_blocking_checks_passed" in str(node.automation_condition), key
            assert "eager" in str(node.automation_condition), key
        else:
            assert node.automation_condition == DBT_CONDITION, key
    repo = defs.get_repository_def()
    sensor = repo.get_sensor_def(AUTOMATION_SENSOR_NAME)
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    # It covers every asset: Dagster adds no default (stopped) automation sensor beside it.
    assert [s.name for s in repo.sensor_defs if "automation" in s.name] == [AUTOMATION_SENSOR_NAME]


def test_a_load_sets_everything_downstream_going_in_one_tick_and_only_once(defs):
    from orchestration.ingestion import LOADS

    world = World(defs)
    stripe = set(LOADS["stripe"].keys)
    world.materialize(stripe)
    requested = world.tick()
    # The whole downstream of the Stripe tables - dbt models, then the writebacks and the serving
    # file, whose blocking checks run in the same run - and nothing else: no load, no other source's staging.
    assert requested == world.downstream(stripe)
    assert AssetKey(["staging", "stg_stripe__invoices"]) in requested
    assert {CRM_WRITEBACK, BILLING_WRITEBACK} <= requested
    assert not {k for k in requested if k.path[0] == "raw"}
    assert AssetKey(["staging", "stg_netsuite__transaction"]) not in requested
    assert world.tick() == set(), "requested once, not again on the next tick"


def test_models_wait_for_a_load_in_progress(defs):
    from orchestration.ingestion import LOADS

    world = World(defs, STAGING)
    netsuite = set(LOADS["netsuite"].keys)
    staging = {k for k in world.downstream(netsuite) if world.graph.get(k).group_name == "staging"}
    world.materialize(netsuite)  # a load finished, and the next one is already running
    run = world.instance.create_run_for_job(job_def=defs.resolve_job_def("q2c_load_netsuite"),
                                            status=DagsterRunStatus.STARTED)
    assert world.tick() & staging == set(), "nothing reads tables a run is about to load"
    world.instance.report_run_canceled(run)  # that run ends
    assert staging <= world.tick()


def test_the_billing_writeback_waits_for_its_payload_checks(defs):
    world = World(defs, AFTER_DBT)
    blocking = world.blocking_checks(BILLING_PAYLOAD)
    assert "assert_billing_schedule_is_the_next_installment" in blocking
    world.materialize([BILLING_PAYLOAD])
    for name in blocking:
        world.check(BILLING_PAYLOAD, name, passed=name != "assert_billing_schedule_is_the_next_installment")
    assert BILLING_WRITEBACK not in world.tick(), "a failed blocking check holds the writeback"
    assert BILLING_WRITEBACK not in world.tick()
    world.check(BILLING_PAYLOAD, "assert_billing_schedule_is_the_next_installment", passed=True)  # fixed, re-run
    assert BILLING_WRITEBACK in world.tick()
    assert BILLING_WRITEBACK not in world.tick(), "once per payload change"


def test_the_crm_writeback_waits_for_the_gx_suite_on_the_mart(defs):
    world = World(defs, AFTER_DBT)
    assert "gx_invoice_payment_status" in world.blocking_checks(PAYMENT_STATUS_MART)
    world.materialize([PAYMENT_STATUS_MART, CRM_PAYLOAD])  # one dbt run built both
    for asset_key in (PAYMENT_STATUS_MART, CRM_PAYLOAD):
        for name in world.blocking_checks(asset_key):
            world.check(asset_key, name, passed=name != "gx_invoice_payment_status")
    requested = world.tick()
    assert CRM_WRITEBACK not in requested
    assert AssetKey(["serving", "bi_marts"]) not in requested, "a bad mart is not published either"
    world.check(PAYMENT_STATUS_MART, "gx_invoice_payment_status", passed=True)
    assert CRM_WRITEBACK in world.tick()


def test_load_schedules_take_their_cron_from_the_environment(defs, monkeypatch):
    from ingestion.pipelines import SOURCES
    from orchestration import automation

    # The definitions hold one load schedule per source, the reconciliation and the whole-graph schedule.
    repo = defs.get_repository_def()
    built = {s.name: (s.cron_schedule, s.job_name, s.default_status) for s in automation.schedules()}
    assert {s.name: (s.cron_schedule, s.job_name, s.default_status) for s in repo.schedule_defs} == built
    assert {f"q2c_load_{system}_schedule" for system in SOURCES} | {"q2c_reconcile_nightly", "q2c_pipeline_hourly"} \
        == set(built)
    assert built["q2c_load_stripe_schedule"] == ("25 * * * *", "q2c_load_stripe", DefaultScheduleStatus.STOPPED)
    assert built["q2c_reconcile_nightly"][:2] == ("0 2 * * *", "q2c_reconcile")
    for system in SOURCES:  # each load job materializes its own source's raw tables only
        job = defs.resolve_job_def(f"q2c_load_{system}")
        assert {k.path[1] for k in job.asset_layer.selected_asset_keys} == {system}

    monkeypatch.setenv("Q2C_STRIPE_CRON", "*/10 * * * *")
    monkeypatch.setenv("Q2C_LEGACY_ERP_CRON", "0 6 * * 1-5")
    monkeypatch.setenv("Q2C_RECONCILE_CRON", "30 1 * * *")
    monkeypatch.setenv("Q2C_SCHEDULES_TIMEZONE", "Europe/Paris")
    monkeypatch.setenv("Q2C_SCHEDULES_RUNNING", "1")
    schedules = {s.name: s for s in automation.schedules()}
    assert schedules["q2c_load_stripe_schedule"].cron_schedule == "*/10 * * * *"
    assert schedules["q2c_load_legacy_erp_schedule"].cron_schedule == "0 6 * * 1-5"
    assert schedules["q2c_load_netsuite_schedule"].cron_schedule == automation.LOAD_CRONS["netsuite"]
    assert schedules["q2c_reconcile_nightly"].cron_schedule == "30 1 * * *"
    assert {s.execution_timezone for s in schedules.values()} == {"Europe/Paris"}
    assert {n: s.default_status for n, s in schedules.items() if s.default_status == DefaultScheduleStatus.RUNNING} \
        .keys() == set(schedules) - {"q2c_pipeline_hourly"}, "the whole-graph schedule never starts with them"

    monkeypatch.setenv("Q2C_NETSUITE_CRON", "every hour")
    with pytest.raises(ValueError, match="Q2C_NETSUITE_CRON"):
        automation.schedules()


def test_the_reconciliation_passes_reconcile_to_the_sources_and_full_refresh_to_dbt(defs, monkeypatch):
    """Run the loads of ``q2c_reconcile`` (the sources and dlt faked): the Stripe and NetSuite sources
    are built with ``reconcile=True``, from the job's run config; a scheduled load passes nothing."""
    from dagster_dlt import DagsterDltResource

    from ingestion.pipelines import SOURCES
    from orchestration import ingestion, sandbox_link
    from orchestration.automation import RECONCILED_SOURCES
    from orchestration.transform import DbtBuildConfig, dbt_build_args

    calls: list[tuple[str, dict]] = []

    unset = object()

    def fake_source(system: str):
        def with_reconcile(reconcile: bool = unset):
            calls.append((system, {} if reconcile is unset else {"reconcile": reconcile}))

        def without():
            calls.append((system, {}))

        return with_reconcile if ingestion.reconciles(system) else without

    def fake_run(self, context, **kwargs):
        yield from (MaterializeResult(asset_key=key) for key in sorted(context.selected_asset_keys))

    assert set(RECONCILED_SOURCES) == {"stripe", "netsuite"}
    for system in list(SOURCES):
        monkeypatch.setitem(SOURCES, system, fake_source(system))
    monkeypatch.setattr(DagsterDltResource, "run", fake_run)
    monkeypatch.setattr(sandbox_link, "configure", lambda: None)

    reconcile = defs.resolve_job_def("q2c_reconcile")
    raw_keys = [key for load in ingestion.INGESTION_ASSETS for key in load.keys]
    assert reconcile.execute_in_process(instance=DagsterInstance.ephemeral(), asset_selection=raw_keys).success
    assert sorted(calls) == [("certinia", {}), ("legacy_erp", {}), ("netsuite", {"reconcile": True}),
                             ("salesforce", {}), ("stripe", {"reconcile": True})]

    calls.clear()
    assert defs.resolve_job_def("q2c_load_stripe").execute_in_process(instance=DagsterInstance.ephemeral()).success
    assert calls == [("stripe", {})], "an hourly load is the increment (dlt config may still ask for a full pass)"

    # The job selects every load and every dbt node (not the writebacks: they follow by their condition),
    # and its run config asks dbt for a full refresh.
    selected = reconcile.asset_layer.selected_asset_keys
    assert set(raw_keys) <= selected
    assert {k.path[0] for k in selected} - {"raw"} == {"staging", "canonical", "marts", "controls", "observability",
                                                      "reverse_etl", "snapshots"}
    ops = validate_run_config(reconcile, {})["ops"]
    assert ops["q2c_dbt"]["config"] == {"full_refresh": True}
    assert ops["load_stripe"]["config"] == ops["load_netsuite"]["config"] == {"reconcile": True}
    assert "--full-refresh" in dbt_build_args(DbtBuildConfig(full_refresh=True))
    assert "--full-refresh" not in dbt_build_args(DbtBuildConfig())
    # Scheduled builds leave dbt's unit tests (code tests on fixed inputs) to CI.
    args = dbt_build_args(DbtBuildConfig())
    assert args[args.index("--exclude-resource-type") + 1] == "unit_test"
