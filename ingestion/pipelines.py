"""Pipeline factory: one dlt pipeline per source system, loading ``raw_<system>`` in the warehouse."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.extract.source import DltSource

from ingestion.certinia import certinia_source
from ingestion.netsuite import netsuite_source
from ingestion.salesforce import salesforce_source
from ingestion.stripe import stripe_source

SOURCES: dict[str, Callable[..., DltSource]] = {
    "salesforce": salesforce_source,
    "certinia": certinia_source,
    "stripe": stripe_source,
    "netsuite": netsuite_source,
}
LOADER_FILE_FORMAT = "parquet"  # DuckDB's default insert_values is ~50x slower


def dataset_name(system: str) -> str:
    return f"raw_{system}"


def make_pipeline(system: str, warehouse_path: str | Path, pipelines_dir: str | Path | None = None) -> dlt.Pipeline:
    """The pipeline loading ``system`` into ``raw_<system>`` of the DuckDB warehouse at ``warehouse_path``."""
    if system not in SOURCES:
        raise ValueError(f"unknown source system {system!r}; known: {sorted(SOURCES)}")
    return dlt.pipeline(
        pipeline_name=f"q2c_{system}",
        destination=dlt.destinations.duckdb(credentials=str(warehouse_path)),
        dataset_name=dataset_name(system),
        pipelines_dir=str(pipelines_dir) if pipelines_dir else None,
        progress=dlt.progress.log(log_period=5, dump_system_stats=False),
    )


def make_source(system: str) -> DltSource:
    """The source for ``system``, configured from dlt config (environment, ``.dlt/*.toml``)."""
    return SOURCES[system]()


def run(system: str, warehouse_path: str | Path, pipelines_dir: str | Path | None = None) -> LoadInfo:
    """Load one system with plain dlt (what the Dagster assets do, without Dagster)."""
    pipeline = make_pipeline(system, warehouse_path, pipelines_dir)
    return pipeline.run(make_source(system), loader_file_format=LOADER_FILE_FORMAT)
