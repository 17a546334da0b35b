{#
    Canonical invoice lines, one row per billed line of a canonical invoice (NetSuite item
    lines, Stripe invoice lines, legacy ERP lines; rules in invoice_line_source). Amounts are
    before tax (an invoice's lines sum to its subtotal_amount, tested), in the invoice currency,
    converted at the rate of the invoice date.

    Incremental (unique key invoice_line_id, delete+insert): a run converts only the lines
    whose source_hash is not in the table yet (new or changed lines, or lines whose invoice
    header changed), and a post-hook deletes the lines no longer in invoice_line_source
    (NetSuite and legacy lines hard-deleted from raw, lines of invoices routed away or voided),
    so the table always equals a full refresh. Lines dated in the last var('fx_restatement_days')
    days before the latest published rate are converted again every run (a rate published late).
#}

{{ config(
    materialized='incremental',
    unique_key='invoice_line_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook=["{{ q2c_delete_missing_rows('invoice_line_id', 'select invoice_line_id as live_key from ' ~ ref('invoice_line_source')) }}"]
) }}

with

source_lines as (

    select * from {{ ref('invoice_line_source') }}

),

changed as (

    select * from source_lines
    {%- if is_incremental() %}
    where not exists (
            select 1 from {{ this }} as existing
            where existing.invoice_line_id = source_lines.invoice_line_id
                and existing.source_hash = source_lines.source_hash
        )
        -- Recent lines are converted again: a day's rate may be published after the line was built.
        or source_lines.invoice_date >= {{ q2c_fx_restatement_start() }}
    {%- endif %}

),

final as (

    select
        changed.invoice_line_id,
        changed.invoice_id,
        changed.line_number,
        changed.description,
        changed.quantity,
        changed.unit_price,
        changed.amount,
        changed.tax_code,
        changed.service_period_start,
        changed.service_period_end,
        changed.billing_event_id,
        changed.contract_id,
        changed.customer_id,
        changed.legal_entity_id,
        changed.correlation_id,
        changed.currency,
        changed.functional_currency,
        {{ q2c_fx_columns(['amount'], 'changed', 'changed.invoice_date') }},
        changed.source_system,
        changed.source_id,
        changed.source_hash
    from changed
    {{ q2c_fx_joins('changed.currency', 'changed.functional_currency', 'changed.invoice_date') }}

)

select * from final
