{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'invoice'}}}) }}
{#
    Every fact converts to its functional and reporting currency: lists the rows whose
    transaction currency had no published rate on their fx date (their converted amounts are
    null). A warning, not an error: the documents themselves are right and everything
    downstream still builds; the reporting figures lack these rows until the rate exists.
#}

{%- set facts = [
    ('invoice', 'invoice_id'),
    ('invoice_line', 'invoice_line_id'),
    ('payment', 'payment_id'),
    ('payment_application', 'payment_application_id'),
    ('billable_event', 'billable_event_id'),
    ('revenue_schedule', 'revenue_schedule_id'),
] -%}

{% for model, key in facts %}
select
    '{{ model }}' as model_name,
    {{ key }} as record_id,
    currency,
    fx_rate_date,
    functional_currency,
    reporting_currency
from {{ ref(model) }}
where currency is not null
    and (fx_rate_reporting is null or (functional_currency is not null and fx_rate_functional is null))
{% if not loop.last %}union all{% endif %}
{% endfor %}
