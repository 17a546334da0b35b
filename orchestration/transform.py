"""The dbt project as Dagster assets; dbt tests become asset checks (error severity = blocking).

dbt sources carry ``meta.dagster.asset_key`` equal to the ingestion asset keys, so the graph is
one lineage from raw tables to writebacks. The manifest is prepared explicitly (``q2c prepare``,
tests, CI, ``make demo``); ``prepare_if_dev`` covers ``dagster dev``.
"""

import json
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetSpec, Definitions
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration import sandbox_link, settings
from orchestration.dbt_project import configure_profile, dbt_project, dbt_target, ensure_dbt_on_path

LAYER_OWNERS = {"staging": "team:data-platform", "canonical": "team:data-platform",
                "marts": "team:finance-systems", "controls": "team:revenue-assurance",
                "reverse_etl": "team:data-platform"}


class LayerTranslator(DagsterDbtTranslator):
    """Groups models by their layer folder (staging, canonical, marts, controls, reverse_etl)."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id) or manifest["sources"].get(unique_id) or {}
        if node.get("resource_type") not in ("model", "snapshot", "seed"):
            return spec
        fqn = node.get("fqn", [])
        layer = fqn[1] if len(fqn) > 2 else "seeds"
        return spec.replace_attributes(group_name=layer, owners=[LAYER_OWNERS.get(layer, "team:data-platform")])


def dbt_vars() -> dict[str, str]:
    return {"as_of_date": sandbox_link.as_of_date().isoformat()}


@dbt_assets(manifest=dbt_project().manifest_path, project=dbt_project(),
            dagster_dbt_translator=LayerTranslator(), pool=settings.DUCKDB_POOL, name="q2c_dbt")
def q2c_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    configure_profile()  # the profile's connection, from the warehouse settings (never logged)
    context.log.info(f"dbt build on target {dbt_target()} with vars {dbt_vars()}")
    yield from dbt.cli(["build", "--vars", json.dumps(dbt_vars())], context=context).stream()


def dbt_resource() -> DbtCliResource:
    ensure_dbt_on_path()
    return DbtCliResource(project_dir=dbt_project(), profiles_dir=str(settings.DBT_PROJECT_DIR),
                          target=dbt_target())


defs = Definitions(assets=[q2c_dbt_assets], resources={"dbt": dbt_resource()})
