{#
    md5 over `columns`, in the order given, NULL-safe: each value is cast to text, NULL becomes
    a sentinel that no real value renders as, and values are joined with a unit separator, so
    ('a', null) and (null, 'a') and ('a|', '') all hash differently. Used for reverse-ETL
    content hashes and stable exception ids; changing the column order changes every hash.
#}
{% macro q2c_hash(columns) -%}
    md5(
        {%- for column in columns %}
        coalesce(cast({{ column }} as varchar), '<<null>>'){{ " || chr(31) ||" if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}
