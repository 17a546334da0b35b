{%- set cols = staging_raw_columns('raw_salesforce', 'account') -%}

with

source as (

    select * from {{ source('raw_salesforce', 'account') }}

),

renamed as (

    select

        ----------  ids
        id as account_id,
        legal_entity__c as legal_entity_id,
        {{ staging_column(cols, 'parent_id', 'varchar') }} as parent_account_id,
        {{ staging_column(cols, 'account_number', 'varchar') }} as account_number,
        cast('salesforce' as varchar) as source_system,

        ----------  strings
        name as account_name,
        type as account_type,
        industry,
        billing_country,
        {{ staging_column(cols, 'billing_state', 'varchar') }} as billing_state,
        upper(currency_iso_code) as currency,

        ----------  booleans
        coalesce(is_deleted, false) as is_deleted,

        ----------  timestamps (UTC)
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp

    from source

)

select * from renamed
