{#
    AR ageing by due date (reference/domain.md, AR ageing): one row per customer x legal entity
    x currency that has open receivables or unapplied cash as of q2c_as_of_date().
      - open amounts come from invoice_payment_status (total - credited - paid, payments dated
        on or before the as-of date), bucketed by its aging_bucket: current (not yet due),
        1-30, 31-60, 61-90 and 90+ days past due;
      - unapplied cash is what customers paid that reached no invoice (payment amount -
        applied amount, payments dated on or before the as-of date). It is shown as its own
        negative column and not netted into the buckets;
      - amounts are in the document (transaction) currency; the reporting-currency columns
        translate the balances at the closing rate of the as-of date (a balance-sheet item).
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

open_invoices as (

    select
        customer_id,
        legal_entity_id,
        currency,
        count(*) as open_invoice_count,
        sum(case when aging_bucket = 'current' then open_amount else 0 end) as current_amount,
        sum(case when aging_bucket = '1-30' then open_amount else 0 end) as past_due_1_30_amount,
        sum(case when aging_bucket = '31-60' then open_amount else 0 end) as past_due_31_60_amount,
        sum(case when aging_bucket = '61-90' then open_amount else 0 end) as past_due_61_90_amount,
        sum(case when aging_bucket = '90+' then open_amount else 0 end) as past_due_over_90_amount,
        sum(open_amount) as total_open_amount,
        max(days_past_due) as max_days_past_due
    from invoice_status
    where open_amount > 0
    group by customer_id, legal_entity_id, currency

),

unapplied as (

    select
        payments.customer_id,
        payments.legal_entity_id,
        payments.currency,
        sum(payments.amount - payments.applied_amount) as unapplied_amount
    from payments
    cross join as_of
    where payments.payment_date <= as_of.as_of_date
        and payments.amount > payments.applied_amount
    group by payments.customer_id, payments.legal_entity_id, payments.currency

),

keys as (

    select customer_id, legal_entity_id, currency from open_invoices
    union
    select customer_id, legal_entity_id, currency from unapplied

),

combined as (

    select
        keys.customer_id,
        keys.legal_entity_id,
        keys.currency,
        coalesce(open_invoices.open_invoice_count, 0) as open_invoice_count,
        coalesce(open_invoices.current_amount, 0) as current_amount,
        coalesce(open_invoices.past_due_1_30_amount, 0) as past_due_1_30_amount,
        coalesce(open_invoices.past_due_31_60_amount, 0) as past_due_31_60_amount,
        coalesce(open_invoices.past_due_61_90_amount, 0) as past_due_61_90_amount,
        coalesce(open_invoices.past_due_over_90_amount, 0) as past_due_over_90_amount,
        coalesce(open_invoices.total_open_amount, 0) as total_open_amount,
        coalesce(open_invoices.max_days_past_due, 0) as max_days_past_due,
        -coalesce(unapplied.unapplied_amount, 0) as unapplied_cash_amount
    from keys
    left join open_invoices
        on open_invoices.customer_id = keys.customer_id
        and coalesce(open_invoices.legal_entity_id, '') = coalesce(keys.legal_entity_id, '')
        and open_invoices.currency = keys.currency
    left join unapplied
        on unapplied.customer_id = keys.customer_id
        and coalesce(unapplied.legal_entity_id, '') = coalesce(keys.legal_entity_id, '')
        and unapplied.currency = keys.currency

),

final as (

    select
        cast(
            combined.customer_id || '|' || coalesce(combined.legal_entity_id, '') || '|' || combined.currency
            as varchar
        ) as ar_ageing_key,
        cast(combined.customer_id as varchar) as customer_id,
        cast(customers.customer_name as varchar) as customer_name,
        cast(combined.legal_entity_id as varchar) as legal_entity_id,
        cast(combined.currency as varchar) as currency,
        cast(combined.open_invoice_count as integer) as open_invoice_count,
        cast(combined.current_amount as decimal(18, 2)) as current_amount,
        cast(combined.past_due_1_30_amount as decimal(18, 2)) as past_due_1_30_amount,
        cast(combined.past_due_31_60_amount as decimal(18, 2)) as past_due_31_60_amount,
        cast(combined.past_due_61_90_amount as decimal(18, 2)) as past_due_61_90_amount,
        cast(combined.past_due_over_90_amount as decimal(18, 2)) as past_due_over_90_amount,
        cast(combined.total_open_amount as decimal(18, 2)) as total_open_amount,
        cast(combined.unapplied_cash_amount as decimal(18, 2)) as unapplied_cash_amount,
        cast(combined.total_open_amount + combined.unapplied_cash_amount as decimal(18, 2))
            as net_receivable_amount,
        cast(combined.max_days_past_due as integer) as max_days_past_due,
        cast('{{ var("reporting_currency") }}' as varchar) as reporting_currency,
        cast(closing_rates.rate as decimal(18, 8)) as fx_rate_reporting,
        cast(closing_rates.rate_date as date) as fx_rate_date,
        cast(combined.total_open_amount * closing_rates.rate as decimal(18, 2)) as total_open_amount_reporting,
        cast(combined.unapplied_cash_amount * closing_rates.rate as decimal(18, 2))
            as unapplied_cash_amount_reporting,
        cast(as_of.as_of_date as date) as as_of_date
    from combined
    cross join as_of
    left join customers
        on customers.customer_id = combined.customer_id
    left join closing_rates
        on closing_rates.from_currency = combined.currency

)

select * from final
