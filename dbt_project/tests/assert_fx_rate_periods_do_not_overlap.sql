{{ config(meta={'dagster': {'ref': {'name': 'fx_rate'}}}) }}
-- fx_rate: for each currency pair, the validity periods neither overlap nor leave a gap
-- (each valid_to is the day before the next valid_from) and valid_from <= valid_to, so every
-- date after a pair's first rate finds exactly one rate. Returns the offending rows.

with

ordered as (

    select
        from_currency,
        to_currency,
        valid_from,
        valid_to,
        lead(valid_from) over (partition by from_currency, to_currency order by valid_from) as next_valid_from
    from {{ ref('fx_rate') }}

)

select *
from ordered
where valid_from > valid_to
    or (next_valid_from is not null
        and next_valid_from <> cast({{ dbt.dateadd('day', 1, 'valid_to') }} as date))
