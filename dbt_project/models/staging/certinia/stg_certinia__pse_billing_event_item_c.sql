{%- set cols = staging_raw_columns('raw_certinia', 'pse_billing_event_item_c') -%}

with

source as (

    select * from {{ source('raw_certinia', 'pse_billing_event_item_c') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as billing_event_item_id,
        {{ staging_column(cols, 'name', 'varchar') }} as billing_event_item_number,
        {{ staging_column(cols, 'pse__billing_event__c', 'varchar') }} as billing_event_id,
        {{ staging_column(cols, 'pse__project__c', 'varchar') }} as project_id,
        {{ staging_column(cols, 'pse__timecard_split__c', 'varchar') }} as timecard_id,
        {{ staging_column(cols, 'pse__expense__c', 'varchar') }} as expense_id,
        {{ staging_column(cols, 'pse__milestone__c', 'varchar') }} as milestone_id,
        {{ staging_column(cols, 'pse__object_id__c', 'varchar') }} as billed_object_id,
        cast('certinia' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'pse__category__c', 'varchar') }} as category,
        {{ staging_column(cols, 'pse__description__c', 'varchar') }} as description,
        upper({{ staging_column(cols, 'currency_iso_code', 'varchar') }}) as currency,

        ----------  numerics
        {{ staging_column(cols, 'pse__quantity__c', 'decimal(18, 4)') }} as quantity,
        {{ staging_column(cols, 'pse__unit_price__c', 'decimal(18, 2)') }} as unit_price,
        {{ staging_column(cols, 'pse__amount__c', 'decimal(18, 2)') }} as amount,

        ----------  booleans
        coalesce(is_deleted, false) as is_deleted,

        ----------  dates and timestamps (UTC)
        {{ staging_column(cols, 'pse__date__c', 'date') }} as item_date,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp,

        ----------  load (dlt)
        cast(_dlt_load_id as varchar) as dlt_load_id

    from source

)

select * from renamed
