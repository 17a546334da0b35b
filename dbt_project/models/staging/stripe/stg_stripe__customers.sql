{%- set src = source('raw_stripe', 'customers') -%}
{%- set cols = staging_raw_columns('raw_stripe', 'customers') -%}

with

source as (

    select * from {{ src }}

),

renamed as (

    select

        ----------  ids
        id as stripe_customer_id,
        metadata__salesforce_account_id as salesforce_account_id,
        metadata__legal_entity as legal_entity_id,
        {{ staging_column(cols, 'invoice_settings__default_payment_method', 'varchar') }} as default_payment_method_id,
        {{ staging_column(cols, 'default_source', 'varchar') }} as default_source_id,
        cast('stripe' as varchar) as source_system,

        ----------  strings
        name as customer_name,
        email,
        {{ staging_column(cols, 'phone', 'varchar') }} as phone,
        {{ staging_column(cols, 'description', 'varchar') }} as description,
        {{ staging_column(cols, 'tax_exempt', 'varchar') }} as tax_exempt,
        {{ staging_column(cols, 'invoice_prefix', 'varchar') }} as invoice_prefix,
        {{ staging_column(cols, 'address__line1', 'varchar') }} as address_line1,
        {{ staging_column(cols, 'address__line2', 'varchar') }} as address_line2,
        {{ staging_column(cols, 'address__city', 'varchar') }} as address_city,
        upper({{ staging_column(cols, 'address__state', 'varchar') }}) as address_state,
        {{ staging_column(cols, 'address__postal_code', 'varchar') }} as address_postal_code,
        upper({{ staging_column(cols, 'address__country', 'varchar') }}) as address_country,
        {{ staging_column(cols, '_stripe_api_version', 'varchar') }} as stripe_api_version,
        upper(currency) as currency,

        ----------  numerics (Stripe minor units -> major units)
        {{ stripe_minor_to_major('balance', 'currency') }} as balance,

        ----------  booleans
        coalesce(delinquent, false) as is_delinquent,
        coalesce(livemode, false) as is_livemode,
        {{ staging_flag(cols, 'deleted') }} as is_deleted,

        ----------  timestamps (UTC)
        {{ from_unix_seconds('created') }} as created_at

    from source

)

select * from renamed
