{#
    Payment status and AR ageing of every canonical invoice as of q2c_as_of_date().
    Ageing is by due date (reference/domain.md §3.1):
        open_amount = total - credited (credit notes before payment) - paid
        days_past_due = as_of - due_date            (open invoices past due; else 0)
        bucket = paid    when nothing is open
                 current when due_date >= as_of
                 1-30 / 31-60 / 61-90 / 90+ by days_past_due
    Only invoices issued and payments dated on or before the as-of date count: as of a past
    date, an invoice issued after it was not yet a receivable.
#}

with

invoices as (

    select * from {{ ref('invoice') }}

),

payments as (

    select * from {{ ref('payment') }}

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

),

payments_per_invoice as (

    select
        payments.invoice_id,
        sum(payments.applied_amount) as paid_amount,
        max(payments.payment_date) as last_payment_date
    from payments
    cross join as_of
    where payments.invoice_id is not null
        and payments.payment_date <= as_of.as_of_date
    group by payments.invoice_id

),

amounts as (

    select
        invoices.*,
        as_of.as_of_date,
        coalesce(payments_per_invoice.paid_amount, 0) as paid_amount,
        invoices.total_amount - invoices.credited_amount - coalesce(payments_per_invoice.paid_amount, 0)
            as open_amount,
        payments_per_invoice.last_payment_date,
        {{ dbt.datediff('invoices.due_date', 'as_of.as_of_date', 'day') }} as days_after_due
    from invoices
    cross join as_of
    left join payments_per_invoice
        on payments_per_invoice.invoice_id = invoices.invoice_id
    where invoices.invoice_date <= as_of.as_of_date

),

classified as (

    select
        *,
        case
            when open_amount <= 0 then 'paid'
            when days_after_due > 0 then 'overdue'
            when paid_amount > 0 then 'partially_paid'
            else 'open'
        end as payment_status,
        case
            when open_amount > 0 and days_after_due > 0 then days_after_due
            else 0
        end as days_past_due,
        case
            when open_amount <= 0 then 'paid'
            when days_after_due <= 0 then 'current'
            when days_after_due <= 30 then '1-30'
            when days_after_due <= 60 then '31-60'
            when days_after_due <= 90 then '61-90'
            else '90+'
        end as aging_bucket
    from amounts

),

final as (

    select
        cast(invoice_id as varchar) as invoice_id,
        cast(source_system as varchar) as source_system,
        cast(source_id as varchar) as source_id,
        cast(invoice_number as varchar) as invoice_number,
        cast(customer_id as varchar) as customer_id,
        cast(contract_id as varchar) as contract_id,
        cast(project_id as varchar) as project_id,
        cast(billing_event_id as varchar) as billing_event_id,
        cast(legal_entity_id as varchar) as legal_entity_id,
        cast(currency as varchar) as currency,
        cast(invoice_date as date) as invoice_date,
        cast(due_date as date) as due_date,
        cast(total_amount as decimal(18, 2)) as total_amount,
        cast(credited_amount as decimal(18, 2)) as credited_amount,
        cast(paid_amount as decimal(18, 2)) as paid_amount,
        cast(open_amount as decimal(18, 2)) as open_amount,
        cast(last_payment_date as date) as last_payment_date,
        cast(payment_status as varchar) as payment_status,
        cast(days_past_due as integer) as days_past_due,
        cast(aging_bucket as varchar) as aging_bucket,
        cast(as_of_date as date) as as_of_date
    from classified

)

select * from final
