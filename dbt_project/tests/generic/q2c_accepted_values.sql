{#
    Model-level accepted-values test over several columns in one scan. `columns` maps each
    column to its accepted values; nulls are not checked (the not-null test does that). Returns
    one row per column and unexpected value, with how many rows carry it.

        data_tests:
          - q2c_accepted_values:
              arguments:
                columns:
                  status: [draft, open, paid]
                  escalation_level: [0, 1, 2, 3]

    With `new_loads_only: true` (a staging view with `dlt_load_id`), a build that is not a full
    refresh reads only the rows of loads newer than those the test last passed on
    (macros/test_scope.sql).
#}
{% test q2c_accepted_values(model, columns, new_loads_only=false) %}
with checked as (
    select * from {{ model }} {{ q2c_new_loads_filter(model, 'q2c_accepted_values', new_loads_only) }}
)
{%- for column, values in columns.items() %}
select
    cast('{{ column }}' as {{ dbt.type_string() }}) as column_name,
    cast({{ adapter.quote(column) }} as {{ dbt.type_string() }}) as unexpected_value,
    count(*) as rows_with_value
from checked
where {{ adapter.quote(column) }} is not null
  and {{ adapter.quote(column) }} not in (
    {%- for value in values -%}
    {#- numbers and booleans bare, strings quoted -#}
    {{ value if (value is boolean or value is number) else "'" ~ (value | replace("'", "''")) ~ "'" }}{{ ", " if not loop.last }}
    {%- endfor -%}
  )
group by {{ adapter.quote(column) }}
{{ "union all" if not loop.last }}
{%- endfor %}
{% endtest %}
