{#
    Model-level not-null test over several columns in one scan (instead of one test node per
    column: each node costs dbt a round trip, and at hundreds of nodes that overhead is most of
    an hourly build). Returns one row per column that has nulls, with how many, so a failure
    names the column.

        data_tests:
          - q2c_not_null:
              arguments:
                columns: [invoice_id, customer_id]

    With `new_loads_only: true` (a staging view with `dlt_load_id`), a build that is not a full
    refresh reads only the rows of loads newer than those the test last passed on
    (macros/test_scope.sql).
#}
{% test q2c_not_null(model, columns, new_loads_only=false) %}
with null_counts as (
    select
        {%- for column in columns %}
        sum(case when {{ adapter.quote(column) }} is null then 1 else 0 end) as n{{ loop.index }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ model }} {{ q2c_new_loads_filter(model, 'q2c_not_null', new_loads_only) }}
)
{%- for column in columns %}
select cast('{{ column }}' as {{ dbt.type_string() }}) as column_name, n{{ loop.index }} as null_rows
from null_counts where n{{ loop.index }} > 0
{{ "union all" if not loop.last }}
{%- endfor %}
{% endtest %}
