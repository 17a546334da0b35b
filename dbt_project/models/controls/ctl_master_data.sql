{#
    Control point: master data (docs/controls.md). Grain: one row per exception, i.e. per
    (rule_id, object_id), in the shared exception layout (see control_exceptions).

    MD-001 duplicate_customer: the same customer twice, matched on the normalised company name
        (lower case, every run of characters other than a-z and 0-9 a single space, the
        legal-form words inc, ltd, llc, gmbh, plc, corp, co, limited and ag dropped, spaces
        trimmed; as sandbox.world_gen.normalise_name):
          - a NetSuite customer without externalid (no CRM link) whose normalised companyname
            equals a CRM account's normalised Name. Object: the NetSuite customer id;
          - CRM accounts sharing a normalised Name: every account after the first (by
            CreatedDate, then Id) is a duplicate. Object: the duplicate account's Id.
    MD-002 inconsistent_contract_id: an invoice whose contract reference is not the contract of
        its project or subscription:
          - NetSuite CustInvc whose custbody_q2c_sf_contract_id is not the Contract__c of its
            project (custbody_q2c_sf_project_id). Object: 'netsuite:<transaction id>';
          - Stripe invoice (not draft or void) whose metadata.salesforce_contract_id is not the
            metadata.salesforce_contract_id of its parent subscription.
            Object: 'stripe:<invoice id>'.

    Deleted Salesforce / PSA rows (IsDeleted) are ignored.
#}

with

accounts as (

    select * from {{ ref('stg_salesforce__account') }}
    where not is_deleted

),

netsuite_customers as (

    select * from {{ ref('stg_netsuite__customer') }}

),

transactions as (

    select * from {{ ref('stg_netsuite__transaction') }}

),

currencies as (

    select * from {{ ref('stg_netsuite__currency') }}

),

projects as (

    select * from {{ ref('stg_certinia__pse_proj_c') }}
    where not is_deleted

),

stripe_invoices as (

    select * from {{ ref('stg_stripe__invoices') }}

),

stripe_subscriptions as (

    select * from {{ ref('stg_stripe__subscriptions') }}

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

),

-- Company names of both systems, normalised once for matching.
company_names as (

    select
        'salesforce' as source_system,
        account_id as record_id,
        account_name as company_name,
        created_at
    from accounts

    union all

    select
        'netsuite' as source_system,
        netsuite_customer_id as record_id,
        company_name,
        created_at
    from netsuite_customers
    where coalesce(salesforce_account_id, '') = ''

),

normalised_names as (

    select
        source_system,
        record_id,
        company_name,
        created_at,
        -- Each word padded with its own spaces, so adjacent legal-form words are all removed.
        trim(regexp_replace(
            regexp_replace(
                ' ' || replace(regexp_replace(lower(company_name), '[^a-z0-9]+', ' ', 'g'), ' ', '  ') || ' ',
                ' (inc|ltd|llc|gmbh|plc|corp|co|limited|ag) ', ' ', 'g'
            ),
            ' +', ' ', 'g'
        )) as normalised_name
    from company_names

),

accounts_by_name as (

    select
        normalised_names.*,
        row_number() over (
            partition by normalised_name
            order by created_at nulls last, {{ q2c_sort_key('record_id') }}
        ) as name_rank
    from normalised_names
    where source_system = 'salesforce'

),

first_accounts as (

    select * from accounts_by_name where name_rank = 1

),

duplicate_accounts as (

    select
        'MD-001' as rule_id,
        'duplicate_customer' as rule_name,
        'customer_account' as object_type,
        duplicates.record_id as object_id,
        'salesforce' as source_system,
        first_accounts.record_id as customer_id,
        cast(null as varchar) as contract_id,
        cast(null as varchar) as project_id,
        cast(null as varchar) as invoice_id,
        'CRM Account ' || duplicates.record_id || ' (' || duplicates.company_name || ') duplicates Account '
            || first_accounts.record_id || ' (' || first_accounts.company_name
            || '): the same normalised Name ''' || duplicates.normalised_name || '''.' as description,
        cast(null as decimal(18, 2)) as amount_at_risk,
        cast(null as varchar) as currency,
        cast(duplicates.created_at as date) as detected_at_date
    from accounts_by_name as duplicates
    inner join first_accounts
        on first_accounts.normalised_name = duplicates.normalised_name
    where duplicates.name_rank > 1

),

duplicate_netsuite_customers as (

    select
        'MD-001' as rule_id,
        'duplicate_customer' as rule_name,
        'customer_account' as object_type,
        customers.record_id as object_id,
        'netsuite' as source_system,
        first_accounts.record_id as customer_id,
        cast(null as varchar) as contract_id,
        cast(null as varchar) as project_id,
        cast(null as varchar) as invoice_id,
        'NetSuite customer ' || customers.record_id || ' (' || customers.company_name
            || ') has no externalid but its normalised companyname ''' || customers.normalised_name
            || ''' is the name of CRM Account ' || first_accounts.record_id || ' (' || first_accounts.company_name
            || ').' as description,
        cast(null as decimal(18, 2)) as amount_at_risk,
        cast(null as varchar) as currency,
        cast(customers.created_at as date) as detected_at_date
    from normalised_names as customers
    inner join first_accounts
        on first_accounts.normalised_name = customers.normalised_name
    where customers.source_system = 'netsuite'

),

netsuite_contract_mismatch as (

    select
        'MD-002' as rule_id,
        'inconsistent_contract_id' as rule_name,
        'invoice' as object_type,
        'netsuite:' || transactions.transaction_id as object_id,
        'netsuite' as source_system,
        projects.account_id as customer_id,
        projects.contract_id,
        projects.project_id,
        transactions.transaction_id as invoice_id,
        'NetSuite invoice ' || transactions.transaction_id || ' (' || coalesce(transactions.transaction_number, '')
            || ') has custbody_q2c_sf_contract_id ' || coalesce(transactions.salesforce_contract_id, 'empty')
            || ' but its project ' || projects.project_id || ' (custbody_q2c_sf_project_id) has Contract__c '
            || coalesce(projects.contract_id, 'empty') || '.' as description,
        transactions.total_amount as amount_at_risk,
        currencies.currency_code as currency,
        transactions.transaction_date as detected_at_date
    from transactions
    inner join projects
        on projects.project_id = transactions.salesforce_project_id
    left join currencies
        on currencies.currency_id = transactions.currency_id
    where transactions.transaction_type = 'CustInvc'
        and projects.contract_id is distinct from transactions.salesforce_contract_id

),

stripe_contract_mismatch as (

    select
        'MD-002' as rule_id,
        'inconsistent_contract_id' as rule_name,
        'invoice' as object_type,
        'stripe:' || stripe_invoices.stripe_invoice_id as object_id,
        'stripe' as source_system,
        stripe_subscriptions.salesforce_account_id as customer_id,
        stripe_subscriptions.salesforce_contract_id as contract_id,
        stripe_invoices.salesforce_project_id as project_id,
        stripe_invoices.stripe_invoice_id as invoice_id,
        'Stripe invoice ' || stripe_invoices.stripe_invoice_id || ' has metadata.salesforce_contract_id '
            || coalesce(stripe_invoices.salesforce_contract_id, 'empty') || ' but its subscription '
            || stripe_subscriptions.stripe_subscription_id || ' has metadata.salesforce_contract_id '
            || coalesce(stripe_subscriptions.salesforce_contract_id, 'empty') || '.' as description,
        stripe_invoices.total_amount as amount_at_risk,
        stripe_invoices.currency,
        cast(stripe_invoices.created_at as date) as detected_at_date
    from stripe_invoices
    inner join stripe_subscriptions
        on stripe_subscriptions.stripe_subscription_id = stripe_invoices.stripe_subscription_id
    where coalesce(stripe_invoices.status, '') not in ('draft', 'void')
        and stripe_subscriptions.salesforce_contract_id is distinct from stripe_invoices.salesforce_contract_id

),

exceptions as (

    select * from duplicate_accounts
    union all
    select * from duplicate_netsuite_customers
    union all
    select * from netsuite_contract_mismatch
    union all
    select * from stripe_contract_mismatch

),

final as (

    select
        -- Stable across runs: the same case keeps its id every day.
        {{ q2c_hash(['exceptions.rule_id', 'exceptions.object_id']) }} as exception_id,
        exceptions.rule_id,
        exceptions.rule_name,
        'master_data' as control_point,
        exceptions.object_type,
        exceptions.object_id,
        cast(exceptions.source_system as varchar) as source_system,
        exceptions.customer_id,
        exceptions.contract_id,
        exceptions.project_id,
        exceptions.invoice_id,
        exceptions.description,
        'Master Data Management' as owner_team,
        'medium' as severity,
        cast(exceptions.amount_at_risk as decimal(18, 2)) as amount_at_risk,
        exceptions.currency,
        exceptions.detected_at_date,
        as_of.as_of_date
    from exceptions
    cross join as_of

)

select * from final
