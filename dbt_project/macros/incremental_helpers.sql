{#
    Helpers for the incremental canonical facts (billable_event, invoice_line).

    Change detection: each row carries `source_hash`, a q2c_hash of the source fields it is
    built from (and of the parent facts it copies). An incremental run rebuilds only the source
    rows whose (key, source_hash) is not in the table yet - new or changed rows, whatever their
    timestamps say (late-arriving rows with an older modstamp are caught too) - plus the recent
    rows whose FX rate may have been published since (q2c_fx_restatement_start), and the unique
    key replaces the old version (delete+insert, on DuckDB and Postgres alike).

    Deletions: q2c_delete_missing_rows() is the post-hook that removes the rows whose key is no
    longer among the source's live keys (NetSuite and legacy ERP rows are hard-deleted from
    raw; Salesforce/Certinia rows arrive with is_deleted = true), so an incremental table holds
    exactly what a full refresh would.
#}

{#
    The first date whose rows an incremental run converts again whatever their hash: the days
    before the latest published rate (var fx_restatement_days, default 7), so a rate published
    late for a recent date (the carry-forward used the previous day's until then) reaches the
    rows dated then. Rates of older dates do not change.
#}
{% macro q2c_fx_restatement_start() -%}
    (select cast({{ dbt.dateadd('day', -1 * var('fx_restatement_days', 7), 'max(valid_from)') }} as date)
     from {{ ref('fx_rate') }} where rate_source = 'netsuite_currencyrate')
{%- endmacro %}

{# Post-hook: delete the rows of this model whose key is not in `live_keys_sql` (a select of one non-null column `live_key`). #}
{% macro q2c_delete_missing_rows(key_column, live_keys_sql) -%}
    delete from {{ this }}
    where {{ key_column }} not in (
        select live.live_key from ({{ live_keys_sql }}) as live where live.live_key is not null
    )
{%- endmacro %}

{#
    The live keys of each incremental canonical model: what a full refresh would produce keys
    for (rendered at run time, inside the post-hook). Keep in step with the model's filters.
#}
{% macro billable_event_live_keys() -%}
    select 'certinia:' || timecard_id as live_key from {{ ref('stg_certinia__pse_timecard_c') }} where not is_deleted
    union all
    select 'certinia:' || expense_id from {{ ref('stg_certinia__pse_expense_c') }} where not is_deleted
    union all
    select 'certinia:' || milestone_id from {{ ref('stg_certinia__pse_milestone_c') }}
    where not is_deleted and actual_date is not null
    union all
    {#- Stripe charges: each (subscription item, period start) billed by a line of an invoice that is
        not deleted (billable_event.sql, stripe_period_lines). #}
    {%- set raw_stripe_invoices = source('raw_stripe', 'invoices') %}
    select distinct
        'stripe:' || coalesce(
            {{ staging_json_text('line.value', ['parent', 'subscription_item_details', 'subscription_item']) }},
            {{ staging_json_text('line.value', ['subscription_item']) }}
        ) || ':' || cast(cast({{ from_unix_seconds(staging_json_text('line.value', ['period', 'start'])) }} as date)
            as varchar)
    from {{ raw_stripe_invoices }} as i
    inner join {{ ref('stg_stripe__invoices') }} as stripe_invoices
        on stripe_invoices.stripe_invoice_id = i.id
    {{ q2c_json_array_join(source_column(raw_stripe_invoices, 'lines__data', 'varchar'), 'line') }}
    where not stripe_invoices.is_deleted
{%- endmacro %}
