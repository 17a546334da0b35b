"""One ``@dlt_assets`` per source system; each dlt resource is an asset keyed ``raw/<system>/<table>``.

The sources and pipelines are built again at run time, so configuration (sandbox URLs,
credentials, warehouse path) is read when the run starts, not when definitions load.

Sources with a full-pass mode (a ``reconcile`` argument: Stripe, NetSuite) take it from the run
config of their load (``ops: {load_<system>: {config: {reconcile: true}}}``, :class:`ReconcileConfig`),
so one run can reconcile without changing the process's environment; the nightly reconciliation
job (``orchestration.automation``) sets it.
"""

import inspect
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    Definitions,
    MaterializeResult,
    multi_asset_check,
)
from dagster._record import copy
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData
from pydantic import Field

from ingestion.pipelines import SOURCES, loader_file_format, make_pipeline, make_source
from orchestration import sandbox_link, settings

OWNERS = {"salesforce": "team:sales-ops", "certinia": "team:delivery-ops",
          "stripe": "team:billing", "netsuite": "team:finance-systems", "legacy_erp": "team:finance-systems"}
DESCRIPTIONS = {
    "salesforce": "CRM/CPQ object from the Salesforce REST API (SystemModstamp increments via queryAll).",
    "certinia": "Certinia PSA object from the Salesforce REST API (SystemModstamp increments via queryAll).",
    "stripe": "Billing object from the Stripe API.",
    "netsuite": "Cloud ERP table from NetSuite SuiteQL.",
    "legacy_erp": "Legacy (on-premises) ERP table: receivables of the entities before their NetSuite cut-over.",
}
# Values that only let definitions load: the sources build no client until they run.
_PLACEHOLDER = {"base_url": "https://placeholder.invalid"}
_PLACEHOLDER_ARGS = {
    "salesforce": {**_PLACEHOLDER, "client_id": "-", "client_secret": "-"},
    "certinia": {**_PLACEHOLDER, "client_id": "-", "client_secret": "-"},
    "stripe": {**_PLACEHOLDER, "api_key": "-"},
    "netsuite": {**_PLACEHOLDER, "client_id": "-", "client_secret": "-"},
    "legacy_erp": {"database_path": "-"},
}


def raw_asset_key(system: str, table: str) -> AssetKey:
    return AssetKey(["raw", system, table])


class RawTranslator(DagsterDltTranslator):
    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        system = data.resource.source_name
        return spec.replace_attributes(
            key=raw_asset_key(system, data.resource.name),
            deps=[],
            group_name="ingestion",
            owners=[OWNERS[system]],
            description=f"{DESCRIPTIONS[system]} Table raw_{system}.{data.resource.name}.",
            kinds={"dlt", "duckdb", system},
        )


class ReconcileConfig(Config):
    """Run config of the load of a source with a full-pass mode."""

    reconcile: bool = Field(
        default=False,
        description="The source's full pass besides its increment (Stripe: list every object again and merge "
                    "it over the raw tables; NetSuite: scan every key for deleted rows); the nightly "
                    "reconciliation sets it.")


def reconciles(system: str) -> bool:
    """Does the source of ``system`` have a full-pass mode (a ``reconcile`` argument)?"""
    return "reconcile" in inspect.signature(SOURCES[system]).parameters


def source_for_run(system: str, reconcile: bool = False) -> Any:
    """The source a load runs: from dlt config, with ``reconcile=True`` passed when the run asks for it.

    ``reconcile=False`` passes nothing, so dlt config (``SOURCES__<SYSTEM>__RECONCILE``) still applies.
    """
    if not reconcile:
        return make_source(system)
    if not reconciles(system):
        raise ValueError(f"the {system} source has no full-pass (reconcile) mode")
    return SOURCES[system](reconcile=True)


def _ingestion_assets(system: str) -> Any:
    decorate = dlt_assets(
        dlt_source=SOURCES[system](**_PLACEHOLDER_ARGS[system]),
        dlt_pipeline=make_pipeline(system, settings.warehouse_path(), settings.pipelines_dir()),
        name=f"load_{system}",
        dagster_dlt_translator=RawTranslator(),
        pool=settings.DUCKDB_POOL,
    )

    def load(context: AssetExecutionContext, dlt: DagsterDltResource, reconcile: bool) -> Iterator[Any]:
        sandbox_link.configure()
        settings.warehouse_path().parent.mkdir(parents=True, exist_ok=True)
        context.log.info(f"loading {system} into raw_{system} of {settings.warehouse_path()}"
                         + (" (reconciliation: full pass)" if reconcile else ""))
        pipeline = make_pipeline(system, settings.warehouse_path(), settings.pipelines_dir())
        results = list(dlt.run(
            context=context,
            dlt_source=source_for_run(system, reconcile),
            dlt_pipeline=pipeline,
            dagster_dlt_translator=RawTranslator(),
            loader_file_format=loader_file_format(),
        ))
        metrics = load_metrics(pipeline)
        for result in results:
            row = metrics.get(result.asset_key.path[-1]) if isinstance(result, MaterializeResult) else None
            if row is not None:
                result = copy(result, metadata={**(result.metadata or {}), **row})
            yield result

    if reconciles(system):
        @decorate
        def _load_reconcilable(context: AssetExecutionContext, dlt: DagsterDltResource,
                               config: ReconcileConfig) -> Iterator[Any]:
            yield from load(context, dlt, config.reconcile)

        return _load_reconcilable

    @decorate
    def _load(context: AssetExecutionContext, dlt: DagsterDltResource) -> Iterator[Any]:
        yield from load(context, dlt, False)

    return _load


def load_metrics(pipeline: Any) -> dict[str, dict[str, Any]]:
    """This run's metrics per table (``q2c_load_metrics``, written by each resource in the same load)."""
    from ingestion.contract import METRICS_TABLE
    from ingestion.salesforce import table_name

    try:
        with pipeline.sql_client() as client:
            table = client.make_qualified_table_name(METRICS_TABLE)
            rows = client.execute_sql(
                f"select resource, rows_extracted, rows_loaded, rows_quarantined, duration_s, cursor_reached, mode "
                f"from {table} m where _dlt_load_id = (select max(_dlt_load_id) from {table} where resource = m.resource)")
    except Exception:  # noqa: BLE001 - a source without metrics (or none loaded yet) still materializes
        return {}
    out: dict[str, dict[str, Any]] = {}
    for resource, extracted, loaded, quarantined, duration, cursor, mode in rows or []:
        out[table_name(resource)] = {
            "q2c/rows_extracted": int(extracted), "q2c/rows_loaded": int(loaded),
            "q2c/rows_quarantined": int(quarantined), "q2c/duration_s": float(duration),
            "q2c/cursor_reached": str(cursor or ""), "q2c/mode": str(mode or "")}
    return out


def _quarantine_check(system: str, load: Any) -> Any:
    """One check per raw table ``load`` materializes: did its last load quarantine records? (warns, never blocks)"""
    tables = sorted(key.path[-1] for key in load.keys)
    specs = [AssetCheckSpec("no_quarantined_records", asset=raw_asset_key(system, t),
                            description="Records the last load kept out of the table because a value did not "
                                        f"fit its column (see raw_{system}.q2c_quarantine).")
             for t in tables]

    @multi_asset_check(specs=specs, name=f"quarantine_{system}", pool=settings.DUCKDB_POOL)
    def _check(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        metrics = load_metrics(make_pipeline(system, settings.warehouse_path(), settings.pipelines_dir()))
        for table in tables:
            row = metrics.get(table)
            quarantined = 0 if row is None else row["q2c/rows_quarantined"]
            if quarantined:
                context.log.warning(f"raw_{system}.{table}: {quarantined} records quarantined in the last load")
            yield AssetCheckResult(
                asset_key=raw_asset_key(system, table), check_name="no_quarantined_records",
                passed=quarantined == 0, severity=AssetCheckSeverity.WARN,
                metadata={"quarantined_records": quarantined, "quarantine_table": f"raw_{system}.q2c_quarantine"})

    return _check


INGESTION_ASSETS = [_ingestion_assets(system) for system in SOURCES]
LOADS = dict(zip(SOURCES, INGESTION_ASSETS, strict=True))  # system -> its @dlt_assets (op load_<system>)
QUARANTINE_CHECKS = [_quarantine_check(system, load) for system, load in zip(SOURCES, INGESTION_ASSETS, strict=True)]

defs = Definitions(assets=INGESTION_ASSETS, asset_checks=QUARANTINE_CHECKS, resources={"dlt": DagsterDltResource()})
