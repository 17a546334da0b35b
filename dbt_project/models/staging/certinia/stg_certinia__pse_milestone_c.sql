{%- set cols = staging_raw_columns('raw_certinia', 'pse_milestone_c') -%}

with

source as (

    select * from {{ source('raw_certinia', 'pse_milestone_c') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as milestone_id,
        {{ staging_column(cols, 'pse__project__c', 'varchar') }} as project_id,
        {{ staging_column(cols, 'pse__billing_event_item__c', 'varchar') }} as billing_event_item_id,
        cast('certinia' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'name', 'varchar') }} as milestone_name,
        {{ staging_column(cols, 'pse__status__c', 'varchar') }} as status,
        upper({{ staging_column(cols, 'currency_iso_code', 'varchar') }}) as currency,

        ----------  numerics
        {{ staging_column(cols, 'pse__milestone_amount__c', 'decimal(18, 2)') }} as milestone_amount,

        ----------  booleans
        {{ staging_flag(cols, 'pse__approved__c') }} as is_approved,
        {{ staging_flag(cols, 'pse__approved_for_billing__c') }} as is_approved_for_billing,
        {{ staging_flag(cols, 'pse__billed__c') }} as is_billed,
        coalesce(is_deleted, false) as is_deleted,

        ----------  dates and timestamps (UTC)
        {{ staging_column(cols, 'pse__target_date__c', 'date') }} as target_date,
        {{ staging_column(cols, 'pse__actual_date__c', 'date') }} as actual_date,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp,

        ----------  load (dlt)
        cast(_dlt_load_id as varchar) as dlt_load_id

    from source

)

select * from renamed
