{%- set cols = staging_raw_columns('raw_netsuite', 'subsidiary') -%}

with

source as (

    select * from {{ source('raw_netsuite', 'subsidiary') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as subsidiary_id,
        cast(currency as varchar) as currency_id,
        {{ staging_column(cols, 'parent', 'varchar') }} as parent_subsidiary_id,
        cast('netsuite' as varchar) as source_system,

        ----------  strings
        name as subsidiary_name,
        {{ staging_column(cols, 'fullname', 'varchar') }} as full_name,
        country,

        ----------  booleans (SuiteQL renders them as 'T' / 'F')
        coalesce(iselimination = 'T', false) as is_elimination,
        -- SuiteQL returns no deleted records; deletions would come from `deletedrecord`.
        false as is_deleted,

        ----------  timestamps (UTC)
        {{ to_utc_timestamp('lastmodifieddate') }} as last_modified_at

    from source

)

select * from renamed
