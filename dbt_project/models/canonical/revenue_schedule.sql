{#
    Revenue schedule: one row per contract x month (period_month = first day of the month),
    for every activated (not deleted) contract, from the month of its first activity (term
    start, first billable event, first invoice, first service period) to its last. One
    recognition method per billing model (reference/domain.md §4, ASC 606 / IFRS 15):

      - Time and Materials -> 'right_to_invoice' (ASC 606-10-55-18 practical expedient):
        revenue of a month = approved billable time and expense amounts of the contract's
        projects whose service date (billable_event.event_date) is in the month. Only PSA
        billable events are read (time, expense, milestone): the Stripe charges of retainers
        and subscriptions in billable_event are recognised below from the contract and the
        invoice lines, never a second time from the charges.
      - Fixed Fee -> 'percent_complete' (input method, hours): cumulative revenue through a
        month = contract_amount x min(1, approved hours to date / estimated hours), rounded to
        the cent; the month's revenue is the increment over the previous month. Estimated
        hours = scheduled hours of the projects' assignments that are not Cancelled; hours =
        approved time (billable or not) by service month. Without estimated hours nothing is
        recognised (percent_complete null).
      - Retainer -> 'straight_line' (stand-ready, time elapsed): cumulative revenue through a
        month = contract_amount x days of the term elapsed by the month's end / days in the
        term (start_date .. end_date inclusive), rounded to the cent; partial first and last
        months get their days' share and the months of a full term sum to contract_amount.
      - Subscription -> 'ratable': each Stripe invoice line (canonical invoice_line with a
        service period) is spread daily over its service period the same way (cumulative,
        rounded per line), summed per contract and month.

    billed_amount = the pre-tax subtotal of the contract's canonical invoices dated in the month
    (all systems; credits not netted); cumulative_* are running totals over the contract's
    months. Amounts in the contract currency, converted at the rate of the month's last day
    (or the as-of date when earlier). Months after the as-of date's month are scheduled, not
    yet earned (is_future_period): only straight_line and ratable contracts have revenue there.

    Materialised as a table, rebuilt each run: percent-complete catch-ups and amendments
    restate a contract's months, and the schedule (contracts x months) is small next to its
    inputs, which are incremental upstream (billable_event, invoice_line).
#}

with

contracts as (

    select * from {{ ref('contract') }}

),

engagements as (

    select * from {{ ref('engagement') }}

),

billable_events as (

    -- PSA items only. Stripe charges (event_type retainer / subscription) are not revenue inputs:
    -- retainers are straight-line from the contract and subscriptions ratable over their invoice
    -- lines, so reading the charges too would count those months twice (and widen the months).
    select * from {{ ref('billable_event') }}
    where {{ q2c_is_psa_item() }}

),

assignments as (

    select * from {{ ref('stg_certinia__pse_assignment_c') }}

),

invoice_lines as (

    select * from {{ ref('invoice_line') }}

),

invoices as (

    select * from {{ ref('invoice') }}

),

legal_entities as (

    select * from {{ ref('legal_entity') }}

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

),

scheduled_contracts as (

    select
        contracts.*,
        case contracts.billing_model
            when 'Time and Materials' then 'right_to_invoice'
            when 'Fixed Fee' then 'percent_complete'
            when 'Retainer' then 'straight_line'
            when 'Subscription' then 'ratable'
        end as recognition_method
    from contracts
    where contracts.activated_at is not null

),

first_projects as (

    {{ q2c_contract_project('engagements') }}

),

-- Monthly inputs --------------------------------------------------------------------------

event_months as (

    select
        contract_id,
        cast({{ dbt.date_trunc('month', 'event_date') }} as date) as period_month,
        sum(case when event_type in ('time', 'expense') and is_billable and is_approved then amount else 0 end)
            as approved_billable_amount,
        sum(case when event_type = 'time' and is_approved then quantity else 0 end) as approved_hours
    from billable_events
    where contract_id is not null
        and event_date is not null
    group by 1, 2

),

estimated_hours as (

    select
        engagements.contract_id,
        sum(assignments.scheduled_hours) as estimated_hours
    from assignments
    inner join engagements
        on engagements.project_id = assignments.project_id
    where not assignments.is_deleted
        and coalesce(assignments.status, '') <> 'Cancelled'
        and engagements.contract_id is not null
    group by 1

),

billed_months as (

    select
        contract_id,
        cast({{ dbt.date_trunc('month', 'invoice_date') }} as date) as period_month,
        sum(subtotal_amount) as billed_amount
    from invoices
    where contract_id is not null
    group by 1, 2

),

service_lines as (

    select
        invoice_lines.invoice_line_id,
        invoice_lines.contract_id,
        invoice_lines.amount,
        invoice_lines.service_period_start,
        invoice_lines.service_period_end,
        {{ dbt.datediff('invoice_lines.service_period_start', 'invoice_lines.service_period_end', 'day') }} + 1
            as service_days
    from invoice_lines
    inner join scheduled_contracts
        on scheduled_contracts.contract_id = invoice_lines.contract_id
        and scheduled_contracts.recognition_method = 'ratable'
    where invoice_lines.service_period_start is not null
        and invoice_lines.service_period_end >= invoice_lines.service_period_start

),

-- Month spine per contract -----------------------------------------------------------------

activity_bounds as (

    select contract_id, cast({{ dbt.date_trunc('month', 'start_date') }} as date) as first_month,
        cast({{ dbt.date_trunc('month', 'end_date') }} as date) as last_month
    from scheduled_contracts
    where start_date is not null and end_date is not null
    union all
    select contract_id, period_month, period_month from event_months
    union all
    select contract_id, period_month, period_month from billed_months
    union all
    select contract_id, cast({{ dbt.date_trunc('month', 'service_period_start') }} as date),
        cast({{ dbt.date_trunc('month', 'service_period_end') }} as date)
    from service_lines

),

contract_bounds as (

    select
        activity_bounds.contract_id,
        min(activity_bounds.first_month) as first_month,
        max(activity_bounds.last_month) as last_month
    from activity_bounds
    inner join scheduled_contracts
        on scheduled_contracts.contract_id = activity_bounds.contract_id
    group by 1

),

month_offsets as (

    {{ integer_spine(600) }}

),

contract_months as (

    select
        contract_bounds.contract_id,
        cast({{ dbt.dateadd('month', 'month_offsets.n', 'contract_bounds.first_month') }} as date) as period_month
    from contract_bounds
    cross join month_offsets
    where month_offsets.n <= {{ dbt.datediff('contract_bounds.first_month', 'contract_bounds.last_month', 'month') }}

),

months as (

    select
        contract_months.contract_id,
        contract_months.period_month,
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'contract_months.period_month')) }} as date)
            as period_end,
        cast({{ dbt.dateadd('day', -1, 'contract_months.period_month') }} as date) as previous_period_end
    from contract_months

),

-- Recognition per method -----------------------------------------------------------------

ratable_line_months as (

    select
        months.contract_id,
        months.period_month,
        service_lines.invoice_line_id,
        service_lines.amount,
        service_lines.service_days,
        -- days of the line's service period elapsed by the month's end / by the previous month's end
        greatest(0, least(service_lines.service_days,
            {{ dbt.datediff('service_lines.service_period_start', 'months.period_end', 'day') }} + 1)) as days_to_date,
        greatest(0, least(service_lines.service_days,
            {{ dbt.datediff('service_lines.service_period_start', 'months.previous_period_end', 'day') }} + 1))
            as days_to_previous
    from months
    inner join service_lines
        on service_lines.contract_id = months.contract_id
        and months.period_month <= service_lines.service_period_end
        and months.period_end >= service_lines.service_period_start

),

ratable_months as (

    select
        contract_id,
        period_month,
        sum(
            cast(round(amount * days_to_date / service_days, 2) as decimal(18, 2))
            - cast(round(amount * days_to_previous / service_days, 2) as decimal(18, 2))
        ) as recognized_amount
    from ratable_line_months
    group by 1, 2

),

hours_to_date as (

    select
        months.contract_id,
        months.period_month,
        sum(coalesce(event_months.approved_hours, 0)) over (
            partition by months.contract_id
            order by months.period_month
            rows between unbounded preceding and current row
        ) as cumulative_hours
    from months
    left join event_months
        on event_months.contract_id = months.contract_id
        and event_months.period_month = months.period_month

),

recognized as (

    select
        months.contract_id,
        months.period_month,
        months.period_end,
        scheduled_contracts.recognition_method,
        scheduled_contracts.contract_amount,
        estimated_hours.estimated_hours,
        hours_to_date.cumulative_hours,
        case
            when scheduled_contracts.recognition_method = 'percent_complete' and estimated_hours.estimated_hours > 0
                then least(1.0, hours_to_date.cumulative_hours / estimated_hours.estimated_hours)
        end as percent_complete,
        case scheduled_contracts.recognition_method
            when 'right_to_invoice' then coalesce(event_months.approved_billable_amount, 0)
            when 'ratable' then coalesce(ratable_months.recognized_amount, 0)
            when 'straight_line' then
                cast(round(scheduled_contracts.contract_amount
                    * greatest(0, least(
                        {{ dbt.datediff('scheduled_contracts.start_date', 'scheduled_contracts.end_date', 'day') }} + 1,
                        {{ dbt.datediff('scheduled_contracts.start_date', 'months.period_end', 'day') }} + 1))
                    / ({{ dbt.datediff('scheduled_contracts.start_date', 'scheduled_contracts.end_date', 'day') }} + 1),
                    2) as decimal(18, 2))
                - cast(round(scheduled_contracts.contract_amount
                    * greatest(0, least(
                        {{ dbt.datediff('scheduled_contracts.start_date', 'scheduled_contracts.end_date', 'day') }} + 1,
                        {{ dbt.datediff('scheduled_contracts.start_date', 'months.previous_period_end', 'day') }} + 1))
                    / ({{ dbt.datediff('scheduled_contracts.start_date', 'scheduled_contracts.end_date', 'day') }} + 1),
                    2) as decimal(18, 2))
        end as straight_or_simple_amount,
        coalesce(billed_months.billed_amount, 0) as billed_amount
    from months
    inner join scheduled_contracts
        on scheduled_contracts.contract_id = months.contract_id
    left join event_months
        on event_months.contract_id = months.contract_id
        and event_months.period_month = months.period_month
    left join ratable_months
        on ratable_months.contract_id = months.contract_id
        and ratable_months.period_month = months.period_month
    left join hours_to_date
        on hours_to_date.contract_id = months.contract_id
        and hours_to_date.period_month = months.period_month
    left join estimated_hours
        on estimated_hours.contract_id = months.contract_id
    left join billed_months
        on billed_months.contract_id = months.contract_id
        and billed_months.period_month = months.period_month

),

percent_complete_cumulative as (

    select
        recognized.*,
        case
            when recognition_method = 'percent_complete'
                then coalesce(cast(round(contract_amount * percent_complete, 2) as decimal(18, 2)), 0)
        end as percent_complete_cumulative_amount
    from recognized

),

amounts as (

    select
        pc.*,
        cast(
            case
                when pc.recognition_method = 'percent_complete'
                    then pc.percent_complete_cumulative_amount - coalesce(lag(pc.percent_complete_cumulative_amount) over (
                        partition by pc.contract_id order by pc.period_month), 0)
                else pc.straight_or_simple_amount
            end as decimal(18, 2)
        ) as recognized_amount
    from percent_complete_cumulative as pc

),

final_rows as (

    select
        amounts.contract_id || '|' || cast(amounts.period_month as varchar) as revenue_schedule_id,
        amounts.contract_id,
        first_projects.project_id,
        scheduled_contracts.customer_id,
        scheduled_contracts.legal_entity_id,
        scheduled_contracts.opportunity_id as correlation_id,
        scheduled_contracts.billing_model,
        amounts.recognition_method,
        amounts.period_month,
        amounts.period_end,
        amounts.period_month > cast({{ dbt.date_trunc('month', 'as_of.as_of_date') }} as date) as is_future_period,
        cast(amounts.percent_complete as decimal(9, 6)) as percent_complete,
        amounts.cumulative_hours,
        amounts.estimated_hours,
        amounts.recognized_amount,
        cast(sum(amounts.recognized_amount) over (
            partition by amounts.contract_id
            order by amounts.period_month
            rows between unbounded preceding and current row
        ) as decimal(18, 2)) as cumulative_recognized_amount,
        cast(amounts.billed_amount as decimal(18, 2)) as billed_amount,
        cast(sum(amounts.billed_amount) over (
            partition by amounts.contract_id
            order by amounts.period_month
            rows between unbounded preceding and current row
        ) as decimal(18, 2)) as cumulative_billed_amount,
        scheduled_contracts.currency,
        legal_entities.functional_currency,
        case when amounts.period_end < as_of.as_of_date then amounts.period_end else as_of.as_of_date end
            as fx_date,
        'salesforce' as source_system,
        amounts.contract_id as source_id
    from amounts
    cross join as_of
    inner join scheduled_contracts
        on scheduled_contracts.contract_id = amounts.contract_id
    left join first_projects
        on first_projects.contract_id = amounts.contract_id
    left join legal_entities
        on legal_entities.legal_entity_id = scheduled_contracts.legal_entity_id

),

final as (

    select
        final_rows.*,
        {{ q2c_fx_columns(['recognized_amount', 'cumulative_recognized_amount', 'billed_amount'], 'final_rows') }}
    from final_rows
    {{ q2c_fx_joins('final_rows.currency', 'final_rows.functional_currency', 'final_rows.fx_date') }}

)

select * from final
