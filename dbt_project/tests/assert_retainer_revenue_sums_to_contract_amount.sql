{{ config(meta={'dagster': {'ref': {'name': 'revenue_schedule'}}}) }}
-- Straight-line recognition: the months of every retainer contract's schedule (its whole term)
-- sum to the contract amount, to the cent. Returns the contracts that differ.

with

schedules as (

    select contract_id, sum(recognized_amount) as recognized_amount
    from {{ ref('revenue_schedule') }}
    where recognition_method = 'straight_line'
    group by contract_id

)

select
    c.contract_id,
    c.contract_amount,
    schedules.recognized_amount
from schedules
inner join {{ ref('contract') }} as c
    on c.contract_id = schedules.contract_id
where schedules.recognized_amount <> c.contract_amount
