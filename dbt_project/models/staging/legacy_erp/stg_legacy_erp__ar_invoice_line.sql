{%- set cols = staging_raw_columns('raw_legacy_erp', 'ar_invoice_line') -%}

with

source as (

    select * from {{ source('raw_legacy_erp', 'ar_invoice_line') }}

),

renamed as (

    select

        ----------  ids
        {{ dbt.concat(["cast(inv_no as varchar)", "'#'", "cast(line_no as varchar)"]) }} as legacy_invoice_line_id,
        cast(inv_no as varchar) as legacy_invoice_id,
        cast(line_no as integer) as line_number,
        cast('legacy_erp' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'descr', 'varchar') }} as description,
        {{ staging_column(cols, 'tax_cd', 'varchar') }} as tax_code,

        ----------  numerics (QTY and UNIT_PRICE are two-decimal text in the ERP, LINE_AMT_CENTS cents)
        {{ staging_column(cols, 'qty', 'decimal(18, 4)') }} as quantity,
        {{ staging_column(cols, 'unit_price', 'decimal(18, 2)') }} as unit_price,
        {{ staging_cents_to_major(staging_column(cols, 'line_amt_cents', 'bigint')) }} as line_amount,

        ----------  booleans (keys deleted in the ERP are removed from the raw table)
        false as is_deleted

    from source

)

select * from renamed
