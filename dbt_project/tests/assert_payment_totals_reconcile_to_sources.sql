{{ config(meta={'dagster': {'ref': {'name': 'payment'}}}) }}
-- Reconciliation: canonical payment count and total per source system and currency equal the
-- raw sources': every NetSuite CustPymt `foreigntotal`; for Stripe, per issued invoice (not
-- draft/void/deleted) with amount_paid > 0, its paid `invoice_payments` (count and amount), or
-- one payment of `amount_paid` when it has none; every legacy ERP receipt `RCPT_AMT`. Returns
-- the pairs that differ.

{%- set stripe_invoices = source('raw_stripe', 'invoices') %}
{%- set stripe_invoice_payments = source('raw_stripe', 'invoice_payments') %}
{%- set netsuite_transactions = source('raw_netsuite', 'transaction') %}
{%- set legacy_receipts = source('raw_legacy_erp', 'ar_receipt') %}

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
    where t.type = 'CustPymt'
    group by 1, 2

),

issued_stripe as (

    select id, upper(currency) as currency, amount_paid, currency as minor_currency
    from {{ stripe_invoices }}
    where amount_paid > 0
        and status not in ('draft', 'void')
        and not coalesce({{ source_column(stripe_invoices, 'deleted', 'boolean') }}, false)

),

paid_invoice_payments as (

    select invoice, amount_paid, currency
    from {{ stripe_invoice_payments }}
    where status = 'paid'

),

raw_stripe as (

    -- A payment is in its own currency (the invoice's when the payment does not say).
    select
        'stripe' as source_system,
        upper(coalesce(p.currency, i.minor_currency)) as currency,
        count(*) as row_count,
        sum({{ stripe_minor_to_major('p.amount_paid', 'coalesce(p.currency, i.minor_currency)') }}) as amount
    from issued_stripe as i
    inner join paid_invoice_payments as p
        on p.invoice = i.id
    group by 1, 2

    union all

    select
        'stripe' as source_system,
        i.currency,
        count(*) as row_count,
        sum({{ stripe_minor_to_major('i.amount_paid', 'i.minor_currency') }}) as amount
    from issued_stripe as i
    where not exists (select 1 from paid_invoice_payments as p where p.invoice = i.id)
    group by 1, 2

),

raw_legacy as (

    select
        'legacy_erp' as source_system,
        upper(trim(curr_cd)) as currency,
        count(*) as row_count,
        sum(cast(rcpt_amt as decimal(18, 2))) as amount
    from {{ legacy_receipts }}
    group by 1, 2

),

raw_totals as (

    select source_system, currency, sum(row_count) as row_count, sum(amount) as amount
    from (
        select * from raw_netsuite
        union all
        select * from raw_stripe
        union all
        select * from raw_legacy
    ) as unioned
    group by 1, 2

),

{{ compare_to_canonical('payment', 'amount') }}
