{#
    A relation of integers 0 .. upper_bound - 1 in column `n`, in portable SQL (cross join of
    digits; no generate_series). upper_bound must be <= 10000.
#}
{% macro integer_spine(upper_bound) -%}
    {%- if upper_bound > 10000 -%}
        {{ exceptions.raise_compiler_error("integer_spine supports at most 10000 rows, got " ~ upper_bound) }}
    {%- endif -%}
    select n from (
        select d0.d + 10 * d1.d + 100 * d2.d + 1000 * d3.d as n
        from
            {%- for i in range(4) %}
            (select 0 as d {% for k in range(1, 10) %}union all select {{ k }} {% endfor %}) as d{{ i }}{{ "," if not loop.last }}
            {%- endfor %}
    ) as digits
    where n < {{ upper_bound }}
{%- endmacro %}
