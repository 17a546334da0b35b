"""Pipeline factory: one dlt pipeline per source system, loading ``raw_<system>`` in the warehouse.

The warehouse is DuckDB by default, or PostgreSQL by configuration (``Q2C_DESTINATION``; see
``ingestion.destinations``): same sources, same datasets, each destination with its loader format.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Callable, Iterator
from pathlib import Path

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.extract.source import DltSource

from ingestion import destinations
from ingestion.certinia import certinia_source
from ingestion.legacy_erp import legacy_erp_source
from ingestion.netsuite import netsuite_source
from ingestion.salesforce import salesforce_source
from ingestion.stripe import stripe_source

SOURCES: dict[str, Callable[..., DltSource]] = {
    "salesforce": salesforce_source,
    "certinia": certinia_source,
    "stripe": stripe_source,
    "netsuite": netsuite_source,
    "legacy_erp": legacy_erp_source,
}
LOADER_FILE_FORMAT = destinations.LOADER_FILE_FORMATS[destinations.DUCKDB]  # DuckDB's; loader_file_format() per destination


def dataset_name(system: str) -> str:
    return f"raw_{system}"


def pipeline_name(system: str, kind: str = destinations.DUCKDB) -> str:
    """``q2c_<system>``; other destinations get their own name, so no incremental state is shared with DuckDB's."""
    return f"q2c_{system}" if kind == destinations.DUCKDB else f"q2c_{system}_{kind}"


def loader_file_format(destination: str | None = None) -> str:
    """The loader file format of ``destination`` (``duckdb``/``postgres``; the configured one by default)."""
    return destinations.loader_file_format(destination)


def make_pipeline(system: str, warehouse_path: str | Path | None = None, pipelines_dir: str | Path | None = None,
                  destination: str | None = None) -> dlt.Pipeline:
    """The pipeline loading ``system`` into ``raw_<system>`` of the configured warehouse.

    ``destination`` (default ``Q2C_DESTINATION``, else ``duckdb``): ``duckdb`` loads the DuckDB file at
    ``warehouse_path``; ``postgres`` loads the database of ``Q2C_POSTGRES_DSN`` (or dlt's
    ``destination.postgres.credentials``) and ignores ``warehouse_path``.
    """
    if system not in SOURCES:
        raise ValueError(f"unknown source system {system!r}; known: {sorted(SOURCES)}")
    kind = destinations.destination_type(destination)
    name = pipeline_name(system, kind)
    # dlt.pipeline() reads and writes the pipeline's working directory (state, schemas). Two
    # processes starting at once (two schedules' runs, each loading the definitions) raced on it
    # ("'NoneType' object has no attribute 'live_schemas'"): one at a time per pipeline.
    with _working_dir_lock(pipelines_dir, name):
        return dlt.pipeline(
            pipeline_name=name,
            destination=destinations.make_destination(warehouse_path, kind),
            dataset_name=dataset_name(system),
            pipelines_dir=str(pipelines_dir) if pipelines_dir else None,
            progress=dlt.progress.log(log_period=5, dump_system_stats=False),
        )


@contextlib.contextmanager
def _working_dir_lock(pipelines_dir: str | Path | None, name: str) -> Iterator[None]:
    """An exclusive lock (``flock``) on ``<pipelines_dir>/.<name>.lock``, across processes."""
    if not pipelines_dir:
        yield
        return
    directory = Path(pipelines_dir)
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / f".{name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def make_source(system: str) -> DltSource:
    """The source for ``system``, configured from dlt config (environment, ``.dlt/*.toml``)."""
    return SOURCES[system]()


def run(system: str, warehouse_path: str | Path | None = None, pipelines_dir: str | Path | None = None,
        destination: str | None = None) -> LoadInfo:
    """Load one system with plain dlt (what the Dagster assets do, without Dagster)."""
    kind = destinations.destination_type(destination)
    pipeline = make_pipeline(system, warehouse_path, pipelines_dir, kind)
    return pipeline.run(make_source(system), loader_file_format=loader_file_format(kind))
