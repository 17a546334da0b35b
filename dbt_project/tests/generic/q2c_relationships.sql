{#
    Model-level referential-integrity test over several foreign keys. Each reference names a
    column of the model, the model it points to and that model's key; a non-null value with no
    matching key is an orphan. Returns one row per column with orphans, with how many.

        data_tests:
          - q2c_relationships:
              arguments:
                references:
                  - {column: project_id, to: ref('stg_certinia__pse_proj_c'), field: project_id}

    With `new_loads_only: true` (a staging view with `dlt_load_id`), a build that is not a full
    refresh reads only the rows of loads newer than those the test last passed on
    (macros/test_scope.sql).
#}
{% test q2c_relationships(model, references, new_loads_only=false) %}
with child as (
    select * from {{ model }} {{ q2c_new_loads_filter(model, 'q2c_relationships', new_loads_only) }}
)
{%- for reference in references %}
select cast('{{ reference.column }}' as {{ dbt.type_string() }}) as column_name, count(*) as orphan_rows
from child
where child.{{ adapter.quote(reference.column) }} is not null
  and not exists (
    select 1 from {{ reference.to }} as parent
    where parent.{{ adapter.quote(reference.field) }} = child.{{ adapter.quote(reference.column) }}
  )
having count(*) > 0
{{ "union all" if not loop.last }}
{%- endfor %}
{% endtest %}
