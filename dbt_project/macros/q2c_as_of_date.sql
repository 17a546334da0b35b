{#
    The reporting date every date-relative model uses: `var('as_of_date')` when given
    (e.g. `--vars '{as_of_date: "2026-06-30"}'`), else today in UTC (q2c_current_date()).
#}
{% macro q2c_as_of_date() -%}
    {%- set as_of = var('as_of_date', none) -%}
    {%- if as_of is none or (as_of | string | trim) == '' -%}
        {{ q2c_current_date() }}
    {%- else -%}
        cast('{{ as_of | string | trim }}' as date)
    {%- endif -%}
{%- endmacro %}

{#
    Today's date in UTC, whatever the session time zone (`current_date` is the session's
    date on Postgres). The same expression on DuckDB and Postgres.
#}
{% macro q2c_current_date() -%}
    cast(current_timestamp at time zone 'UTC' as date)
{%- endmacro %}
