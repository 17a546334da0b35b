{#
    Billing schedule per contract: what is to be invoiced when, and what was, as of
    q2c_as_of_date(). One row per schedule line:
      - contracts billed by the billing platform (Retainer, Subscription: billing_system
        'stripe'): one line per monthly installment over the term, the rule of
        rev_billing_schedule (installment k covers [start + k months, start + k+1 months - 1
        day]; the contract amount split equally in cents, the last installment takes the
        remainder). Invoiced = the contract's canonical invoices dated within the period
        (net of tax). Status: `invoiced`, `missed` (the period has started on or before the
        as-of date and nothing is invoiced) or `scheduled` (future period).
      - contracts billed from the PSA (Time and Materials, Fixed Fee): one line per PSA billing
        event of the contract's projects; planned = its summary amount on its date, invoiced =
        the canonical invoices that reference the billing event (net of tax). Status:
        `invoiced`, `released` (released, not invoiced), `draft`.
    Amounts are in the contract / billing event currency.
#}

with

contracts as (

    select * from {{ ref('contract') }}

),

billing_events as (

    select * from {{ ref('billing_event') }}

),

invoices as (

    select * from {{ ref('invoice') }}

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

),

month_offsets as (

    {{ integer_spine(1200) }}

),

platform_contracts as (

    select
        contracts.*,
        cast(round(contracts.contract_amount * 100, 0) as bigint) as contract_amount_cents
    from contracts
    where contracts.is_activated
        and contracts.billing_system = 'stripe'
        and contracts.term_months > 0

),

installments as (

    select
        platform_contracts.contract_id,
        platform_contracts.customer_id,
        platform_contracts.legal_entity_id,
        platform_contracts.billing_model,
        platform_contracts.currency,
        platform_contracts.term_months,
        platform_contracts.contract_amount_cents,
        month_offsets.n as installment_index,
        {{ q2c_int_div('platform_contracts.contract_amount_cents', 'platform_contracts.term_months') }}
            as equal_share_cents,
        cast({{ dbt.dateadd('month', 'month_offsets.n', 'platform_contracts.start_date') }} as date)
            as period_start_date,
        cast(
            {{ dbt.dateadd('day', -1, dbt.dateadd('month', 'month_offsets.n + 1', 'platform_contracts.start_date')) }}
            as date
        ) as period_end_date
    from platform_contracts
    inner join month_offsets
        on month_offsets.n < platform_contracts.term_months

),

installment_invoices as (

    select
        installments.contract_id,
        installments.installment_index,
        count(invoices.invoice_id) as invoice_count,
        sum(invoices.subtotal_amount) as invoiced_amount,
        min(invoices.invoice_date) as first_invoice_date
    from installments
    cross join as_of
    inner join invoices
        on invoices.contract_id = installments.contract_id
        and invoices.invoice_date >= installments.period_start_date
        and invoices.invoice_date <= installments.period_end_date
        and invoices.invoice_date <= as_of.as_of_date
    group by installments.contract_id, installments.installment_index

),

installment_lines as (

    select
        installments.contract_id || '-' || cast(
            cast(extract(year from installments.period_start_date) * 100
                + extract(month from installments.period_start_date) as integer) as varchar
        ) as schedule_line_id,
        installments.contract_id,
        installments.customer_id,
        installments.legal_entity_id,
        installments.billing_model,
        'installment' as line_type,
        installments.installment_index + 1 as line_number,
        cast(null as varchar) as billing_event_id,
        installments.period_start_date as planned_date,
        installments.period_end_date,
        installments.currency,
        cast(
            case
                when installments.installment_index = installments.term_months - 1
                    then installments.contract_amount_cents
                        - installments.equal_share_cents * (installments.term_months - 1)
                else installments.equal_share_cents
            end as decimal(18, 2)
        ) / 100 as planned_amount,
        coalesce(installment_invoices.invoice_count, 0) as invoice_count,
        coalesce(installment_invoices.invoiced_amount, 0) as invoiced_amount,
        installment_invoices.first_invoice_date,
        case
            when installment_invoices.invoice_count > 0 then 'invoiced'
            when installments.period_start_date <= as_of.as_of_date then 'missed'
            else 'scheduled'
        end as status
    from installments
    cross join as_of
    left join installment_invoices
        on installment_invoices.contract_id = installments.contract_id
        and installment_invoices.installment_index = installments.installment_index

),

contract_billing_events as (

    select
        billing_events.billing_event_id,
        billing_events.billing_event_date,
        billing_events.summary_amount,
        billing_events.currency,
        billing_events.is_released,
        contracts.contract_id,
        contracts.customer_id,
        contracts.legal_entity_id,
        contracts.billing_model,
        row_number() over (
            partition by contracts.contract_id
            order by billing_events.billing_event_date, {{ q2c_sort_key('billing_events.billing_event_id') }}
        ) as line_number
    from billing_events
    cross join as_of
    inner join contracts
        on contracts.contract_id = billing_events.contract_id
    where billing_events.billing_event_date <= as_of.as_of_date
        and contracts.billing_system <> 'stripe'

),

event_invoices as (

    select
        invoices.billing_event_id,
        count(*) as invoice_count,
        sum(invoices.subtotal_amount) as invoiced_amount,
        min(invoices.invoice_date) as first_invoice_date
    from invoices
    cross join as_of
    where invoices.billing_event_id is not null
        and invoices.invoice_date <= as_of.as_of_date
    group by invoices.billing_event_id

),

event_lines as (

    select
        contract_billing_events.billing_event_id as schedule_line_id,
        contract_billing_events.contract_id,
        contract_billing_events.customer_id,
        contract_billing_events.legal_entity_id,
        contract_billing_events.billing_model,
        'billing_event' as line_type,
        contract_billing_events.line_number,
        contract_billing_events.billing_event_id,
        contract_billing_events.billing_event_date as planned_date,
        cast(null as date) as period_end_date,
        contract_billing_events.currency,
        contract_billing_events.summary_amount as planned_amount,
        coalesce(event_invoices.invoice_count, 0) as invoice_count,
        coalesce(event_invoices.invoiced_amount, 0) as invoiced_amount,
        event_invoices.first_invoice_date,
        case
            when event_invoices.invoice_count > 0 then 'invoiced'
            when contract_billing_events.is_released then 'released'
            else 'draft'
        end as status
    from contract_billing_events
    left join event_invoices
        on event_invoices.billing_event_id = contract_billing_events.billing_event_id

),

unioned as (

    select * from installment_lines
    union all
    select * from event_lines

),

final as (

    select
        cast(unioned.schedule_line_id as varchar) as schedule_line_id,
        cast(unioned.contract_id as varchar) as contract_id,
        cast(unioned.customer_id as varchar) as customer_id,
        cast(unioned.legal_entity_id as varchar) as legal_entity_id,
        cast(unioned.billing_model as varchar) as billing_model,
        cast(unioned.line_type as varchar) as line_type,
        cast(unioned.line_number as integer) as line_number,
        cast(unioned.billing_event_id as varchar) as billing_event_id,
        cast(unioned.planned_date as date) as planned_date,
        cast(unioned.period_end_date as date) as period_end_date,
        cast(unioned.currency as varchar) as currency,
        cast(unioned.planned_amount as decimal(18, 2)) as planned_amount,
        cast(unioned.invoice_count as integer) as invoice_count,
        cast(unioned.invoiced_amount as decimal(18, 2)) as invoiced_amount,
        cast(unioned.invoiced_amount - unioned.planned_amount as decimal(18, 2)) as variance_amount,
        cast(unioned.first_invoice_date as date) as first_invoice_date,
        cast(unioned.status as varchar) as status,
        cast(as_of.as_of_date as date) as as_of_date
    from unioned
    cross join as_of

)

select * from final
