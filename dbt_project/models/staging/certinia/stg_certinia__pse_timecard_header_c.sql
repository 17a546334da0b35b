{%- set cols = staging_raw_columns('raw_certinia', 'pse_timecard_header_c') -%}

with

source as (

    select * from {{ source('raw_certinia', 'pse_timecard_header_c') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as timecard_header_id,
        {{ staging_column(cols, 'pse__project__c', 'varchar') }} as project_id,
        {{ staging_column(cols, 'pse__resource__c', 'varchar') }} as resource_id,
        {{ staging_column(cols, 'pse__assignment__c', 'varchar') }} as assignment_id,
        cast('certinia' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'name', 'varchar') }} as timecard_header_name,
        {{ staging_column(cols, 'pse__status__c', 'varchar') }} as status,
        upper({{ staging_column(cols, 'currency_iso_code', 'varchar') }}) as currency,

        ----------  numerics
        {{ staging_column(cols, 'pse__total_hours__c', 'decimal(18, 2)') }} as total_hours,
        {{ staging_column(cols, 'pse__monday_hours__c', 'decimal(18, 2)') }} as monday_hours,
        {{ staging_column(cols, 'pse__tuesday_hours__c', 'decimal(18, 2)') }} as tuesday_hours,
        {{ staging_column(cols, 'pse__wednesday_hours__c', 'decimal(18, 2)') }} as wednesday_hours,
        {{ staging_column(cols, 'pse__thursday_hours__c', 'decimal(18, 2)') }} as thursday_hours,
        {{ staging_column(cols, 'pse__friday_hours__c', 'decimal(18, 2)') }} as friday_hours,
        {{ staging_column(cols, 'pse__saturday_hours__c', 'decimal(18, 2)') }} as saturday_hours,
        {{ staging_column(cols, 'pse__sunday_hours__c', 'decimal(18, 2)') }} as sunday_hours,
        {{ staging_column(cols, 'pse__bill_rate__c', 'decimal(18, 2)') }} as bill_rate,
        {{ staging_column(cols, 'pse__total_billable_amount__c', 'decimal(18, 2)') }} as total_billable_amount,

        ----------  booleans
        {{ staging_flag(cols, 'pse__billable__c') }} as is_billable,
        {{ staging_flag(cols, 'pse__submitted__c') }} as is_submitted,
        {{ staging_flag(cols, 'pse__approved__c') }} as is_approved,
        coalesce(is_deleted, false) as is_deleted,

        ----------  dates and timestamps (UTC)
        {{ staging_column(cols, 'pse__start_date__c', 'date') }} as start_date,
        {{ staging_column(cols, 'pse__end_date__c', 'date') }} as end_date,
        {{ staging_column(cols, 'approved_date__c', 'date') }} as approved_date,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp,

        ----------  load (dlt)
        cast(_dlt_load_id as varchar) as dlt_load_id

    from source

)

select * from renamed
