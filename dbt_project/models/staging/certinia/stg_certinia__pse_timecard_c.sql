{%- set src = source('raw_certinia', 'pse_timecard_c') -%}
{%- set cols = staging_raw_columns('raw_certinia', 'pse_timecard_c') -%}

with

source as (

    select * from {{ src }}

),

renamed as (

    select

        ----------  ids
        id as timecard_id,
        pse__project__c as project_id,
        pse__resource__c as resource_id,
        {{ staging_column(cols, 'pse__timecard_header__c', 'varchar') }} as timecard_header_id,
        {{ staging_column(cols, 'pse__assignment__c', 'varchar') }} as assignment_id,
        {{ staging_column(cols, 'pse__billing_event_item__c', 'varchar') }} as billing_event_item_id,
        cast('certinia' as varchar) as source_system,

        ----------  strings
        pse__status__c as status,
        upper(currency_iso_code) as currency,

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
        coalesce(pse__billable__c, false) as is_billable,
        coalesce(pse__approved__c, false) as is_approved,
        coalesce(pse__billed__c, false) as is_billed,
        coalesce(is_deleted, false) as is_deleted,

        ----------  dates and timestamps (UTC)
        cast(pse__start_date__c as date) as start_date,
        cast(pse__end_date__c as date) as end_date,
        {{ staging_column(cols, 'approved_date__c', 'date') }} as approved_date,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp,

        ----------  load (dlt)
        cast(_dlt_load_id as varchar) as dlt_load_id

    from source

)

select * from renamed
