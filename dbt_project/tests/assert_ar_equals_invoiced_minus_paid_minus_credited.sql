{{ config(meta={'dagster': {'ref': {'name': 'invoice'}}}) }}
-- Reconciliation: per source system and currency, accounts receivable (the sum of the sources'
-- own open balances, invoice.source_open_amount) equals invoiced (invoice totals) - paid
-- (payment.applied_amount of payments applied to canonical invoices) - credited
-- (invoice.credited_amount). Returns the pairs that differ.

with

invoiced as (

    select
        source_system,
        currency,
        sum(total_amount) as invoiced_amount,
        sum(credited_amount) as credited_amount,
        sum(source_open_amount) as ar_amount
    from {{ ref('invoice') }}
    group by 1, 2

),

paid as (

    select
        i.source_system,
        i.currency,
        sum(p.applied_amount) as paid_amount
    from {{ ref('payment') }} as p
    inner join {{ ref('invoice') }} as i
        on i.invoice_id = p.invoice_id
    group by 1, 2

)

select
    invoiced.source_system,
    invoiced.currency,
    invoiced.invoiced_amount,
    coalesce(paid.paid_amount, 0) as paid_amount,
    invoiced.credited_amount,
    invoiced.ar_amount
from invoiced
left join paid
    on paid.source_system = invoiced.source_system
    and paid.currency = invoiced.currency
where invoiced.ar_amount <> invoiced.invoiced_amount - coalesce(paid.paid_amount, 0) - invoiced.credited_amount
