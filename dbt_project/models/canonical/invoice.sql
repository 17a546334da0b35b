{#
    Issued customer invoices from every billing system, one row each. The two sources are
    disjoint (a contract is invoiced by exactly one system, see contract.billing_system) and
    every source invoice maps to exactly one canonical id `<source_system>:<source_id>`, so
    nothing is counted twice. Not invoices (yet / any more), hence left out:
      - NetSuite: statuses Pending Approval, Rejected, Voided;
      - Stripe: drafts, voided and deleted invoices.
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

stripe_customers as (

    select * from {{ ref('stg_stripe__customers') }}

),

legal_entities as (

    select * from {{ ref('legal_entity') }}

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
        le.legal_entity_id,
        cur.currency_code as currency,
        t.transaction_date as invoice_date,
        t.due_date,
        t.total_amount,
        0 as credited_amount,  -- NetSuite credit memos: not yet applied in the canonical model
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
        i.salesforce_contract_id as contract_id,
        i.salesforce_project_id as project_id,
        coalesce(i.legal_entity_id, c.legal_entity_id) as legal_entity_id,
        i.currency,
        cast(coalesce(i.finalized_at, i.created_at) as date) as invoice_date,
        i.due_date,
        i.total_amount,
        -- Credit notes issued before payment lower what is due (Stripe amount_due = total - these).
        coalesce(i.pre_payment_credit_notes_amount, 0) as credited_amount,
        i.status,
        i.status as source_status,
        coalesce(i.voided_at, i.paid_at, i.finalized_at, i.created_at) as source_updated_at
    from stripe_invoices as i
    left join stripe_customers as c
        on c.stripe_customer_id = i.stripe_customer_id
    where not i.is_deleted
        and i.status not in ('draft', 'void')

),

unioned as (

    select * from netsuite_invoices
    union all
    select * from stripe_issued_invoices

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
        legal_entity_id,
        currency,
        invoice_date,
        due_date,
        cast(total_amount as decimal(18, 2)) as total_amount,
        cast(credited_amount as decimal(18, 2)) as credited_amount,
        status,
        source_status,
        source_updated_at
    from unioned

)

select * from final
