{#
    Contracts: one row per not-deleted CRM (CPQ) contract, with its current terms (after any
    amendment: contract_amount and contract_version are the latest; contract_version holds each
    version), its billing model and the system that invoices it. correlation_id = the won
    opportunity the contract came from.
#}

with

contracts as (

    select * from {{ ref('stg_salesforce__contract') }}

),

final as (

    select
        contract_id,
        contract_number,
        account_id as customer_id,
        opportunity_id,
        legal_entity_id,
        status,
        status = 'Activated' as is_activated,
        activated_at,
        start_date,
        end_date,
        term_months,
        billing_model,
        -- Where each billing model is invoiced: project work from the ERP, recurring
        -- charges from the billing platform.
        case billing_model
            when 'Time and Materials' then 'netsuite'
            when 'Fixed Fee' then 'netsuite'
            when 'Retainer' then 'stripe'
            when 'Subscription' then 'stripe'
        end as billing_system,
        billing_frequency,
        contract_amount,
        currency,
        payment_terms,
        quote_id,
        contract_version,
        -- The deal's correlation id: the won opportunity the contract came from (kept through amendments).
        opportunity_id as correlation_id,
        'salesforce' as source_system,
        contract_id as source_id,
        system_modstamp
    from contracts
    where not is_deleted

)

select * from final
