with

source as (

    select * from {{ source('raw_salesforce', 'account') }}

),

renamed as (

    select

        ----------  ids
        id as account_id,
        legal_entity__c as legal_entity_id,

        ----------  strings
        name as account_name,
        type as account_type,
        industry,
        billing_country,
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
