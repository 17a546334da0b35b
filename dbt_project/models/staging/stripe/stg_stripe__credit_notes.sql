{%- set cols = staging_raw_columns('raw_stripe', 'credit_notes') -%}

{#-
    Credit notes, Basil (2025-03-31) shape: taxes in `total_taxes`, refunds in `refunds` (JSON lists).
    Before Basil they were `tax_amounts` and a single `refund` id: read as fallbacks when present.
-#}
{%- set currency = staging_column(cols, 'currency', 'varchar') -%}
{%- set basil_taxes = staging_column(cols, 'total_taxes', 'varchar') -%}
{%- set legacy_taxes = staging_column(cols, 'tax_amounts', 'varchar') -%}
{%- set refunds = staging_column(cols, 'refunds', 'varchar') -%}

with

source as (

    select * from {{ source('raw_stripe', 'credit_notes') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as stripe_credit_note_id,
        {{ staging_column(cols, 'number', 'varchar') }} as credit_note_number,
        {{ staging_column(cols, 'invoice', 'varchar') }} as stripe_invoice_id,
        {{ staging_column(cols, 'customer', 'varchar') }} as stripe_customer_id,
        {{ staging_column(cols, 'metadata__salesforce_contract_id', 'varchar') }} as salesforce_contract_id,
        {{ staging_column(cols, 'metadata__legal_entity', 'varchar') }} as legal_entity_id,
        coalesce(
            {{ staging_json_text(refunds, [0, 'refund']) }},
            {{ staging_column(cols, 'refund', 'varchar') }}
        ) as stripe_refund_id,
        cast('stripe' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'status', 'varchar') }} as status,
        {{ staging_column(cols, 'type', 'varchar') }} as credit_note_type,
        {{ staging_column(cols, 'reason', 'varchar') }} as reason,
        {{ staging_column(cols, 'memo', 'varchar') }} as memo,
        upper({{ currency }}) as currency,
        {{ staging_column(cols, '_stripe_api_version', 'varchar') }} as stripe_api_version,

        ----------  numerics (Stripe minor units -> major units)
        {{ stripe_minor_to_major(staging_column(cols, 'amount', 'bigint'), currency) }} as amount,
        {{ stripe_minor_to_major(staging_column(cols, 'subtotal', 'bigint'), currency) }} as subtotal_amount,
        {{ stripe_minor_to_major(staging_column(cols, 'subtotal_excluding_tax', 'bigint'), currency) }} as subtotal_excluding_tax_amount,
        {{ stripe_minor_to_major(staging_column(cols, 'total', 'bigint'), currency) }} as total_amount,
        {{ stripe_minor_to_major(staging_column(cols, 'total_excluding_tax', 'bigint'), currency) }} as total_excluding_tax_amount,
        {{ stripe_minor_to_major(
            'coalesce('
                ~ staging_json_array_sum(basil_taxes, 'amount') ~ ', '
                ~ staging_json_array_sum(legacy_taxes, 'amount') ~ ', '
                ~ staging_column(cols, 'total', 'bigint') ~ ' - ' ~ staging_column(cols, 'total_excluding_tax', 'bigint')
                ~ ')',
            currency) }} as tax_amount,
        {{ stripe_minor_to_major(staging_column(cols, 'discount_amount', 'bigint'), currency) }} as discount_amount,
        {{ stripe_minor_to_major(staging_column(cols, 'amount_shipping', 'bigint'), currency) }} as shipping_amount,
        {{ stripe_minor_to_major(staging_column(cols, 'pre_payment_amount', 'bigint'), currency) }} as pre_payment_amount,
        {{ stripe_minor_to_major(staging_column(cols, 'post_payment_amount', 'bigint'), currency) }} as post_payment_amount,
        {{ stripe_minor_to_major(staging_column(cols, 'out_of_band_amount', 'bigint'), currency) }} as out_of_band_amount,
        {{ stripe_minor_to_major(staging_json_array_sum(refunds, 'amount_refunded'), currency) }} as refunded_amount,
        {{ staging_column(cols, 'lines__total_count', 'integer') }} as line_count,

        ----------  booleans
        {{ staging_flag(cols, 'livemode') }} as is_livemode,
        -- Credit notes are never deleted: a voided one keeps status 'void' (voided_at).
        false as is_deleted,

        ----------  timestamps (UTC)
        {{ from_unix_seconds(staging_column(cols, 'created', 'bigint')) }} as created_at,
        {{ from_unix_seconds(staging_column(cols, 'effective_at', 'bigint')) }} as effective_at,
        {{ from_unix_seconds(staging_column(cols, 'voided_at', 'bigint')) }} as voided_at

    from source

)

select * from renamed
