{#
    Customer payments, one row per payment, in the payment (transaction) currency, converted at
    the rate of the payment date (macros/fx.sql):
      - NetSuite: every `CustPymt`; the invoice paid is `custbody_q2c_applied_to` (null for
        unapplied cash) and `applied_amount` what reached it (`foreignpaymentamountused`; an
        overpayment's excess stays unapplied on the payment).
      - Stripe: each `invoice_payment` with status paid (dated paid_at) of an issued invoice.
        An issued invoice with amount_paid > 0 but no paid invoice_payment (older API versions
        did not have the object) yields one payment of amount_paid dated
        `status_transitions.paid_at` (the finalization date if Stripe has not stamped one),
        with the invoice's id as payment id.
      - legacy ERP: every AR_RECEIPT, applied to APPLIED_INV_NO in full.
    ERP coexistence: a payment stays in the system of the invoice it pays (the legacy ERP keeps
    its invoices' receipts even after the cut-over), so payments are not routed by date.
    invoice_id is the canonical invoice paid - the surviving copy when the source invoice is an
    ERP duplicate (invoice_routing), null when the source invoice is not a canonical invoice or
    for unapplied cash; source_invoice_id keeps the source's reference.
    correlation_id: the paid invoice's (null for unapplied cash).
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

stripe_invoice_payments as (

    select * from {{ ref('stg_stripe__invoice_payments') }}

),

legacy_receipts as (

    select * from {{ ref('stg_legacy_erp__ar_receipt') }}

),

legacy_customers as (

    select * from {{ ref('stg_legacy_erp__customer_master') }}

),

invoices as (

    select * from {{ ref('invoice') }}

),

routing as (

    select * from {{ ref('invoice_routing') }}

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
        end as source_invoice_id,
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

stripe_paid_invoice_payments as (

    select *
    from stripe_invoice_payments
    where status = 'paid'
        and not is_deleted

),

stripe_issued as (

    -- Only invoices that are canonical invoices (issued, not void/draft/deleted).
    select
        s.stripe_invoice_id,
        s.invoice_number,
        s.currency,
        s.amount_paid,
        s.paid_at,
        s.finalized_at,
        s.created_at,
        invoices.invoice_id,
        invoices.customer_id,
        invoices.legal_entity_id
    from stripe_invoices as s
    inner join invoices
        on invoices.invoice_id = 'stripe:' || s.stripe_invoice_id

),

stripe_payments as (

    select
        'stripe:' || p.stripe_invoice_payment_id as payment_id,
        'stripe' as source_system,
        p.stripe_invoice_payment_id as source_id,
        i.invoice_number as payment_number,
        i.invoice_id as source_invoice_id,
        i.customer_id,
        i.legal_entity_id,
        coalesce(p.currency, i.currency) as currency,
        cast(coalesce(p.paid_at, p.created_at) as date) as payment_date,
        p.amount_paid as amount,
        p.amount_paid as applied_amount
    from stripe_paid_invoice_payments as p
    inner join stripe_issued as i
        on i.stripe_invoice_id = p.stripe_invoice_id

    union all

    select
        i.invoice_id as payment_id,
        'stripe' as source_system,
        i.stripe_invoice_id as source_id,
        i.invoice_number as payment_number,
        i.invoice_id as source_invoice_id,
        i.customer_id,
        i.legal_entity_id,
        i.currency,
        cast(coalesce(i.paid_at, i.finalized_at, i.created_at) as date) as payment_date,
        i.amount_paid as amount,
        i.amount_paid as applied_amount
    from stripe_issued as i
    where i.amount_paid > 0
        and not exists (
            select 1 from stripe_paid_invoice_payments as p
            where p.stripe_invoice_id = i.stripe_invoice_id
        )

),

legacy_payments as (

    select
        'legacy_erp:' || r.legacy_receipt_id as payment_id,
        'legacy_erp' as source_system,
        r.legacy_receipt_id as source_id,
        r.bank_reference as payment_number,
        case
            when r.applied_legacy_invoice_id is not null
                then 'legacy_erp:' || r.applied_legacy_invoice_id
        end as source_invoice_id,
        lc.salesforce_account_id as customer_id,
        le.legal_entity_id,
        r.currency,
        r.receipt_date as payment_date,
        r.receipt_amount as amount,
        case when r.applied_legacy_invoice_id is not null then r.receipt_amount else 0 end as applied_amount
    from legacy_receipts as r
    left join legacy_customers as lc
        on lc.legacy_customer_id = r.legacy_customer_id
        and not lc.is_deleted
    left join legal_entities as le
        on le.legacy_entity_code = r.legacy_entity_code
    where not r.is_deleted

),

unioned as (

    select * from netsuite_payments
    union all
    select * from stripe_payments
    union all
    select * from legacy_payments

),

resolved as (

    select
        unioned.*,
        invoices.invoice_id,
        invoices.correlation_id,
        legal_entities.functional_currency
    from unioned
    left join routing
        on routing.invoice_id = unioned.source_invoice_id
    left join invoices
        on invoices.invoice_id = coalesce(routing.surviving_invoice_id, unioned.source_invoice_id)
    left join legal_entities
        on legal_entities.legal_entity_id = unioned.legal_entity_id

),

amounts as (

    select
        payment_id,
        source_system,
        source_id,
        payment_number,
        invoice_id,
        source_invoice_id,
        customer_id,
        legal_entity_id,
        correlation_id,
        currency,
        payment_date,
        cast(amount as decimal(18, 2)) as amount,
        cast(case when invoice_id is null then 0 else applied_amount end as decimal(18, 2)) as applied_amount,
        cast(amount - case when invoice_id is null then 0 else applied_amount end as decimal(18, 2))
            as unapplied_amount,
        functional_currency
    from resolved

),

final as (

    select
        amounts.*,
        {{ q2c_fx_columns(['amount', 'applied_amount', 'unapplied_amount'], 'amounts', 'amounts.payment_date') }}
    from amounts
    {{ q2c_fx_joins('amounts.currency', 'amounts.functional_currency', 'amounts.payment_date') }}

)

select * from final
