{%- set cols = staging_raw_columns('raw_salesforce', 'erp_invoice_c') -%}

with

source as (

    select * from {{ source('raw_salesforce', 'erp_invoice_c') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as crm_invoice_id,
        {{ staging_column(cols, 'erp_invoice_id__c', 'varchar') }} as erp_invoice_id,
        {{ staging_column(cols, 'name', 'varchar') }} as invoice_number,
        {{ staging_column(cols, 'account__c', 'varchar') }} as account_id,
        {{ staging_column(cols, 'contract__c', 'varchar') }} as contract_id,
        {{ staging_column(cols, 'billing_event__c', 'varchar') }} as billing_event_id,
        cast('salesforce' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'source_system__c', 'varchar') }} as erp_system,
        {{ staging_column(cols, 'status__c', 'varchar') }} as status,
        upper({{ staging_column(cols, 'currency_iso_code', 'varchar') }}) as currency,

        ----------  numerics
        {{ staging_column(cols, 'total_amount__c', 'decimal(18, 2)') }} as total_amount,
        {{ staging_column(cols, 'amount_paid__c', 'decimal(18, 2)') }} as amount_paid,

        ----------  booleans
        coalesce(is_deleted, false) as is_deleted,

        ----------  dates and timestamps (UTC)
        {{ staging_column(cols, 'invoice_date__c', 'date') }} as invoice_date,
        {{ staging_column(cols, 'due_date__c', 'date') }} as due_date,
        {{ to_utc_timestamp(staging_column(cols, 'last_synced__c', 'timestamptz')) }} as last_synced_at,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp

    from source

)

select * from renamed
