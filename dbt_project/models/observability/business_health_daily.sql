{#
    Daily business health, one row per day over the `business_health_days` days (default 90)
    ending on q2c_as_of_date(). Each measure is computed as it stood on that day, from records
    dated on or before it:
      project creation latency  median and count of closed-won -> first project days
                                (q2c_lifecycle) of the deals whose first project was created in
                                the 30 days ending on the day;
      billable backlog          approved billable PSA items (billable_event time, expense,
                                milestone; approval and work dated on or before the day) not on a
                                billing event an ERP invoice dated on or before the day bills;
                                value in the reporting currency at the work-date rate. Stripe
                                charges (retainer, subscription) are invoiced by Stripe and are
                                not backlog;
      invoice exception rate    of the invoices issued in the 30 days ending on the day, the share
                                with at least one exception (reference/domain.md, invoice
                                exception rate; the kinds the data shows): ERP invoice net
                                differs from its billing event's summary amount, a billing event
                                invoiced more than once (every invoice after the first), currency
                                or legal entity other than the contract's, a NetSuite invoice
                                without tax code, a contract reference other than the project's
                                contract, a credit memo applied within 30 days of the invoice
                                (counted once it is dated on or before the day);
      revenue-posting failures  PSA billing events released and dated at least
                                `posting_grace_days` (default 5) days before the day that no ERP
                                invoice dated on or before the day bills;
      payment delays            average days past due (0 when paid on time) of the payments
                                received that day, and the open overdue balance at the day's end
                                (total - credits - payments dated on or before it, invoices past
                                due), in the reporting currency at invoice-date rates;
      writeback failures        records sent to a target that day (q2c_sync.sync_log rows, written
                                by reverse_etl, whose status is 'ok' or 'failed'; rows confirmed
                                after a crash, skipped or planned in a dry run were not sent) and
                                those that failed. Before the first
                                writeback the log table does not exist: attempts and failures
                                are then 0 and the failure rate null.
#}

{%- set n_days = var('business_health_days', 90) | int -%}
{%- set posting_grace_days = var('posting_grace_days', 5) | int -%}
{%- if execute -%}
    {%- set sync_log = adapter.get_relation(database=target.database, schema='q2c_sync', identifier='sync_log') -%}
{%- else -%}
    {%- set sync_log = none -%}
{%- endif -%}

with

lifecycle as (

    select * from {{ ref('q2c_lifecycle') }}

),

billable_events as (

    -- PSA items only: Stripe charges (retainer, subscription) are invoiced by Stripe, not through
    -- PSA billing events.
    select * from {{ ref('billable_event') }}
    where {{ q2c_is_psa_item() }}

),

billing_events as (

    select * from {{ ref('billing_event') }}

),

invoices as (

    select * from {{ ref('invoice') }}

),

engagements as (

    select * from {{ ref('engagement') }}

),

contracts as (

    select * from {{ ref('contract') }}

),

applications as (

    select * from {{ ref('payment_application') }}

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

),

day_offsets as (

    {{ integer_spine(n_days) }}

),

days as (

    select cast({{ dbt.dateadd('day', '-1 * day_offsets.n', 'as_of.as_of_date') }} as date) as report_date
    from day_offsets
    cross join as_of

),

-- Project-creation latency ------------------------------------------------------------------

project_creations as (

    select
        days.report_date,
        lifecycle.days_won_to_project
    from days
    inner join lifecycle
        on cast(lifecycle.project_created_at as date) <= days.report_date
        and cast(lifecycle.project_created_at as date) > {{ dbt.dateadd('day', -30, 'days.report_date') }}

),

project_latency as (

    select
        report_date,
        count(*) as projects_created_30d,
        percentile_cont(0.5) within group (order by days_won_to_project) as median_days_won_to_project
    from project_creations
    group by report_date

),

-- Billable backlog ---------------------------------------------------------------------------

billing_event_invoiced as (

    -- When each billing event was first invoiced in the ERP.
    select
        billing_event_id,
        min(invoice_date) as first_invoice_date,
        count(*) as invoice_count
    from invoices
    where billing_event_id is not null
        and source_system in ('netsuite', 'legacy_erp')
    group by billing_event_id

),

approved_items as (

    select
        billable_events.billable_event_id,
        billable_events.event_date,
        billable_events.ready_to_bill_date,
        billable_events.amount_reporting,
        billing_event_invoiced.first_invoice_date
    from billable_events
    left join billing_event_invoiced
        on billing_event_invoiced.billing_event_id = billable_events.billing_event_id
    where billable_events.is_billable
        and billable_events.is_approved

),

backlog as (

    select
        days.report_date,
        count(*) as backlog_item_count,
        sum(approved_items.amount_reporting) as billable_backlog_reporting
    from days
    inner join approved_items
        on approved_items.event_date <= days.report_date
        and coalesce(approved_items.ready_to_bill_date, approved_items.event_date) <= days.report_date
        and (approved_items.first_invoice_date is null or approved_items.first_invoice_date > days.report_date)
    group by days.report_date

),

-- Invoice exceptions -------------------------------------------------------------------------

billing_event_invoices_ranked as (

    select
        invoice_id,
        row_number() over (
            partition by billing_event_id
            order by invoice_date, {{ q2c_sort_key('invoice_id') }}
        ) as nth_invoice
    from invoices
    where billing_event_id is not null
        and source_system in ('netsuite', 'legacy_erp')

),

early_credits as (

    select
        applications.invoice_id,
        min(applications.application_date) as first_credit_date
    from applications
    inner join invoices
        on invoices.invoice_id = applications.invoice_id
    where applications.application_type = 'credit_memo'
        and applications.application_date <= {{ dbt.dateadd('day', 30, 'invoices.invoice_date') }}
    group by applications.invoice_id

),

invoice_flags as (

    select
        invoices.invoice_id,
        invoices.invoice_date,
        case
            when billing_events.billing_event_id is not null
                and abs(invoices.subtotal_amount - billing_events.summary_amount) > 0.01 then 1
            when billing_event_invoices_ranked.nth_invoice > 1 then 1
            when contracts.contract_id is not null and invoices.currency <> contracts.currency then 1
            when contracts.contract_id is not null and invoices.legal_entity_id <> contracts.legal_entity_id then 1
            when invoices.source_system = 'netsuite' and invoices.tax_code is null then 1
            when engagements.contract_id is not null and invoices.contract_id <> engagements.contract_id then 1
            else 0
        end as has_issue_exception,
        early_credits.first_credit_date
    from invoices
    left join billing_events
        on billing_events.billing_event_id = invoices.billing_event_id
    left join billing_event_invoices_ranked
        on billing_event_invoices_ranked.invoice_id = invoices.invoice_id
    left join engagements
        on engagements.project_id = invoices.project_id
    left join contracts
        on contracts.contract_id = coalesce(engagements.contract_id, invoices.contract_id)
    left join early_credits
        on early_credits.invoice_id = invoices.invoice_id

),

invoice_exceptions as (

    select
        days.report_date,
        count(*) as invoices_issued_30d,
        sum(
            case
                when invoice_flags.has_issue_exception = 1 then 1
                when invoice_flags.first_credit_date <= days.report_date then 1
                else 0
            end
        ) as invoices_with_exception_30d
    from days
    inner join invoice_flags
        on invoice_flags.invoice_date <= days.report_date
        and invoice_flags.invoice_date > {{ dbt.dateadd('day', -30, 'days.report_date') }}
    group by days.report_date

),

-- Revenue-posting failures -------------------------------------------------------------------

posting_failures as (

    select
        days.report_date,
        count(*) as revenue_posting_failures
    from days
    inner join billing_events
        on billing_events.is_released
        and billing_events.billing_event_date
            <= {{ dbt.dateadd('day', -1 * posting_grace_days, 'days.report_date') }}
    left join billing_event_invoiced
        on billing_event_invoiced.billing_event_id = billing_events.billing_event_id
    where billing_event_invoiced.first_invoice_date is null
        or billing_event_invoiced.first_invoice_date > days.report_date
    group by days.report_date

),

-- Payment delays -----------------------------------------------------------------------------

payments_received as (

    select
        applications.application_date as report_date,
        count(*) as payments_received,
        avg(
            case
                when applications.application_date > invoices.due_date
                    then cast({{ dbt.datediff('invoices.due_date', 'applications.application_date', 'day') }}
                        as decimal(18, 4))
                else 0
            end
        ) as avg_days_past_due_paid
    from applications
    inner join invoices
        on invoices.invoice_id = applications.invoice_id
    where applications.application_type = 'payment'
    group by applications.application_date

),

settled_by_day as (

    select
        days.report_date,
        applications.invoice_id,
        sum(applications.applied_amount) as settled_amount
    from days
    inner join applications
        on applications.application_date <= days.report_date
    group by days.report_date, applications.invoice_id

),

overdue as (

    select
        days.report_date,
        count(*) as overdue_invoice_count,
        sum(
            (invoices.total_amount - coalesce(settled_by_day.settled_amount, 0)) * invoices.fx_rate_reporting
        ) as overdue_amount_reporting
    from days
    inner join invoices
        on invoices.invoice_date <= days.report_date
        and invoices.due_date < days.report_date
    left join settled_by_day
        on settled_by_day.report_date = days.report_date
        and settled_by_day.invoice_id = invoices.invoice_id
    where invoices.total_amount - coalesce(settled_by_day.settled_amount, 0) > 0
    group by days.report_date

),

-- Writeback failures -------------------------------------------------------------------------

writebacks as (

    {%- if sync_log is not none %}
    select
        cast(attempted_at as date) as report_date,
        count(*) as writeback_attempts,
        sum(case when status = 'failed' then 1 else 0 end) as writeback_failures
    from {{ sync_log }}
    where status in ('ok', 'failed')
    group by cast(attempted_at as date)
    {%- else %}
    -- No writeback has run yet (q2c_sync.sync_log does not exist): nothing attempted.
    select
        cast(null as date) as report_date,
        0 as writeback_attempts,
        0 as writeback_failures
    where 1 = 0
    {%- endif %}

),

final as (

    select
        cast(days.report_date as date) as report_date,
        cast(coalesce(project_latency.projects_created_30d, 0) as integer) as projects_created_30d,
        cast(project_latency.median_days_won_to_project as decimal(9, 1)) as median_days_won_to_project,
        cast('{{ var("reporting_currency") }}' as varchar) as reporting_currency,
        cast(coalesce(backlog.backlog_item_count, 0) as integer) as billable_backlog_items,
        cast(coalesce(backlog.billable_backlog_reporting, 0) as decimal(18, 2)) as billable_backlog_reporting,
        cast(coalesce(invoice_exceptions.invoices_issued_30d, 0) as integer) as invoices_issued_30d,
        cast(coalesce(invoice_exceptions.invoices_with_exception_30d, 0) as integer) as invoices_with_exception_30d,
        cast(
            case when invoice_exceptions.invoices_issued_30d > 0
                then cast(invoice_exceptions.invoices_with_exception_30d as decimal(18, 4))
                    / invoice_exceptions.invoices_issued_30d end
            as decimal(9, 4)
        ) as invoice_exception_rate,
        cast(coalesce(posting_failures.revenue_posting_failures, 0) as integer) as revenue_posting_failures,
        cast(coalesce(payments_received.payments_received, 0) as integer) as payments_received,
        cast(payments_received.avg_days_past_due_paid as decimal(9, 1)) as avg_days_past_due_paid,
        cast(coalesce(overdue.overdue_invoice_count, 0) as integer) as overdue_invoice_count,
        cast(coalesce(overdue.overdue_amount_reporting, 0) as decimal(18, 2)) as overdue_amount_reporting,
        cast(coalesce(writebacks.writeback_attempts, 0) as integer) as writeback_attempts,
        cast(coalesce(writebacks.writeback_failures, 0) as integer) as writeback_failures,
        cast(
            case when writebacks.writeback_attempts > 0
                then cast(writebacks.writeback_failures as decimal(18, 4)) / writebacks.writeback_attempts end
            as decimal(9, 4)
        ) as writeback_failure_rate,
        cast(as_of.as_of_date as date) as as_of_date
    from days
    cross join as_of
    left join project_latency
        on project_latency.report_date = days.report_date
    left join backlog
        on backlog.report_date = days.report_date
    left join invoice_exceptions
        on invoice_exceptions.report_date = days.report_date
    left join posting_failures
        on posting_failures.report_date = days.report_date
    left join payments_received
        on payments_received.report_date = days.report_date
    left join overdue
        on overdue.report_date = days.report_date
    left join writebacks
        on writebacks.report_date = days.report_date

)

select * from final
