with

source as (

    select * from {{ source('raw_netsuite', 'customer') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as netsuite_customer_id,
        entityid as customer_number,
        externalid as salesforce_account_id,
        cast(subsidiary as varchar) as subsidiary_id,
        cast(currency as varchar) as currency_id,

        ----------  strings
        companyname as company_name,

        ----------  booleans
        false as is_deleted,

        ----------  timestamps (UTC)
        {{ to_utc_timestamp('datecreated') }} as created_at,
        {{ to_utc_timestamp('lastmodifieddate') }} as last_modified_at

    from source

)

select * from renamed
