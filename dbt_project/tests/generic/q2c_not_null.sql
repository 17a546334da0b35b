{#
    Model-level not-null test over several columns in one scan (instead of one test node per
    column: each node costs dbt a round trip, and at hundreds of nodes that overhead is most of
    an hourly build). Returns one row per column that has nulls, with how many, so a failure
    names the column.

        data_tests:
          - q2c_not_null:
              arguments:
                columns: [invoice_id, customer_id]
#}
{% test q2c_not_null(model, columns) %}
with null_counts as (
    select
        {%- for column in columns %}
        sum(case when {{ adapter.quote(column) }} is null then 1 else 0 end) as n{{ loop.index }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ model }}
)
{%- for column in columns %}
select cast('{{ column }}' as {{ dbt.type_string() }}) as column_name, n{{ loop.index }} as null_rows
from null_counts where n{{ loop.index }} > 0
{{ "union all" if not loop.last }}
{%- endfor %}
{% endtest %}
