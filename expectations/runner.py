"""Run a committed suite against a warehouse table and publish the result to the data docs.

The suites are committed JSON under ``suites/`` (one file per relation, ``meta.relation`` names
it); they are the source of truth and are copied into the GX project on every run.

Each validation:

- reads the table through a read-only DuckDB connection into pandas and validates it with GX's
  pandas engine (GX's SQL engine over duckdb-engine returns empty metrics: every expectation
  fails with an IndexError, so the SQL route is not used);
- runs a checkpoint in a file-based GX project beside the warehouse (:func:`gx_project_dir`,
  ``<warehouse dir>/gx/``: the validation results, never committed), whose one action rebuilds the
  data docs site ``q2c`` incrementally - the validation's page, the suite's page and the index -
  in :func:`data_docs_dir` (``<warehouse dir>/gx_data_docs/index.html``);
- keeps the last :data:`KEEP_RESULTS` results of each suite (older results and their pages are
  deleted first, so the index and the store stay small).

``great_expectations`` costs seconds to import and is imported here, inside the call, never at
definitions load. See docs/data_quality.md.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from expectations import SUITES_DIR, load_suite, suite_names

__all__ = ["SUITES_DIR", "ValidationOutcome", "data_docs_dir", "gx_project_dir", "load_suite", "read_table",
           "suite_names", "validate_frame", "validate_table"]

DOCS_SITE = "q2c"
KEEP_RESULTS = 30  # validation results kept per suite (store and data docs)
_DATASOURCE = "frames"


def gx_project_dir(warehouse_path: str | Path) -> Path:
    """The GX project root (``gx/`` inside it holds the config and the validation results)."""
    return Path(warehouse_path).resolve().parent


def data_docs_dir(warehouse_path: str | Path) -> Path:
    """Where the data docs site is built: ``<warehouse dir>/gx_data_docs/`` (open ``index.html``)."""
    return gx_project_dir(warehouse_path) / "gx_data_docs"


@dataclass
class ValidationOutcome:
    suite: str
    relation: str
    success: bool
    evaluated: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0
    docs_index: Path | None = None  # the data docs index.html (None: validated without docs)
    docs_page: Path | None = None  # this validation's page in the data docs

    @property
    def failed_rules(self) -> list[str]:
        """``<expectation type>(<column>)`` of each failed expectation, in suite order."""
        return [f"{f['type']}({f['column']})" for f in self.failed]

    def summary(self) -> str:
        if self.success:
            return f"{self.suite}: {self.evaluated} expectations passed on {self.rows} rows of {self.relation}"
        return (f"{self.suite}: {len(self.failed)}/{self.evaluated} expectations failed on {self.relation}: "
                + ", ".join(self.failed_rules))


def read_table(warehouse_path: str | Path, relation: str) -> pd.DataFrame:
    """``relation`` (``schema.table``) from the warehouse: the DuckDB file at ``warehouse_path``, or
    the PostgreSQL database when dbt builds there (``orchestration.warehouse``)."""
    from orchestration import warehouse

    schema, _, table = relation.partition(".")
    with warehouse.connect(read_only=True, path=warehouse_path) as con:
        return warehouse.read_frame(con, f'select * from "{schema}"."{table}"')


def _quiet(context) -> None:
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)


def _file_context(project_dir: Path, docs_dir: Path):
    """The file-based GX project in ``project_dir/gx``, with the one data docs site ``q2c`` in ``docs_dir``."""
    import great_expectations as gx

    try:
        context = gx.get_context(mode="file", project_root_dir=str(project_dir))
    except Exception:  # e.g. a config half-written by a killed run: it holds nothing the next run needs
        config = project_dir / "gx" / "great_expectations.yml"
        if not config.exists():
            raise
        config.replace(config.with_name("great_expectations.yml.broken"))
        context = gx.get_context(mode="file", project_root_dir=str(project_dir))
    site = {"class_name": "SiteBuilder", "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)}}
    sites = dict(context.get_config().data_docs_sites or {})
    for name in set(sites) - {DOCS_SITE}:  # the scaffold's local_site: one site only
        context.delete_data_docs_site(name)
    if DOCS_SITE not in sites:
        context.add_data_docs_site(DOCS_SITE, site)
    elif sites[DOCS_SITE] != site:
        context.update_data_docs_site(DOCS_SITE, site)
    _quiet(context)
    return context


def _prune(project_dir: Path, docs_dir: Path, suite_name: str, keep: int) -> None:
    """Delete all but the newest ``keep`` stored results of the suite, and their data docs pages."""
    store = project_dir / "gx" / "uncommitted" / "validations" / suite_name
    if not store.is_dir():
        return
    # <suite>/<run name>/<run time, e.g. 20260630T101500.123456Z>/<batch>.json: oldest run time first
    results = sorted(store.rglob("*.json"), key=lambda p: (p.parent.name, p.stat().st_mtime))
    for old in results[:max(len(results) - keep, 0)]:
        page = (docs_dir / "validations" / suite_name / old.relative_to(store)).with_suffix(".html")
        for path in (old, page):
            path.unlink(missing_ok=True)
            for parent in path.parents:  # the run_name/run_time directories left empty
                if parent in (store, docs_dir) or not parent.is_dir() or any(parent.iterdir()):
                    break
                shutil.rmtree(parent, ignore_errors=True)


def _failures(result, expectations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The failed expectations, in the suite's order (GX reports results in its own order)."""
    order = {e.get("meta", {}).get("rule"): i for i, e in enumerate(expectations)}
    failed = []
    for res in result.results:
        if res.success:
            continue
        cfg = res.expectation_config
        details = res.result or {}
        failed.append({"type": cfg.type, "column": cfg.kwargs.get("column") or ",".join(
                           str(cfg.kwargs[k]) for k in ("column_A", "column_B") if k in cfg.kwargs),
                       "rule": (cfg.meta or {}).get("rule", ""),
                       "unexpected_count": details.get("unexpected_count"),
                       "sample": [str(v) for v in (details.get("partial_unexpected_list") or [])[:5]],
                       "exception": (res.exception_info or {}).get("exception_message")})
    return sorted(failed, key=lambda f: order.get(f["rule"], len(order)))


def validate_frame(frame: pd.DataFrame, suite_name: str, relation: str = "", *,
                   project_dir: str | Path | None = None, docs_dir: str | Path | None = None,
                   run_name: str | None = None, keep: int = KEEP_RESULTS) -> ValidationOutcome:
    """Validate a DataFrame against a committed suite.

    With ``project_dir`` the validation runs as a checkpoint of the file-based GX project there,
    stores its result and rebuilds the data docs in ``docs_dir`` (default
    ``project_dir/gx_data_docs``); without it, in an ephemeral context that writes nothing.
    ``run_name`` (e.g. the Dagster run id) names the result in the store and the docs.
    """
    import great_expectations as gx  # lazy: the import costs seconds

    spec = load_suite(suite_name)
    relation = relation or spec.get("meta", {}).get("relation", "")
    expectations = spec["expectations"]
    if project_dir is None:
        context = gx.get_context(mode="ephemeral")
        _quiet(context)
    else:
        project_dir = Path(project_dir).resolve()
        docs_dir = Path(docs_dir).resolve() if docs_dir else project_dir / "gx_data_docs"
        context = _file_context(project_dir, docs_dir)
        _prune(project_dir, docs_dir, suite_name, keep - 1)

    suite = context.suites.add_or_update(gx.ExpectationSuite(
        name=suite_name, expectations=expectations,
        meta={k: v for k, v in spec.get("meta", {}).items() if k in ("relation", "description", "guards")}))
    source = (context.data_sources.get(_DATASOURCE) if _DATASOURCE in context.data_sources.all()
              else context.data_sources.add_pandas(_DATASOURCE))
    asset = (source.get_asset(suite_name) if suite_name in {a.name for a in source.assets}
             else source.add_dataframe_asset(name=suite_name))
    batch_def = (asset.get_batch_definition("whole") if "whole" in {b.name for b in asset.batch_definitions}
                 else asset.add_batch_definition_whole_dataframe("whole"))
    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite_name, data=batch_def, suite=suite))

    docs_page = docs_index = None
    if project_dir is None:
        result = validation.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
    else:
        from great_expectations.checkpoint import UpdateDataDocsAction
        from great_expectations.core.run_identifier import RunIdentifier

        checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
            name=suite_name, validation_definitions=[validation], result_format="SUMMARY",
            actions=[UpdateDataDocsAction(name="update_data_docs", site_names=[DOCS_SITE])]))
        run_id = RunIdentifier(run_name=run_name or "adhoc", run_time=datetime.now(UTC))
        checkpoint_result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
        ((identifier, result),) = checkpoint_result.run_results.items()
        docs_index = docs_dir / "index.html"
        docs_page = (docs_dir / "validations" / Path(*identifier.to_tuple())).with_suffix(".html")
    return ValidationOutcome(suite=suite_name, relation=relation, success=bool(result.success),
                             evaluated=len(result.results), failed=_failures(result, expectations), rows=len(frame),
                             docs_index=docs_index, docs_page=docs_page)


def validate_table(warehouse_path: str | Path, suite_name: str, *, docs: bool = True,
                   run_name: str | None = None) -> ValidationOutcome:
    """Validate the relation a suite names (``meta.relation``) in the warehouse.

    With ``docs`` (the default) the result is stored in the GX project beside the warehouse and
    the data docs there are rebuilt (:func:`data_docs_dir`).
    """
    relation = load_suite(suite_name)["meta"]["relation"]
    frame = read_table(warehouse_path, relation)
    if not docs:
        return validate_frame(frame, suite_name, relation)
    return validate_frame(frame, suite_name, relation, project_dir=gx_project_dir(warehouse_path),
                          docs_dir=data_docs_dir(warehouse_path), run_name=run_name)


def main(argv: list[str] | None = None) -> int:
    """``python -m expectations.runner [suite ...] [--warehouse PATH]``: validate, rebuild the docs, print."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m expectations.runner",
                                     description="Validate committed suites against the warehouse and rebuild "
                                                 "the data docs beside it.")
    parser.add_argument("suites", nargs="*", metavar="suite",
                        help=f"suites to run (default: all of {', '.join(suite_names())})")
    parser.add_argument("--warehouse", type=Path,
                        help="the DuckDB file (default: Q2C_WAREHOUSE_PATH, else warehouse/q2c.duckdb)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.suites) - set(suite_names()))
    if unknown:
        parser.error(f"no suite {', '.join(unknown)}; the suites are {', '.join(suite_names())}")
    if args.warehouse is None:
        from orchestration import settings

        args.warehouse = settings.warehouse_path()
    failed = 0
    for name in args.suites or suite_names():
        outcome = validate_table(args.warehouse, name, run_name="manual")
        print(outcome.summary())
        for f in outcome.failed:
            print(f"  {f['rule']}: {f['type']}({f['column']}) unexpected={f['unexpected_count']} "
                  f"e.g. {f['sample'][:3]}" + (f" error: {f['exception']}" if f["exception"] else ""))
        failed += not outcome.success
    print(f"data docs: {data_docs_dir(args.warehouse) / 'index.html'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
