{%- set cols = staging_raw_columns('raw_legacy_erp', 'ar_receipt') -%}

with

source as (

    select * from {{ source('raw_legacy_erp', 'ar_receipt') }}

),

renamed as (

    select

        ----------  ids
        cast(rcpt_no as varchar) as legacy_receipt_id,
        {{ staging_column(cols, 'cust_no', 'varchar') }} as legacy_customer_id,
        {{ staging_column(cols, 'applied_inv_no', 'varchar') }} as applied_legacy_invoice_id,
        {{ staging_column(cols, 'entity_cd', 'varchar') }} as legacy_entity_code,
        cast('legacy_erp' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'bank_ref', 'varchar') }} as bank_reference,
        upper({{ staging_column(cols, 'curr_cd', 'varchar') }}) as currency,

        ----------  numerics (RCPT_AMT is two-decimal text in major units in the ERP)
        {{ staging_column(cols, 'rcpt_amt', 'decimal(18, 2)') }} as receipt_amount,

        ----------  booleans (keys deleted in the ERP are removed from the raw table)
        false as is_deleted,

        ----------  dates and timestamps (UTC)
        {{ staging_date(cols, 'rcpt_dt') }} as receipt_date,
        {{ staging_timestamp(cols, 'last_upd_ts') }} as last_updated_at

    from source

)

select * from renamed
