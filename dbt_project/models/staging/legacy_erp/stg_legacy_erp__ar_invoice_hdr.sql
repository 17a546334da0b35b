{%- set cols = staging_raw_columns('raw_legacy_erp', 'ar_invoice_hdr') -%}

with

source as (

    select * from {{ source('raw_legacy_erp', 'ar_invoice_hdr') }}

),

renamed as (

    select

        ----------  ids
        cast(inv_no as varchar) as legacy_invoice_id,
        {{ staging_column(cols, 'cust_no', 'varchar') }} as legacy_customer_id,
        {{ staging_column(cols, 'entity_cd', 'varchar') }} as legacy_entity_code,
        {{ staging_column(cols, 'psa_be_ref', 'varchar') }} as salesforce_billing_event_id,
        {{ staging_column(cols, 'sf_contract_ref', 'varchar') }} as salesforce_contract_id,
        {{ staging_column(cols, 'project_ref', 'varchar') }} as salesforce_project_id,
        cast('legacy_erp' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'status', 'varchar') }} as status_code,
        case {{ staging_column(cols, 'status', 'varchar') }}
            when 'O' then 'Open'
            when 'P' then 'Paid'
            else {{ staging_column(cols, 'status', 'varchar') }}
        end as status,
        {{ staging_column(cols, 'tax_cd', 'varchar') }} as tax_code,
        upper({{ staging_column(cols, 'curr_cd', 'varchar') }}) as currency,

        ----------  numerics (integer cents -> major units)
        {{ staging_cents_to_major(staging_column(cols, 'net_amt_cents', 'bigint')) }} as net_amount,
        {{ staging_cents_to_major(staging_column(cols, 'tax_amt_cents', 'bigint')) }} as tax_amount,
        {{ staging_cents_to_major(staging_column(cols, 'gross_amt_cents', 'bigint')) }} as gross_amount,
        {{ staging_cents_to_major(staging_column(cols, 'open_amt_cents', 'bigint')) }} as open_amount,

        ----------  booleans (keys deleted in the ERP are removed from the raw table)
        false as is_deleted,

        ----------  dates and timestamps (UTC)
        {{ staging_date(cols, 'inv_dt') }} as invoice_date,
        {{ staging_date(cols, 'due_dt') }} as due_date,
        {{ staging_timestamp(cols, 'last_upd_ts') }} as last_updated_at

    from source

)

select * from renamed
