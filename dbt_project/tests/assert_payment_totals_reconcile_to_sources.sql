{{ config(meta={'dagster': {'ref': {'name': 'payment'}}}) }}
-- Reconciliation: canonical payment count and total per source system and currency equal the
-- raw sources' (every NetSuite CustPymt `foreigntotal`; Stripe `amount_paid` in major units of
-- issued invoices - not draft/void/deleted - with amount_paid > 0). Returns the pairs that differ.

{%- set stripe_invoices = source('raw_stripe', 'invoices') %}
{%- set netsuite_transactions = source('raw_netsuite', 'transaction') %}

with

raw_netsuite as (

    select
        'netsuite' as source_system,
        upper(cur.symbol) as currency,
        count(*) as payment_count,
        sum({{ source_column(netsuite_transactions, 'foreigntotal', 'decimal(18, 2)') }}) as amount
    from {{ netsuite_transactions }} as t
    left join {{ source('raw_netsuite', 'currency') }} as cur
        on cast(cur.id as varchar) = cast(t.currency as varchar)
    where t.type = 'CustPymt'
    group by 1, 2

),

raw_stripe as (

    select
        'stripe' as source_system,
        upper(currency) as currency,
        count(*) as payment_count,
        sum({{ stripe_minor_to_major('amount_paid', 'currency') }}) as amount
    from {{ stripe_invoices }}
    where amount_paid > 0
        and status not in ('draft', 'void')
        and not coalesce({{ source_column(stripe_invoices, 'deleted', 'boolean') }}, false)
    group by 1, 2

),

raw_totals as (

    select * from raw_netsuite
    union all
    select * from raw_stripe

),

canonical_totals as (

    select
        source_system,
        currency,
        count(*) as payment_count,
        sum(amount) as amount
    from {{ ref('payment') }}
    group by 1, 2

)

select
    coalesce(r.source_system, c.source_system) as source_system,
    coalesce(r.currency, c.currency) as currency,
    r.payment_count as raw_payment_count,
    c.payment_count as canonical_payment_count,
    r.amount as raw_amount,
    c.amount as canonical_amount
from raw_totals as r
full outer join canonical_totals as c
    on c.source_system = r.source_system
    and c.currency = r.currency
where coalesce(r.payment_count, 0) <> coalesce(c.payment_count, 0)
    or coalesce(r.amount, 0) <> coalesce(c.amount, 0)
