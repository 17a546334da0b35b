{%- set cols = staging_raw_columns('raw_netsuite', 'nexus') -%}

with

source as (

    select * from {{ source('raw_netsuite', 'nexus') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as nexus_id,
        {{ staging_column(cols, 'description', 'varchar') }} as nexus_code,
        {{ staging_column(cols, 'subsidiary', 'varchar') }} as subsidiary_id,
        cast('netsuite' as varchar) as source_system,

        ----------  strings
        upper({{ staging_column(cols, 'country', 'varchar') }}) as country,
        upper({{ staging_column(cols, 'state', 'varchar') }}) as state,

        ----------  booleans
        false as is_deleted

    from source

)

select * from renamed
