{%- set cols = staging_raw_columns('raw_netsuite', 'accountingperiod') -%}

with

source as (

    select * from {{ source('raw_netsuite', 'accountingperiod') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as accounting_period_id,
        cast('netsuite' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'periodname', 'varchar') }} as period_name,

        ----------  booleans
        {{ staging_flag(cols, 'isposting') }} as is_posting,
        {{ staging_flag(cols, 'isquarter') }} as is_quarter,
        {{ staging_flag(cols, 'isyear') }} as is_year,
        {{ staging_flag(cols, 'isadjust') }} as is_adjustment,
        {{ staging_flag(cols, 'closed') }} as is_closed,
        false as is_deleted,

        ----------  dates
        {{ staging_column(cols, 'startdate', 'date') }} as start_date,
        {{ staging_column(cols, 'enddate', 'date') }} as end_date,
        {{ staging_column(cols, 'closedondate', 'date') }} as closed_on_date

    from source

)

select * from renamed
