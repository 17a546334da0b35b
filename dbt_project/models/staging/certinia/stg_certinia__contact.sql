{%- set src = source('raw_certinia', 'contact') -%}
{%- set cols = staging_raw_columns('raw_certinia', 'contact') -%}

with

source as (

    select * from {{ src }}

),

renamed as (

    select

        ----------  ids
        id as contact_id,
        legal_entity__c as legal_entity_id,
        cast('certinia' as varchar) as source_system,

        ----------  strings
        first_name,
        last_name,
        pse__resource_role__c as resource_role,
        {{ staging_column(cols, 'email', 'varchar') }} as email,
        upper(currency_iso_code) as currency,

        ----------  numerics
        {{ staging_column(cols, 'pse__default_bill_rate__c', 'decimal(18, 2)') }} as default_bill_rate,
        {{ staging_column(cols, 'pse__default_cost_rate__c', 'decimal(18, 2)') }} as default_cost_rate,

        ----------  booleans
        coalesce(pse__is_resource__c, false) as is_resource,
        {{ staging_flag(cols, 'pse__is_resource_active__c') }} as is_resource_active,
        coalesce(is_deleted, false) as is_deleted,

        ----------  timestamps (UTC)
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp

    from source

)

select * from renamed
