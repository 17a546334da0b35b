{#
    Control point: cash application (docs/controls.md). Grain: one row per exception, i.e. per
    (rule_id, object_id), in the shared exception layout (see control_exceptions).

    CX-001 unapplied_payment: a NetSuite customer payment (CustPymt) applied to no invoice
        (custbody_q2c_applied_to empty) more than var('cash_application_grace_days') days after
        its trandate. Object: the payment.
    CX-002 overpayment: a customer payment applied to an invoice with an unused amount
        (foreignpaymentamountunused > 0): it paid more than the invoice's open balance.
        Object: the payment.
    CX-003 erp_paid_crm_open: a NetSuite invoice (CustInvc) with status 'Paid In Full' whose
        CRM record (ERP_Invoice__c with ERP_Invoice_Id__c = 'netsuite:<id>', not deleted) is
        missing or not 'Paid' more than var('crm_sync_grace_days') days after its closedate.
        Object: the invoice.
#}

{%- set cash_application_grace_days = var('cash_application_grace_days', 5) | int -%}
{%- set crm_sync_grace_days = var('crm_sync_grace_days', 3) | int -%}

with

transactions as (

    select * from {{ ref('stg_netsuite__transaction') }}

),

currencies as (

    select * from {{ ref('stg_netsuite__currency') }}

),

netsuite_customers as (

    select * from {{ ref('stg_netsuite__customer') }}

),

crm_invoice_records as (

    select * from {{ ref('stg_salesforce__erp_invoice_c') }}
    where not is_deleted

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

),

-- One CRM record per ERP invoice (the CRM keeps one; should it hold two, the latest modified).
crm_invoices_ranked as (

    select
        crm_invoice_records.*,
        row_number() over (
            partition by erp_invoice_id
            order by last_modified_at desc nulls last, {{ q2c_sort_key('crm_invoice_id') }} desc
        ) as rn
    from crm_invoice_records

),

crm_invoices as (

    select * from crm_invoices_ranked where rn = 1

),

netsuite_transactions as (

    select
        transactions.*,
        currencies.currency_code as currency,
        netsuite_customers.salesforce_account_id as customer_id
    from transactions
    left join currencies
        on currencies.currency_id = transactions.currency_id
    left join netsuite_customers
        on netsuite_customers.netsuite_customer_id = transactions.netsuite_customer_id

),

payments as (

    select * from netsuite_transactions
    where transaction_type = 'CustPymt'

),

unapplied as (

    select
        'CX-001' as rule_id,
        'unapplied_payment' as rule_name,
        'payment' as object_type,
        payments.transaction_id as object_id,
        payments.customer_id,
        payments.salesforce_contract_id as contract_id,
        payments.salesforce_project_id as project_id,
        cast(null as varchar) as invoice_id,
        'NetSuite payment ' || payments.transaction_id || ' of ' || coalesce(cast(payments.total_amount as varchar), 'empty')
            || ' ' || coalesce(payments.currency, '') || ' (customer ' || coalesce(payments.netsuite_customer_id, 'empty')
            || ') received on ' || cast(payments.transaction_date as varchar)
            || ' is applied to no invoice (custbody_q2c_applied_to empty) after {{ cash_application_grace_days }} days.'
            as description,
        payments.total_amount as amount_at_risk,
        payments.currency,
        cast({{ dbt.dateadd('day', cash_application_grace_days + 1, 'payments.transaction_date') }} as date)
            as detected_at_date
    from payments
    cross join as_of
    where coalesce(payments.applied_to_transaction_id, '') = ''
        and {{ dbt.datediff('payments.transaction_date', 'as_of.as_of_date', 'day') }} > {{ cash_application_grace_days }}

),

overpaid as (

    select
        'CX-002' as rule_id,
        'overpayment' as rule_name,
        'payment' as object_type,
        payments.transaction_id as object_id,
        payments.customer_id,
        payments.salesforce_contract_id as contract_id,
        payments.salesforce_project_id as project_id,
        payments.applied_to_transaction_id as invoice_id,
        'NetSuite payment ' || payments.transaction_id || ' applied to invoice ' || payments.applied_to_transaction_id
            || ' has foreignpaymentamountunused ' || cast(payments.payment_amount_unused as varchar)
            || ' ' || coalesce(payments.currency, '') || ': it paid more than the invoice''s open balance.'
            as description,
        payments.payment_amount_unused as amount_at_risk,
        payments.currency,
        coalesce(cast(payments.last_modified_at as date), payments.transaction_date) as detected_at_date
    from payments
    where coalesce(payments.applied_to_transaction_id, '') <> ''
        and payments.payment_amount_unused > 0

),

paid_invoices as (

    select * from netsuite_transactions
    where transaction_type = 'CustInvc'
        and status = 'Paid In Full'

),

crm_open as (

    select
        'CX-003' as rule_id,
        'erp_paid_crm_open' as rule_name,
        'invoice' as object_type,
        paid_invoices.transaction_id as object_id,
        paid_invoices.customer_id,
        paid_invoices.salesforce_contract_id as contract_id,
        paid_invoices.salesforce_project_id as project_id,
        paid_invoices.transaction_id as invoice_id,
        'NetSuite invoice ' || paid_invoices.transaction_id || ' (' || coalesce(paid_invoices.transaction_number, '')
            || ') was paid in full on ' || cast(paid_invoices.close_date as varchar) || ' but '
            || case
                when crm_invoices.crm_invoice_id is null
                    then 'no CRM ERP_Invoice__c has ERP_Invoice_Id__c netsuite:' || paid_invoices.transaction_id
                else 'its CRM record ' || crm_invoices.crm_invoice_id || ' has Status__c '
                    || coalesce(crm_invoices.status, 'empty')
            end || ' after {{ crm_sync_grace_days }} days.' as description,
        paid_invoices.total_amount as amount_at_risk,
        paid_invoices.currency,
        cast({{ dbt.dateadd('day', crm_sync_grace_days + 1, 'paid_invoices.close_date') }} as date) as detected_at_date
    from paid_invoices
    cross join as_of
    left join crm_invoices
        on crm_invoices.erp_invoice_id = 'netsuite:' || paid_invoices.transaction_id
    where {{ dbt.datediff('paid_invoices.close_date', 'as_of.as_of_date', 'day') }} > {{ crm_sync_grace_days }}
        and (crm_invoices.crm_invoice_id is null or crm_invoices.status is distinct from 'Paid')

),

exceptions as (

    select * from unapplied
    union all
    select * from overpaid
    union all
    select * from crm_open

),

final as (

    select
        -- Stable across runs: the same case keeps its id every day.
        {{ q2c_hash(['exceptions.rule_id', 'exceptions.object_id']) }} as exception_id,
        exceptions.rule_id,
        exceptions.rule_name,
        'cash_application' as control_point,
        exceptions.object_type,
        exceptions.object_id,
        cast('netsuite' as varchar) as source_system,
        exceptions.customer_id,
        exceptions.contract_id,
        exceptions.project_id,
        exceptions.invoice_id,
        exceptions.description,
        case
            when exceptions.rule_id = 'CX-003' then 'Finance Systems'
            else 'Accounts Receivable'
        end as owner_team,
        case
            when exceptions.rule_id = 'CX-003' then 'low'
            else 'medium'
        end as severity,
        cast(exceptions.amount_at_risk as decimal(18, 2)) as amount_at_risk,
        exceptions.currency,
        exceptions.detected_at_date,
        as_of.as_of_date
    from exceptions
    cross join as_of

)

select * from final
