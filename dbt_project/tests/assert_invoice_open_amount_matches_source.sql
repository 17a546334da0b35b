{{ config(meta={'dagster': {'ref': {'name': 'invoice'}}}) }}
-- Open-balance identity: for every canonical invoice, total - credited - paid equals the source
-- system's own open balance (NetSuite amountunpaid, Stripe amount_remaining, legacy OPEN_AMT),
-- where paid and credited are the sums of its payment_application rows of type 'payment' and
-- 'credit_memo', and the credit applications equal invoice.credited_amount. Returns the
-- invoices that break it.

with

applications as (

    select
        invoice_id,
        sum(case when application_type = 'payment' then applied_amount else 0 end) as paid_amount,
        sum(case when application_type = 'credit_memo' then applied_amount else 0 end) as credit_applied_amount
    from {{ ref('payment_application') }}
    group by invoice_id

)

select
    i.invoice_id,
    i.total_amount,
    i.credited_amount,
    coalesce(a.credit_applied_amount, 0) as credit_applied_amount,
    coalesce(a.paid_amount, 0) as paid_amount,
    i.source_open_amount
from {{ ref('invoice') }} as i
left join applications as a
    on a.invoice_id = i.invoice_id
where i.source_open_amount is null
    or i.total_amount - i.credited_amount - coalesce(a.paid_amount, 0) <> i.source_open_amount
    or i.credited_amount <> coalesce(a.credit_applied_amount, 0)
