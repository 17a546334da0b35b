{#
    Timestamp helpers. dlt may land an ISO timestamp as TIMESTAMPTZ or leave it as text, and
    Stripe sends unix seconds; these turn any of them into a naive UTC timestamp, whatever the
    session time zone. `at time zone 'UTC'` on a timestamptz works on DuckDB and Postgres.
#}

{# ISO-8601 text (with or without an offset) or a timestamptz -> naive UTC timestamp. #}
{% macro to_utc_timestamp(column) -%}
    (cast({{ column }} as timestamptz) at time zone 'UTC')
{%- endmacro %}

{# Unix seconds -> naive UTC timestamp. #}
{% macro from_unix_seconds(column) -%}
    (to_timestamp(cast({{ column }} as bigint)) at time zone 'UTC')
{%- endmacro %}

{# A date or a naive UTC timestamp -> unix seconds (bigint). #}
{% macro to_unix_seconds(column) -%}
    cast({{ dbt.datediff("cast('1970-01-01' as timestamp)", "cast(" ~ column ~ " as timestamp)", "second") }} as bigint)
{%- endmacro %}
