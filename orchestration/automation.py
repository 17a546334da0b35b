"""Jobs and schedules.

``q2c_pipeline`` materializes the whole graph (loads, dbt build with its tests, GX checks,
writebacks) with the in-process executor: on small machines it is several times faster than
one process per step, and the warehouse takes one writer at a time anyway. Schedules start
stopped unless ``Q2C_SCHEDULES_RUNNING=1`` (switch them on in the UI otherwise).
"""

from __future__ import annotations

import os

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    define_asset_job,
    in_process_executor,
)

PIPELINE_JOB = define_asset_job(
    name="q2c_pipeline",
    selection=AssetSelection.all(),
    executor_def=in_process_executor,
    description="The whole quote-to-cash graph: ingest, build and test, validate, write back.",
    tags={"dagster/max_retries": 0},
)


def _schedule_status() -> DefaultScheduleStatus:
    on = os.environ.get("Q2C_SCHEDULES_RUNNING", "0") == "1"
    return DefaultScheduleStatus.RUNNING if on else DefaultScheduleStatus.STOPPED


PIPELINE_SCHEDULE = ScheduleDefinition(
    name="q2c_pipeline_hourly",
    job=PIPELINE_JOB,
    cron_schedule=os.environ.get("Q2C_PIPELINE_CRON", "0 * * * *"),
    default_status=_schedule_status(),
    execution_timezone="UTC",
)
