{#
    One row per element of a JSON array held in a column (Stripe's nested lists in the raw
    layer), portable:

        from invoices
        {{ q2c_json_array_join('invoices.lines__data', 'line') }}

    adds `line.value` (the element, readable with staging_json_text(...)) and
    q2c_json_array_position('line') is its 1-based position in the array. NULL or empty arrays
    give no rows.
#}

{% macro q2c_json_array_join(expression, alias) -%}
    {{ return(adapter.dispatch('q2c_json_array_join', 'q2c')(expression, alias)) }}
{%- endmacro %}

{% macro duckdb__q2c_json_array_join(expression, alias) -%}
    cross join json_each(cast({{ expression }} as json)) as {{ alias }}
{%- endmacro %}

{% macro postgres__q2c_json_array_join(expression, alias) -%}
    cross join lateral json_array_elements(cast({{ expression }} as json)) with ordinality as {{ alias }}(value, position)
{%- endmacro %}

{% macro default__q2c_json_array_join(expression, alias) -%}
    {{ exceptions.raise_compiler_error("q2c_json_array_join has no implementation for " ~ adapter.type()) }}
{%- endmacro %}

{% macro q2c_json_array_position(alias) -%}
    {{ return(adapter.dispatch('q2c_json_array_position', 'q2c')(alias)) }}
{%- endmacro %}

{% macro duckdb__q2c_json_array_position(alias) -%}
    (cast({{ alias }}.key as integer) + 1)
{%- endmacro %}

{% macro default__q2c_json_array_position(alias) -%}
    cast({{ alias }}.position as integer)
{%- endmacro %}
