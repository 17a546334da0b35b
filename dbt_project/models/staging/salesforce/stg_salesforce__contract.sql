{%- set src = source('raw_salesforce', 'contract') -%}

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

        ----------  strings
        status,
        billing_model__c as billing_model,
        billing_frequency__c as billing_frequency,
        upper(currency_iso_code) as currency,

        ----------  numerics
        {{ source_column(src, 'contract_term', 'integer') }} as term_months,
        {{ source_column(src, 'contract_amount__c', 'decimal(18, 2)') }} as contract_amount,

        ----------  booleans
        coalesce(is_deleted, false) as is_deleted,

        ----------  dates and timestamps (UTC)
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        {{ to_utc_timestamp(source_column(src, 'activated_date', 'timestamptz')) }} as activated_at,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp

    from source

)

select * from renamed
