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
        system_modstamp
    from contracts
    where not is_deleted

)

select * from final
