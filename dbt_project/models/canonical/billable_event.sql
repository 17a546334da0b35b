{#
    Billable events: one row per PSA item that can be billed - timecard splits ('time'),
    expenses ('expense') and completed milestones ('milestone', those with an actual date).
    Deleted PSA records (IsDeleted) are not events. Retainer and subscription charges are
    invoiced by the billing platform from the contract, not from PSA items: they are in
    invoice_line (Stripe lines) and revenue_schedule, not here.

    Rules:
      - event_date = service date (split start date, expense date, milestone actual date);
        ready_to_bill_date = approval date (time, expense) or the milestone's actual date.
      - quantity = hours for time, 1 otherwise; amount = the billable amount the PSA computed
        (split pse__Total_Billable_Amount__c, expense pse__Billing_Amount__c, milestone amount).
      - standard_rate = the suggested bill rate of the assignment's rate card (null without one);
        standard_amount = quantity x standard_rate for time, the amount itself for expenses and
        milestones (passed through / fixed, so billed at standard).
      - project, contract, customer, legal entity (engagement.effective_legal_entity_id: the
        project's, else its contract's) and correlation id come from the project (engagement); billing_event_id from the billing event item that billed the item.
      - FX: amounts converted at the rate of event_date (macros/fx.sql).

    Incremental (unique key billable_event_id, delete+insert): a run rebuilds only the items
    whose source fields or project facts changed (source_hash, macros/incremental_helpers.sql)
    and the items of the last var('fx_restatement_days') days before the latest published rate
    (a day's rate may arrive after its items), and a post-hook removes events whose PSA record
    was deleted. Only facts of the item itself, its project and stable parents (assignment and
    its rate card, billing event item) are kept here, so a row is right as long as those are
    unchanged; whether the billing event was invoiced is resolved downstream through
    billing_event.
#}

{{ config(
    materialized='incremental',
    unique_key='billable_event_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook=["{{ q2c_delete_missing_rows('billable_event_id', billable_event_live_keys()) }}"]
) }}

with

timecards as (

    select * from {{ ref('stg_certinia__pse_timecard_c') }}

),

expenses as (

    select * from {{ ref('stg_certinia__pse_expense_c') }}

),

milestones as (

    select * from {{ ref('stg_certinia__pse_milestone_c') }}

),

assignments as (

    select * from {{ ref('stg_certinia__pse_assignment_c') }}

),

rate_cards as (

    select * from {{ ref('stg_certinia__pse_rate_card_c') }}

),

billing_event_items as (

    select * from {{ ref('stg_certinia__pse_billing_event_item_c') }}

),

engagements as (

    select * from {{ ref('engagement') }}

),

legal_entities as (

    select * from {{ ref('legal_entity') }}

),

items as (

    select
        'certinia:' || timecard_id as billable_event_id,
        'time' as event_type,
        timecard_id as source_id,
        project_id,
        resource_id,
        assignment_id,
        start_date as event_date,
        approved_date as ready_to_bill_date,
        cast(total_hours as decimal(18, 2)) as quantity,
        cast(bill_rate as decimal(18, 2)) as bill_rate,
        cast(total_billable_amount as decimal(18, 2)) as amount,
        is_billable,
        is_approved,
        billing_event_item_id,
        currency,
        system_modstamp as source_modified_at,
        {{ q2c_hash(['timecard_id', 'project_id', 'resource_id', 'assignment_id', 'start_date',
                     'approved_date', 'total_hours', 'bill_rate', 'total_billable_amount', 'is_billable',
                     'is_approved', 'billing_event_item_id', 'currency', 'system_modstamp']) }} as source_hash
    from timecards
    where not is_deleted

    union all

    select
        'certinia:' || expense_id,
        'expense',
        expense_id,
        project_id,
        resource_id,
        assignment_id,
        expense_date,
        approved_date,
        cast(1 as decimal(18, 2)),
        cast(null as decimal(18, 2)),
        cast(billing_amount as decimal(18, 2)),
        is_billable,
        is_approved,
        billing_event_item_id,
        currency,
        system_modstamp,
        {{ q2c_hash(['expense_id', 'project_id', 'resource_id', 'assignment_id', 'expense_date',
                     'approved_date', 'billing_amount', 'is_billable', 'is_approved',
                     'billing_event_item_id', 'currency', 'system_modstamp']) }}
    from expenses
    where not is_deleted

    union all

    select
        'certinia:' || milestone_id,
        'milestone',
        milestone_id,
        project_id,
        cast(null as varchar),
        cast(null as varchar),
        actual_date,
        actual_date,
        cast(1 as decimal(18, 2)),
        cast(null as decimal(18, 2)),
        cast(milestone_amount as decimal(18, 2)),
        true,
        is_approved_for_billing,
        billing_event_item_id,
        currency,
        system_modstamp,
        {{ q2c_hash(['milestone_id', 'project_id', 'actual_date', 'milestone_amount',
                     'is_approved_for_billing', 'billing_event_item_id', 'currency', 'system_modstamp']) }}
    from milestones
    where not is_deleted
        and actual_date is not null

),

-- The item's own fields plus what it takes from its project (which can change after the item,
-- e.g. a legal entity filled in later): a change to either rebuilds the row.
hashed as (

    select
        items.*,
        {{ q2c_hash(['items.source_hash', 'engagements.contract_id', 'engagements.customer_id',
                     'engagements.effective_legal_entity_id', 'engagements.correlation_id']) }} as row_hash
    from items
    left join engagements
        on engagements.project_id = items.project_id

),

changed as (

    select * from hashed
    {%- if is_incremental() %}
    where not exists (
            select 1 from {{ this }} as existing
            where existing.billable_event_id = hashed.billable_event_id
                and existing.source_hash = hashed.row_hash
        )
        -- Recent items are converted again: a day's rate may be published after the item was built.
        or hashed.event_date >= {{ q2c_fx_restatement_start() }}
    {%- endif %}

),

enriched as (

    select
        changed.billable_event_id,
        changed.event_type,
        engagements.contract_id,
        engagements.customer_id,
        changed.project_id,
        changed.resource_id,
        changed.assignment_id,
        engagements.effective_legal_entity_id as legal_entity_id,
        engagements.correlation_id,
        changed.event_date,
        changed.ready_to_bill_date,
        changed.quantity,
        changed.bill_rate,
        cast(rate_cards.suggested_bill_rate as decimal(18, 2)) as standard_rate,
        changed.amount,
        case
            when changed.event_type = 'time'
                then cast(round(changed.quantity * rate_cards.suggested_bill_rate, 2) as decimal(18, 2))
            else changed.amount
        end as standard_amount,
        changed.is_billable,
        changed.is_approved,
        changed.billing_event_item_id,
        billing_event_items.billing_event_id,
        changed.currency,
        legal_entities.functional_currency,
        changed.event_date as fx_date,
        'certinia' as source_system,
        changed.source_id,
        changed.source_modified_at,
        changed.row_hash as source_hash
    from changed
    left join engagements
        on engagements.project_id = changed.project_id
    left join assignments
        on assignments.assignment_id = changed.assignment_id
    left join rate_cards
        on rate_cards.rate_card_id = assignments.rate_card_id
    left join billing_event_items
        on billing_event_items.billing_event_item_id = changed.billing_event_item_id
    left join legal_entities
        on legal_entities.legal_entity_id = engagements.effective_legal_entity_id

),

final as (

    select
        enriched.billable_event_id,
        enriched.event_type,
        enriched.project_id,
        enriched.contract_id,
        enriched.customer_id,
        enriched.resource_id,
        enriched.assignment_id,
        enriched.legal_entity_id,
        enriched.correlation_id,
        enriched.event_date,
        enriched.ready_to_bill_date,
        enriched.quantity,
        enriched.bill_rate,
        enriched.standard_rate,
        enriched.amount,
        enriched.standard_amount,
        enriched.is_billable,
        enriched.is_approved,
        enriched.billing_event_item_id,
        enriched.billing_event_id,
        enriched.currency,
        enriched.functional_currency,
        {{ q2c_fx_columns(['amount', 'standard_amount'], 'enriched') }},
        enriched.source_system,
        enriched.source_id,
        enriched.source_modified_at,
        enriched.source_hash
    from enriched
    {{ q2c_fx_joins('enriched.currency', 'enriched.functional_currency', 'enriched.fx_date') }}

)

select * from final
