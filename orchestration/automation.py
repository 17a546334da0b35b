"""Jobs, schedules and the automation sensor (docs/architecture.md, "Automation").

- ``q2c_load_<system>`` (one per source system): the raw assets of that source, nothing else. Its
  schedule ``q2c_load_<system>_schedule`` takes its cron from ``Q2C_<SYSTEM>_CRON``
  (:data:`LOAD_CRONS` has the defaults: hourly, staggered; the legacy ERP daily).
- ``q2c_reconcile``: every load with a full pass where the source has one (run config
  ``reconcile: true`` on the Stripe and NetSuite loads), then ``dbt build --full-refresh`` (run
  config ``full_refresh: true``), in one run. Schedule ``q2c_reconcile_nightly``, cron
  ``Q2C_RECONCILE_CRON`` (default 02:00).
- ``q2c_automation``: the automation condition sensor. Everything after the loads follows by its
  asset's condition: dbt models ``eager()`` (``orchestration.transform``), the writebacks and the
  serving file ``eager() & all_deps_blocking_checks_passed()``. It starts running: it launches
  nothing until something upstream materializes.
- ``q2c_pipeline`` / ``q2c_pipeline_hourly`` (``Q2C_PIPELINE_CRON``): the whole graph in one run
  (what ``q2c demo`` runs), kept as the single-run alternative; its schedule starts stopped,
  whatever the environment, so that switching on the schedules never loads twice.

The load and reconciliation schedules start stopped unless ``Q2C_SCHEDULES_RUNNING=1`` (switch
them on in the UI otherwise): a local ``q2c ui`` on the sandbox loads nothing by itself. Crons are
evaluated in ``Q2C_SCHEDULES_TIMEZONE`` (default UTC). Every job uses the in-process executor:
every step writes the warehouse, so the pool ``duckdb_writer`` (limit 1) would serialize them
anyway, and one process per step costs seconds of imports each.
"""

import os

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    ScheduleDefinition,
    define_asset_job,
    in_process_executor,
)
from dagster._core.errors import DagsterInvalidDefinitionError

from ingestion.pipelines import SOURCES
from orchestration.ingestion import LOADS, reconciles

# Default crons of the per-source loads: hourly, a few minutes apart (each load's dbt follow-up
# gets its turn at the warehouse before the next load); the legacy ERP, a system being retired
# with little activity, once a day.
LOAD_CRONS = {
    "salesforce": "5 * * * *",
    "certinia": "15 * * * *",
    "stripe": "25 * * * *",
    "netsuite": "35 * * * *",
    "legacy_erp": "45 5 * * *",
}
RECONCILE_CRON = "0 2 * * *"
PIPELINE_CRON = "0 * * * *"
DBT_OP = "q2c_dbt"
AUTOMATION_SENSOR_NAME = "q2c_automation"


def cron_env_var(system: str) -> str:
    return f"Q2C_{system.upper()}_CRON"


def _cron(var: str, default: str) -> str:
    return os.environ.get(var, "").strip() or default


def _timezone() -> str:
    return os.environ.get("Q2C_SCHEDULES_TIMEZONE", "").strip() or "UTC"


def _schedule_status() -> DefaultScheduleStatus:
    on = os.environ.get("Q2C_SCHEDULES_RUNNING", "0") == "1"
    return DefaultScheduleStatus.RUNNING if on else DefaultScheduleStatus.STOPPED


def _schedule(name: str, job, cron_var: str, default_cron: str, status: DefaultScheduleStatus,
              description: str) -> ScheduleDefinition:
    cron = _cron(cron_var, default_cron)
    try:
        return ScheduleDefinition(name=name, job=job, cron_schedule=cron, default_status=status,
                                  execution_timezone=_timezone(), description=description)
    except DagsterInvalidDefinitionError as exc:
        raise ValueError(f"{cron_var}={cron!r} is not a valid cron schedule (or Q2C_SCHEDULES_TIMEZONE="
                         f"{_timezone()!r} not a time zone): {exc}") from exc


# --------------------------------------------------------------------------- the whole graph in one run

PIPELINE_JOB = define_asset_job(
    name="q2c_pipeline",
    selection=AssetSelection.all(),
    executor_def=in_process_executor,
    description="The whole quote-to-cash graph: ingest, build and test, validate, write back.",
    tags={"dagster/max_retries": 0},
)


def pipeline_schedule() -> ScheduleDefinition:
    return _schedule("q2c_pipeline_hourly", PIPELINE_JOB, "Q2C_PIPELINE_CRON", PIPELINE_CRON,
                     DefaultScheduleStatus.STOPPED,
                     "The whole graph in one run: the alternative to the per-source loads with automation "
                     "(switch on one or the other).")


# --------------------------------------------------------------------------- per-source loads

def load_job(system: str):
    return define_asset_job(
        name=f"q2c_load_{system}",
        selection=AssetSelection.assets(LOADS[system]),
        executor_def=in_process_executor,
        description=f"Load {system} into raw_{system} (the increment); dbt and the writebacks follow by "
                    f"their automation conditions.",
        tags={"dagster/max_retries": 0},
    )


LOAD_JOBS = {system: load_job(system) for system in SOURCES}


def load_schedule(system: str) -> ScheduleDefinition:
    return _schedule(f"q2c_load_{system}_schedule", LOAD_JOBS[system], cron_env_var(system), LOAD_CRONS[system],
                     _schedule_status(), f"Loads {system}; cron from {cron_env_var(system)}.")


# --------------------------------------------------------------------------- nightly reconciliation

RECONCILED_SOURCES = tuple(system for system in SOURCES if reconciles(system))


def reconcile_run_config() -> dict:
    """Full passes of the sources that have one, and a full-refresh dbt build."""
    ops = {f"load_{system}": {"config": {"reconcile": True}} for system in RECONCILED_SOURCES}
    ops[DBT_OP] = {"config": {"full_refresh": True}}
    return {"ops": ops}


RECONCILE_JOB = define_asset_job(
    name="q2c_reconcile",
    selection=AssetSelection.groups("ingestion") | AssetSelection.kind("dbt"),
    config=reconcile_run_config(),
    executor_def=in_process_executor,
    description="Nightly reconciliation: every source loaded (a full pass where the source has one: "
                f"{', '.join(RECONCILED_SOURCES)}), then dbt build --full-refresh. The writebacks and the "
                "serving file follow by their automation conditions.",
    tags={"dagster/max_retries": 0},
)


def reconcile_schedule() -> ScheduleDefinition:
    return _schedule("q2c_reconcile_nightly", RECONCILE_JOB, "Q2C_RECONCILE_CRON", RECONCILE_CRON,
                     _schedule_status(), "Nightly full reconciliation; cron from Q2C_RECONCILE_CRON.")


# --------------------------------------------------------------------------- automation conditions

AUTOMATION_SENSOR = AutomationConditionSensorDefinition(
    AUTOMATION_SENSOR_NAME,
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates every asset's automation condition: dbt follows the loads (eager), the writebacks "
                "and the serving file follow dbt once the blocking checks passed.",
)


def schedules() -> list[ScheduleDefinition]:
    """Every schedule, built from the environment as it is now."""
    return [*(load_schedule(system) for system in SOURCES), reconcile_schedule(), pipeline_schedule()]


JOBS = [PIPELINE_JOB, *LOAD_JOBS.values(), RECONCILE_JOB]
SCHEDULES = schedules()
SENSORS = [AUTOMATION_SENSOR]
