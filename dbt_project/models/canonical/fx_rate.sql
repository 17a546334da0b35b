{#
    Daily exchange rates, one row per (from_currency, to_currency, valid_from).

    Source: NetSuite `currencyrate` (daily spot rates: `exchangerate` units of the base currency
    per one unit of the transaction currency, effective from `effectivedate`). Here
    from_currency = the NetSuite transaction currency, to_currency = the base currency, and
    rate = units of to_currency per 1 from_currency. NetSuite's consolidated (period) rates are
    not used (reference/domain.md §5: don't mix them).

    Carry-forward: each published rate is valid from its date (valid_from) up to the day before
    the pair's next published rate (valid_to); the latest stays valid (valid_to 9999-12-31). A
    date without a published rate therefore uses the latest earlier rate. Before a pair's first
    published rate there is no row: conversions of such dates stay NULL (reported, not guessed).
    Two rates published for the same pair and day: the later record (highest id) wins.

    Identity: every currency NetSuite knows converts to itself at 1 (one row per currency, valid
    for all dates). Every fact converts all its documents, NetSuite's included, at these daily
    rates of its fx date (NetSuite's own transaction `exchangerate` is the same daily rate for
    its documents; using one table keeps all systems converted alike).
#}

with

currency_rates as (

    select * from {{ ref('stg_netsuite__currencyrate') }}

),

currencies as (

    select * from {{ ref('stg_netsuite__currency') }}

),

published as (

    select
        cast(r.effective_date as date) as rate_date,
        tc.currency_code as from_currency,
        bc.currency_code as to_currency,
        cast(r.exchange_rate as decimal(18, 8)) as rate,
        row_number() over (
            partition by tc.currency_code, bc.currency_code, r.effective_date
            order by cast(r.currency_rate_id as bigint) desc
        ) as rn
    from currency_rates as r
    inner join currencies as tc
        on tc.currency_id = r.transaction_currency_id
    inner join currencies as bc
        on bc.currency_id = r.base_currency_id
    where not r.is_deleted
        and r.effective_date is not null
        and r.exchange_rate is not null
        and tc.currency_code <> bc.currency_code

),

daily as (

    select
        rate_date,
        from_currency,
        to_currency,
        rate,
        lead(rate_date) over (
            partition by from_currency, to_currency
            order by rate_date
        ) as next_rate_date
    from published
    where rn = 1

),

dated as (

    select
        rate_date,
        from_currency,
        to_currency,
        rate,
        rate_date as valid_from,
        coalesce(
            cast({{ dbt.dateadd('day', -1, 'next_rate_date') }} as date),
            cast('9999-12-31' as date)
        ) as valid_to,
        'netsuite_currencyrate' as rate_source
    from daily

),

identity as (

    select distinct
        cast(null as date) as rate_date,
        currency_code as from_currency,
        currency_code as to_currency,
        cast(1 as decimal(18, 8)) as rate,
        cast('1900-01-01' as date) as valid_from,
        cast('9999-12-31' as date) as valid_to,
        'identity' as rate_source
    from currencies
    where not is_deleted

),

final as (

    select * from dated
    union all
    select * from identity

)

select * from final
