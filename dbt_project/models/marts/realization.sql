{#
    Billing and collection realization per project and calendar month (reference/domain.md,
    realization; the two published meanings kept apart), as of q2c_as_of_date(), in the
    project's currency.
    Billing realization, by the month the work was done (billable_event.event_date):
      standard_amount  = approved billable items at standard value (time: hours x the rate
                         card's suggested bill rate; expenses and milestones at their amount);
      billable_amount  = the same items at the amount the PSA bills (the assignment's bill rate);
      invoiced_standard_amount / invoiced_item_amount = standard and billed value of those
                         items that are on a billing event an ERP invoice dated on or before the
                         as-of date bills;
      billing_realization = invoiced_item_amount / invoiced_standard_amount;
      write_down_amount   = invoiced_standard_amount - invoiced_item_amount (positive when work
                         was billed below standard).
    Collection realization, by the month the project's invoices were issued:
      invoiced_amount  = invoice totals (tax included, as collected);
      collected_amount = payments applied to those invoices dated on or before the as-of date;
      credited_amount  = credits (credit memos, pre-payment credit notes) on them;
      collection_realization = collected_amount / invoiced_amount (null without invoices).
    An invoice in another currency than the project's is converted at its invoice-date rate.
    Work is the PSA billable events (time, expense, milestone); the Stripe charges of retainers
    and subscriptions are billed at their price by Stripe (no standard to realize against), and
    their invoices are in the collection side.
#}

with

billable_events as (

    -- PSA items only: Stripe charges (retainer, subscription) are invoiced by Stripe, not through
    -- PSA billing events.
    select * from {{ ref('billable_event') }}
    where {{ q2c_is_psa_item() }}

),

engagements as (

    select * from {{ ref('engagement') }}

),

invoice_status as (

    select * from {{ ref('invoice_payment_status') }}

),

invoices as (

    select * from {{ ref('invoice') }}

),

fx_rates as (

    select * from {{ ref('fx_rate') }}

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

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

work as (

    select
        billable_events.project_id,
        cast({{ dbt.date_trunc('month', 'billable_events.event_date') }} as date) as month_start,
        sum(billable_events.standard_amount) as standard_amount,
        sum(billable_events.amount) as billable_amount,
        sum(case when invoiced_billing_events.billing_event_id is not null
            then billable_events.standard_amount else 0 end) as invoiced_standard_amount,
        sum(case when invoiced_billing_events.billing_event_id is not null
            then billable_events.amount else 0 end) as invoiced_item_amount
    from billable_events
    cross join as_of
    left join invoiced_billing_events
        on invoiced_billing_events.billing_event_id = billable_events.billing_event_id
    where billable_events.is_billable
        and billable_events.is_approved
        and billable_events.event_date <= as_of.as_of_date
    group by
        billable_events.project_id,
        cast({{ dbt.date_trunc('month', 'billable_events.event_date') }} as date)

),

project_invoices as (

    select
        invoice_status.project_id,
        cast({{ dbt.date_trunc('month', 'invoice_status.invoice_date') }} as date) as month_start,
        case when invoice_status.currency = engagements.currency then 1 else fx_rates.rate end as rate,
        invoice_status.total_amount,
        invoice_status.paid_amount,
        invoice_status.credited_amount
    from invoice_status
    inner join engagements
        on engagements.project_id = invoice_status.project_id
    left join fx_rates
        on fx_rates.from_currency = invoice_status.currency
        and fx_rates.to_currency = engagements.currency
        and invoice_status.invoice_date >= fx_rates.valid_from
        and invoice_status.invoice_date <= fx_rates.valid_to

),

collections as (

    select
        project_id,
        month_start,
        sum({{ q2c_fx_convert('total_amount', 'rate') }}) as invoiced_amount,
        sum({{ q2c_fx_convert('paid_amount', 'rate') }}) as collected_amount,
        sum({{ q2c_fx_convert('credited_amount', 'rate') }}) as credited_amount,
        count(*) as invoice_count
    from project_invoices
    group by project_id, month_start

),

keys as (

    select project_id, month_start from work
    union
    select project_id, month_start from collections

),

final as (

    select
        cast(keys.project_id || '|' || cast(keys.month_start as varchar) as varchar) as realization_key,
        cast(keys.project_id as varchar) as project_id,
        cast(engagements.contract_id as varchar) as contract_id,
        cast(engagements.customer_id as varchar) as customer_id,
        cast(coalesce(engagements.effective_legal_entity_id, engagements.legal_entity_id) as varchar)
            as legal_entity_id,
        cast(engagements.billing_type as varchar) as billing_type,
        cast(keys.month_start as date) as month_start,
        cast(engagements.currency as varchar) as currency,
        cast(coalesce(work.standard_amount, 0) as decimal(18, 2)) as standard_amount,
        cast(coalesce(work.billable_amount, 0) as decimal(18, 2)) as billable_amount,
        cast(coalesce(work.invoiced_standard_amount, 0) as decimal(18, 2)) as invoiced_standard_amount,
        cast(coalesce(work.invoiced_item_amount, 0) as decimal(18, 2)) as invoiced_item_amount,
        cast(
            case when work.invoiced_standard_amount > 0
                then work.invoiced_item_amount / work.invoiced_standard_amount end
            as decimal(9, 4)
        ) as billing_realization,
        cast(coalesce(work.invoiced_standard_amount - work.invoiced_item_amount, 0) as decimal(18, 2))
            as write_down_amount,
        cast(coalesce(collections.invoice_count, 0) as integer) as invoice_count,
        cast(coalesce(collections.invoiced_amount, 0) as decimal(18, 2)) as invoiced_amount,
        cast(coalesce(collections.collected_amount, 0) as decimal(18, 2)) as collected_amount,
        cast(coalesce(collections.credited_amount, 0) as decimal(18, 2)) as credited_amount,
        cast(
            case when collections.invoiced_amount > 0
                then collections.collected_amount / collections.invoiced_amount end
            as decimal(9, 4)
        ) as collection_realization,
        cast(as_of.as_of_date as date) as as_of_date
    from keys
    cross join as_of
    inner join engagements
        on engagements.project_id = keys.project_id
    left join work
        on work.project_id = keys.project_id
        and work.month_start = keys.month_start
    left join collections
        on collections.project_id = keys.project_id
        and collections.month_start = keys.month_start

)

select * from final
