{#
    Helpers for the staging models (models/staging/**). Portable: every macro renders SQL that
    runs on DuckDB and Postgres; what differs between them is adapter-dispatched.

    Raw columns. A staging model reads its raw table's column list once:

        {%- set cols = staging_raw_columns('raw_stripe', 'invoices') -%}

    and selects through `staging_column(cols, name, data_type)`, which (like `source_column`)
    turns a column dlt never created (all values null so far, or a field this vendor version
    does not send) into a typed NULL and coalesces dlt's variant columns (`<name>__v_<type>`)
    back in. The list comes from the warehouse relation behind the source, also inside a dbt
    unit test (where `source()` is a fixture CTE and introspecting it finds no columns): a
    dict fixture has exactly the real table's columns (dbt builds it from them, so the raw
    table must exist, as for any unit test of a model on a source), and a unit test sees what
    a build sees. A raw table that does not exist is a compile error, never an empty model.

    Types: staging_flag (NOT NULL booleans, also from 'T'/'F' text), staging_date /
    staging_timestamp (date/timestamptz columns, ISO text or the legacy ERP's YYYYMMDD /
    YYYYMMDDHHMMSS text), staging_cents_to_major, and adapter-dispatched JSON readers for the
    JSON text columns (staging_json_text, staging_json_array_sum).
#}

{#
    The warehouse relation of source(source_name, table_name), never a unit-test fixture. From
    the graph when dbt provides it; a unit test's context has no graph, and there the relation is
    target.database / source_name / table_name (every raw source is declared with its schema
    equal to its name and no database or identifier override).
#}
{% macro staging_raw_relation(source_name, table_name) -%}
    {%- set sources = graph.get('sources', {}) if graph is mapping else {} -%}
    {%- for node in sources.values() -%}
        {%- if node.source_name == source_name and node.name == table_name -%}
            {{ return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.identifier)) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(api.Relation.create(database=target.database, schema=source_name, identifier=table_name)) }}
{%- endmacro %}

{#
    {lower-case column name: data type} of the raw table; empty at parse time. A missing table
    is an error (a staging model never hides a raw table that was not loaded).
#}
{% macro staging_raw_columns(source_name, table_name) -%}
    {%- set out = {} -%}
    {%- if not execute -%}
        {{ return(out) }}
    {%- endif -%}
    {%- set relation = staging_raw_relation(source_name, table_name) -%}
    {%- set existing = adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier) -%}
    {%- if existing is none -%}
        {{ exceptions.raise_compiler_error("Raw table " ~ relation ~ " does not exist: load " ~ source_name ~ " first") }}
    {%- endif -%}
    {%- for col in adapter.get_columns_in_relation(existing) -%}
        {%- do out.update({col.name | lower: col.data_type | lower}) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{#
    A raw column, NULL-safe: the column (plus its dlt variant columns, coalesced), cast to
    data_type when given; a typed NULL when the table has no such column. At parse time the name.
#}
{% macro staging_column(columns, column_name, data_type=none) -%}
    {%- set name = column_name | lower -%}
    {%- if not execute -%}
        {{ return(name) }}
    {%- endif -%}
    {%- set parts = [] -%}
    {%- if name in columns -%}
        {%- do parts.append(name) -%}
    {%- endif -%}
    {%- for col in columns | sort -%}
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
            {{ exceptions.raise_compiler_error("Column '" ~ name ~ "' is missing and no data_type was given for a NULL stand-in") }}
        {%- endif -%}
        {{ return('cast(null as ' ~ data_type ~ ')') }}
    {%- elif parts | length == 1 -%}
        {{ return(parts[0]) }}
    {%- else -%}
        {{ return('coalesce(' ~ parts | join(', ') ~ ')') }}
    {%- endif -%}
{%- endmacro %}

{# True when the raw column holds text (a type name containing char, text or string). #}
{% macro _staging_is_text(columns, column_name) -%}
    {%- set data_type = columns.get(column_name | lower, '') -%}
    {{ return('char' in data_type or 'text' in data_type or 'string' in data_type) }}
{%- endmacro %}

{#
    A boolean from a boolean column or from the text vendors use for one (NetSuite SuiteQL's
    'T' / 'F', 'true' / 'false', 'Y' / 'N', '1' / '0'). NULL stays NULL.
#}
{% macro staging_boolean(expression) -%}
    (case when {{ expression }} is null then null
          else upper(trim(cast({{ expression }} as varchar))) in ('T', 'TRUE', 'Y', 'YES', '1') end)
{%- endmacro %}

{#
    A NOT NULL flag from a raw column: the boolean (or its vendor text, see staging_boolean),
    false when NULL or when the table has no such column (a flag nobody ever set).
#}
{% macro staging_flag(columns, column_name) -%}
    {%- set name = column_name | lower -%}
    {%- if execute and name not in columns -%}
        false
    {%- elif execute and _staging_is_text(columns, name) -%}
        coalesce({{ staging_boolean(name) }}, false)
    {%- else -%}
        coalesce(cast({{ staging_column(columns, name) }} as boolean), false)
    {%- endif -%}
{%- endmacro %}

{#
    A date from a date column, ISO text ('2026-01-15') or the legacy ERP's 'YYYYMMDD' text.
    Decided from the raw column's type, so a date column is just cast.
#}
{% macro staging_date(columns, column_name) -%}
    {%- set col = staging_column(columns, column_name, none if column_name | lower in columns else 'date') -%}
    {%- if execute and _staging_is_text(columns, column_name) -%}
        (case when length(trim({{ col }})) = 8 then cast({{ dbt.concat([
                "substring(trim(" ~ col ~ ") from 1 for 4)", "'-'",
                "substring(trim(" ~ col ~ ") from 5 for 2)", "'-'",
                "substring(trim(" ~ col ~ ") from 7 for 2)"]) }} as date)
              else cast(nullif(trim({{ col }}), '') as date) end)
    {%- else -%}
        cast({{ col }} as date)
    {%- endif -%}
{%- endmacro %}

{#
    A naive UTC timestamp from a timestamptz column, ISO-8601 text, or the legacy ERP's
    'YYYYMMDDHHMMSS' text (UTC, as the ingestion layer reads it).
#}
{% macro staging_timestamp(columns, column_name) -%}
    {%- set col = staging_column(columns, column_name, none if column_name | lower in columns else dbt.type_timestamp()) -%}
    {%- if execute and _staging_is_text(columns, column_name) -%}
        (case when length(trim({{ col }})) = 14 then cast({{ dbt.concat([
                "substring(trim(" ~ col ~ ") from 1 for 4)", "'-'",
                "substring(trim(" ~ col ~ ") from 5 for 2)", "'-'",
                "substring(trim(" ~ col ~ ") from 7 for 2)", "' '",
                "substring(trim(" ~ col ~ ") from 9 for 2)", "':'",
                "substring(trim(" ~ col ~ ") from 11 for 2)", "':'",
                "substring(trim(" ~ col ~ ") from 13 for 2)"]) }} as {{ dbt.type_timestamp() }})
              else {{ to_utc_timestamp("nullif(trim(" ~ col ~ "), '')") }} end)
    {%- elif execute and col.startswith('cast(null') -%}
        {{ col }}
    {%- else -%}
        {{ to_utc_timestamp(col) }}
    {%- endif -%}
{%- endmacro %}

{#
    Integer cents (the legacy ERP's *_CENTS columns) -> decimal(18,2) major units.
#}
{% macro staging_cents_to_major(expression) -%}
    cast(cast({{ expression }} as decimal(18, 2)) / 100 as decimal(18, 2))
{%- endmacro %}

{#
    JSON held as text (Stripe's nested objects and lists in the raw layer).

    staging_json_text(expression, ['parent', 'subscription_details', 'subscription'])
        -> the text value at that path (integers index arrays: [0, 'tax_rate']), NULL when absent.
    staging_json_array_sum(expression, 'amount')
        -> the sum of that key (as bigint) over the elements of a JSON array; NULL for NULL/[].
#}
{% macro staging_json_text(expression, path) -%}
    {{ return(adapter.dispatch('staging_json_text', 'q2c')(expression, path)) }}
{%- endmacro %}

{% macro _staging_json_path_dollar(path) -%}
    {%- set out = ['$'] -%}
    {%- for key in path -%}
        {%- if key is number -%}
            {%- do out.append('[' ~ key ~ ']') -%}
        {%- else -%}
            {%- do out.append('.' ~ key) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(out | join('')) }}
{%- endmacro %}

{% macro duckdb__staging_json_text(expression, path) -%}
    json_extract_string({{ expression }}, '{{ _staging_json_path_dollar(path) }}')
{%- endmacro %}

{% macro postgres__staging_json_text(expression, path) -%}
    (cast({{ expression }} as json) #>> '{ {{- path | join(',') -}} }')
{%- endmacro %}

{# SQL:2016 JSON_VALUE (Postgres 17+, BigQuery, Oracle, SQL Server, ...). #}
{% macro default__staging_json_text(expression, path) -%}
    json_value({{ expression }}, '{{ _staging_json_path_dollar(path) }}')
{%- endmacro %}

{% macro staging_json_array_sum(expression, key) -%}
    {{ return(adapter.dispatch('staging_json_array_sum', 'q2c')(expression, key)) }}
{%- endmacro %}

{% macro duckdb__staging_json_array_sum(expression, key) -%}
    (select sum(cast(json_extract_string(elem.value, '$.{{ key }}') as bigint)) from json_each({{ expression }}) as elem)
{%- endmacro %}

{% macro postgres__staging_json_array_sum(expression, key) -%}
    (select sum(cast(elem.value ->> '{{ key }}' as bigint)) from json_array_elements(cast({{ expression }} as json)) as elem(value))
{%- endmacro %}

{% macro default__staging_json_array_sum(expression, key) -%}
    {{ exceptions.raise_compiler_error("staging_json_array_sum has no implementation for " ~ adapter.type()) }}
{%- endmacro %}
