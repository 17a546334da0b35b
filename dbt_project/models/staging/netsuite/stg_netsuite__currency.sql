{%- set cols = staging_raw_columns('raw_netsuite', 'currency') -%}

with

source as (

    select * from {{ source('raw_netsuite', 'currency') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as currency_id,
        cast('netsuite' as varchar) as source_system,

        ----------  strings
        upper(symbol) as currency_code,
        name as currency_name,

        ----------  numerics
        {{ staging_column(cols, 'currencyprecision', 'integer') }} as currency_precision,

        ----------  booleans (SuiteQL renders them as 'T' / 'F')
        coalesce(isbasecurrency = 'T', false) as is_base_currency,
        false as is_deleted,

        ----------  timestamps (UTC)
        {{ to_utc_timestamp('lastmodifieddate') }} as last_modified_at

    from source

)

select * from renamed
