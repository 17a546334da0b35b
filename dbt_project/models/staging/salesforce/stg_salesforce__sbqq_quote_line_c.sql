{%- set cols = staging_raw_columns('raw_salesforce', 'sbqq_quote_line_c') -%}

with

source as (

    select * from {{ source('raw_salesforce', 'sbqq_quote_line_c') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as quote_line_id,
        {{ staging_column(cols, 'name', 'varchar') }} as quote_line_number,
        {{ staging_column(cols, 'sbqq__quote__c', 'varchar') }} as quote_id,
        {{ staging_column(cols, 'sbqq__product__c', 'varchar') }} as product_id,
        cast('salesforce' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'sbqq__product_code__c', 'varchar') }} as product_code,
        {{ staging_column(cols, 'sbqq__description__c', 'varchar') }} as description,
        {{ staging_column(cols, 'resource_role__c', 'varchar') }} as resource_role,
        {{ staging_column(cols, 'sbqq__charge_type__c', 'varchar') }} as charge_type,
        {{ staging_column(cols, 'sbqq__billing_type__c', 'varchar') }} as billing_type,
        {{ staging_column(cols, 'sbqq__billing_frequency__c', 'varchar') }} as billing_frequency,
        upper({{ staging_column(cols, 'currency_iso_code', 'varchar') }}) as currency,

        ----------  numerics
        {{ staging_column(cols, 'sbqq__quantity__c', 'decimal(18, 4)') }} as quantity,
        {{ staging_column(cols, 'sbqq__list_price__c', 'decimal(18, 2)') }} as list_price,
        {{ staging_column(cols, 'sbqq__net_price__c', 'decimal(18, 2)') }} as net_price,
        {{ staging_column(cols, 'sbqq__net_total__c', 'decimal(18, 2)') }} as net_total,
        {{ staging_column(cols, 'sbqq__subscription_term__c', 'integer') }} as subscription_term_months,

        ----------  booleans
        coalesce(is_deleted, false) as is_deleted,

        ----------  dates and timestamps (UTC)
        {{ staging_column(cols, 'sbqq__start_date__c', 'date') }} as start_date,
        {{ staging_column(cols, 'sbqq__end_date__c', 'date') }} as end_date,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp

    from source

)

select * from renamed
