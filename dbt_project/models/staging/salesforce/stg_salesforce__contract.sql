{%- set src = source('raw_salesforce', 'contract') -%}
{%- set cols = staging_raw_columns('raw_salesforce', 'contract') -%}

with

source as (

    select * from {{ src }}

),

renamed as (

    select

        ----------  ids
        id as contract_id,
        account_id,
        sbqq__opportunity__c as opportunity_id,
        legal_entity__c as legal_entity_id,
        contract_number,
        {{ staging_column(cols, 'sbqq__quote__c', 'varchar') }} as quote_id,
        cast('salesforce' as varchar) as source_system,

        ----------  strings
        status,
        billing_model__c as billing_model,
        billing_frequency__c as billing_frequency,
        {{ staging_column(cols, 'payment_terms__c', 'varchar') }} as payment_terms,
        upper(currency_iso_code) as currency,

        ----------  numerics
        {{ staging_column(cols, 'contract_term', 'integer') }} as term_months,
        {{ staging_column(cols, 'contract_amount__c', 'decimal(18, 2)') }} as contract_amount,
        {{ staging_column(cols, 'contract_version__c', 'integer') }} as contract_version,

        ----------  booleans
        coalesce(is_deleted, false) as is_deleted,

        ----------  dates and timestamps (UTC)
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        {{ to_utc_timestamp(staging_column(cols, 'activated_date', 'timestamptz')) }} as activated_at,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp

    from source

)

select * from renamed
