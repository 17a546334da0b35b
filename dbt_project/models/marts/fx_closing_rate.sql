{#
    Closing rates: one row per currency, the rate that translates one unit of it into the
    reporting currency (var reporting_currency) on q2c_as_of_date(): the canonical fx_rate row
    valid on that date (the latest daily rate published on or before it; a currency converts
    to itself at 1). Balances (AR, unapplied cash, WIP) are translated at these rates
    (IAS 21 closing rate; reference/domain.md, multi-currency). A currency without a rate on
    the as-of date has no row, so the balances in it stay unconverted (null) and visible.
#}

with

fx_rates as (

    select * from {{ ref('fx_rate') }}

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

),

final as (

    select
        cast(fx_rates.from_currency as varchar) as from_currency,
        cast(fx_rates.to_currency as varchar) as to_currency,
        cast(fx_rates.rate as decimal(18, 8)) as rate,
        cast(coalesce(fx_rates.rate_date, as_of.as_of_date) as date) as rate_date,
        cast(as_of.as_of_date as date) as as_of_date
    from fx_rates
    cross join as_of
    where fx_rates.to_currency = '{{ var("reporting_currency") }}'
        and as_of.as_of_date >= fx_rates.valid_from
        and as_of.as_of_date <= fx_rates.valid_to

)

select * from final
