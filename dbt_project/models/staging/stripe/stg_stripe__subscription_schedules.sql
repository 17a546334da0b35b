{%- set cols = staging_raw_columns('raw_stripe', 'subscription_schedules') -%}

{#-
    `phases` is a JSON list (each phase with its items); the phase columns below describe the first
    phase and its first item. The current phase's dates are flattened columns.
-#}
{%- set phases = staging_column(cols, 'phases', 'varchar') -%}
{%- set currency = staging_json_text(phases, [0, 'currency']) -%}

with

source as (

    select * from {{ source('raw_stripe', 'subscription_schedules') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as stripe_subscription_schedule_id,
        {{ staging_column(cols, 'customer', 'varchar') }} as stripe_customer_id,
        {{ staging_column(cols, 'subscription', 'varchar') }} as stripe_subscription_id,
        {{ staging_column(cols, 'released_subscription', 'varchar') }} as released_stripe_subscription_id,
        {{ staging_column(cols, 'metadata__q2c_renewal_of', 'varchar') }} as renews_stripe_subscription_id,
        {{ staging_column(cols, 'metadata__salesforce_contract_id', 'varchar') }} as salesforce_contract_id,
        {{ staging_column(cols, 'metadata__salesforce_account_id', 'varchar') }} as salesforce_account_id,
        {{ staging_column(cols, 'metadata__legal_entity', 'varchar') }} as legal_entity_id,
        {{ staging_json_text(phases, [0, 'items', 0, 'price']) }} as first_phase_stripe_price_id,
        cast('stripe' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'status', 'varchar') }} as status,
        {{ staging_column(cols, 'end_behavior', 'varchar') }} as end_behavior,
        {{ staging_column(cols, 'default_settings__collection_method', 'varchar') }} as collection_method,
        {{ staging_column(cols, 'billing_mode__type', 'varchar') }} as billing_mode,
        upper({{ currency }}) as currency,
        {{ staging_column(cols, '_stripe_api_version', 'varchar') }} as stripe_api_version,

        ----------  numerics
        cast({{ staging_json_text(phases, [0, 'items', 0, 'quantity']) }} as integer) as first_phase_quantity,
        cast({{ staging_json_text(staging_column(cols, 'default_settings__invoice_settings', 'varchar'), ['days_until_due']) }} as integer) as days_until_due,

        ----------  booleans
        {{ staging_flag(cols, 'livemode') }} as is_livemode,
        -- Schedules are never deleted: they end as completed, released or canceled.
        false as is_deleted,

        ----------  timestamps (UTC)
        {{ from_unix_seconds(staging_column(cols, 'created', 'bigint')) }} as created_at,
        {{ from_unix_seconds(staging_column(cols, 'current_phase__start_date', 'bigint')) }} as current_phase_start_at,
        {{ from_unix_seconds(staging_column(cols, 'current_phase__end_date', 'bigint')) }} as current_phase_end_at,
        {{ from_unix_seconds('cast(' ~ staging_json_text(phases, [0, 'start_date']) ~ ' as bigint)') }} as first_phase_start_at,
        {{ from_unix_seconds('cast(' ~ staging_json_text(phases, [0, 'end_date']) ~ ' as bigint)') }} as first_phase_end_at,
        {{ from_unix_seconds(staging_column(cols, 'canceled_at', 'bigint')) }} as canceled_at,
        {{ from_unix_seconds(staging_column(cols, 'completed_at', 'bigint')) }} as completed_at,
        {{ from_unix_seconds(staging_column(cols, 'released_at', 'bigint')) }} as released_at

    from source

)

select * from renamed
