{%- set cols = staging_raw_columns('raw_stripe', 'invoice_payments') -%}

with

source as (

    select * from {{ source('raw_stripe', 'invoice_payments') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as stripe_invoice_payment_id,
        {{ staging_column(cols, 'invoice', 'varchar') }} as stripe_invoice_id,
        {{ staging_column(cols, 'payment__payment_intent', 'varchar') }} as stripe_payment_intent_id,
        {{ staging_column(cols, 'payment__charge', 'varchar') }} as stripe_charge_id,
        cast('stripe' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'status', 'varchar') }} as status,
        {{ staging_column(cols, 'payment__type', 'varchar') }} as payment_type,
        upper({{ staging_column(cols, 'currency', 'varchar') }}) as currency,
        {{ staging_column(cols, '_stripe_api_version', 'varchar') }} as stripe_api_version,

        ----------  numerics (Stripe minor units -> major units)
        {{ stripe_minor_to_major(staging_column(cols, 'amount_paid', 'bigint'), staging_column(cols, 'currency', 'varchar')) }} as amount_paid,
        {{ stripe_minor_to_major(staging_column(cols, 'amount_requested', 'bigint'), staging_column(cols, 'currency', 'varchar')) }} as amount_requested,

        ----------  booleans
        {{ staging_flag(cols, 'is_default') }} as is_default,
        {{ staging_flag(cols, 'livemode') }} as is_livemode,
        -- Invoice payments are never deleted (a failed or canceled attempt keeps its status).
        false as is_deleted,

        ----------  timestamps (UTC)
        {{ from_unix_seconds(staging_column(cols, 'created', 'bigint')) }} as created_at,
        {{ from_unix_seconds(staging_column(cols, 'status_transitions__paid_at', 'bigint')) }} as paid_at,
        {{ from_unix_seconds(staging_column(cols, 'status_transitions__canceled_at', 'bigint')) }} as canceled_at

    from source

)

select * from renamed
