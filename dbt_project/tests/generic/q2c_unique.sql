{#
    Uniqueness of one column, dbt's `unique` with a scope: returns each duplicated value with how
    many rows carry it.

    With `new_loads_only: true` (a staging view with `dlt_load_id`), a build that is not a full
    refresh looks only for duplicates of the values written by loads newer than those the test
    last passed on (macros/test_scope.sql), against every row: a new row that repeats an old
    key is found, and the old keys are not counted again.

        columns:
          - name: timecard_id
            data_tests:
              - q2c_unique:
                  arguments:
                    new_loads_only: true
#}
{% test q2c_unique(model, column_name, new_loads_only=false) %}
{%- set column = adapter.quote(column_name) %}
{%- set new_rows = q2c_new_loads_filter(model, 'q2c_unique', new_loads_only) | trim %}
select {{ column }} as unique_field, count(*) as n_records
from {{ model }}
where {{ column }} is not null
{%- if new_rows %}
  and {{ column }} in (select new_rows.{{ column }} from {{ model }} as new_rows {{ new_rows }})
{%- endif %}
group by {{ column }}
having count(*) > 1
{% endtest %}
