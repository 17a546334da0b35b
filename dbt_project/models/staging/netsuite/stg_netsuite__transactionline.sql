{%- set cols = staging_raw_columns('raw_netsuite', 'transactionline') -%}

with

source as (

    select * from {{ source('raw_netsuite', 'transactionline') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as transaction_line_id,
        {{ staging_column(cols, 'transaction', 'varchar') }} as transaction_id,
        {{ staging_column(cols, 'account', 'varchar') }} as gl_account_id,
        {{ staging_column(cols, 'taxcode', 'varchar') }} as tax_item_id,
        {{ staging_column(cols, 'subsidiary', 'varchar') }} as subsidiary_id,
        cast('netsuite' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'memo', 'varchar') }} as memo,

        ----------  numerics (transaction currency)
        {{ staging_column(cols, 'linesequencenumber', 'integer') }} as line_sequence_number,
        {{ staging_column(cols, 'quantity', 'decimal(18, 4)') }} as quantity,
        {{ staging_column(cols, 'rate', 'decimal(18, 2)') }} as rate,
        {{ staging_column(cols, 'foreignamount', 'decimal(18, 2)') }} as amount,

        ----------  booleans
        {{ staging_flag(cols, 'mainline') }} as is_main_line,
        {{ staging_flag(cols, 'taxline') }} as is_tax_line,
        false as is_deleted,

        ----------  timestamps (UTC)
        {{ to_utc_timestamp(staging_column(cols, 'linelastmodifieddate', 'timestamptz')) }} as last_modified_at

    from source

)

select * from renamed
