{{ config(meta={'dagster': {'ref': {'name': 'invoice'}}}) }}
-- Reconciliation: per source system and currency, the count and total of the canonical invoices
-- plus the invoices ERP coexistence routing excluded (coexistence_exceptions, each with its
-- reason) equal the raw sources' - nothing lost, nothing counted twice. Raw side: NetSuite
-- CustInvc `foreigntotal` (not pending approval / rejected / voided), Stripe `total` in major
-- units (not draft / void / deleted), legacy ERP AR_INVOICE_HDR `GROSS_AMT_CENTS` / 100 (every
-- row: deletions are hard deletes). Returns the (source_system, currency) pairs that differ.

{%- set stripe_invoices = source('raw_stripe', 'invoices') %}
{%- set netsuite_transactions = source('raw_netsuite', 'transaction') %}
{%- set legacy_invoices = source('raw_legacy_erp', 'ar_invoice_hdr') %}

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

raw_legacy as (

    select
        'legacy_erp' as source_system,
        upper(trim(curr_cd)) as currency,
        count(*) as row_count,
        sum(cast(cast(gross_amt_cents as decimal(18, 2)) / 100 as decimal(18, 2))) as amount
    from {{ legacy_invoices }}
    group by 1, 2

),

raw_totals as (

    select * from raw_netsuite
    union all
    select * from raw_stripe
    union all
    select * from raw_legacy

),

canonical_rows as (

    select source_system, currency, total_amount from {{ ref('invoice') }}
    union all
    select source_system, currency, total_amount from {{ ref('coexistence_exceptions') }}

),

canonical_totals as (

    select
        source_system,
        currency,
        count(*) as row_count,
        sum(total_amount) as amount
    from canonical_rows
    group by 1, 2

)

select
    coalesce(r.source_system, c.source_system) as source_system,
    coalesce(r.currency, c.currency) as currency,
    r.row_count as raw_count,
    c.row_count as canonical_count,
    r.amount as raw_amount,
    c.amount as canonical_amount
from raw_totals as r
full outer join canonical_totals as c
    on c.source_system = r.source_system
    and c.currency = r.currency
where coalesce(r.row_count, 0) <> coalesce(c.row_count, 0)
    or coalesce(r.amount, 0) <> coalesce(c.amount, 0)
