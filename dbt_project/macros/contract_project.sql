{#
    A contract's project: the project of the engagement first created for it (then the lowest
    project id) when there are several. Renders a select of (contract_id, project_id) from
    `engagements` (a relation or CTE with contract_id, project_id, created_at), one row per
    contract.
#}
{% macro q2c_contract_project(engagements) -%}
    select contract_id, project_id
    from (
        select
            contract_id,
            project_id,
            row_number() over (
                partition by contract_id
                order by created_at, {{ q2c_sort_key('project_id') }}
            ) as project_rank
        from {{ engagements }}
        where contract_id is not null
    ) as ranked
    where project_rank = 1
{%- endmacro %}
