{%- set cols = staging_raw_columns('raw_certinia', 'pse_proj_c') -%}

with

source as (

    select * from {{ source('raw_certinia', 'pse_proj_c') }}

),

renamed as (

    select

        ----------  ids
        id as project_id,
        pse__project_id__c as project_number,
        pse__account__c as account_id,
        pse__opportunity__c as opportunity_id,
        legal_entity__c as legal_entity_id,
        {{ staging_column(cols, 'contract__c', 'varchar') }} as contract_id,
        {{ staging_column(cols, 'pse__project_manager__c', 'varchar') }} as project_manager_id,
        cast('certinia' as varchar) as source_system,

        ----------  strings
        name as project_name,
        pse__billing_type__c as billing_type,
        pse__stage__c as stage,
        {{ staging_column(cols, 'pse__project_type__c', 'varchar') }} as project_type,
        {{ staging_column(cols, 'tax_nexus__c', 'varchar') }} as tax_nexus,
        upper(currency_iso_code) as currency,

        ----------  booleans
        coalesce(pse__is_active__c, false) as is_active,
        coalesce(pse__is_billable__c, false) as is_billable,
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
