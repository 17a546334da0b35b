{#
    Payload for the billing-platform writeback: the next monthly installment of every
    activated contract billed by Stripe (Retainer, Subscription), as one Stripe invoice item
    keyed by external_id `<contract_id>-<YYYYMM>`.

    Only the next installment is written: Stripe attaches every pending invoice item to the
    customer's next invoice, so writing a whole year of installments at once would bill the
    year at once. Each cycle's run adds the following installment when its predecessor's
    period has started.

    Schedule rule (the same for every contract):
      - installment k (k = 0 .. term_months-1) covers
        [start_date + k months, start_date + (k+1) months - 1 day];
      - the contract amount in minor units is split equally, rounded down, and the last
        installment absorbs the remainder, so all term_months installments sum to the
        contract amount exactly;
      - the installment written is the first whose period starts after the as-of date
        (elapsed or running periods have been invoiced already)
    (tests/assert_billing_schedule_is_the_next_installment.sql).
#}

{%- set payload_fields = [
    'external_id', 'stripe_customer_id', 'contract_id', 'amount', 'currency', 'description',
    'period_start', 'period_end'
] -%}

with

contracts as (

    select * from {{ ref('contract') }}

),

customers as (

    select * from {{ ref('customer') }}

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

),

month_offsets as (

    {{ integer_spine(1200) }}

),

stripe_contracts as (

    select
        contracts.contract_id,
        contracts.contract_number,
        contracts.billing_model,
        contracts.start_date,
        contracts.term_months,
        customers.stripe_customer_id,
        lower(contracts.currency) as currency,
        {{ major_to_stripe_minor('contracts.contract_amount', 'contracts.currency') }} as contract_amount_minor
    from contracts
    left join customers
        on customers.customer_id = contracts.customer_id
    where contracts.is_activated
        and contracts.billing_system = 'stripe'
        and contracts.term_months > 0

),

installments as (

    select
        stripe_contracts.*,
        month_offsets.n as installment_index,
        {{ q2c_int_div('contract_amount_minor', 'term_months') }} as equal_share_minor,
        cast({{ dbt.dateadd('month', 'month_offsets.n', 'stripe_contracts.start_date') }} as date)
            as period_start_date,
        cast(
            {{ dbt.dateadd('day', -1, dbt.dateadd('month', 'month_offsets.n + 1', 'stripe_contracts.start_date')) }}
            as date
        ) as period_end_date
    from stripe_contracts
    inner join month_offsets
        on month_offsets.n < stripe_contracts.term_months

),

future_installments as (

    select
        installments.*,
        case
            when installment_index = term_months - 1
                then contract_amount_minor - equal_share_minor * (term_months - 1)
            else equal_share_minor
        end as amount
    from installments
    cross join as_of
    where installments.period_start_date > as_of.as_of_date

),

ranked_installments as (

    select
        future_installments.*,
        row_number() over (partition by contract_id order by installment_index) as installment_rank
    from future_installments

),

next_installments as (

    select *
    from ranked_installments
    where installment_rank = 1

),

payload as (

    select
        contract_id || '-' || cast(
            cast(extract(year from period_start_date) * 100 + extract(month from period_start_date) as integer)
            as varchar
        ) as external_id,
        stripe_customer_id,
        contract_id,
        cast(amount as bigint) as amount,
        currency,
        'Contract ' || contract_number || ' ' || billing_model || ' installment '
            || cast(installment_index + 1 as varchar) || ' of ' || cast(term_months as varchar)
            || ' (' || cast(period_start_date as varchar) || ' to ' || cast(period_end_date as varchar) || ')'
            as description,
        {{ to_unix_seconds('period_start_date') }} as period_start,
        {{ to_unix_seconds('period_end_date') }} + 86399 as period_end
    from next_installments

),

final as (

    select
        *,
        {{ q2c_hash(payload_fields) }} as content_hash
    from payload

)

select * from final
