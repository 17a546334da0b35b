{%- set cols = staging_raw_columns('raw_certinia', 'pse_billing_event_c') -%}

with

source as (

    select * from {{ source('raw_certinia', 'pse_billing_event_c') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as billing_event_id,
        {{ staging_column(cols, 'name', 'varchar') }} as billing_event_number,
        {{ staging_column(cols, 'pse__project__c', 'varchar') }} as project_id,
        {{ staging_column(cols, 'pse__invoice_number__c', 'varchar') }} as invoice_number,
        cast('certinia' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'pse__status__c', 'varchar') }} as status,
        upper({{ staging_column(cols, 'currency_iso_code', 'varchar') }}) as currency,

        ----------  numerics
        {{ staging_column(cols, 'pse__summary_amount__c', 'decimal(18, 2)') }} as summary_amount,

        ----------  booleans
        {{ staging_flag(cols, 'pse__is_released__c') }} as is_released,
        {{ staging_flag(cols, 'pse__invoiced__c') }} as is_invoiced,
        coalesce(is_deleted, false) as is_deleted,

        ----------  dates and timestamps (UTC)
        {{ staging_column(cols, 'pse__date__c', 'date') }} as billing_event_date,
        {{ staging_column(cols, 'pse__invoice_date__c', 'date') }} as invoice_date,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp

    from source

)

select * from renamed
