{%- set cols = staging_raw_columns('raw_stripe', 'subscriptions') -%}

{#-
    `items.data` is a JSON list of subscription items; the item columns below describe the first
    one (a q2c subscription has a single item: one price per contract). From 2025-03-31 ("Basil")
    on, the current billing period is on the items, not on the subscription: both are read.
-#}
{%- set items = staging_column(cols, 'items__data', 'varchar') -%}
{%- set currency = staging_column(cols, 'currency', 'varchar') -%}

with

source as (

    select * from {{ source('raw_stripe', 'subscriptions') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as stripe_subscription_id,
        {{ staging_column(cols, 'customer', 'varchar') }} as stripe_customer_id,
        {{ staging_column(cols, 'metadata__salesforce_contract_id', 'varchar') }} as salesforce_contract_id,
        {{ staging_column(cols, 'metadata__salesforce_account_id', 'varchar') }} as salesforce_account_id,
        {{ staging_column(cols, 'metadata__legal_entity', 'varchar') }} as legal_entity_id,
        {{ staging_column(cols, 'latest_invoice', 'varchar') }} as latest_stripe_invoice_id,
        {{ staging_column(cols, 'schedule', 'varchar') }} as stripe_subscription_schedule_id,
        {{ staging_json_text(items, [0, 'id']) }} as stripe_subscription_item_id,
        {{ staging_json_text(items, [0, 'price', 'id']) }} as stripe_price_id,
        {{ staging_json_text(items, [0, 'price', 'product']) }} as stripe_product_id,
        {{ staging_json_text(staging_column(cols, 'default_tax_rates', 'varchar'), [0]) }} as default_stripe_tax_rate_id,
        cast('stripe' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'status', 'varchar') }} as status,
        {{ staging_column(cols, 'collection_method', 'varchar') }} as collection_method,
        upper({{ currency }}) as currency,
        {{ staging_json_text(items, [0, 'price', 'recurring', 'interval']) }} as billing_interval,
        {{ staging_column(cols, '_stripe_api_version', 'varchar') }} as stripe_api_version,

        ----------  numerics (Stripe minor units -> major units)
        cast({{ staging_json_text(items, [0, 'price', 'recurring', 'interval_count']) }} as integer) as billing_interval_count,
        cast({{ staging_json_text(items, [0, 'quantity']) }} as integer) as quantity,
        {{ stripe_minor_to_major('cast(' ~ staging_json_text(items, [0, 'price', 'unit_amount']) ~ ' as bigint)', currency) }} as unit_amount,
        {{ staging_column(cols, 'items__total_count', 'integer') }} as item_count,
        {{ staging_column(cols, 'days_until_due', 'integer') }} as days_until_due,

        ----------  booleans
        {{ staging_flag(cols, 'cancel_at_period_end') }} as is_cancel_at_period_end,
        {{ staging_flag(cols, 'livemode') }} as is_livemode,
        -- Stripe keeps canceled subscriptions (status 'canceled'); nothing is deleted.
        false as is_deleted,

        ----------  timestamps (UTC)
        {{ from_unix_seconds(staging_column(cols, 'created', 'bigint')) }} as created_at,
        {{ from_unix_seconds(staging_column(cols, 'start_date', 'bigint')) }} as started_at,
        {{ from_unix_seconds(staging_column(cols, 'billing_cycle_anchor', 'bigint')) }} as billing_cycle_anchor_at,
        {{ from_unix_seconds('coalesce(cast(' ~ staging_json_text(items, [0, 'current_period_start']) ~ ' as bigint), '
                             ~ staging_column(cols, 'current_period_start', 'bigint') ~ ')') }} as current_period_start_at,
        {{ from_unix_seconds('coalesce(cast(' ~ staging_json_text(items, [0, 'current_period_end']) ~ ' as bigint), '
                             ~ staging_column(cols, 'current_period_end', 'bigint') ~ ')') }} as current_period_end_at,
        {{ from_unix_seconds(staging_column(cols, 'cancel_at', 'bigint')) }} as cancel_at,
        {{ from_unix_seconds(staging_column(cols, 'canceled_at', 'bigint')) }} as canceled_at,
        {{ from_unix_seconds(staging_column(cols, 'ended_at', 'bigint')) }} as ended_at,
        {{ from_unix_seconds(staging_column(cols, 'trial_start', 'bigint')) }} as trial_start_at,
        {{ from_unix_seconds(staging_column(cols, 'trial_end', 'bigint')) }} as trial_end_at

    from source

)

select * from renamed
