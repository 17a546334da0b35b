{#
    Currency conversion of canonical facts (models/canonical/fx_rate.sql holds the rates).

    A fact converts each money column X from its transaction currency into the legal entity's
    functional currency and the group's reporting currency (var 'reporting_currency') at the
    rate valid on one date per row (the fx date: the document date, or the service date of a
    billable event). A date without a published rate uses the latest earlier one (fx_rate's
    valid_from / valid_to); a currency converts to itself at 1.

    Usage, in the CTE that selects from the rows to convert (alias given by `relation`):

        select
            rows.*,
            {{ q2c_fx_columns(['amount', 'tax_amount'], 'rows') }}
        from rows
        {{ q2c_fx_joins('rows.currency', 'rows.functional_currency', 'rows.fx_date') }}

    q2c_fx_columns adds reporting_currency, fx_rate_functional, fx_rate_reporting, fx_rate_date
    and X_functional / X_reporting (decimal(18, 2), rounded half away from zero to the cent).
    The rows must carry `functional_currency` (from legal_entity). An amount whose rate is
    missing (a date before the first published rate, an unknown currency) stays NULL, which the
    warn test tests/assert_every_fact_has_its_fx_rates.sql reports.
#}

{% macro q2c_fx_joins(currency, functional_currency, fx_date) -%}
    left join {{ ref('fx_rate') }} as fx_functional
        on fx_functional.from_currency = {{ currency }}
        and fx_functional.to_currency = {{ functional_currency }}
        and {{ fx_date }} >= fx_functional.valid_from
        and {{ fx_date }} <= fx_functional.valid_to
    left join {{ ref('fx_rate') }} as fx_reporting
        on fx_reporting.from_currency = {{ currency }}
        and fx_reporting.to_currency = '{{ var("reporting_currency") }}'
        and {{ fx_date }} >= fx_reporting.valid_from
        and {{ fx_date }} <= fx_reporting.valid_to
{%- endmacro %}

{% macro q2c_fx_columns(money_columns, relation, fx_date=none) -%}
    cast('{{ var("reporting_currency") }}' as varchar) as reporting_currency,
        fx_functional.rate as fx_rate_functional,
        fx_reporting.rate as fx_rate_reporting,
        cast({{ fx_date if fx_date is not none else relation ~ '.fx_date' }} as date) as fx_rate_date
    {%- for column in money_columns %},
        {{ q2c_fx_convert(relation ~ '.' ~ column, 'fx_functional.rate') }} as {{ column }}_functional,
        {{ q2c_fx_convert(relation ~ '.' ~ column, 'fx_reporting.rate') }} as {{ column }}_reporting
    {%- endfor %}
{%- endmacro %}

{# amount x rate, rounded to the cent (half away from zero, the same on DuckDB and Postgres). #}
{% macro q2c_fx_convert(amount, rate) -%}
    cast(round(cast({{ amount }} as decimal(18, 2)) * {{ rate }}, 2) as decimal(18, 2))
{%- endmacro %}
