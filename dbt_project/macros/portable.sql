{#
    Cross-database helpers for what dbt's own cross-database macros (dbt.datediff, dbt.dateadd,
    dbt.hash, dbt.type_*, ...) do not cover. The project builds on DuckDB and on Postgres;
    each helper has a `duckdb__` and a `default__` (Postgres, standard SQL) implementation,
    picked by adapter.dispatch. Plain SQL that means the same on both needs no helper
    (`||`, `coalesce`, `cast(... as varchar | decimal(p, s) | bigint | date | timestamptz)`,
    `at time zone 'UTC'`, `to_timestamp`, `md5`, `chr`, `extract`), so models use it directly.

    Write portable SQL in the models, too:
      - no `qualify`: rank in a CTE, filter in the next one;
      - window and query `order by ... desc` states `nulls last` (DuckDB sorts NULLs last either
        way, Postgres sorts them first in descending order);
      - ties are broken on a unique key with q2c_sort_key(), not on the server's collation.
#}

{#
    The integer quotient of two integer expressions, truncated toward zero, as bigint.
    DuckDB's `/` on integers returns a double, Postgres' truncates; `//` and div() both truncate.
#}
{% macro q2c_int_div(numerator, denominator) -%}
    {{ return(adapter.dispatch('q2c_int_div')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__q2c_int_div(numerator, denominator) -%}
    cast(div(cast({{ numerator }} as numeric), cast({{ denominator }} as numeric)) as bigint)
{%- endmacro %}

{% macro duckdb__q2c_int_div(numerator, denominator) -%}
    cast(({{ numerator }}) // ({{ denominator }}) as bigint)
{%- endmacro %}

{#
    A text expression that sorts by byte value on every target, whatever the database's
    collation (Postgres databases often collate en_US.UTF-8, which orders 'cus_a' and 'cus_B'
    the other way round from DuckDB). For deterministic tie-breaks in window functions.
#}
{% macro q2c_sort_key(column) -%}
    {{ return(adapter.dispatch('q2c_sort_key')(column)) }}
{%- endmacro %}

{% macro default__q2c_sort_key(column) -%}
    ({{ column }} collate "C")
{%- endmacro %}

{% macro duckdb__q2c_sort_key(column) -%}
    {#- DuckDB's default collation is binary already. -#}
    {{ column }}
{%- endmacro %}
