{#
    Stripe amounts are integers in the currency's smallest unit: cents for USD/GBP/EUR, but
    whole units for zero-decimal currencies (JPY, KRW, ...), which must not be divided by 100.
    https://docs.stripe.com/currencies#zero-decimal
#}

{% macro stripe_zero_decimal_currencies() -%}
    {{ return(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf',
               'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf']) }}
{%- endmacro %}

{%- macro _stripe_minor_unit_factor(currency) -%}
    case when lower({{ currency }}) in (
        {%- for c in stripe_zero_decimal_currencies() -%}'{{ c }}'{{ ', ' if not loop.last }}{%- endfor -%}
    ) then 1 else 100 end
{%- endmacro %}

{# Stripe minor units -> major units as decimal(18,2). #}
{% macro stripe_minor_to_major(amount, currency) -%}
    cast(cast({{ amount }} as decimal(18, 2)) / {{ _stripe_minor_unit_factor(currency) }} as decimal(18, 2))
{%- endmacro %}

{# Major units -> Stripe minor units as bigint (rounded half away from zero). #}
{% macro major_to_stripe_minor(amount, currency) -%}
    cast(round(cast({{ amount }} as decimal(18, 2)) * {{ _stripe_minor_unit_factor(currency) }}, 0) as bigint)
{%- endmacro %}
