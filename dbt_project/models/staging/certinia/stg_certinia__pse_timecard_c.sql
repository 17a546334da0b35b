{%- set src = source('raw_certinia', 'pse_timecard_c') -%}

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

        ----------  strings
        pse__status__c as status,
        upper(currency_iso_code) as currency,

        ----------  numerics
        {{ source_column(src, 'pse__total_hours__c', 'decimal(18, 2)') }} as total_hours,
        {{ source_column(src, 'pse__bill_rate__c', 'decimal(18, 2)') }} as bill_rate,
        {{ source_column(src, 'pse__total_billable_amount__c', 'decimal(18, 2)') }} as total_billable_amount,

        ----------  booleans
        coalesce(pse__billable__c, false) as is_billable,
        coalesce(pse__approved__c, false) as is_approved,
        coalesce(pse__billed__c, false) as is_billed,
        coalesce(is_deleted, false) as is_deleted,

        ----------  dates and timestamps (UTC)
        cast(pse__start_date__c as date) as start_date,
        cast(pse__end_date__c as date) as end_date,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp

    from source

)

select * from renamed
