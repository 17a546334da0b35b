{%- set src = source('raw_stripe', 'invoices') -%}
{%- set cols = staging_raw_columns('raw_stripe', 'invoices') -%}

{#-
    One output shape for both invoice payloads the table holds (the API version a row was
    rendered in is in `_stripe_api_version`):

    - from 2025-03-31 ("Basil") on: `parent.type` + `parent.subscription_details` /
      `parent.quote_details` (JSON text), `total_taxes` (JSON list), `amount_overpaid`,
      payments in the separate invoice_payments table;
    - before: flat `subscription`, `subscription_details.metadata` (JSON text), `quote`,
      `charge`, `payment_intent`, `paid`, `tax`, `total_tax_amounts` (JSON list).

    Each output column takes the Basil field first and falls back to the older one. dlt's
    default normaliser (no column contract) flattens `parent.subscription_details` into
    `parent__subscription_details__*` columns instead of JSON: those are read too.
-#}
{%- set basil_subscription = staging_column(cols, 'parent__subscription_details', 'varchar') -%}
{%- set basil_quote = staging_column(cols, 'parent__quote_details', 'varchar') -%}
{%- set legacy_subscription_metadata = staging_column(cols, 'subscription_details__metadata', 'varchar') -%}
{%- set basil_taxes = staging_column(cols, 'total_taxes', 'varchar') -%}
{%- set legacy_taxes = staging_column(cols, 'total_tax_amounts', 'varchar') -%}
{%- set api_version = staging_column(cols, '_stripe_api_version', 'varchar') -%}

{#- The subscription's metadata (CRM contract and account, legal entity), Basil first. -#}
{%- set subscription_metadata = {} -%}
{%- for key in ['salesforce_contract_id', 'salesforce_account_id', 'legal_entity'] -%}
    {%- do subscription_metadata.update({key: 'coalesce('
        ~ staging_json_text(basil_subscription, ['metadata', key]) ~ ', '
        ~ staging_column(cols, 'parent__subscription_details__metadata__' ~ key, 'varchar') ~ ', '
        ~ staging_json_text(legacy_subscription_metadata, [key]) ~ ')'}) -%}
{%- endfor %}

with

source as (

    select * from {{ src }}

),

renamed as (

    select

        ----------  ids
        id as stripe_invoice_id,
        number as invoice_number,
        customer as stripe_customer_id,
        metadata__salesforce_contract_id as salesforce_contract_id,
        metadata__salesforce_project_id as salesforce_project_id,
        metadata__legal_entity as legal_entity_id,
        coalesce(
            {{ staging_json_text(basil_subscription, ['subscription']) }},
            {{ staging_column(cols, 'parent__subscription_details__subscription', 'varchar') }},
            {{ staging_column(cols, 'subscription', 'varchar') }}
        ) as stripe_subscription_id,
        coalesce(
            {{ staging_json_text(basil_quote, ['quote']) }},
            {{ staging_column(cols, 'parent__quote_details__quote', 'varchar') }},
            {{ staging_column(cols, 'quote', 'varchar') }}
        ) as stripe_quote_id,
        {{ subscription_metadata['salesforce_contract_id'] }} as subscription_salesforce_contract_id,
        {{ subscription_metadata['salesforce_account_id'] }} as subscription_salesforce_account_id,
        {{ subscription_metadata['legal_entity'] }} as subscription_legal_entity_id,
        coalesce(
            {{ staging_json_text(basil_taxes, [0, 'tax_rate_details', 'tax_rate']) }},
            {{ staging_json_text(legacy_taxes, [0, 'tax_rate']) }}
        ) as stripe_tax_rate_id,
        {{ staging_column(cols, 'charge', 'varchar') }} as stripe_charge_id,
        {{ staging_column(cols, 'payment_intent', 'varchar') }} as stripe_payment_intent_id,
        cast('stripe' as varchar) as source_system,

        ----------  strings
        status,
        collection_method,
        billing_reason,
        upper(currency) as currency,
        {{ staging_column(cols, 'description', 'varchar') }} as description,
        coalesce(
            {{ staging_column(cols, 'parent__type', 'varchar') }},
            case
                when {{ staging_column(cols, 'subscription', 'varchar') }} is not null then 'subscription_details'
                when {{ staging_column(cols, 'quote', 'varchar') }} is not null then 'quote_details'
            end
        ) as parent_type,
        {{ staging_column(cols, 'hosted_invoice_url', 'varchar') }} as hosted_invoice_url,
        {{ api_version }} as stripe_api_version,
        case
            when {{ api_version }} is not null
                then case when {{ api_version }} >= '2025-03-31' then 'basil' else 'pre_basil' end
            when {{ staging_column(cols, 'paid', 'boolean') }} is not null
                or {{ staging_column(cols, 'subscription', 'varchar') }} is not null
                or {{ legacy_taxes }} is not null
                then 'pre_basil'
            else 'basil'
        end as payload_shape,

        ----------  numerics (Stripe minor units -> major units)
        {{ stripe_minor_to_major('subtotal', 'currency') }} as subtotal_amount,
        {{ stripe_minor_to_major('total', 'currency') }} as total_amount,
        {{ stripe_minor_to_major('amount_due', 'currency') }} as amount_due,
        {{ stripe_minor_to_major('amount_paid', 'currency') }} as amount_paid,
        {{ stripe_minor_to_major('amount_remaining', 'currency') }} as amount_remaining,
        {{ stripe_minor_to_major(staging_column(cols, 'subtotal_excluding_tax', 'bigint'), 'currency') }} as subtotal_excluding_tax_amount,
        {{ stripe_minor_to_major(staging_column(cols, 'total_excluding_tax', 'bigint'), 'currency') }} as total_excluding_tax_amount,
        {{ stripe_minor_to_major(
            'coalesce('
                ~ staging_json_array_sum(basil_taxes, 'amount') ~ ', '
                ~ staging_json_array_sum(legacy_taxes, 'amount') ~ ', '
                ~ staging_column(cols, 'tax', 'bigint') ~ ', '
                ~ 'total - ' ~ staging_column(cols, 'total_excluding_tax', 'bigint')
                ~ ')',
            'currency') }} as tax_amount,
        {{ stripe_minor_to_major(staging_column(cols, 'amount_overpaid', 'bigint'), 'currency') }} as amount_overpaid,
        {{ stripe_minor_to_major(staging_column(cols, 'pre_payment_credit_notes_amount', 'bigint'), 'currency') }} as pre_payment_credit_notes_amount,
        {{ stripe_minor_to_major(staging_column(cols, 'post_payment_credit_notes_amount', 'bigint'), 'currency') }} as post_payment_credit_notes_amount,
        {{ stripe_minor_to_major(staging_column(cols, 'starting_balance', 'bigint'), 'currency') }} as starting_balance,
        {{ stripe_minor_to_major(staging_column(cols, 'ending_balance', 'bigint'), 'currency') }} as ending_balance,
        {{ staging_column(cols, 'attempt_count', 'integer') }} as attempt_count,
        {{ staging_column(cols, 'lines__total_count', 'integer') }} as line_count,

        ----------  booleans
        coalesce(livemode, false) as is_livemode,
        coalesce({{ staging_column(cols, 'paid', 'boolean') }}, status = 'paid') as is_paid,
        {{ staging_flag(cols, 'deleted') }} as is_deleted,

        ----------  dates and timestamps (UTC)
        cast({{ from_unix_seconds('due_date') }} as date) as due_date,
        {{ from_unix_seconds('created') }} as created_at,
        {{ from_unix_seconds(staging_column(cols, 'effective_at', 'bigint')) }} as effective_at,
        {{ from_unix_seconds('period_start') }} as period_start_at,
        {{ from_unix_seconds('period_end') }} as period_end_at,
        {{ from_unix_seconds(staging_column(cols, 'status_transitions__finalized_at', 'bigint')) }} as finalized_at,
        {{ from_unix_seconds(staging_column(cols, 'status_transitions__paid_at', 'bigint')) }} as paid_at,
        {{ from_unix_seconds(staging_column(cols, 'status_transitions__voided_at', 'bigint')) }} as voided_at,
        {{ from_unix_seconds(staging_column(cols, 'status_transitions__marked_uncollectible_at', 'bigint')) }} as marked_uncollectible_at

    from source

)

select * from renamed
