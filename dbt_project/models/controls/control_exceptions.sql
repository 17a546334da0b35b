{#
    The unified control exception queue (docs/controls.md). Grain: one row per open exception
    as of var('as_of_date'): the union of the six control point models, with when the queue
    first saw each exception (control_exception_history), its age and escalation level.

    open_since_date: the earlier of detected_at_date (when the case became an exception, from
        the records: e.g. approval date + grace period) and first_seen_on (the first as-of date
        the queue observed it). An exception already old when the queue first ran is not new.
    age_days: as_of_date - open_since_date (never negative).
    escalation_level, by severity and age_days:
        severity | level 1 from | level 2 from | level 3 from
        high     |  3 days      | 14 days      | 30 days
        medium   |  7 days      | 30 days      | 60 days
        low      | 14 days      | 60 days      | 90 days
    Level 0 is a fresh exception the owner team works in its normal queue.
#}

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
    select * from {{ ref(control_model) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

history as (

    select * from {{ ref('control_exception_history') }}

),

first_seen as (

    select
        exception_id,
        min(as_of_date) as first_seen_on
    from history
    where is_open
    group by exception_id

),

aged as (

    select
        current_exceptions.*,
        coalesce(first_seen.first_seen_on, current_exceptions.as_of_date) as first_seen_on
    from current_exceptions
    left join first_seen
        on first_seen.exception_id = current_exceptions.exception_id

),

dated as (

    select
        aged.*,
        case
            when aged.detected_at_date is not null and aged.detected_at_date < aged.first_seen_on
                then aged.detected_at_date
            else aged.first_seen_on
        end as open_since_date
    from aged

),

with_age as (

    select
        dated.*,
        case
            when {{ dbt.datediff('dated.open_since_date', 'dated.as_of_date', 'day') }} < 0 then 0
            else {{ dbt.datediff('dated.open_since_date', 'dated.as_of_date', 'day') }}
        end as age_days
    from dated

),

final as (

    select
        exception_id,
        rule_id,
        rule_name,
        control_point,
        object_type,
        object_id,
        source_system,
        customer_id,
        contract_id,
        project_id,
        invoice_id,
        description,
        owner_team,
        severity,
        amount_at_risk,
        currency,
        detected_at_date,
        first_seen_on,
        open_since_date,
        cast(age_days as integer) as age_days,
        cast(case
            when severity = 'high' then
                case when age_days >= 30 then 3 when age_days >= 14 then 2 when age_days >= 3 then 1 else 0 end
            when severity = 'medium' then
                case when age_days >= 60 then 3 when age_days >= 30 then 2 when age_days >= 7 then 1 else 0 end
            else
                case when age_days >= 90 then 3 when age_days >= 60 then 2 when age_days >= 14 then 1 else 0 end
        end as integer) as escalation_level,
        first_seen_on = as_of_date as is_new,
        as_of_date
    from with_age

)

select * from final
