{{ config(meta={'dagster': {'ref': {'name': 'invoice_line'}}}) }}
-- The lines of every canonical invoice sum to its subtotal (amount before tax), and every
-- invoice has lines. Returns the invoices that differ.

with

lines as (

    select invoice_id, sum(amount) as line_amount, count(*) as line_count
    from {{ ref('invoice_line') }}
    group by invoice_id

)

select
    i.invoice_id,
    i.subtotal_amount,
    lines.line_amount,
    lines.line_count
from {{ ref('invoice') }} as i
left join lines
    on lines.invoice_id = i.invoice_id
where lines.invoice_id is null
    or lines.line_amount <> i.subtotal_amount
