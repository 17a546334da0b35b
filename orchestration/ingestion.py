"""One ``@dlt_assets`` per source system; each dlt resource is an asset keyed ``raw/<system>/<table>``.

The sources and pipelines are built again at run time, so configuration (sandbox URLs,
credentials, warehouse path) is read when the run starts, not when definitions load.
"""

from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetSpec, Definitions
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from ingestion.pipelines import LOADER_FILE_FORMAT, SOURCES, make_pipeline, make_source
from orchestration import sandbox_link, settings

OWNERS = {"salesforce": "team:sales-ops", "certinia": "team:delivery-ops",
          "stripe": "team:billing", "netsuite": "team:finance-systems"}
DESCRIPTIONS = {
    "salesforce": "CRM/CPQ object from the Salesforce REST API (SystemModstamp increments via queryAll).",
    "certinia": "Certinia PSA object from the Salesforce REST API (SystemModstamp increments via queryAll).",
    "stripe": "Billing object from the Stripe API.",
    "netsuite": "Cloud ERP table from NetSuite SuiteQL.",
}
# Values that only let definitions load: the sources build no client until they run.
_PLACEHOLDER = {"base_url": "https://placeholder.invalid"}
_PLACEHOLDER_ARGS = {
    "salesforce": {**_PLACEHOLDER, "client_id": "-", "client_secret": "-"},
    "certinia": {**_PLACEHOLDER, "client_id": "-", "client_secret": "-"},
    "stripe": {**_PLACEHOLDER, "api_key": "-"},
    "netsuite": {**_PLACEHOLDER, "client_id": "-", "client_secret": "-"},
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


def _ingestion_assets(system: str) -> Any:
    @dlt_assets(
        dlt_source=SOURCES[system](**_PLACEHOLDER_ARGS[system]),
        dlt_pipeline=make_pipeline(system, settings.warehouse_path(), settings.pipelines_dir()),
        name=f"load_{system}",
        dagster_dlt_translator=RawTranslator(),
        pool=settings.DUCKDB_POOL,
    )
    def _load(context: AssetExecutionContext, dlt: DagsterDltResource) -> Iterator[Any]:
        sandbox_link.configure()
        settings.warehouse_path().parent.mkdir(parents=True, exist_ok=True)
        context.log.info(f"loading {system} into raw_{system} of {settings.warehouse_path()}")
        yield from dlt.run(
            context=context,
            dlt_source=make_source(system),
            dlt_pipeline=make_pipeline(system, settings.warehouse_path(), settings.pipelines_dir()),
            dagster_dlt_translator=RawTranslator(),
            loader_file_format=LOADER_FILE_FORMAT,
        )

    return _load


INGESTION_ASSETS = [_ingestion_assets(system) for system in SOURCES]

defs = Definitions(assets=INGESTION_ASSETS, resources={"dlt": DagsterDltResource()})
