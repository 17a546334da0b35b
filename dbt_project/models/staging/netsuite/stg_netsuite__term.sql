{%- set cols = staging_raw_columns('raw_netsuite', 'term') -%}

with

source as (

    select * from {{ source('raw_netsuite', 'term') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as term_id,
        cast('netsuite' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'name', 'varchar') }} as term_name,

        ----------  numerics
        {{ staging_column(cols, 'daysuntilnetdue', 'integer') }} as days_until_net_due,

        ----------  booleans (SuiteQL returns no deleted records)
        false as is_deleted

    from source

)

select * from renamed
