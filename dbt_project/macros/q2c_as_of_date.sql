{#
    The reporting date every date-relative model uses: `var('as_of_date')` when given
    (e.g. `--vars '{as_of_date: "2026-06-30"}'`), else the warehouse's current_date.
#}
{% macro q2c_as_of_date() -%}
    {%- set as_of = var('as_of_date', none) -%}
    {%- if as_of is none or (as_of | string | trim) == '' -%}
        current_date
    {%- else -%}
        cast('{{ as_of | string | trim }}' as date)
    {%- endif -%}
{%- endmacro %}
