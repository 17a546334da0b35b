{%- set src = source('raw_stripe', 'customers') -%}

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

        ----------  strings
        name as customer_name,
        email,
        upper(currency) as currency,

        ----------  numerics (Stripe minor units -> major units)
        {{ stripe_minor_to_major('balance', 'currency') }} as balance,

        ----------  booleans
        coalesce(delinquent, false) as is_delinquent,
        coalesce(livemode, false) as is_livemode,
        coalesce({{ source_column(src, 'deleted', 'boolean') }}, false) as is_deleted,

        ----------  timestamps (UTC)
        {{ from_unix_seconds('created') }} as created_at

    from source

)

select * from renamed
