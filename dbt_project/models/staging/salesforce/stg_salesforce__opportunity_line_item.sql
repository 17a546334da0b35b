{%- set cols = staging_raw_columns('raw_salesforce', 'opportunity_line_item') -%}

with

source as (

    select * from {{ source('raw_salesforce', 'opportunity_line_item') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as opportunity_line_item_id,
        {{ staging_column(cols, 'opportunity_id', 'varchar') }} as opportunity_id,
        {{ staging_column(cols, 'product2_id', 'varchar') }} as product_id,
        {{ staging_column(cols, 'sbqq__quote_line__c', 'varchar') }} as quote_line_id,
        cast('salesforce' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'product_code', 'varchar') }} as product_code,
        upper({{ staging_column(cols, 'currency_iso_code', 'varchar') }}) as currency,

        ----------  numerics
        {{ staging_column(cols, 'quantity', 'decimal(18, 4)') }} as quantity,
        {{ staging_column(cols, 'unit_price', 'decimal(18, 2)') }} as unit_price,
        {{ staging_column(cols, 'list_price', 'decimal(18, 2)') }} as list_price,
        {{ staging_column(cols, 'total_price', 'decimal(18, 2)') }} as total_price,

        ----------  booleans
        coalesce(is_deleted, false) as is_deleted,

        ----------  dates and timestamps (UTC)
        {{ staging_column(cols, 'service_date', 'date') }} as service_date,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp

    from source

)

select * from renamed
