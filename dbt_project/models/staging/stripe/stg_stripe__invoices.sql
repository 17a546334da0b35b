{%- set src = source('raw_stripe', 'invoices') -%}

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

        ----------  strings
        status,
        collection_method,
        billing_reason,
        upper(currency) as currency,

        ----------  numerics (Stripe minor units -> major units)
        {{ stripe_minor_to_major('subtotal', 'currency') }} as subtotal_amount,
        {{ stripe_minor_to_major('total', 'currency') }} as total_amount,
        {{ stripe_minor_to_major('amount_due', 'currency') }} as amount_due,
        {{ stripe_minor_to_major('amount_paid', 'currency') }} as amount_paid,
        {{ stripe_minor_to_major('amount_remaining', 'currency') }} as amount_remaining,

        ----------  booleans
        coalesce(livemode, false) as is_livemode,
        coalesce({{ source_column(src, 'deleted', 'boolean') }}, false) as is_deleted,

        ----------  dates and timestamps (UTC)
        cast({{ from_unix_seconds('due_date') }} as date) as due_date,
        {{ from_unix_seconds('created') }} as created_at,
        {{ from_unix_seconds('period_start') }} as period_start_at,
        {{ from_unix_seconds('period_end') }} as period_end_at,
        {{ from_unix_seconds(source_column(src, 'status_transitions__finalized_at', 'bigint')) }} as finalized_at,
        {{ from_unix_seconds(source_column(src, 'status_transitions__paid_at', 'bigint')) }} as paid_at,
        {{ from_unix_seconds(source_column(src, 'status_transitions__voided_at', 'bigint')) }} as voided_at

    from source

)

select * from renamed
