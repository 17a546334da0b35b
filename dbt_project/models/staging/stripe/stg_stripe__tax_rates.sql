{%- set cols = staging_raw_columns('raw_stripe', 'tax_rates') -%}

with

source as (

    select * from {{ source('raw_stripe', 'tax_rates') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as stripe_tax_rate_id,
        {{ staging_column(cols, 'metadata__netsuite_tax_code', 'varchar') }} as netsuite_tax_code,
        cast('stripe' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'display_name', 'varchar') }} as display_name,
        {{ staging_column(cols, 'description', 'varchar') }} as description,
        {{ staging_column(cols, 'jurisdiction', 'varchar') }} as jurisdiction,
        upper({{ staging_column(cols, 'country', 'varchar') }}) as country,
        upper({{ staging_column(cols, 'state', 'varchar') }}) as state,
        {{ staging_column(cols, 'tax_type', 'varchar') }} as tax_type,
        {{ staging_column(cols, '_stripe_api_version', 'varchar') }} as stripe_api_version,

        ----------  numerics
        {{ staging_column(cols, 'percentage', 'decimal(9, 4)') }} as percentage,
        {{ staging_column(cols, 'effective_percentage', 'decimal(9, 4)') }} as effective_percentage,

        ----------  booleans
        {{ staging_flag(cols, 'inclusive') }} as is_inclusive,
        {{ staging_flag(cols, 'active') }} as is_active,
        {{ staging_flag(cols, 'livemode') }} as is_livemode,
        -- Tax rates cannot be deleted in Stripe, only archived (`active = false`).
        false as is_deleted,

        ----------  timestamps (UTC)
        {{ from_unix_seconds(staging_column(cols, 'created', 'bigint')) }} as created_at

    from source

)

select * from renamed
