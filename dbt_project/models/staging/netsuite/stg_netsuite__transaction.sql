{%- set src = source('raw_netsuite', 'transaction') -%}
{%- set cols = staging_raw_columns('raw_netsuite', 'transaction') -%}

with

source as (

    select * from {{ src }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as transaction_id,
        tranid as transaction_number,
        cast(entity as varchar) as netsuite_customer_id,
        cast(subsidiary as varchar) as subsidiary_id,
        cast(currency as varchar) as currency_id,
        custbody_q2c_sf_contract_id as salesforce_contract_id,
        custbody_q2c_sf_project_id as salesforce_project_id,
        {{ staging_column(cols, 'custbody_q2c_applied_to', 'varchar') }} as applied_to_transaction_id,
        {{ staging_column(cols, 'custbody_q2c_billing_event_id', 'varchar') }} as salesforce_billing_event_id,
        {{ staging_column(cols, 'postingperiod', 'varchar') }} as accounting_period_id,
        {{ staging_column(cols, 'terms', 'varchar') }} as term_id,
        {{ staging_column(cols, 'otherrefnum', 'varchar') }} as customer_reference,
        cast('netsuite' as varchar) as source_system,

        ----------  strings
        type as transaction_type,
        status,
        {{ staging_column(cols, 'memo', 'varchar') }} as memo,

        ----------  numerics (transaction currency)
        {{ staging_column(cols, 'foreigntotal', 'decimal(18, 2)') }} as total_amount,
        {{ staging_column(cols, 'foreignamountpaid', 'decimal(18, 2)') }} as amount_paid,
        {{ staging_column(cols, 'foreignamountunpaid', 'decimal(18, 2)') }} as amount_unpaid,
        {{ staging_column(cols, 'foreignpaymentamountused', 'decimal(18, 2)') }} as payment_amount_used,
        {{ staging_column(cols, 'foreignpaymentamountunused', 'decimal(18, 2)') }} as payment_amount_unused,
        {{ staging_column(cols, 'taxtotal', 'decimal(18, 2)') }} as tax_amount,
        {{ staging_column(cols, 'exchangerate', 'decimal(18, 8)') }} as exchange_rate,

        ----------  booleans
        false as is_deleted,

        ----------  dates and timestamps (UTC)
        cast(trandate as date) as transaction_date,
        {{ staging_column(cols, 'duedate', 'date') }} as due_date,
        {{ staging_column(cols, 'closedate', 'date') }} as close_date,
        {{ to_utc_timestamp('createddate') }} as created_at,
        {{ to_utc_timestamp('lastmodifieddate') }} as last_modified_at

    from source

)

select * from renamed
