{%- set cols = staging_raw_columns('raw_netsuite', 'customer') -%}

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
        {{ staging_column(cols, 'parent', 'varchar') }} as parent_netsuite_customer_id,
        {{ staging_column(cols, 'terms', 'varchar') }} as term_id,
        {{ staging_column(cols, 'taxitem', 'varchar') }} as tax_item_id,
        {{ staging_column(cols, 'custentity_q2c_legacy_id', 'varchar') }} as legacy_customer_id,
        cast('netsuite' as varchar) as source_system,

        ----------  strings
        companyname as company_name,

        ----------  booleans
        {{ staging_flag(cols, 'isperson') }} as is_person,
        false as is_deleted,

        ----------  timestamps (UTC)
        {{ to_utc_timestamp('datecreated') }} as created_at,
        {{ to_utc_timestamp('lastmodifieddate') }} as last_modified_at

    from source

)

select * from renamed
