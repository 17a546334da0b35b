{#
    Customer payments, one row per payment, in the payment (transaction) currency:
      - NetSuite: every `CustPymt`; the invoice paid is `custbody_q2c_applied_to` (null for
        unapplied cash) and `applied_amount` what reached it (`foreignpaymentamountused`;
        an overpayment's excess stays unapplied on the payment).
      - Stripe: the invoice object records what was collected; each issued invoice with
        amount_paid > 0 yields one payment of amount_paid dated `status_transitions.paid_at`
        (the finalization date if Stripe has not stamped one). When `invoice_payment`
        objects are loaded they replace this derivation.
#}

with

netsuite_transactions as (

    select * from {{ ref('stg_netsuite__transaction') }}

),

netsuite_customers as (

    select * from {{ ref('stg_netsuite__customer') }}

),

netsuite_currencies as (

    select * from {{ ref('stg_netsuite__currency') }}

),

stripe_invoices as (

    select * from {{ ref('stg_stripe__invoices') }}

),

invoices as (

    select * from {{ ref('invoice') }}

),

legal_entities as (

    select * from {{ ref('legal_entity') }}

),

netsuite_payments as (

    select
        'netsuite:' || t.transaction_id as payment_id,
        'netsuite' as source_system,
        t.transaction_id as source_id,
        t.transaction_number as payment_number,
        case
            when t.applied_to_transaction_id is not null
                then 'netsuite:' || t.applied_to_transaction_id
        end as invoice_id,
        c.salesforce_account_id as customer_id,
        le.legal_entity_id,
        cur.currency_code as currency,
        t.transaction_date as payment_date,
        t.total_amount as amount,
        -- What reached the invoice: an overpayment's excess stays unapplied on the payment.
        case
            when t.applied_to_transaction_id is not null
                then coalesce(t.payment_amount_used, t.total_amount)
            else 0
        end as applied_amount
    from netsuite_transactions as t
    left join netsuite_customers as c
        on c.netsuite_customer_id = t.netsuite_customer_id
    left join netsuite_currencies as cur
        on cur.currency_id = t.currency_id
    left join legal_entities as le
        on le.netsuite_subsidiary_id = t.subsidiary_id
    where t.transaction_type = 'CustPymt'
        and not t.is_deleted

),

stripe_payments as (

    -- Only invoices that are canonical invoices (issued, not void/draft/deleted).
    select
        invoices.invoice_id as payment_id,
        'stripe' as source_system,
        s.stripe_invoice_id as source_id,
        s.invoice_number as payment_number,
        invoices.invoice_id,
        invoices.customer_id,
        invoices.legal_entity_id,
        invoices.currency,
        cast(coalesce(s.paid_at, s.finalized_at, s.created_at) as date) as payment_date,
        s.amount_paid as amount,
        s.amount_paid as applied_amount
    from stripe_invoices as s
    inner join invoices
        on invoices.invoice_id = 'stripe:' || s.stripe_invoice_id
    where s.amount_paid > 0

),

unioned as (

    select * from netsuite_payments
    union all
    select * from stripe_payments

),

final as (

    select
        payment_id,
        source_system,
        source_id,
        payment_number,
        invoice_id,
        customer_id,
        legal_entity_id,
        currency,
        payment_date,
        cast(amount as decimal(18, 2)) as amount,
        cast(applied_amount as decimal(18, 2)) as applied_amount
    from unioned

)

select * from final
