"""Great Expectations suites as blocking asset checks on the marts they guard."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, AssetKey, asset_check

from orchestration import settings

MART_PAYMENT_STATUS = AssetKey(["marts", "invoice_payment_status"])


@asset_check(asset=MART_PAYMENT_STATUS, name="gx_invoice_payment_status", blocking=True,
             pool=settings.DUCKDB_POOL,
             description="Great Expectations suite expectations/suites/invoice_payment_status.json; "
                         "blocks the CRM payment-status writeback when it fails.")
def gx_invoice_payment_status(context: AssetCheckExecutionContext) -> AssetCheckResult:
    from expectations.runner import validate_table  # lazy: pulls in great_expectations

    outcome = validate_table(settings.warehouse_path(), "invoice_payment_status")
    context.log.info(outcome.summary())
    return AssetCheckResult(
        passed=outcome.success,
        severity=AssetCheckSeverity.ERROR,
        description=outcome.summary(),
        metadata={"rows": outcome.rows, "expectations": outcome.evaluated,
                  "failed_expectations": len(outcome.failed),
                  "failures": [f"{f['type']}({f['column']})" for f in outcome.failed]},
    )


CHECKS = [gx_invoice_payment_status]
