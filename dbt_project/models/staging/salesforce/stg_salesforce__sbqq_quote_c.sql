{%- set cols = staging_raw_columns('raw_salesforce', 'sbqq_quote_c') -%}

with

source as (

    select * from {{ source('raw_salesforce', 'sbqq_quote_c') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as quote_id,
        {{ staging_column(cols, 'name', 'varchar') }} as quote_number,
        {{ staging_column(cols, 'sbqq__account__c', 'varchar') }} as account_id,
        {{ staging_column(cols, 'sbqq__opportunity2__c', 'varchar') }} as opportunity_id,
        {{ staging_column(cols, 'sbqq__master_contract__c', 'varchar') }} as master_contract_id,
        cast('salesforce' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'sbqq__status__c', 'varchar') }} as status,
        {{ staging_column(cols, 'sbqq__type__c', 'varchar') }} as quote_type,
        {{ staging_column(cols, 'billing_model__c', 'varchar') }} as billing_model,
        {{ staging_column(cols, 'sbqq__billing_frequency__c', 'varchar') }} as billing_frequency,
        {{ staging_column(cols, 'sbqq__payment_terms__c', 'varchar') }} as payment_terms,
        upper({{ staging_column(cols, 'currency_iso_code', 'varchar') }}) as currency,

        ----------  numerics
        {{ staging_column(cols, 'sbqq__net_amount__c', 'decimal(18, 2)') }} as net_amount,
        {{ staging_column(cols, 'sbqq__customer_amount__c', 'decimal(18, 2)') }} as customer_amount,
        {{ staging_column(cols, 'sbqq__subscription_term__c', 'integer') }} as subscription_term_months,
        {{ staging_column(cols, 'contract_version__c', 'integer') }} as contract_version,

        ----------  booleans
        {{ staging_flag(cols, 'sbqq__primary__c') }} as is_primary,
        coalesce(is_deleted, false) as is_deleted,

        ----------  dates and timestamps (UTC)
        {{ staging_column(cols, 'sbqq__start_date__c', 'date') }} as start_date,
        {{ staging_column(cols, 'sbqq__end_date__c', 'date') }} as end_date,
        {{ staging_column(cols, 'sbqq__expiration_date__c', 'date') }} as expiration_date,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp

    from source

)

select * from renamed
