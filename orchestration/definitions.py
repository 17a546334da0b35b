"""The q2c code location: every asset, check, job and schedule, assembled from the domain modules.

Loading this module does no network, no dbt parse and no Great Expectations import.
"""

from __future__ import annotations

from dagster import Definitions

from orchestration import alerts, ingestion, serving, transform
from orchestration.automation import PIPELINE_JOB, PIPELINE_SCHEDULE
from orchestration.quality import CHECKS
from orchestration.writeback import WRITEBACK_ASSETS

defs = Definitions.merge(
    ingestion.defs,
    transform.defs,
    Definitions(assets=[*WRITEBACK_ASSETS, serving.serving_asset(transform.q2c_dbt_assets)],
                asset_checks=CHECKS, jobs=[PIPELINE_JOB], schedules=[PIPELINE_SCHEDULE],
                sensors=alerts.SENSORS),
)
