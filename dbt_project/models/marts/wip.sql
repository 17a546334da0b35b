{#
    Work in progress (unbilled services) per PSA project as of q2c_as_of_date()
    (reference/domain.md, WIP; Deltek's job-to-date definition and Canopy's ageing):
      earned  = approved, billable PSA items dated on or before the as-of date (canonical
                billable_event: timecard splits by their start date, expenses by their date,
                completed milestones by their actual date), at their billable amount;
      billed  = net (tax excluded) of the project's ERP invoices (NetSuite, legacy ERP) dated
                on or before the as-of date, in the project currency (an invoice issued in
                another currency converted at its invoice-date rate);
      wip     = earned - billed; negative when billing ran ahead of the work (a contract
                liability), which also shows an invoice that billed a billing event twice.
    Item level: unbilled = approved, billable items dated on or before the as-of date that are
    not on a billing event invoiced by the as-of date (no billing event, or one no invoice dated
    on or before the as-of date references). It is aged by as-of date - item date into 0-30,
    31-60, 61-90 and 91+ days.
    Retainers and subscriptions are billed in advance by the billing platform from the
    contract, not from PSA items: their earned-vs-billed position is in the revenue schedule.
    Their Stripe charges (billable_event types 'retainer', 'subscription') are left out here:
    each is billed by the Stripe invoice of its period, never by an ERP invoice, so it would
    otherwise count as earned and never billed.
    Balances are also given in the reporting currency at the closing rate of the as-of date.
#}

with

billable_events as (

    -- PSA items only: Stripe charges (retainer, subscription) are invoiced by Stripe.
    select * from {{ ref('billable_event') }}
    where {{ q2c_is_psa_item() }}

),

engagements as (

    select * from {{ ref('engagement') }}

),

invoices as (

    select * from {{ ref('invoice') }}

),

fx_rates as (

    select * from {{ ref('fx_rate') }}

),

closing_rates as (

    select * from {{ ref('fx_closing_rate') }}

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

),

erp_invoices as (

    select invoices.*
    from invoices
    cross join as_of
    where invoices.source_system in ('netsuite', 'legacy_erp')
        and invoices.invoice_date <= as_of.as_of_date

),

billing_events as (

    select * from {{ ref('billing_event') }}

),

invoiced_billing_events as (

    -- Billing events an ERP invoice dated on or before the as-of date references.
    select billing_events.billing_event_id
    from billing_events
    cross join as_of
    where billing_events.erp_invoice_date <= as_of.as_of_date

),

earned_items as (

    select
        billable_events.*,
        {{ dbt.datediff('billable_events.event_date', 'as_of.as_of_date', 'day') }} as age_days,
        case when invoiced_billing_events.billing_event_id is null then 1 else 0 end as is_unbilled
    from billable_events
    cross join as_of
    left join invoiced_billing_events
        on invoiced_billing_events.billing_event_id = billable_events.billing_event_id
    where billable_events.is_billable
        and billable_events.is_approved
        and billable_events.event_date <= as_of.as_of_date

),

earned as (

    select
        project_id,
        sum(amount) as earned_amount,
        sum(case when is_unbilled = 1 then amount else 0 end) as unbilled_amount,
        sum(case when is_unbilled = 1 and age_days <= 30 then amount else 0 end) as unbilled_0_30_amount,
        sum(case when is_unbilled = 1 and age_days between 31 and 60 then amount else 0 end)
            as unbilled_31_60_amount,
        sum(case when is_unbilled = 1 and age_days between 61 and 90 then amount else 0 end)
            as unbilled_61_90_amount,
        sum(case when is_unbilled = 1 and age_days > 90 then amount else 0 end) as unbilled_over_90_amount,
        sum(is_unbilled) as unbilled_item_count,
        max(case when is_unbilled = 1 then age_days end) as oldest_unbilled_days
    from earned_items
    group by project_id

),

billed as (

    select
        erp_invoices.project_id,
        sum(
            case
                when erp_invoices.currency = engagements.currency then erp_invoices.subtotal_amount
                else {{ q2c_fx_convert('erp_invoices.subtotal_amount', 'fx_rates.rate') }}
            end
        ) as billed_amount,
        count(*) as invoice_count
    from erp_invoices
    inner join engagements
        on engagements.project_id = erp_invoices.project_id
    left join fx_rates
        on fx_rates.from_currency = erp_invoices.currency
        and fx_rates.to_currency = engagements.currency
        and erp_invoices.invoice_date >= fx_rates.valid_from
        and erp_invoices.invoice_date <= fx_rates.valid_to
    group by erp_invoices.project_id

),

projects as (

    select project_id from earned
    union
    select project_id from billed

),

joined as (

    select
        engagements.project_id,
        engagements.project_name,
        engagements.contract_id,
        engagements.customer_id,
        coalesce(engagements.effective_legal_entity_id, engagements.legal_entity_id) as legal_entity_id,
        engagements.billing_type,
        engagements.currency,
        coalesce(earned.earned_amount, 0) as earned_amount,
        coalesce(billed.billed_amount, 0) as billed_amount,
        coalesce(billed.invoice_count, 0) as invoice_count,
        coalesce(earned.unbilled_amount, 0) as unbilled_amount,
        coalesce(earned.unbilled_0_30_amount, 0) as unbilled_0_30_amount,
        coalesce(earned.unbilled_31_60_amount, 0) as unbilled_31_60_amount,
        coalesce(earned.unbilled_61_90_amount, 0) as unbilled_61_90_amount,
        coalesce(earned.unbilled_over_90_amount, 0) as unbilled_over_90_amount,
        coalesce(earned.unbilled_item_count, 0) as unbilled_item_count,
        earned.oldest_unbilled_days,
        closing_rates.rate as fx_rate_reporting
    from projects
    inner join engagements
        on engagements.project_id = projects.project_id
    left join earned
        on earned.project_id = projects.project_id
    left join billed
        on billed.project_id = projects.project_id
    left join closing_rates
        on closing_rates.from_currency = engagements.currency

),

final as (

    select
        cast(joined.project_id as varchar) as project_id,
        cast(joined.project_name as varchar) as project_name,
        cast(joined.contract_id as varchar) as contract_id,
        cast(joined.customer_id as varchar) as customer_id,
        cast(joined.legal_entity_id as varchar) as legal_entity_id,
        cast(joined.billing_type as varchar) as billing_type,
        cast(joined.currency as varchar) as currency,
        cast(joined.earned_amount as decimal(18, 2)) as earned_amount,
        cast(joined.billed_amount as decimal(18, 2)) as billed_amount,
        cast(joined.earned_amount - joined.billed_amount as decimal(18, 2)) as wip_amount,
        cast(joined.invoice_count as integer) as invoice_count,
        cast(joined.unbilled_amount as decimal(18, 2)) as unbilled_amount,
        cast(joined.unbilled_0_30_amount as decimal(18, 2)) as unbilled_0_30_amount,
        cast(joined.unbilled_31_60_amount as decimal(18, 2)) as unbilled_31_60_amount,
        cast(joined.unbilled_61_90_amount as decimal(18, 2)) as unbilled_61_90_amount,
        cast(joined.unbilled_over_90_amount as decimal(18, 2)) as unbilled_over_90_amount,
        cast(joined.unbilled_item_count as integer) as unbilled_item_count,
        cast(joined.oldest_unbilled_days as integer) as oldest_unbilled_days,
        cast('{{ var("reporting_currency") }}' as varchar) as reporting_currency,
        cast(joined.fx_rate_reporting as decimal(18, 8)) as fx_rate_reporting,
        cast((joined.earned_amount - joined.billed_amount) * joined.fx_rate_reporting as decimal(18, 2))
            as wip_amount_reporting,
        cast(joined.unbilled_amount * joined.fx_rate_reporting as decimal(18, 2)) as unbilled_amount_reporting,
        cast(as_of.as_of_date as date) as as_of_date
    from joined
    cross join as_of

)

select * from final
