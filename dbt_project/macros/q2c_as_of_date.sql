{#
    The reporting date every date-relative model uses, the first of:
    - `var('as_of_date')` when given (e.g. `--vars '{as_of_date: "2026-06-30"}'`);
    - the as-of date of the orchestrated run, which the Dagster dbt asset writes to
      q2c_meta.run_context just before `dbt build` (the on-run-start hook creates the table).
      A var would change every day, and a change of vars makes dbt parse the whole project
      again instead of only what changed: about 5 s of every scheduled build;
    - today in UTC (q2c_current_date()), when neither is set.
    A `dbt build` run by hand without --vars therefore uses the last orchestrated run's date.
#}
{% macro q2c_as_of_date() -%}
    {%- set as_of = var('as_of_date', none) -%}
    {%- if as_of is none or (as_of | string | trim) == '' -%}
        coalesce((select max(as_of_date) from {{ q2c_run_context() }}), {{ q2c_current_date() }})
    {%- else -%}
        cast('{{ as_of | string | trim }}' as date)
    {%- endif -%}
{%- endmacro %}

{# The table holding the orchestrated run's as-of date (one row). #}
{% macro q2c_run_context() -%}
    q2c_meta.run_context
{%- endmacro %}

{#
    Today's date in UTC, whatever the session time zone (`current_date` is the session's
    date on Postgres). The same expression on DuckDB and Postgres.
#}
{% macro q2c_current_date() -%}
    cast(current_timestamp at time zone 'UTC' as date)
{%- endmacro %}
