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
    {%- set name = column_name | lower -%}
    {%- if not execute -%}
        {{ return(name) }}
    {%- endif -%}
    {%- set existing = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
    {%- set parts = [] -%}
    {%- if name in existing -%}
        {%- do parts.append(name) -%}
    {%- endif -%}
    {%- for col in existing | sort -%}
        {%- if col.startswith(name ~ '__v_') -%}
            {%- do parts.append(col) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if data_type is not none -%}
        {%- set typed = [] -%}
        {%- for part in parts -%}
            {%- do typed.append('cast(' ~ part ~ ' as ' ~ data_type ~ ')') -%}
        {%- endfor -%}
        {%- set parts = typed -%}
    {%- endif -%}
    {%- if parts | length == 0 -%}
        {%- if data_type is none -%}
            {{ exceptions.raise_compiler_error("Column '" ~ name ~ "' is missing from " ~ relation ~ " and no data_type was given for a NULL stand-in") }}
        {%- endif -%}
        {{ return('cast(null as ' ~ data_type ~ ')') }}
    {%- elif parts | length == 1 -%}
        {{ return(parts[0]) }}
    {%- else -%}
        {{ return('coalesce(' ~ parts | join(', ') ~ ')') }}
    {%- endif -%}
{%- endmacro %}
