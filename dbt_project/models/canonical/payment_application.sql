{#
    Applications of payments and credits to invoices, one row per (payment or credit, invoice):
      - 'payment': every payment with a canonical invoice and applied_amount > 0 (payment);
      - 'credit_memo': NetSuite credit memos (CustCred) applied to an invoice
        (custbody_q2c_applied_to; amount = foreignpaymentamountused) and Stripe pre-payment
        credit notes that are issued (not void) - the credits invoice.credited_amount holds.
    payment_id is the canonical id of the payment or credit document (`netsuite:<id>`,
    `stripe:<cn id>`); application_date is the payment's date or the credit's date. Amounts in
    the transaction currency, converted at the rate of the application date.
    Per invoice: sum of 'payment' rows = paid, sum of 'credit_memo' rows = credited_amount (tested).
#}

with

payments as (

    select * from {{ ref('payment') }}

),

invoices as (

    select * from {{ ref('invoice') }}

),

routing as (

    select * from {{ ref('invoice_routing') }}

),

netsuite_transactions as (

    select * from {{ ref('stg_netsuite__transaction') }}

),

stripe_credit_notes as (

    select * from {{ ref('stg_stripe__credit_notes') }}

),

legal_entities as (

    select * from {{ ref('legal_entity') }}

),

payment_rows as (

    select
        payment_id || '|' || invoice_id as payment_application_id,
        payment_id,
        invoice_id,
        'payment' as application_type,
        payment_date as application_date,
        applied_amount,
        currency,
        legal_entity_id,
        source_system,
        source_id
    from payments
    where invoice_id is not null
        and applied_amount <> 0

),

credit_rows as (

    select
        'netsuite:' || t.transaction_id || '|' || 'netsuite:' || t.applied_to_transaction_id as payment_application_id,
        'netsuite:' || t.transaction_id as payment_id,
        'netsuite:' || t.applied_to_transaction_id as source_invoice_id,
        'credit_memo' as application_type,
        t.transaction_date as application_date,
        cast(coalesce(t.payment_amount_used, t.total_amount) as decimal(18, 2)) as applied_amount,
        'netsuite' as source_system,
        t.transaction_id as source_id
    from netsuite_transactions as t
    where t.transaction_type = 'CustCred'
        and not t.is_deleted
        and t.applied_to_transaction_id is not null

    union all

    select
        'stripe:' || cn.stripe_credit_note_id || '|' || 'stripe:' || cn.stripe_invoice_id,
        'stripe:' || cn.stripe_credit_note_id,
        'stripe:' || cn.stripe_invoice_id,
        'credit_memo',
        cast(coalesce(cn.effective_at, cn.created_at) as date),
        cast(cn.pre_payment_amount as decimal(18, 2)),
        'stripe',
        cn.stripe_credit_note_id
    from stripe_credit_notes as cn
    where cn.credit_note_type = 'pre_payment'
        and cn.status = 'issued'
        and not cn.is_deleted
        and cn.pre_payment_amount <> 0

),

credits_resolved as (

    select
        credit_rows.payment_application_id,
        credit_rows.payment_id,
        invoices.invoice_id,
        credit_rows.application_type,
        credit_rows.application_date,
        credit_rows.applied_amount,
        invoices.currency,
        invoices.legal_entity_id,
        credit_rows.source_system,
        credit_rows.source_id
    from credit_rows
    left join routing
        on routing.invoice_id = credit_rows.source_invoice_id
    inner join invoices
        on invoices.invoice_id = coalesce(routing.surviving_invoice_id, credit_rows.source_invoice_id)

),

unioned as (

    select * from payment_rows
    union all
    select * from credits_resolved

),

enriched as (

    select
        unioned.*,
        invoices.correlation_id,
        legal_entities.functional_currency
    from unioned
    inner join invoices
        on invoices.invoice_id = unioned.invoice_id
    left join legal_entities
        on legal_entities.legal_entity_id = unioned.legal_entity_id

),

final as (

    select
        enriched.payment_application_id,
        enriched.payment_id,
        enriched.invoice_id,
        enriched.application_type,
        enriched.application_date,
        enriched.applied_amount,
        enriched.legal_entity_id,
        enriched.correlation_id,
        enriched.source_system,
        enriched.source_id,
        enriched.currency,
        enriched.functional_currency,
        {{ q2c_fx_columns(['applied_amount'], 'enriched', 'enriched.application_date') }}
    from enriched
    {{ q2c_fx_joins('enriched.currency', 'enriched.functional_currency', 'enriched.application_date') }}

)

select * from final
