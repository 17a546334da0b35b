{%- set src = source('raw_salesforce', 'opportunity') -%}
{%- set cols = staging_raw_columns('raw_salesforce', 'opportunity') -%}

with

source as (

    select * from {{ src }}

),

renamed as (

    select

        ----------  ids
        id as opportunity_id,
        account_id,
        {{ staging_column(cols, 'sbqq__primary_quote__c', 'varchar') }} as primary_quote_id,
        {{ staging_column(cols, 'sbqq__amended_contract__c', 'varchar') }} as amended_contract_id,
        cast('salesforce' as varchar) as source_system,

        ----------  strings
        name as opportunity_name,
        stage_name,
        type as opportunity_type,
        {{ staging_column(cols, 'billing_model__c', 'varchar') }} as billing_model,
        upper(currency_iso_code) as currency,

        ----------  numerics
        {{ staging_column(cols, 'amount', 'decimal(18, 2)') }} as amount,
        {{ staging_column(cols, 'probability', 'decimal(5, 2)') }} as probability_pct,

        ----------  booleans
        coalesce(is_closed, false) as is_closed,
        coalesce(is_won, false) as is_won,
        coalesce(pse__is_services_opportunity__c, false) as is_services_opportunity,
        coalesce(is_deleted, false) as is_deleted,

        ----------  dates and timestamps (UTC)
        cast(close_date as date) as close_date,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp

    from source

)

select * from renamed
