{{ config(meta={'dagster': {'ref': {'name': 'rev_billing_schedule'}}}) }}
-- Billing schedule rule (see rev_billing_schedule): each Stripe-billed contract has at most one
-- line, the next installment: its period starts after the as-of date and no later than one
-- month after it, and its amount is either the equal monthly share (floor of the contract
-- amount over the term, in minor units) or, for the last installment, the remainder that makes
-- the installments sum to the contract amount. Returns the lines that break it.

with

lines as (

    select
        contract_id,
        amount,
        period_start,
        count(*) over (partition by contract_id) as lines_of_contract
    from {{ ref('rev_billing_schedule') }}

),

contracts as (

    select
        contract_id,
        term_months,
        {{ major_to_stripe_minor('contract_amount', 'currency') }} as contract_amount_minor
    from {{ ref('contract') }}

),

checked as (

    select
        lines.*,
        contracts.term_months,
        {{ q2c_int_div('contracts.contract_amount_minor', 'contracts.term_months') }} as equal_share,
        contracts.contract_amount_minor
    from lines
    left join contracts
        on contracts.contract_id = lines.contract_id

)

select *
from checked
where term_months is null
    or lines_of_contract > 1
    or amount not in (equal_share, contract_amount_minor - equal_share * (term_months - 1))
    or period_start <= {{ to_unix_seconds(q2c_as_of_date()) }} + 86399
    or period_start > {{ to_unix_seconds(dbt.dateadd('day', 32, q2c_as_of_date())) }}
