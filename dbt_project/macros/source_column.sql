{#
    A raw column as dlt left it, made safe to select:

    - dlt creates no column whose values are all null, so a column that may legitimately be
      all null (Stripe `status_transitions__voided_at` when nothing was ever voided) may be
      missing: it becomes a typed NULL.
    - dlt types a column from the first values it sees; a later value that does not fit
      (1000.01 arriving in a column inferred as bigint) goes to a variant column
      `<name>__v_<type>` and the base column stays NULL for that row: the variants are
      coalesced back in.

    The result is cast to `data_type` when given (required when the column may be missing).
    Looks the relation up in the warehouse at run time; at parse time it returns the name.
#}
{% macro source_column(relation, column_name, data_type=none) -%}
    {%- if not execute -%}
        {{ return(column_name | lower) }}
    {%- endif -%}
    {%- set existing = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
    {{ return(staging_column(existing, column_name, data_type)) }}
{%- endmacro %}
