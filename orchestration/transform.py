"""The dbt project as Dagster assets; dbt tests become asset checks (error severity = blocking).

dbt sources carry ``meta.dagster.asset_key`` equal to the ingestion asset keys, so the graph is
one lineage from raw tables to writebacks. The manifest is prepared explicitly (``q2c prepare``,
``q2c ui``, ``q2c demo``, tests); loading this module never parses the dbt project, and fails
with a message naming ``q2c prepare`` when the manifest is missing.

Every dbt node is in its layer's group: models by their folder under ``models/``
(:data:`MODEL_LAYERS`), seeds in ``seeds``, snapshots in ``snapshots``.

Automation: every model, snapshot and seed carries :data:`DBT_CONDITION`, ``eager()`` gated on
the parents' blocking checks: it is requested when a parent updated (a load, or a model requested
in the same tick), not while a parent is missing or in progress, not while it is in progress
itself, and not while a blocking check (an error-severity dbt test, a GX suite) of a parent
failed - what ``dbt build`` does within one invocation (it skips the children of a failed test),
kept across runs. The automation sensor (``orchestration.automation``) evaluates it. The run config
``full_refresh`` (:class:`DbtBuildConfig`) adds ``--full-refresh``: the nightly reconciliation.
"""

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

from dagster import AssetExecutionContext, AssetSpec, AutomationCondition, Config, Definitions
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from pydantic import Field

from orchestration import sandbox_link, settings, warehouse
from orchestration.dbt_project import (
    configure_profile,
    dbt_project,
    dbt_target,
    ensure_dbt_on_path,
    prepared_manifest_path,
)

LAYER_OWNERS = {"staging": "team:data-platform", "canonical": "team:data-platform",
                "marts": "team:finance-systems", "controls": "team:revenue-assurance",
                "observability": "team:data-platform", "reverse_etl": "team:data-platform",
                "seeds": "team:data-platform", "snapshots": "team:data-platform"}
# The folders under dbt_project/models/, one group each.
MODEL_LAYERS = ("staging", "canonical", "marts", "controls", "observability", "reverse_etl")
DBT_GROUPS = (*MODEL_LAYERS, "seeds", "snapshots")
# Follow the parents: a load (or a model upstream in the same tick) updated, none missing or in
# progress, their blocking checks passed (or requested in the same run, where a failure stops the child).
DBT_CONDITION = (AutomationCondition.eager()
                 & AutomationCondition.all_deps_blocking_checks_passed()).with_label("eager_after_checks")


def dbt_layer(node: Mapping[str, Any]) -> str:
    """The group of a dbt model, seed or snapshot: its layer folder, ``seeds`` or ``snapshots``."""
    resource_type = node.get("resource_type")
    if resource_type in ("seed", "snapshot"):
        return f"{resource_type}s"
    fqn = node.get("fqn", [])
    if len(fqn) > 2 and fqn[1] in MODEL_LAYERS:  # ["q2c", <folder>, ..., <name>]
        return fqn[1]
    raise ValueError(f"dbt model {node.get('unique_id')} ({node.get('original_file_path')}) is not in a "
                     f"layer folder: put it under models/<{'|'.join(MODEL_LAYERS)}>/ or add its folder to "
                     "MODEL_LAYERS and LAYER_OWNERS")


class LayerTranslator(DagsterDbtTranslator):
    """Groups dbt nodes by layer (:func:`dbt_layer`); each layer has its owning team; all follow their parents
    by :data:`DBT_CONDITION`."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id) or manifest["sources"].get(unique_id) or {}
        if node.get("resource_type") not in ("model", "snapshot", "seed"):
            return spec
        layer = dbt_layer(node)
        return spec.replace_attributes(group_name=layer, owners=[LAYER_OWNERS[layer]],
                                       automation_condition=DBT_CONDITION)


RUN_CONTEXT = "q2c_meta.run_context"  # macros/q2c_as_of_date.sql reads it; dbt_project.yml creates it


def write_run_context(as_of: date) -> None:
    """Give the build its as-of date through the warehouse, not ``--vars``.

    dbt parses the whole project again whenever its vars change, and the as-of date changes
    every day: passed as a var it cost every scheduled build a full parse (about 5 s) instead
    of a partial one. The table holds one row; ``q2c_as_of_date()`` reads it.
    """
    with warehouse.connect() as con:
        con.execute("create schema if not exists q2c_meta")
        con.execute(f"create table if not exists {RUN_CONTEXT} (as_of_date date not null, "
                    "written_at timestamp not null)")
        con.execute(f"delete from {RUN_CONTEXT}")
        con.execute(f"insert into {RUN_CONTEXT} values (?, ?)", [as_of, datetime.now(UTC).replace(tzinfo=None)])


class DbtBuildConfig(Config):
    """Run config of the dbt build (``ops: {q2c_dbt: {config: {...}}}``)."""

    full_refresh: bool = Field(
        default=False,
        description="dbt build --full-refresh: rebuild the incremental models (billable_event, invoice_line) "
                    "from the raw layer; control_exception_history keeps its history (full_refresh: false). "
                    "The nightly reconciliation sets it.")


def dbt_build_args(config: DbtBuildConfig) -> list[str]:
    """``dbt build`` as the scheduled runs call it. dbt's unit tests are code tests on fixed inputs:
    they run in CI (``make test``), not on every load (dbt's own advice for production builds)."""
    return ["build", "--exclude-resource-type", "unit_test",
            *(["--full-refresh"] if config.full_refresh else [])]


@dbt_assets(manifest=prepared_manifest_path(), project=dbt_project(),
            dagster_dbt_translator=LayerTranslator(), pool=settings.DUCKDB_POOL, name="q2c_dbt")
def q2c_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig) -> Iterator[Any]:
    configure_profile()  # the profile's connection, from the warehouse settings (never logged)
    as_of = sandbox_link.as_of_date()
    write_run_context(as_of)
    args = dbt_build_args(config)
    context.log.info(f"dbt build{' --full-refresh' if config.full_refresh else ''} on target {dbt_target()} "
                     f"as of {as_of.isoformat()}")
    yield from dbt.cli(args, context=context).stream()


def dbt_resource() -> DbtCliResource:
    ensure_dbt_on_path()
    return DbtCliResource(project_dir=dbt_project(), profiles_dir=str(settings.DBT_PROJECT_DIR),
                          target=dbt_target())


defs = Definitions(assets=[q2c_dbt_assets], resources={"dbt": dbt_resource()})
