"""The q2c code location: every asset, check, job and schedule, assembled from the domain modules.

Loading this module does no network, no dbt parse and no Great Expectations import.
"""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from orchestration import alerts, automation, ingestion, serving, transform
from orchestration.quality import CHECKS
from orchestration.writeback import WRITEBACK_ASSETS

defs = Definitions.merge(
    ingestion.defs,
    transform.defs,
    Definitions(assets=[*WRITEBACK_ASSETS, serving.serving_asset(transform.q2c_dbt_assets)],
                asset_checks=CHECKS, jobs=automation.JOBS, schedules=automation.SCHEDULES,
                sensors=[*alerts.SENSORS, *automation.SENSORS],
                # Runs launched without a job of their own (automation, "Materialize" in the UI) run
                # in one process too: every step is in the one-writer pool, so processes per step
                # would only add their start-up (seconds each).
                executor=in_process_executor),
)
