{{ config(meta={'dagster': {'ref': {'name': 'rev_billing_schedule'}}}) }}
-- Billing schedule rule (see rev_billing_schedule): a contract with term_months installments
-- of which n lie wholly in the future (period starting after the as-of date) has exactly those
-- n lines, all starting after the as-of date, summing to
--     contract_amount - (term_months - n) * floor(contract_amount / term_months)      (minor units)
-- which is the full contract amount when n = term_months. Returns the contracts that break it.

with

lines as (

    select
        contract_id,
        count(*) as line_count,
        sum(amount) as lines_amount,
        min(period_start) as first_period_start
    from {{ ref('rev_billing_schedule') }}
    group by contract_id

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
        contracts.contract_amount_minor,
        contracts.contract_amount_minor
            - (contracts.term_months - lines.line_count)
            * cast(
                (contracts.contract_amount_minor - contracts.contract_amount_minor % contracts.term_months)
                / contracts.term_months
                as bigint
            ) as expected_amount
    from lines
    left join contracts
        on contracts.contract_id = lines.contract_id

)

select *
from checked
where term_months is null
    or line_count > term_months
    or lines_amount <> expected_amount
    or (line_count = term_months and lines_amount <> contract_amount_minor)
    or first_period_start <= {{ to_unix_seconds(q2c_as_of_date()) }} + 86399
