{#
    Utilization per resource and calendar month (reference/domain.md, utilization), from the
    month the resource became active to the month of q2c_as_of_date().
      available_hours = 8 x working days (Monday to Friday) of the month that fall within the
                        resource's active period and on or before the as-of date. The active
                        period starts on the day the resource record was created and runs while
                        it is active (an inactive resource: up to its last modification, when it
                        was deactivated). No holiday calendar exists in the sources, so none is
                        subtracted; time off is not booked in the PSA and is not excluded.
      billable_hours  = hours of approved, billable time (canonical billable_event, time) dated
                        in the month (PSA splits timecards at month ends, so a split falls in
                        one month);
      non_billable_hours = approved time that is not billable (fixed-fee, retainer and internal
                        work);
      utilization     = billable_hours / available_hours (null without available hours);
      total_utilization = (billable + non-billable approved hours) / available_hours.
#}

with

resource_records as (

    select * from {{ ref('resource') }}

),

contacts as (

    select * from {{ ref('stg_certinia__contact') }}

),

resources as (

    -- The active period from the resource's CRM contact (canonical resource has no dates).
    select
        resource_records.resource_id,
        resource_records.resource_name,
        resource_records.role,
        resource_records.legal_entity_id,
        cast(contacts.created_at as date) as active_from,
        case when not resource_records.is_active then cast(contacts.last_modified_at as date) end as active_to
    from resource_records
    inner join contacts
        on contacts.contact_id = resource_records.resource_id

),

billable_events as (

    select * from {{ ref('billable_event') }}

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

),

day_offsets as (

    {{ integer_spine(1830) }}

),

days as (

    select
        cast({{ dbt.dateadd('day', '-1 * day_offsets.n', 'as_of.as_of_date') }} as date) as calendar_date
    from day_offsets
    cross join as_of

),

working_days as (

    select
        calendar_date,
        cast({{ dbt.date_trunc('month', 'calendar_date') }} as date) as month_start
    from days
    where extract(dow from calendar_date) between 1 and 5

),

available as (

    select
        resources.resource_id,
        working_days.month_start,
        count(*) * 8 as available_hours
    from resources
    inner join working_days
        on working_days.calendar_date >= resources.active_from
        and (resources.active_to is null or working_days.calendar_date <= resources.active_to)
    group by resources.resource_id, working_days.month_start

),

booked as (

    select
        billable_events.resource_id,
        cast({{ dbt.date_trunc('month', 'billable_events.event_date') }} as date) as month_start,
        sum(case when billable_events.is_billable then billable_events.quantity else 0 end) as billable_hours,
        sum(case when not billable_events.is_billable then billable_events.quantity else 0 end)
            as non_billable_hours
    from billable_events
    cross join as_of
    where billable_events.event_type = 'time'
        and billable_events.is_approved
        and billable_events.event_date <= as_of.as_of_date
    group by
        billable_events.resource_id,
        cast({{ dbt.date_trunc('month', 'billable_events.event_date') }} as date)

),

joined as (

    select
        available.resource_id,
        available.month_start,
        available.available_hours,
        coalesce(booked.billable_hours, 0) as billable_hours,
        coalesce(booked.non_billable_hours, 0) as non_billable_hours
    from available
    left join booked
        on booked.resource_id = available.resource_id
        and booked.month_start = available.month_start

),

final as (

    select
        cast(joined.resource_id || '|' || cast(joined.month_start as varchar) as varchar) as utilization_key,
        cast(joined.resource_id as varchar) as resource_id,
        cast(resources.resource_name as varchar) as resource_name,
        cast(resources.role as varchar) as role,
        cast(resources.legal_entity_id as varchar) as legal_entity_id,
        cast(joined.month_start as date) as month_start,
        cast(joined.available_hours as decimal(18, 2)) as available_hours,
        cast(joined.billable_hours as decimal(18, 2)) as billable_hours,
        cast(joined.non_billable_hours as decimal(18, 2)) as non_billable_hours,
        cast(
            case when joined.available_hours > 0 then joined.billable_hours / joined.available_hours end
            as decimal(9, 4)
        ) as utilization,
        cast(
            case when joined.available_hours > 0
                then (joined.billable_hours + joined.non_billable_hours) / joined.available_hours end
            as decimal(9, 4)
        ) as total_utilization,
        cast(as_of.as_of_date as date) as as_of_date
    from joined
    inner join resources
        on resources.resource_id = joined.resource_id
    cross join as_of

)

select * from final
