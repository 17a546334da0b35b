{#
    PSA resources: one row per not-deleted Contact that is a PSA resource (pse__Is_Resource__c),
    with role, employing legal entity and default rates (in `currency`).
#}

with

contacts as (

    select * from {{ ref('stg_certinia__contact') }}

),

final as (

    select
        contact_id as resource_id,
        trim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) as resource_name,
        resource_role as role,
        legal_entity_id,
        currency,
        cast(default_bill_rate as decimal(18, 2)) as default_bill_rate,
        cast(default_cost_rate as decimal(18, 2)) as default_cost_rate,
        is_resource_active as is_active,
        email,
        'certinia' as source_system,
        contact_id as source_id,
        system_modstamp
    from contacts
    where is_resource
        and not is_deleted

)

select * from final
