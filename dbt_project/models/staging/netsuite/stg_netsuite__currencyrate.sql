{%- set cols = staging_raw_columns('raw_netsuite', 'currencyrate') -%}

with

source as (

    select * from {{ source('raw_netsuite', 'currencyrate') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as currency_rate_id,
        {{ staging_column(cols, 'basecurrency', 'varchar') }} as base_currency_id,
        {{ staging_column(cols, 'transactioncurrency', 'varchar') }} as transaction_currency_id,
        cast('netsuite' as varchar) as source_system,

        ----------  numerics
        {{ staging_column(cols, 'exchangerate', 'decimal(18, 8)') }} as exchange_rate,

        ----------  booleans
        false as is_deleted,

        ----------  dates
        {{ staging_column(cols, 'effectivedate', 'date') }} as effective_date

    from source

)

select * from renamed
