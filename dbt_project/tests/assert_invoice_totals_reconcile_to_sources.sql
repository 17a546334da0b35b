{{ config(meta={'dagster': {'ref': {'name': 'invoice'}}}) }}
-- Reconciliation: canonical invoice count and total per source system and currency equal the
-- raw sources' (NetSuite CustInvc `foreigntotal`; Stripe `total` in major units), applying the
-- canonical inclusion rule (no pending-approval/rejected/voided NetSuite invoices, no
-- draft/void/deleted Stripe invoices). Returns the (source_system, currency) pairs that differ.

{%- set stripe_invoices = source('raw_stripe', 'invoices') %}
{%- set netsuite_transactions = source('raw_netsuite', 'transaction') %}

with

raw_netsuite as (

    select
        'netsuite' as source_system,
        upper(cur.symbol) as currency,
        count(*) as row_count,
        sum({{ source_column(netsuite_transactions, 'foreigntotal', 'decimal(18, 2)') }}) as amount
    from {{ netsuite_transactions }} as t
    left join {{ source('raw_netsuite', 'currency') }} as cur
        on cast(cur.id as varchar) = cast(t.currency as varchar)
    where t.type = 'CustInvc'
        and coalesce(t.status, '') not in ('Pending Approval', 'Rejected', 'Voided')
    group by 1, 2

),

raw_stripe as (

    select
        'stripe' as source_system,
        upper(currency) as currency,
        count(*) as row_count,
        sum({{ stripe_minor_to_major('total', 'currency') }}) as amount
    from {{ stripe_invoices }}
    where status not in ('draft', 'void')
        and not coalesce({{ source_column(stripe_invoices, 'deleted', 'boolean') }}, false)
    group by 1, 2

),

raw_totals as (

    select * from raw_netsuite
    union all
    select * from raw_stripe

),

{{ compare_to_canonical('invoice', 'total_amount') }}
