{{ config(materialized='view') }}
{#
    The current source lines of every canonical invoice, one row per line, before currency
    conversion: what invoice_line (incremental) is built from, and its live keys (the
    post-hook removes invoice_line rows whose key is no longer here).
      - NetSuite: transaction lines of the invoice that are item lines (not the main line, not
        the tax line); tax code from the line's tax item.
      - Stripe: the elements of the invoice's `lines.data` (raw JSON; staging keeps invoices one
        row each), amounts from minor units, tax code = the NetSuite code of the line's tax rate,
        service period = the line's period (unix seconds -> UTC dates, end inclusive).
      - legacy ERP: AR_INVOICE_LINE rows.
    Header facts (legal entity, currency, invoice date, correlation id, billing event) are the
    canonical invoice's. source_hash covers every column, so an incremental run rebuilds a line
    when it or what it takes from its invoice changed.
#}

{%- set stripe_invoices = source('raw_stripe', 'invoices') %}

with

invoices as (

    select * from {{ ref('invoice') }}

),

netsuite_lines as (

    select * from {{ ref('stg_netsuite__transactionline') }}

),

netsuite_tax_items as (

    select * from {{ ref('stg_netsuite__salestaxitem') }}

),

legacy_lines as (

    select * from {{ ref('stg_legacy_erp__ar_invoice_line') }}

),

stripe_tax_rates as (

    select * from {{ ref('stg_stripe__tax_rates') }}

),

stripe_raw_invoices as (

    select
        id as stripe_invoice_id,
        currency as stripe_currency,
        {{ source_column(stripe_invoices, 'lines__data', 'varchar') }} as lines_data
    from {{ stripe_invoices }}

),

netsuite as (

    select
        'netsuite:' || l.transaction_line_id as invoice_line_id,
        'netsuite:' || l.transaction_id as invoice_id,
        cast(l.line_sequence_number as integer) as line_number,
        l.memo as description,
        cast(l.quantity as decimal(18, 4)) as quantity,
        cast(l.rate as decimal(18, 2)) as unit_price,
        cast(l.amount as decimal(18, 2)) as amount,
        tax.tax_code,
        cast(null as date) as service_period_start,
        cast(null as date) as service_period_end,
        'netsuite' as source_system,
        l.transaction_line_id as source_id
    from netsuite_lines as l
    left join netsuite_tax_items as tax
        on tax.tax_item_id = l.tax_item_id
    where not l.is_main_line
        and not l.is_tax_line
        and not l.is_deleted

),

stripe_elements as (

    select
        i.stripe_invoice_id,
        i.stripe_currency,
        {{ q2c_json_array_position('line') }} as line_number,
        {{ staging_json_text('line.value', ['id']) }} as line_id,
        {{ staging_json_text('line.value', ['description']) }} as description,
        {{ staging_json_text('line.value', ['quantity']) }} as quantity,
        coalesce(
            {{ staging_json_text('line.value', ['pricing', 'unit_amount_decimal']) }},
            {{ staging_json_text('line.value', ['price', 'unit_amount_decimal']) }},
            {{ staging_json_text('line.value', ['price', 'unit_amount']) }}
        ) as unit_amount_minor,
        {{ staging_json_text('line.value', ['amount']) }} as amount_minor,
        coalesce(
            {{ staging_json_text('line.value', ['taxes', 0, 'tax_rate_details', 'tax_rate']) }},
            {{ staging_json_text('line.value', ['tax_amounts', 0, 'tax_rate']) }}
        ) as stripe_tax_rate_id,
        {{ staging_json_text('line.value', ['period', 'start']) }} as period_start_unix,
        {{ staging_json_text('line.value', ['period', 'end']) }} as period_end_unix
    from stripe_raw_invoices as i
    {{ q2c_json_array_join('i.lines_data', 'line') }}

),

stripe as (

    select
        'stripe:' || e.line_id as invoice_line_id,
        'stripe:' || e.stripe_invoice_id as invoice_id,
        e.line_number,
        e.description,
        cast(e.quantity as decimal(18, 4)) as quantity,
        {{ stripe_minor_to_major('cast(e.unit_amount_minor as decimal(18, 2))', 'e.stripe_currency') }} as unit_price,
        {{ stripe_minor_to_major('cast(e.amount_minor as bigint)', 'e.stripe_currency') }} as amount,
        tr.netsuite_tax_code as tax_code,
        cast({{ from_unix_seconds('e.period_start_unix') }} as date) as service_period_start,
        cast({{ from_unix_seconds('e.period_end_unix') }} as date) as service_period_end,
        'stripe' as source_system,
        e.line_id as source_id
    from stripe_elements as e
    left join stripe_tax_rates as tr
        on tr.stripe_tax_rate_id = e.stripe_tax_rate_id

),

legacy as (

    select
        'legacy_erp:' || legacy_invoice_line_id as invoice_line_id,
        'legacy_erp:' || legacy_invoice_id as invoice_id,
        cast(line_number as integer) as line_number,
        description,
        cast(quantity as decimal(18, 4)) as quantity,
        cast(unit_price as decimal(18, 2)) as unit_price,
        cast(line_amount as decimal(18, 2)) as amount,
        tax_code,
        cast(null as date) as service_period_start,
        cast(null as date) as service_period_end,
        'legacy_erp' as source_system,
        legacy_invoice_line_id as source_id
    from legacy_lines
    where not is_deleted

),

lines as (

    select * from netsuite
    union all
    select * from stripe
    union all
    select * from legacy

),

final as (

    select
        lines.invoice_line_id,
        lines.invoice_id,
        lines.line_number,
        lines.description,
        lines.quantity,
        lines.unit_price,
        lines.amount,
        lines.tax_code,
        lines.service_period_start,
        lines.service_period_end,
        invoices.billing_event_id,
        invoices.contract_id,
        invoices.customer_id,
        invoices.legal_entity_id,
        invoices.correlation_id,
        invoices.currency,
        invoices.functional_currency,
        invoices.invoice_date,
        lines.source_system,
        lines.source_id,
        {{ q2c_hash(['lines.invoice_line_id', 'lines.invoice_id', 'lines.line_number', 'lines.description',
                     'lines.quantity', 'lines.unit_price', 'lines.amount', 'lines.tax_code',
                     'lines.service_period_start', 'lines.service_period_end', 'invoices.billing_event_id',
                     'invoices.contract_id', 'invoices.customer_id', 'invoices.legal_entity_id',
                     'invoices.correlation_id', 'invoices.currency', 'invoices.functional_currency',
                     'invoices.invoice_date']) }} as source_hash
    from lines
    inner join invoices
        on invoices.invoice_id = lines.invoice_id

)

select * from final
