"""Writeback assets: each reads its reverse-ETL payload model and syncs the difference to its target.

They run as plain assets (never through dagster-dlt's resource, which drops pending state)
inside the warehouse writers' pool, since the sync state lives in the warehouse.

Run config (all optional): ``dry_run``, ``mode`` (``upsert``, ``update_only``, ``mirror``; default:
the target's, or ``Q2C_WRITEBACK_MODE_<TARGET>``), ``max_change_share`` (default 0.5, or
``Q2C_WRITEBACK_MAX_CHANGE_SHARE[_<TARGET>]``) and ``force`` (run past the change-share guard once).
See docs/writebacks.md.
"""

import dlt
from dagster import AssetExecutionContext, AssetKey, AutomationCondition, Config, MaterializeResult, asset

from ingestion.salesforce.helpers import SalesforceClient
from ingestion.stripe.helpers import StripeClient
from orchestration import sandbox_link, settings, warehouse
from orchestration.quality import MART_PAYMENT_STATUS
from reverse_etl import config as sync_config
from reverse_etl import engine
from reverse_etl.sinks.salesforce import COMPOSITE_LIMIT, SalesforceUpsertSink
from reverse_etl.sinks.stripe import BATCH_SIZE as STRIPE_BATCH_SIZE
from reverse_etl.sinks.stripe import StripeInvoiceItemSink
from reverse_etl.targets import (
    BILLING_SCHEDULE,
    CRM_EXTERNAL_ID_FIELD,
    CRM_OBJECT,
    CRM_PAYMENT_STATUS,
    Target,
    billing_schedule_payload,
    crm_payment_status_payload,
)

WRITEBACK_CONDITION = AutomationCondition.eager() & AutomationCondition.all_deps_blocking_checks_passed()


class WritebackConfig(Config):
    dry_run: bool = False
    mode: str | None = None  # upsert | update_only | mirror; None: the target's setting
    max_change_share: float | None = None  # None: Q2C_WRITEBACK_MAX_CHANGE_SHARE[_<TARGET>], else 0.5
    force: bool = False  # sync even if more than max_change_share of the synced records would change


def _run_sync(context: AssetExecutionContext, sink, target: Target, payload_of,
              run_config: WritebackConfig) -> MaterializeResult:
    mode = sync_config.resolve_mode(target.name, target.mode, run_config.mode)
    with warehouse.connect() as con:
        result = engine.sync(con, sink, target.relation, payload_of, dry_run=run_config.dry_run,
                             progress=context.log.info, mode=mode, max_change_share=run_config.max_change_share,
                             force=run_config.force, correlation=target.correlation)
    context.log.info(f"{sink.name}: {result.as_metadata()}")
    if result.refused:
        context.log.warning(f"{sink.name} (dry run): {result.refused}")
    if result.failed:
        sample = "; ".join(f"{k}: {v}" for k, v in list(result.errors.items())[:5])
        context.log.warning(f"{sink.name}: {result.failed} records rejected, kept for the next sync: {sample}")
    return MaterializeResult(metadata={**result.as_metadata(), "records_sent": result.sent})


@asset(key=AssetKey(["writeback", "crm", "invoice_payment_status"]),
       deps=[AssetKey(["reverse_etl", "rev_crm_invoice_payment_status"]), MART_PAYMENT_STATUS],
       group_name="writeback", owners=["team:finance-systems"], kinds={"python", "salesforce"},
       pool=settings.DUCKDB_POOL, automation_condition=WRITEBACK_CONDITION,
       description=f"Payment status per invoice upserted to Salesforce {CRM_OBJECT} by {CRM_EXTERNAL_ID_FIELD} "
                   f"(mode {CRM_PAYMENT_STATUS.mode} by default; change-share guard; sync log in q2c_sync).")
def crm_payment_status_writeback(context: AssetExecutionContext, config: WritebackConfig) -> MaterializeResult:
    sandbox_link.configure()
    client = SalesforceClient(base_url=dlt.config["sources.salesforce.base_url"],
                              client_id=dlt.config["sources.salesforce.client_id"],
                              client_secret=dlt.secrets["sources.salesforce.client_secret"])
    sink = SalesforceUpsertSink(client, CRM_OBJECT, CRM_EXTERNAL_ID_FIELD, name=CRM_PAYMENT_STATUS.name,
                                batch_size=sync_config.resolve_batch_size(CRM_PAYMENT_STATUS.name, COMPOSITE_LIMIT,
                                                              COMPOSITE_LIMIT))
    return _run_sync(context, sink, CRM_PAYMENT_STATUS, crm_payment_status_payload, config)


@asset(key=AssetKey(["writeback", "billing", "billing_schedule"]),
       deps=[AssetKey(["reverse_etl", "rev_billing_schedule"])],
       group_name="writeback", owners=["team:billing"], kinds={"python", "stripe"},
       pool=settings.DUCKDB_POOL, automation_condition=WRITEBACK_CONDITION,
       description="The next billing-schedule installment of each retainer and subscription contract, "
                   "posted to Stripe as a pending invoice item (idempotency key per request).")
def billing_schedule_writeback(context: AssetExecutionContext, config: WritebackConfig) -> MaterializeResult:
    sandbox_link.configure()
    client = StripeClient(base_url=dlt.config["sources.stripe.base_url"],
                          api_key=dlt.secrets["sources.stripe.api_key"])
    sink = StripeInvoiceItemSink(client, name=BILLING_SCHEDULE.name,
                                 batch_size=sync_config.resolve_batch_size(BILLING_SCHEDULE.name, STRIPE_BATCH_SIZE, 1000))
    return _run_sync(context, sink, BILLING_SCHEDULE, billing_schedule_payload, config)


WRITEBACK_ASSETS = [crm_payment_status_writeback, billing_schedule_writeback]
