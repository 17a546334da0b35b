"""Run a committed suite against a warehouse table.

The table is read through a read-only DuckDB connection into pandas and validated with GX's
pandas engine: GX's SQL engine over duckdb-engine returns empty metrics (every expectation
fails with an IndexError), so the SQL route is not used. ``great_expectations`` costs seconds
to import and is imported here, inside the call, never at definitions load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

SUITES_DIR = Path(__file__).parent / "suites"


@dataclass
class ValidationOutcome:
    suite: str
    relation: str
    success: bool
    evaluated: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0

    def summary(self) -> str:
        if self.success:
            return f"{self.suite}: {self.evaluated} expectations passed on {self.rows} rows of {self.relation}"
        names = ", ".join(f"{f['type']}({f.get('column', '')})" for f in self.failed)
        return f"{self.suite}: {len(self.failed)}/{self.evaluated} expectations failed on {self.relation}: {names}"


def load_suite(name: str) -> dict[str, Any]:
    path = SUITES_DIR / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"no expectation suite {name!r} at {path}")
    return json.loads(path.read_text())


def read_table(warehouse_path: str | Path, relation: str) -> pd.DataFrame:
    schema, _, table = relation.partition(".")
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        return con.sql(f'select * from "{schema}"."{table}"').df()


def validate_frame(frame: pd.DataFrame, suite_name: str, relation: str = "") -> ValidationOutcome:
    """Validate a DataFrame against a committed suite."""
    import great_expectations as gx  # lazy: the import costs seconds

    spec = load_suite(suite_name)
    relation = relation or spec.get("meta", {}).get("relation", "")
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    suite = context.suites.add(gx.ExpectationSuite(name=spec["name"], expectations=spec["expectations"]))
    batch_def = (context.data_sources.add_pandas("frames")
                 .add_dataframe_asset(name=suite_name)
                 .add_batch_definition_whole_dataframe("whole"))
    validation = gx.ValidationDefinition(name=f"{suite_name}_validation", data=batch_def, suite=suite)
    result = validation.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
    failed = []
    for res in result.results:
        if not res.success:
            cfg = res.expectation_config
            failed.append({"type": cfg.type, "column": cfg.kwargs.get("column", ""),
                           "unexpected_count": (res.result or {}).get("unexpected_count"),
                           "exception": (res.exception_info or {}).get("exception_message")})
    return ValidationOutcome(suite=suite_name, relation=relation, success=bool(result.success),
                             evaluated=len(result.results), failed=failed, rows=len(frame))


def validate_table(warehouse_path: str | Path, suite_name: str) -> ValidationOutcome:
    """Validate the relation a suite names (``meta.relation``) in the warehouse."""
    relation = load_suite(suite_name)["meta"]["relation"]
    return validate_frame(read_table(warehouse_path, relation), suite_name, relation)
