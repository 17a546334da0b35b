{#
    Customers: one row per not-deleted CRM account (the canonical customer id is the Account
    Id), with the matching customer of each other system: NetSuite (externalid = Account Id),
    Stripe (metadata.salesforce_account_id) and the legacy ERP (CUSTOMER_MASTER's CRM account).
    If a system holds several, the most recently modified / created one.
#}

with

accounts as (

    select * from {{ ref('stg_salesforce__account') }}

),

netsuite_customers as (

    select * from {{ ref('stg_netsuite__customer') }}

),

stripe_customers as (

    select * from {{ ref('stg_stripe__customers') }}

),

legacy_customers as (

    select * from {{ ref('stg_legacy_erp__customer_master') }}

),

-- One ERP and one billing-platform customer per CRM account: if a system holds several
-- (duplicates, one per subsidiary), take the most recently modified / created one.
netsuite_ranked as (

    select
        salesforce_account_id,
        netsuite_customer_id,
        row_number() over (
            partition by salesforce_account_id
            order by last_modified_at desc nulls last, {{ q2c_sort_key('netsuite_customer_id') }}
        ) as rn
    from netsuite_customers
    where not is_deleted and salesforce_account_id is not null

),

stripe_ranked as (

    select
        salesforce_account_id,
        stripe_customer_id,
        row_number() over (
            partition by salesforce_account_id
            order by created_at desc nulls last, {{ q2c_sort_key('stripe_customer_id') }}
        ) as rn
    from stripe_customers
    where not is_deleted and salesforce_account_id is not null

),

legacy_ranked as (

    select
        salesforce_account_id,
        legacy_customer_id,
        row_number() over (
            partition by salesforce_account_id
            order by last_updated_at desc nulls last, {{ q2c_sort_key('legacy_customer_id') }}
        ) as rn
    from legacy_customers
    where not is_deleted and salesforce_account_id is not null

),

final as (

    select
        accounts.account_id as customer_id,
        accounts.account_name as customer_name,
        accounts.legal_entity_id,
        accounts.currency,
        netsuite_ranked.netsuite_customer_id,
        stripe_ranked.stripe_customer_id,
        legacy_ranked.legacy_customer_id,
        accounts.account_type,
        accounts.industry,
        accounts.billing_country,
        accounts.created_at,
        'salesforce' as source_system,
        accounts.account_id as source_id,
        accounts.system_modstamp
    from accounts
    left join netsuite_ranked
        on netsuite_ranked.salesforce_account_id = accounts.account_id
        and netsuite_ranked.rn = 1
    left join stripe_ranked
        on stripe_ranked.salesforce_account_id = accounts.account_id
        and stripe_ranked.rn = 1
    left join legacy_ranked
        on legacy_ranked.salesforce_account_id = accounts.account_id
        and legacy_ranked.rn = 1
    where not accounts.is_deleted

)

select * from final
