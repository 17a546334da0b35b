{%- set src = source('raw_netsuite', 'transaction') -%}

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
        {{ source_column(src, 'custbody_q2c_applied_to', 'varchar') }} as applied_to_transaction_id,

        ----------  strings
        type as transaction_type,
        status,

        ----------  numerics (transaction currency)
        {{ source_column(src, 'foreigntotal', 'decimal(18, 2)') }} as total_amount,
        {{ source_column(src, 'foreignamountpaid', 'decimal(18, 2)') }} as amount_paid,
        {{ source_column(src, 'foreignamountunpaid', 'decimal(18, 2)') }} as amount_unpaid,
        {{ source_column(src, 'foreignpaymentamountused', 'decimal(18, 2)') }} as payment_amount_used,
        {{ source_column(src, 'foreignpaymentamountunused', 'decimal(18, 2)') }} as payment_amount_unused,

        ----------  booleans
        false as is_deleted,

        ----------  dates and timestamps (UTC)
        cast(trandate as date) as transaction_date,
        {{ source_column(src, 'duedate', 'date') }} as due_date,
        {{ to_utc_timestamp('createddate') }} as created_at,
        {{ to_utc_timestamp('lastmodifieddate') }} as last_modified_at

    from source

)

select * from renamed
