{%- set cols = staging_raw_columns('raw_certinia', 'pse_rate_card_c') -%}

with

source as (

    select * from {{ source('raw_certinia', 'pse_rate_card_c') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as rate_card_id,
        {{ staging_column(cols, 'legal_entity__c', 'varchar') }} as legal_entity_id,
        cast('certinia' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'name', 'varchar') }} as rate_card_name,
        {{ staging_column(cols, 'pse__role__c', 'varchar') }} as role,
        upper({{ staging_column(cols, 'currency_iso_code', 'varchar') }}) as currency,

        ----------  numerics
        {{ staging_column(cols, 'pse__suggested_bill_rate__c', 'decimal(18, 2)') }} as suggested_bill_rate,
        {{ staging_column(cols, 'pse__average_cost_rate__c', 'decimal(18, 2)') }} as average_cost_rate,

        ----------  booleans
        coalesce(is_deleted, false) as is_deleted,

        ----------  dates and timestamps (UTC)
        {{ staging_column(cols, 'pse__start_date__c', 'date') }} as start_date,
        {{ staging_column(cols, 'pse__end_date__c', 'date') }} as end_date,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp

    from source

)

select * from renamed
