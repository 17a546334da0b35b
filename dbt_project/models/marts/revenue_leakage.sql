{#
    Revenue leakage per project as of q2c_as_of_date() (reference/domain.md, revenue leakage),
    in the project's currency:
      unbilled_aged_amount = approved billable work not on an invoiced billing event more than
                             60 days after it was done (wip: the 61-90 and 91+ buckets);
      write_down_amount    = on invoiced work, what was billed below standard value: the sum
                             over items of max(standard_amount - amount, 0) (billable_event);
      write_off_amount     = credits on the project's invoices: NetSuite credit memos writing
                             off balances and Stripe pre-payment credit notes (invoice
                             credited_amount, tax included as credited);
      leakage_amount       = the sum of the three;
      billed_amount        = net (tax excluded) of the project's invoices dated on or before the
                             as-of date;
      leakage_rate         = leakage_amount / (billed_amount + leakage_amount).
    Not computed: uncaptured scope (the PSA data has no excluded or credited time) and billing
    cap loss (no billing caps in the contracts). Write-downs read the PSA billable events only
    (time, expense, milestone): Stripe charges are billed at their price.
#}

with

wip as (

    select * from {{ ref('wip') }}

),

billable_events as (

    -- PSA items only: Stripe charges (retainer, subscription) are invoiced by Stripe, not through
    -- PSA billing events.
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

write_downs as (

    select
        billable_events.project_id,
        sum(
            case when billable_events.standard_amount > billable_events.amount
                then billable_events.standard_amount - billable_events.amount else 0 end
        ) as write_down_amount
    from billable_events
    cross join as_of
    inner join invoiced_billing_events
        on invoiced_billing_events.billing_event_id = billable_events.billing_event_id
    where billable_events.is_billable
        and billable_events.is_approved
        and billable_events.event_date <= as_of.as_of_date
    group by billable_events.project_id

),

project_invoices as (

    select
        invoices.project_id,
        case when invoices.currency = engagements.currency then 1 else fx_rates.rate end as rate,
        invoices.subtotal_amount,
        invoices.credited_amount
    from invoices
    cross join as_of
    inner join engagements
        on engagements.project_id = invoices.project_id
    left join fx_rates
        on fx_rates.from_currency = invoices.currency
        and fx_rates.to_currency = engagements.currency
        and invoices.invoice_date >= fx_rates.valid_from
        and invoices.invoice_date <= fx_rates.valid_to
    where invoices.invoice_date <= as_of.as_of_date

),

billed as (

    select
        project_id,
        sum({{ q2c_fx_convert('subtotal_amount', 'rate') }}) as billed_amount,
        sum({{ q2c_fx_convert('credited_amount', 'rate') }}) as write_off_amount
    from project_invoices
    group by project_id

),

projects as (

    select project_id from wip
    union
    select project_id from billed

),

joined as (

    select
        projects.project_id,
        engagements.contract_id,
        engagements.customer_id,
        coalesce(engagements.effective_legal_entity_id, engagements.legal_entity_id) as legal_entity_id,
        engagements.billing_type,
        engagements.currency,
        coalesce(wip.unbilled_61_90_amount + wip.unbilled_over_90_amount, 0) as unbilled_aged_amount,
        coalesce(write_downs.write_down_amount, 0) as write_down_amount,
        coalesce(billed.write_off_amount, 0) as write_off_amount,
        coalesce(billed.billed_amount, 0) as billed_amount,
        closing_rates.rate as fx_rate_reporting
    from projects
    inner join engagements
        on engagements.project_id = projects.project_id
    left join wip
        on wip.project_id = projects.project_id
    left join write_downs
        on write_downs.project_id = projects.project_id
    left join billed
        on billed.project_id = projects.project_id
    left join closing_rates
        on closing_rates.from_currency = engagements.currency

),

final as (

    select
        cast(project_id as varchar) as project_id,
        cast(contract_id as varchar) as contract_id,
        cast(customer_id as varchar) as customer_id,
        cast(legal_entity_id as varchar) as legal_entity_id,
        cast(billing_type as varchar) as billing_type,
        cast(currency as varchar) as currency,
        cast(unbilled_aged_amount as decimal(18, 2)) as unbilled_aged_amount,
        cast(write_down_amount as decimal(18, 2)) as write_down_amount,
        cast(write_off_amount as decimal(18, 2)) as write_off_amount,
        cast(unbilled_aged_amount + write_down_amount + write_off_amount as decimal(18, 2)) as leakage_amount,
        cast(billed_amount as decimal(18, 2)) as billed_amount,
        cast(
            case when billed_amount + unbilled_aged_amount + write_down_amount + write_off_amount > 0
                then (unbilled_aged_amount + write_down_amount + write_off_amount)
                    / (billed_amount + unbilled_aged_amount + write_down_amount + write_off_amount)
            end as decimal(9, 4)
        ) as leakage_rate,
        cast('{{ var("reporting_currency") }}' as varchar) as reporting_currency,
        cast((unbilled_aged_amount + write_down_amount + write_off_amount) * fx_rate_reporting as decimal(18, 2))
            as leakage_amount_reporting,
        cast(as_of.as_of_date as date) as as_of_date
    from joined
    cross join as_of

)

select * from final
