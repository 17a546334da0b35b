{#
    Every issued customer invoice of every billing system, one row per source invoice, before
    ERP coexistence routing (invoice_routing decides which are canonical invoices). Not
    invoices (yet / any more), hence left out here already:
      - NetSuite: statuses Pending Approval, Rejected, Voided;
      - Stripe: drafts, voided and deleted invoices;
      - legacy ERP: deleted rows (hard-deleted from raw by ingestion; is_deleted kept for safety).

    Per system:
      - NetSuite `CustInvc`: legal entity from the subsidiary (legal_entities seed), tax code from
        the item lines' tax item, credited_amount = what applied credit memos (CustCred with
        custbody_q2c_applied_to = the invoice) took off it, source_open_amount = amountunpaid.
      - Stripe: legal entity from metadata (else the customer's), tax code = the NetSuite code of
        the invoice's tax rate, credited_amount = pre-payment credit notes (Stripe amount_due =
        total - these), source_open_amount = amount_remaining.
      - legacy ERP AR_INVOICE_HDR: legal entity from the company code (erp_cutovers seed),
        customer through CUSTOMER_MASTER's CRM account, source_open_amount = OPEN_AMT.
#}

with

netsuite_transactions as (

    select * from {{ ref('stg_netsuite__transaction') }}

),

netsuite_lines as (

    select * from {{ ref('stg_netsuite__transactionline') }}

),

netsuite_tax_items as (

    select * from {{ ref('stg_netsuite__salestaxitem') }}

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

stripe_customers as (

    select * from {{ ref('stg_stripe__customers') }}

),

stripe_tax_rates as (

    select * from {{ ref('stg_stripe__tax_rates') }}

),

legacy_invoices as (

    select * from {{ ref('stg_legacy_erp__ar_invoice_hdr') }}

),

legacy_customers as (

    select * from {{ ref('stg_legacy_erp__customer_master') }}

),

legal_entities as (

    select * from {{ ref('legal_entity') }}

),

-- The tax code of a NetSuite invoice: its item lines' tax item (the lowest line carrying one).
netsuite_line_tax as (

    select
        lines.transaction_id,
        tax_items.tax_code,
        row_number() over (
            partition by lines.transaction_id
            order by lines.line_sequence_number, {{ q2c_sort_key('lines.transaction_line_id') }}
        ) as rn
    from netsuite_lines as lines
    inner join netsuite_tax_items as tax_items
        on tax_items.tax_item_id = lines.tax_item_id
    where not lines.is_main_line
        and not lines.is_deleted

),

netsuite_credits as (

    select
        applied_to_transaction_id as transaction_id,
        sum(coalesce(payment_amount_used, total_amount)) as credited_amount
    from netsuite_transactions
    where transaction_type = 'CustCred'
        and not is_deleted
        and applied_to_transaction_id is not null
    group by applied_to_transaction_id

),

netsuite_invoices as (

    select
        'netsuite:' || t.transaction_id as invoice_id,
        'netsuite' as source_system,
        t.transaction_id as source_id,
        t.transaction_number as invoice_number,
        c.salesforce_account_id as customer_id,
        t.salesforce_contract_id as contract_id,
        t.salesforce_project_id as project_id,
        t.salesforce_billing_event_id as billing_event_id,
        le.legal_entity_id,
        cur.currency_code as currency,
        t.transaction_date as invoice_date,
        t.due_date,
        t.total_amount - coalesce(t.tax_amount, 0) as subtotal_amount,
        coalesce(t.tax_amount, 0) as tax_amount,
        t.total_amount,
        coalesce(cr.credited_amount, 0) as credited_amount,
        t.amount_unpaid as source_open_amount,
        tax.tax_code,
        case t.status
            when 'Paid In Full' then 'paid'
            when 'Open' then 'open'
            else lower(t.status)
        end as status,
        t.status as source_status,
        t.last_modified_at as source_updated_at
    from netsuite_transactions as t
    left join netsuite_customers as c
        on c.netsuite_customer_id = t.netsuite_customer_id
    left join netsuite_currencies as cur
        on cur.currency_id = t.currency_id
    left join legal_entities as le
        on le.netsuite_subsidiary_id = t.subsidiary_id
    left join netsuite_credits as cr
        on cr.transaction_id = t.transaction_id
    left join netsuite_line_tax as tax
        on tax.transaction_id = t.transaction_id
        and tax.rn = 1
    where t.transaction_type = 'CustInvc'
        and not t.is_deleted
        and coalesce(t.status, '') not in ('Pending Approval', 'Rejected', 'Voided')

),

stripe_issued_invoices as (

    select
        'stripe:' || i.stripe_invoice_id as invoice_id,
        'stripe' as source_system,
        i.stripe_invoice_id as source_id,
        i.invoice_number,
        c.salesforce_account_id as customer_id,
        coalesce(i.salesforce_contract_id, i.subscription_salesforce_contract_id) as contract_id,
        i.salesforce_project_id as project_id,
        cast(null as varchar) as billing_event_id,
        coalesce(i.legal_entity_id, i.subscription_legal_entity_id, c.legal_entity_id) as legal_entity_id,
        i.currency,
        cast(coalesce(i.finalized_at, i.created_at) as date) as invoice_date,
        i.due_date,
        i.subtotal_amount,
        coalesce(i.tax_amount, 0) as tax_amount,
        i.total_amount,
        -- Credit notes issued before payment lower what is due (Stripe amount_due = total - these).
        coalesce(i.pre_payment_credit_notes_amount, 0) as credited_amount,
        i.amount_remaining as source_open_amount,
        tr.netsuite_tax_code as tax_code,
        i.status,
        i.status as source_status,
        coalesce(i.voided_at, i.paid_at, i.finalized_at, i.created_at) as source_updated_at
    from stripe_invoices as i
    left join stripe_customers as c
        on c.stripe_customer_id = i.stripe_customer_id
    left join stripe_tax_rates as tr
        on tr.stripe_tax_rate_id = i.stripe_tax_rate_id
    where not i.is_deleted
        and i.status not in ('draft', 'void')

),

legacy_issued_invoices as (

    select
        'legacy_erp:' || h.legacy_invoice_id as invoice_id,
        'legacy_erp' as source_system,
        h.legacy_invoice_id as source_id,
        h.legacy_invoice_id as invoice_number,
        lc.salesforce_account_id as customer_id,
        h.salesforce_contract_id as contract_id,
        h.salesforce_project_id as project_id,
        h.salesforce_billing_event_id as billing_event_id,
        le.legal_entity_id,
        h.currency,
        h.invoice_date,
        h.due_date,
        h.net_amount as subtotal_amount,
        coalesce(h.tax_amount, 0) as tax_amount,
        h.gross_amount as total_amount,
        0 as credited_amount,
        h.open_amount as source_open_amount,
        h.tax_code,
        lower(h.status) as status,
        h.status_code as source_status,
        h.last_updated_at as source_updated_at
    from legacy_invoices as h
    left join legacy_customers as lc
        on lc.legacy_customer_id = h.legacy_customer_id
        and not lc.is_deleted
    left join legal_entities as le
        on le.legacy_entity_code = h.legacy_entity_code
    where not h.is_deleted

),

unioned as (

    select * from netsuite_invoices
    union all
    select * from stripe_issued_invoices
    union all
    select * from legacy_issued_invoices

),

final as (

    select
        invoice_id,
        source_system,
        source_id,
        invoice_number,
        customer_id,
        contract_id,
        project_id,
        billing_event_id,
        legal_entity_id,
        currency,
        invoice_date,
        due_date,
        cast(subtotal_amount as decimal(18, 2)) as subtotal_amount,
        cast(tax_amount as decimal(18, 2)) as tax_amount,
        cast(total_amount as decimal(18, 2)) as total_amount,
        cast(credited_amount as decimal(18, 2)) as credited_amount,
        cast(source_open_amount as decimal(18, 2)) as source_open_amount,
        tax_code,
        status,
        source_status,
        source_updated_at
    from unioned

)

select * from final
