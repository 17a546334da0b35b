{#
    Lifetime of every exception the queue has ever held (docs/controls.md, "History"). Grain:
    one row per exception_id, from control_exception_history.

    first_seen_on: the first as-of date it was observed open.
    last_seen_on: the last as-of date it was observed open.
    resolved_on: the first observation after last_seen_on at which it was no longer open
        (NULL while it is open).
    is_open: resolved_on is NULL, i.e. open at the latest run that looked at it.
    reopened_count: how many times it was resolved and then came back.
#}

with

history as (

    select * from {{ ref('control_exception_history') }}

),

spans as (

    select
        exception_id,
        max(rule_id) as rule_id,
        max(rule_name) as rule_name,
        max(control_point) as control_point,
        max(object_type) as object_type,
        max(object_id) as object_id,
        max(owner_team) as owner_team,
        max(severity) as severity,
        min(case when is_open then as_of_date end) as first_seen_on,
        max(case when is_open then as_of_date end) as last_seen_on,
        max(as_of_date) as last_observed_on,
        sum(case when is_open then 1 else 0 end) as observation_count
    from history
    group by exception_id

),

resolutions as (

    select
        spans.exception_id,
        min(case when history.as_of_date > spans.last_seen_on then history.as_of_date end) as resolved_on,
        sum(case when history.as_of_date < spans.last_seen_on then 1 else 0 end) as reopened_count
    from spans
    inner join history
        on history.exception_id = spans.exception_id
        and not history.is_open
    group by spans.exception_id

),

final as (

    select
        spans.exception_id,
        spans.rule_id,
        spans.rule_name,
        spans.control_point,
        spans.object_type,
        spans.object_id,
        spans.owner_team,
        spans.severity,
        spans.first_seen_on,
        spans.last_seen_on,
        resolutions.resolved_on,
        resolutions.resolved_on is null as is_open,
        cast({{ dbt.datediff('spans.first_seen_on', 'coalesce(resolutions.resolved_on, spans.last_observed_on)', 'day') }}
            as integer) as days_open,
        cast(spans.observation_count as integer) as observation_count,
        cast(coalesce(resolutions.reopened_count, 0) as integer) as reopened_count,
        spans.last_observed_on
    from spans
    left join resolutions
        on resolutions.exception_id = spans.exception_id

)

select * from final
