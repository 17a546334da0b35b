{%- set cols = staging_raw_columns('raw_stripe', 'invoiceitems') -%}

{#-
    Both payload shapes, Basil (2025-03-31) fields first: `parent.subscription_details`
    (JSON text) over the flat `subscription` / `subscription_item`, `pricing.price_details`
    (JSON text) and `pricing.unit_amount_decimal` over `price` (JSON text), `unit_amount_decimal`
    and `unit_amount`. Flattened `parent__subscription_details__*` / `pricing__price_details__*` /
    `price__*` columns (dlt's default normaliser) are read too.
-#}
{%- set basil_subscription = staging_column(cols, 'parent__subscription_details', 'varchar') -%}
{%- set basil_price = staging_column(cols, 'pricing__price_details', 'varchar') -%}
{%- set legacy_price = staging_column(cols, 'price', 'varchar') -%}
{%- set api_version = staging_column(cols, '_stripe_api_version', 'varchar') -%}
{%- set currency = staging_column(cols, 'currency', 'varchar') -%}

with

source as (

    select * from {{ source('raw_stripe', 'invoiceitems') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as stripe_invoice_item_id,
        {{ staging_column(cols, 'invoice', 'varchar') }} as stripe_invoice_id,
        {{ staging_column(cols, 'customer', 'varchar') }} as stripe_customer_id,
        coalesce(
            {{ staging_json_text(basil_subscription, ['subscription']) }},
            {{ staging_column(cols, 'parent__subscription_details__subscription', 'varchar') }},
            {{ staging_column(cols, 'subscription', 'varchar') }}
        ) as stripe_subscription_id,
        coalesce(
            {{ staging_json_text(basil_subscription, ['subscription_item']) }},
            {{ staging_column(cols, 'parent__subscription_details__subscription_item', 'varchar') }},
            {{ staging_column(cols, 'subscription_item', 'varchar') }}
        ) as stripe_subscription_item_id,
        coalesce(
            {{ staging_json_text(basil_price, ['price']) }},
            {{ staging_column(cols, 'pricing__price_details__price', 'varchar') }},
            {{ staging_json_text(legacy_price, ['id']) }},
            {{ staging_column(cols, 'price__id', 'varchar') }}
        ) as stripe_price_id,
        coalesce(
            {{ staging_json_text(basil_price, ['product']) }},
            {{ staging_column(cols, 'pricing__price_details__product', 'varchar') }},
            {{ staging_json_text(legacy_price, ['product']) }},
            {{ staging_column(cols, 'price__product', 'varchar') }}
        ) as stripe_product_id,
        {{ staging_column(cols, 'metadata__q2c_external_id', 'varchar') }} as q2c_external_id,
        cast('stripe' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'description', 'varchar') }} as description,
        upper({{ currency }}) as currency,
        coalesce(
            {{ staging_column(cols, 'parent__type', 'varchar') }},
            case when {{ staging_column(cols, 'subscription', 'varchar') }} is not null then 'subscription_details' end
        ) as parent_type,
        {{ api_version }} as stripe_api_version,
        case
            when {{ api_version }} is not null
                then case when {{ api_version }} >= '2025-03-31' then 'basil' else 'pre_basil' end
            when {{ legacy_price }} is not null
                or {{ staging_column(cols, 'subscription', 'varchar') }} is not null
                or {{ staging_column(cols, 'unit_amount', 'bigint') }} is not null
                then 'pre_basil'
            else 'basil'
        end as payload_shape,

        ----------  numerics (Stripe minor units -> major units)
        {{ stripe_minor_to_major(staging_column(cols, 'amount', 'bigint'), currency) }} as amount,
        {{ stripe_minor_to_major(
            'coalesce('
                ~ staging_column(cols, 'pricing__unit_amount_decimal', 'decimal(18, 4)') ~ ', '
                ~ staging_column(cols, 'unit_amount_decimal', 'decimal(18, 4)') ~ ', '
                ~ staging_column(cols, 'unit_amount', 'decimal(18, 4)')
                ~ ')',
            currency) }} as unit_amount,
        {{ staging_column(cols, 'quantity', 'integer') }} as quantity,

        ----------  booleans
        {{ staging_flag(cols, 'discountable') }} as is_discountable,
        {{ staging_flag(cols, 'proration') }} as is_proration,
        {{ staging_flag(cols, 'livemode') }} as is_livemode,
        {{ staging_flag(cols, 'deleted') }} as is_deleted,

        ----------  timestamps (UTC)
        {{ from_unix_seconds(staging_column(cols, 'created', 'bigint')) }} as created_at,
        {{ from_unix_seconds(staging_column(cols, 'date', 'bigint')) }} as invoice_item_date_at,
        {{ from_unix_seconds(staging_column(cols, 'period__start', 'bigint')) }} as period_start_at,
        {{ from_unix_seconds(staging_column(cols, 'period__end', 'bigint')) }} as period_end_at

    from source

)

select * from renamed
