{#
    Control point: billing eligibility (docs/controls.md). Grain: one row per exception, i.e.
    per (rule_id, object_id), in the shared exception layout (see control_exceptions).

    BE-001 approved_item_not_billed: an approved, billable timecard split (pse__Timecard__c) or
        expense (pse__Expense__c) with no pse__Billing_Event_Item__c more than
        var('billing_grace_days') days after its Approved_Date__c. Object: the split or expense.
    BE-002 completed_milestone_not_billed: a milestone with pse__Status__c 'Complete' and no
        pse__Billing_Event_Item__c more than var('milestone_grace_days') days after its
        pse__Actual_Date__c. Object: the milestone.
    BE-003 time_on_inactive_or_temporary_project: a timecard split booked to a project of
        pse__Project_Type__c 'Temporary', or to an inactive project (pse__Is_Active__c false)
        for dates after its pse__End_Date__c (split pse__Start_Date__c > project end date).
        Object: the split.
    BE-004 bill_rate_differs_from_rate_card: a billable timecard split whose pse__Bill_Rate__c
        differs from pse__Suggested_Bill_Rate__c of its assignment's pse__Rate_Card__c.
        Object: the split.

    Deleted PSA rows (IsDeleted) are ignored: a split on a deleted project, assignment or rate
    card has nothing to be compared with.
#}

{%- set billing_grace_days = var('billing_grace_days', 45) | int -%}
{%- set milestone_grace_days = var('milestone_grace_days', 30) | int -%}

with

splits as (

    select * from {{ ref('stg_certinia__pse_timecard_c') }}
    where not is_deleted

),

expenses as (

    select * from {{ ref('stg_certinia__pse_expense_c') }}
    where not is_deleted

),

milestones as (

    select * from {{ ref('stg_certinia__pse_milestone_c') }}
    where not is_deleted

),

projects as (

    select * from {{ ref('stg_certinia__pse_proj_c') }}
    where not is_deleted

),

assignments as (

    select * from {{ ref('stg_certinia__pse_assignment_c') }}
    where not is_deleted

),

rate_cards as (

    select * from {{ ref('stg_certinia__pse_rate_card_c') }}
    where not is_deleted

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

),

unbilled_splits as (

    select
        'BE-001' as rule_id,
        'approved_item_not_billed' as rule_name,
        'timecard_split' as object_type,
        splits.timecard_id as object_id,
        projects.account_id as customer_id,
        projects.contract_id,
        splits.project_id,
        cast(null as varchar) as invoice_id,
        'Timecard split ' || splits.timecard_id || ' (project ' || coalesce(splits.project_id, 'empty')
            || ') was approved on ' || cast(splits.approved_date as varchar)
            || ' and is billable but has no pse__Billing_Event_Item__c after {{ billing_grace_days }} days.'
            as description,
        splits.total_billable_amount as amount_at_risk,
        splits.currency,
        cast({{ dbt.dateadd('day', billing_grace_days + 1, 'splits.approved_date') }} as date) as detected_at_date
    from splits
    cross join as_of
    left join projects
        on projects.project_id = splits.project_id
    where splits.is_approved
        and splits.is_billable
        and coalesce(splits.billing_event_item_id, '') = ''
        and {{ dbt.datediff('splits.approved_date', 'as_of.as_of_date', 'day') }} > {{ billing_grace_days }}

),

unbilled_expenses as (

    select
        'BE-001' as rule_id,
        'approved_item_not_billed' as rule_name,
        'expense' as object_type,
        expenses.expense_id as object_id,
        projects.account_id as customer_id,
        projects.contract_id,
        expenses.project_id,
        cast(null as varchar) as invoice_id,
        'Expense ' || expenses.expense_id || ' (project ' || coalesce(expenses.project_id, 'empty')
            || ') was approved on ' || cast(expenses.approved_date as varchar)
            || ' and is billable but has no pse__Billing_Event_Item__c after {{ billing_grace_days }} days.'
            as description,
        coalesce(expenses.billing_amount, expenses.amount) as amount_at_risk,
        expenses.currency,
        cast({{ dbt.dateadd('day', billing_grace_days + 1, 'expenses.approved_date') }} as date) as detected_at_date
    from expenses
    cross join as_of
    left join projects
        on projects.project_id = expenses.project_id
    where expenses.is_approved
        and expenses.is_billable
        and coalesce(expenses.billing_event_item_id, '') = ''
        and {{ dbt.datediff('expenses.approved_date', 'as_of.as_of_date', 'day') }} > {{ billing_grace_days }}

),

unbilled_milestones as (

    select
        'BE-002' as rule_id,
        'completed_milestone_not_billed' as rule_name,
        'milestone' as object_type,
        milestones.milestone_id as object_id,
        projects.account_id as customer_id,
        projects.contract_id,
        milestones.project_id,
        cast(null as varchar) as invoice_id,
        'Milestone ' || milestones.milestone_id || ' (' || coalesce(milestones.milestone_name, '')
            || ', project ' || coalesce(milestones.project_id, 'empty') || ') was completed on '
            || cast(milestones.actual_date as varchar)
            || ' but has no pse__Billing_Event_Item__c after {{ milestone_grace_days }} days.' as description,
        milestones.milestone_amount as amount_at_risk,
        milestones.currency,
        cast({{ dbt.dateadd('day', milestone_grace_days + 1, 'milestones.actual_date') }} as date) as detected_at_date
    from milestones
    cross join as_of
    left join projects
        on projects.project_id = milestones.project_id
    where milestones.status = 'Complete'
        and coalesce(milestones.billing_event_item_id, '') = ''
        and {{ dbt.datediff('milestones.actual_date', 'as_of.as_of_date', 'day') }} > {{ milestone_grace_days }}

),

time_on_closed_projects as (

    select
        'BE-003' as rule_id,
        'time_on_inactive_or_temporary_project' as rule_name,
        'timecard_split' as object_type,
        splits.timecard_id as object_id,
        projects.account_id as customer_id,
        projects.contract_id,
        splits.project_id,
        cast(null as varchar) as invoice_id,
        'Timecard split ' || splits.timecard_id || ' is booked to project ' || splits.project_id
            || case
                when projects.project_type = 'Temporary' then ', whose pse__Project_Type__c is Temporary.'
                else ', which is inactive (pse__Is_Active__c false), for '
                    || cast(splits.start_date as varchar) || ', after its pse__End_Date__c '
                    || cast(projects.end_date as varchar) || '.'
            end as description,
        splits.total_billable_amount as amount_at_risk,
        splits.currency,
        cast(splits.created_at as date) as detected_at_date
    from splits
    inner join projects
        on projects.project_id = splits.project_id
    where projects.project_type = 'Temporary'
        or (
            not projects.is_active
            and projects.end_date is not null
            and splits.start_date > projects.end_date
        )

),

rate_differs as (

    select
        'BE-004' as rule_id,
        'bill_rate_differs_from_rate_card' as rule_name,
        'timecard_split' as object_type,
        splits.timecard_id as object_id,
        projects.account_id as customer_id,
        projects.contract_id,
        splits.project_id,
        cast(null as varchar) as invoice_id,
        'Timecard split ' || splits.timecard_id || ' has pse__Bill_Rate__c '
            || coalesce(cast(splits.bill_rate as varchar), 'empty') || ' but the rate card '
            || rate_cards.rate_card_id || ' of its assignment ' || assignments.assignment_id
            || ' suggests pse__Suggested_Bill_Rate__c '
            || coalesce(cast(rate_cards.suggested_bill_rate as varchar), 'empty') || '.' as description,
        -- What the split bills beyond (or short of) the rate card.
        (splits.bill_rate - rate_cards.suggested_bill_rate) * splits.total_hours as amount_at_risk,
        splits.currency,
        cast(splits.created_at as date) as detected_at_date
    from splits
    inner join assignments
        on assignments.assignment_id = splits.assignment_id
    inner join rate_cards
        on rate_cards.rate_card_id = assignments.rate_card_id
    left join projects
        on projects.project_id = splits.project_id
    where splits.is_billable
        and splits.bill_rate is distinct from rate_cards.suggested_bill_rate

),

exceptions as (

    select * from unbilled_splits
    union all
    select * from unbilled_expenses
    union all
    select * from unbilled_milestones
    union all
    select * from time_on_closed_projects
    union all
    select * from rate_differs

),

final as (

    select
        -- Stable across runs: the same case keeps its id every day.
        {{ q2c_hash(['exceptions.rule_id', 'exceptions.object_id']) }} as exception_id,
        exceptions.rule_id,
        exceptions.rule_name,
        'billing_eligibility' as control_point,
        exceptions.object_type,
        exceptions.object_id,
        cast('certinia' as varchar) as source_system,
        exceptions.customer_id,
        exceptions.contract_id,
        exceptions.project_id,
        exceptions.invoice_id,
        exceptions.description,
        case
            when exceptions.rule_id = 'BE-003' then 'Delivery Operations'
            else 'Billing Operations'
        end as owner_team,
        case
            when exceptions.rule_id in ('BE-001', 'BE-002') then 'high'
            else 'medium'
        end as severity,
        cast(exceptions.amount_at_risk as decimal(18, 2)) as amount_at_risk,
        exceptions.currency,
        exceptions.detected_at_date,
        as_of.as_of_date
    from exceptions
    cross join as_of

)

select * from final
