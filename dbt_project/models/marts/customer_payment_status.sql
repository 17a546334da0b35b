{#
    Payment status per customer as of q2c_as_of_date(): one row per canonical customer that
    has ever been invoiced.
      - open / overdue amounts and counts from invoice_payment_status (overdue = open and past
        its due date);
      - paid_last_90d: payments applied to the customer's invoices dated in the 90 days up to
        and including the as-of date;
      - average days to pay / days late: over invoices paid in full whose last payment is
        dated in the 365 days up to the as-of date, last payment date - invoice date and
        last payment date - due date;
      - status: `delinquent` (something open 90+ days past due), `late` (something overdue),
        `current` (open, nothing overdue), `settled` (nothing open).
    Amounts are in the reporting currency, every balance and flow translated at the closing
    rate of the as-of date (fx_closing_rate), so a customer invoiced in several currencies
    has one total.
#}

with

invoice_status as (

    select * from {{ ref('invoice_payment_status') }}

),

payments as (

    select * from {{ ref('payment') }}

),

customers as (

    select * from {{ ref('customer') }}

),

closing_rates as (

    select * from {{ ref('fx_closing_rate') }}

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

),

invoices as (

    select
        invoice_status.*,
        closing_rates.rate as fx_rate_reporting,
        case when invoice_status.payment_status = 'paid' then 1 else 0 end as is_settled,
        {{ dbt.datediff('invoice_status.invoice_date', 'invoice_status.last_payment_date', 'day') }}
            as days_to_pay,
        {{ dbt.datediff('invoice_status.due_date', 'invoice_status.last_payment_date', 'day') }}
            as days_late
    from invoice_status
    left join closing_rates
        on closing_rates.from_currency = invoice_status.currency

),

per_customer as (

    select
        invoices.customer_id,
        count(*) as invoice_count,
        sum(case when invoices.open_amount > 0 then 1 else 0 end) as open_invoice_count,
        sum(case when invoices.payment_status = 'overdue' then 1 else 0 end) as overdue_invoice_count,
        sum(case when invoices.open_amount > 0 then invoices.open_amount * invoices.fx_rate_reporting else 0 end)
            as open_amount_reporting,
        sum(
            case when invoices.payment_status = 'overdue'
                then invoices.open_amount * invoices.fx_rate_reporting else 0 end
        ) as overdue_amount_reporting,
        sum(
            case when invoices.open_amount > 0 and invoices.aging_bucket = '90+'
                then invoices.open_amount * invoices.fx_rate_reporting else 0 end
        ) as over_90_amount_reporting,
        max(invoices.days_past_due) as max_days_past_due,
        avg(
            case when invoices.is_settled = 1 and invoices.last_payment_date > {{ dbt.dateadd('day', -365, 'as_of.as_of_date') }}
                then cast(invoices.days_to_pay as decimal(18, 4)) end
        ) as avg_days_to_pay,
        avg(
            case when invoices.is_settled = 1 and invoices.last_payment_date > {{ dbt.dateadd('day', -365, 'as_of.as_of_date') }}
                then cast(invoices.days_late as decimal(18, 4)) end
        ) as avg_days_late,
        max(invoices.last_payment_date) as last_payment_date
    from invoices
    cross join as_of
    group by invoices.customer_id

),

recent_payments as (

    select
        payments.customer_id,
        sum(payments.applied_amount * closing_rates.rate) as paid_last_90d_reporting
    from payments
    cross join as_of
    left join closing_rates
        on closing_rates.from_currency = payments.currency
    where payments.payment_date <= as_of.as_of_date
        and payments.payment_date > {{ dbt.dateadd('day', -90, 'as_of.as_of_date') }}
    group by payments.customer_id

),

final as (

    select
        cast(per_customer.customer_id as varchar) as customer_id,
        cast(customers.customer_name as varchar) as customer_name,
        cast(customers.legal_entity_id as varchar) as legal_entity_id,
        cast(per_customer.invoice_count as integer) as invoice_count,
        cast(per_customer.open_invoice_count as integer) as open_invoice_count,
        cast(per_customer.overdue_invoice_count as integer) as overdue_invoice_count,
        cast('{{ var("reporting_currency") }}' as varchar) as reporting_currency,
        cast(per_customer.open_amount_reporting as decimal(18, 2)) as open_amount_reporting,
        cast(per_customer.overdue_amount_reporting as decimal(18, 2)) as overdue_amount_reporting,
        cast(coalesce(recent_payments.paid_last_90d_reporting, 0) as decimal(18, 2)) as paid_last_90d_reporting,
        cast(per_customer.max_days_past_due as integer) as max_days_past_due,
        cast(per_customer.avg_days_to_pay as decimal(9, 1)) as avg_days_to_pay,
        cast(per_customer.avg_days_late as decimal(9, 1)) as avg_days_late,
        cast(per_customer.last_payment_date as date) as last_payment_date,
        cast(
            case
                when per_customer.over_90_amount_reporting > 0 then 'delinquent'
                when per_customer.overdue_invoice_count > 0 then 'late'
                when per_customer.open_invoice_count > 0 then 'current'
                else 'settled'
            end as varchar
        ) as payment_status,
        cast(as_of.as_of_date as date) as as_of_date
    from per_customer
    cross join as_of
    left join customers
        on customers.customer_id = per_customer.customer_id
    left join recent_payments
        on recent_payments.customer_id = per_customer.customer_id

)

select * from final
