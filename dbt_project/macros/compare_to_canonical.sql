{#
    The tail of a reconciliation test. Expects a CTE `raw_totals (source_system, currency,
    row_count, amount)` computed from the raw sources; totals `canonical_model` the same way
    (count and sum of `amount_column` per source system and currency) and returns the pairs
    where count or amount differ, with both sides.
#}
{% macro compare_to_canonical(canonical_model, amount_column) %}

canonical_totals as (

    select
        source_system,
        currency,
        count(*) as row_count,
        sum({{ amount_column }}) as amount
    from {{ ref(canonical_model) }}
    group by 1, 2

)

select
    coalesce(r.source_system, c.source_system) as source_system,
    coalesce(r.currency, c.currency) as currency,
    r.row_count as raw_count,
    c.row_count as canonical_count,
    r.amount as raw_amount,
    c.amount as canonical_amount
from raw_totals as r
full outer join canonical_totals as c
    on c.source_system = r.source_system
    and c.currency = r.currency
where coalesce(r.row_count, 0) <> coalesce(c.row_count, 0)
    or coalesce(r.amount, 0) <> coalesce(c.amount, 0)

{% endmacro %}
