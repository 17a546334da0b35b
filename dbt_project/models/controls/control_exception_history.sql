{#
    The control exception queue's history (docs/controls.md, "History"). Grain: one row per
    exception per as-of date it was observed (unique key exception_id + as_of_date).

    Each `dbt build` appends the observations of its as-of date (var('as_of_date')):
      - one row with is_open true for every exception the six control point models hold;
      - one row with is_open false for every exception that was open at its latest earlier
        observation and is no longer there: the first observation that it was resolved.
    A rerun at the same as-of date replaces that date's rows (the pre-hook deletes them first),
    so reruns never duplicate history. Runs are meant to go forward in as-of date; a rerun of
    an earlier date recomputes that date against the observations before it.

    Incremental and `full_refresh: false`: `dbt build --full-refresh` rebuilds every other model
    but keeps this history. To really start it over, drop the table.
#}

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['exception_id', 'as_of_date'],
        full_refresh=false,
        on_schema_change='append_new_columns',
        pre_hook="{% if is_incremental() %}delete from {{ this }} where as_of_date = {{ q2c_as_of_date() }}{% endif %}"
    )
}}

{%- set control_models = [
    'ctl_contract_activation',
    'ctl_project_provisioning',
    'ctl_billing_eligibility',
    'ctl_invoice_release',
    'ctl_cash_application',
    'ctl_master_data',
] -%}

with

current_exceptions as (

    {% for control_model in control_models %}
    select
        exception_id,
        rule_id,
        rule_name,
        control_point,
        object_type,
        object_id,
        owner_team,
        severity,
        amount_at_risk,
        currency,
        detected_at_date
    from {{ ref(control_model) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

),

opened as (

    select
        current_exceptions.*,
        as_of.as_of_date,
        true as is_open
    from current_exceptions
    cross join as_of

),

{% if is_incremental() %}

earlier_observations as (

    select
        history.*,
        row_number() over (
            partition by history.exception_id
            order by history.as_of_date desc
        ) as recency
    from {{ this }} as history
    cross join as_of
    where history.as_of_date < as_of.as_of_date

),

-- Open at the latest earlier observation, absent now: resolved as of this date.
resolved as (

    select
        latest.exception_id,
        latest.rule_id,
        latest.rule_name,
        latest.control_point,
        latest.object_type,
        latest.object_id,
        latest.owner_team,
        latest.severity,
        latest.amount_at_risk,
        latest.currency,
        latest.detected_at_date,
        as_of.as_of_date,
        false as is_open
    from earlier_observations as latest
    cross join as_of
    left join current_exceptions
        on current_exceptions.exception_id = latest.exception_id
    where latest.recency = 1
        and latest.is_open
        and current_exceptions.exception_id is null

),

{% endif %}

observations as (

    select * from opened
    {% if is_incremental() %}
    union all
    select * from resolved
    {% endif %}

),

final as (

    select
        {{ q2c_hash(['exception_id', 'as_of_date']) }} as observation_id,
        exception_id,
        as_of_date,
        is_open,
        rule_id,
        rule_name,
        control_point,
        object_type,
        object_id,
        owner_team,
        severity,
        cast(amount_at_risk as decimal(18, 2)) as amount_at_risk,
        currency,
        detected_at_date,
        cast('{{ invocation_id }}' as varchar) as dbt_invocation_id
    from observations

)

select * from final
