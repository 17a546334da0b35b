{%- set cols = staging_raw_columns('raw_netsuite', 'account') -%}

with

source as (

    select * from {{ source('raw_netsuite', 'account') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as gl_account_id,
        {{ staging_column(cols, 'acctnumber', 'varchar') }} as account_number,
        cast('netsuite' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'acctname', 'varchar') }} as account_name,
        {{ staging_column(cols, 'accttype', 'varchar') }} as account_type,
        upper({{ staging_column(cols, 'generalrate', 'varchar') }}) as general_rate_type,

        ----------  booleans
        {{ staging_flag(cols, 'isinactive') }} as is_inactive,
        false as is_deleted

    from source

)

select * from renamed
