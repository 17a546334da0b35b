"""Great Expectations suites as asset checks: one check ``gx_<suite>`` per committed suite.

Every suite under ``expectations/suites/`` names the relation it validates (``meta.relation``,
``<schema>.<table>``, which is the dbt asset's key) and whether its failure blocks
(``meta.blocking``):

- blocking (severity ERROR) - the suites guarding a writeback: the payloads themselves
  (``rev_crm_invoice_payment_status``, ``rev_billing_schedule``) and the mart the CRM writeback
  also depends on (``invoice_payment_status``). A failure stops the writeback downstream in the
  same run, and keeps the writebacks' automation condition (``all_deps_blocking_checks_passed``)
  false until a later evaluation passes;
- warning (severity WARN) - the finance marts that feed no writeback (``ar_ageing``,
  ``billing_schedule``, ``revenue_leakage``): a failure alerts (``orchestration.alerts``) and
  shows in the UI and the data docs but blocks neither the BI publication nor anything else.

The checks only read the warehouse, but they run in the writers' pool (``duckdb_writer``,
limit 1): DuckDB refuses a read-only connection while another process holds the file for
writing. Each validation stores its result in the GX project beside the warehouse and rebuilds
the data docs there (``<warehouse dir>/gx_data_docs/index.html``, linked from the check's
metadata). ``great_expectations`` is imported inside the check function only; loading this
module reads the suite JSON files and nothing more. See docs/data_quality.md.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)

from expectations import load_suite, suite_names
from orchestration import settings

MART_PAYMENT_STATUS = AssetKey(["marts", "invoice_payment_status"])


def suite_asset_key(suite_name: str) -> AssetKey:
    """The asset a suite validates: its ``meta.relation`` ``<schema>.<table>`` as a key."""
    return AssetKey(load_suite(suite_name)["meta"]["relation"].split("."))


def gx_check(suite_name: str) -> AssetChecksDefinition:
    """The asset check ``gx_<suite>`` on the suite's relation; blocking if the suite says so."""
    meta = load_suite(suite_name)["meta"]
    blocking = bool(meta.get("blocking", False))
    guards = f" Blocks {meta['guards']} when it fails." if blocking and meta.get("guards") else ""
    severity = AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN

    @asset_check(asset=suite_asset_key(suite_name), name=f"gx_{suite_name}", blocking=blocking,
                 pool=settings.DUCKDB_POOL,
                 description=f"Great Expectations suite expectations/suites/{suite_name}.json "
                             f"({'blocking' if blocking else 'warning'}).{guards} {meta.get('description', '')}",
                 metadata={"suite": f"expectations/suites/{suite_name}.json"})
    def _check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        from expectations.runner import validate_table  # lazy: pulls in great_expectations

        outcome = validate_table(settings.warehouse_path(), suite_name, run_name=context.run.run_id)
        context.log.info(f"{outcome.summary()} (data docs: {outcome.docs_index})")
        metadata = {"rows": outcome.rows, "expectations": outcome.evaluated,
                    "failed_expectations": len(outcome.failed),
                    "failures": outcome.failed_rules,
                    "failed_rules": [f["rule"] for f in outcome.failed],
                    "data_docs": MetadataValue.path(str(outcome.docs_index)),
                    "data_docs_page": MetadataValue.path(str(outcome.docs_page))}
        if outcome.failed:
            metadata["failure_details"] = MetadataValue.json(outcome.failed)
        return AssetCheckResult(passed=outcome.success, severity=severity, description=outcome.summary(),
                                metadata=metadata)

    return _check


CHECKS = [gx_check(name) for name in suite_names()]
