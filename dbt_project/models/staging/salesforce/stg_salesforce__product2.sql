{%- set cols = staging_raw_columns('raw_salesforce', 'product2') -%}

with

source as (

    select * from {{ source('raw_salesforce', 'product2') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as product_id,
        cast('salesforce' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'name', 'varchar') }} as product_name,
        {{ staging_column(cols, 'product_code', 'varchar') }} as product_code,
        {{ staging_column(cols, 'family', 'varchar') }} as product_family,
        {{ staging_column(cols, 'sbqq__charge_type__c', 'varchar') }} as charge_type,
        {{ staging_column(cols, 'sbqq__billing_type__c', 'varchar') }} as billing_type,
        {{ staging_column(cols, 'sbqq__billing_frequency__c', 'varchar') }} as billing_frequency,

        ----------  booleans
        {{ staging_flag(cols, 'is_active') }} as is_active,
        coalesce(is_deleted, false) as is_deleted,

        ----------  timestamps (UTC)
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp

    from source

)

select * from renamed
