{%- set cols = staging_raw_columns('raw_certinia', 'pse_assignment_c') -%}

with

source as (

    select * from {{ source('raw_certinia', 'pse_assignment_c') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as assignment_id,
        {{ staging_column(cols, 'pse__project__c', 'varchar') }} as project_id,
        {{ staging_column(cols, 'pse__resource__c', 'varchar') }} as resource_id,
        {{ staging_column(cols, 'pse__rate_card__c', 'varchar') }} as rate_card_id,
        cast('certinia' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'name', 'varchar') }} as assignment_name,
        {{ staging_column(cols, 'pse__role__c', 'varchar') }} as role,
        {{ staging_column(cols, 'pse__status__c', 'varchar') }} as status,
        upper({{ staging_column(cols, 'currency_iso_code', 'varchar') }}) as currency,

        ----------  numerics
        {{ staging_column(cols, 'pse__bill_rate__c', 'decimal(18, 2)') }} as bill_rate,
        {{ staging_column(cols, 'pse__cost_rate_amount__c', 'decimal(18, 2)') }} as cost_rate,
        {{ staging_column(cols, 'pse__scheduled_hours__c', 'decimal(18, 2)') }} as scheduled_hours,

        ----------  booleans
        {{ staging_flag(cols, 'pse__is_billable__c') }} as is_billable,
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
