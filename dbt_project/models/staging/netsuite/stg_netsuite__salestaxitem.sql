{%- set cols = staging_raw_columns('raw_netsuite', 'salestaxitem') -%}

with

source as (

    select * from {{ source('raw_netsuite', 'salestaxitem') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as tax_item_id,
        {{ staging_column(cols, 'itemid', 'varchar') }} as tax_code,
        {{ staging_column(cols, 'subsidiary', 'varchar') }} as subsidiary_id,
        cast('netsuite' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'description', 'varchar') }} as description,
        {{ staging_column(cols, 'taxtype', 'varchar') }} as tax_type,
        upper({{ staging_column(cols, 'country', 'varchar') }}) as country,
        upper({{ staging_column(cols, 'state', 'varchar') }}) as state,

        ----------  numerics
        {{ staging_column(cols, 'rate', 'decimal(9, 4)') }} as tax_rate_pct,

        ----------  booleans
        {{ staging_flag(cols, 'isinactive') }} as is_inactive,
        false as is_deleted

    from source

)

select * from renamed
