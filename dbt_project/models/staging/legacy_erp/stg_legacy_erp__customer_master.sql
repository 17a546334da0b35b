{%- set cols = staging_raw_columns('raw_legacy_erp', 'customer_master') -%}

with

source as (

    select * from {{ source('raw_legacy_erp', 'customer_master') }}

),

renamed as (

    select

        ----------  ids
        cast(cust_no as varchar) as legacy_customer_id,
        {{ staging_column(cols, 'sf_acct_ref', 'varchar') }} as salesforce_account_id,
        {{ staging_column(cols, 'entity_cd', 'varchar') }} as legacy_entity_code,
        cast('legacy_erp' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'cust_name', 'varchar') }} as customer_name,
        upper({{ staging_column(cols, 'country_cd', 'varchar') }}) as country_code,
        upper({{ staging_column(cols, 'currency_cd', 'varchar') }}) as currency,
        {{ staging_column(cols, 'status_cd', 'varchar') }} as status_code,

        ----------  booleans (keys deleted in the ERP are removed from the raw table)
        false as is_deleted,

        ----------  dates and timestamps (UTC)
        {{ staging_date(cols, 'created_dt') }} as created_date,
        {{ staging_timestamp(cols, 'last_upd_ts') }} as last_updated_at

    from source

)

select * from renamed
