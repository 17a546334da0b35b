{{ config(meta={'dagster': {'ref': {'name': 'payment'}}}) }}
-- Every canonical Stripe invoice's payments sum to the invoice's amount_paid (Stripe's own
-- figure), whether they come from invoice_payments or from the invoice itself. Returns the
-- invoices that differ. (Stripe's figure is read from raw: a data test on a staging model
-- would be selected with `--select staging`, before the canonical layer exists.)

{%- set stripe_invoices = source('raw_stripe', 'invoices') %}

with

paid as (

    select invoice_id, sum(applied_amount) as paid_amount
    from {{ ref('payment') }}
    where source_system = 'stripe'
    group by invoice_id

)

select
    i.invoice_id,
    {{ stripe_minor_to_major('s.amount_paid', 's.currency') }} as amount_paid,
    coalesce(paid.paid_amount, 0) as paid_amount
from {{ ref('invoice') }} as i
inner join {{ stripe_invoices }} as s
    on 'stripe:' || s.id = i.invoice_id
left join paid
    on paid.invoice_id = i.invoice_id
where coalesce(paid.paid_amount, 0) <> {{ stripe_minor_to_major('s.amount_paid', 's.currency') }}
