{#
    Billable events: one row per item that can be billed.
      - PSA items (source_system 'certinia'): timecard splits ('time'), expenses ('expense') and
        completed milestones ('milestone', those with an actual date). Deleted PSA records
        (IsDeleted) are not events. They are billed through PSA billing events and ERP invoices.
      - Stripe charges (source_system 'stripe'): one row per subscription item and service
        period of a retainer or subscription contract ('retainer' / 'subscription', from the
        contract's billing model; 'subscription' when the contract is unknown). Stripe invoices
        them itself, each month in advance: they are not on PSA billing events. A period's
        charge is one event however many invoices billed it (a voided invoice and its reissue
        are one charge).

    Rules, PSA items:
      - event_date = service date (split start date, expense date, milestone actual date);
        ready_to_bill_date = approval date (time, expense) or the milestone's actual date.
      - quantity = hours for time, 1 otherwise; amount = the billable amount the PSA computed
        (split pse__Total_Billable_Amount__c, expense pse__Billing_Amount__c, milestone amount).
      - standard_rate = the suggested bill rate of the assignment's rate card (null without one);
        standard_amount = quantity x standard_rate for time, the amount itself for expenses and
        milestones (passed through / fixed, so billed at standard).
      - project, contract, customer, legal entity (engagement.effective_legal_entity_id: the
        project's, else its contract's) and correlation id come from the project (engagement); billing_event_id from the billing event item that billed the item.
    Rules, Stripe charges (lines of raw_stripe.invoices `lines.data`, read in both API shapes:
    Basil `parent.subscription_item_details.subscription_item`, older flat `subscription_item`):
      - billable_event_id = 'stripe:' || subscription item id || ':' || service period start
        (the line's `period.start`, unix seconds -> UTC date); lines without a subscription item
        (one-off invoice items) and lines of deleted invoices are not charges.
      - the period's line is the one on its latest invoice that is not void (by created, then
        invoice id), else on its latest voided invoice (a period only ever billed on voided
        invoices is still a charge, unbilled): source_id = that line's id, quantity = its
        quantity, amount = its amount in major units (macros/stripe_amounts.sql), currency =
        its invoice's.
      - event_date = ready_to_bill_date = period start; standard_rate, bill_rate, resource,
        assignment and billing event (item) null; standard_amount = amount; is_billable and
        is_approved true.
      - contract = the Stripe subscription's metadata.salesforce_contract_id (the line's
        subscription, else its invoice's): the invoice's own metadata can name another
        contract. project = the contract's project (engagement.contract_id; the first created,
        then the lowest id, when there are several). Customer, legal entity and correlation id
        from that project as for PSA items, else from the contract.
    FX: amounts converted at the rate of event_date (macros/fx.sql).

    Incremental (unique key billable_event_id, delete+insert). A run rebuilds:
      - the PSA items written by the dlt loads the last run had not seen: their raw row's load
        id (staging dlt_load_id, kept as source_load_id) is newer than the newest load that
        was complete when the last run built (loads_merged_through, from the Certinia
        dataset's _dlt_loads). A load still in progress or failed halfway then is taken again
        whole. Load ids, not SystemModstamp: a row that arrives late with an old modstamp is
        still new to us, and finding the rows reads one column instead of hashing millions;
      - the Stripe charges whose content changed (source_hash; a few rows per contract);
      - the events of every project whose facts changed (project_hash);
      - the items of the last var('fx_restatement_days') days before the latest published rate
        (a day's rate may arrive after its items);
    and a post-hook removes events whose PSA record
    was deleted or whose Stripe lines are gone (billable_event_live_keys). Only facts of the
    item itself, its project and stable parents (assignment and its rate card, billing event
    item; for a charge its invoice line, invoice status and contract) are kept here, so a row is
    right as long as those are unchanged; whether the billing event was invoiced is resolved
    downstream through billing_event. Readers that mean PSA work (wip, realization,
    revenue_leakage, utilization, q2c_lifecycle, business_health_daily, revenue_schedule) keep
    to PSA items (macros/psa_items.sql).
#}

{%- set raw_stripe_invoices = source('raw_stripe', 'invoices') %}
{%- set certinia_timecards = source('raw_certinia', 'pse_timecard_c') %}
{#- dlt's record of the Certinia loads (status 0 = complete), next to the raw tables. #}
{%- set certinia_loads = api.Relation.create(database=certinia_timecards.database,
                                             schema=certinia_timecards.schema, identifier='_dlt_loads') %}
{#-
    Incremental runs filter each source branch before anything is computed per row (an OR over
    the whole union would hash and join every row first). A table built before the watermark
    columns existed is rebuilt whole (on_schema_change adds them).
-#}
{%- set watermark_columns = ['loads_merged_through', 'project_hash', 'source_load_id'] %}
{%- set incremental_filters = is_incremental() and execute
        and (adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower')
             | select('in', watermark_columns) | list | length) == watermark_columns | length %}
{#- A Stripe charge's content: what its row is built from. #}
{%- set charge_hash = q2c_hash(['subscription_item_id', 'period_start', 'line_id', 'stripe_invoice_id',
                                'invoice_status', 'quantity', 'amount_minor', 'currency', 'invoice_modified_at',
                                'subscription_id', 'contract_id', 'event_type', 'project_id', 'contract_customer_id',
                                'contract_legal_entity_id', 'contract_correlation_id']) %}
{%- set psa_changed -%}
            dlt_load_id is null
            or cast(dlt_load_id as double precision) > (select load_id from merged_through)
            or project_id in (select project_id from changed_projects)
            or __DATE__ >= (select fx_start from fx_restatement)
{%- endset %}

{{ config(
    materialized='incremental',
    unique_key='billable_event_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
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

contracts as (

    select * from {{ ref('contract') }}

),

stripe_invoices as (

    select * from {{ ref('stg_stripe__invoices') }}

),

stripe_subscriptions as (

    select * from {{ ref('stg_stripe__subscriptions') }}

),

-- Stripe charges -------------------------------------------------------------------------------

stripe_raw_invoices as (

    select
        id as stripe_invoice_id,
        {{ source_column(raw_stripe_invoices, 'lines__data', 'varchar') }} as lines_data
    from {{ raw_stripe_invoices }}

),

stripe_lines as (

    select
        i.stripe_invoice_id,
        {{ staging_json_text('line.value', ['id']) }} as line_id,
        {{ staging_json_text('line.value', ['quantity']) }} as quantity,
        {{ staging_json_text('line.value', ['amount']) }} as amount_minor,
        {{ staging_json_text('line.value', ['period', 'start']) }} as period_start_unix,
        coalesce(
            {{ staging_json_text('line.value', ['parent', 'subscription_item_details', 'subscription_item']) }},
            {{ staging_json_text('line.value', ['subscription_item']) }}
        ) as subscription_item_id,
        coalesce(
            {{ staging_json_text('line.value', ['parent', 'subscription_item_details', 'subscription']) }},
            {{ staging_json_text('line.value', ['subscription']) }}
        ) as subscription_id
    from stripe_raw_invoices as i
    {{ q2c_json_array_join('i.lines_data', 'line') }}

),

-- Every line that bills a subscription item for a period, ranked within its (item, period):
-- the latest non-void invoice first, then the latest voided one.
stripe_period_lines as (

    select
        stripe_lines.subscription_item_id,
        cast({{ from_unix_seconds('stripe_lines.period_start_unix') }} as date) as period_start,
        stripe_lines.line_id,
        stripe_lines.quantity,
        stripe_lines.amount_minor,
        coalesce(stripe_lines.subscription_id, stripe_invoices.stripe_subscription_id) as subscription_id,
        stripe_invoices.stripe_invoice_id,
        stripe_invoices.status as invoice_status,
        stripe_invoices.currency,
        coalesce(stripe_invoices.voided_at, stripe_invoices.paid_at, stripe_invoices.marked_uncollectible_at,
            stripe_invoices.finalized_at, stripe_invoices.created_at) as invoice_modified_at,
        row_number() over (
            partition by
                stripe_lines.subscription_item_id,
                cast({{ from_unix_seconds('stripe_lines.period_start_unix') }} as date)
            order by
                case when stripe_invoices.status = 'void' then 1 else 0 end,
                stripe_invoices.created_at desc,
                {{ q2c_sort_key('stripe_invoices.stripe_invoice_id') }} desc,
                {{ q2c_sort_key('stripe_lines.line_id') }} desc
        ) as period_rank
    from stripe_lines
    inner join stripe_invoices
        on stripe_invoices.stripe_invoice_id = stripe_lines.stripe_invoice_id
    where not stripe_invoices.is_deleted
        and stripe_lines.subscription_item_id is not null
        and stripe_lines.period_start_unix is not null

),

contract_projects as (

    {{ q2c_contract_project('engagements') }}

),

stripe_charges as (

    select
        stripe_period_lines.*,
        stripe_subscriptions.salesforce_contract_id as contract_id,
        case when contracts.billing_model = 'Retainer' then 'retainer' else 'subscription' end as event_type,
        contract_projects.project_id,
        contracts.customer_id as contract_customer_id,
        contracts.legal_entity_id as contract_legal_entity_id,
        contracts.opportunity_id as contract_correlation_id
    from stripe_period_lines
    left join stripe_subscriptions
        on stripe_subscriptions.stripe_subscription_id = stripe_period_lines.subscription_id
    left join contracts
        on contracts.contract_id = stripe_subscriptions.salesforce_contract_id
    left join contract_projects
        on contract_projects.contract_id = stripe_subscriptions.salesforce_contract_id
    where stripe_period_lines.period_rank = 1

),

-- What an event takes from its project (which can change after the item, e.g. a legal entity
-- filled in later): a change rebuilds the project's events.
project_facts as (

    select
        project_id,
        {{ q2c_hash(['contract_id', 'customer_id', 'effective_legal_entity_id', 'correlation_id']) }} as project_hash
    from engagements

),
{%- if incremental_filters %}

-- The newest Certinia load that was complete when this table was last built: PSA rows of
-- newer loads are new or changed since.
merged_through as (

    select coalesce(max(cast(loads_merged_through as double precision)), 0) as load_id
    from {{ this }}

),

built_projects as (

    select distinct project_id, project_hash
    from {{ this }}

),

changed_projects as (

    select project_facts.project_id
    from project_facts
    where not exists (
        select 1 from built_projects
        where built_projects.project_id = project_facts.project_id
            and built_projects.project_hash = project_facts.project_hash
    )

),

-- Recent items are converted again: a day's rate may be published after the item was built.
fx_restatement as (

    select {{ q2c_fx_restatement_start() }} as fx_start

),
{%- endif %}

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
                     'is_approved', 'billing_event_item_id', 'currency', 'system_modstamp']) }} as source_hash,
        'certinia' as source_system,
        dlt_load_id,
        cast(null as varchar) as item_contract_id,
        cast(null as varchar) as contract_customer_id,
        cast(null as varchar) as contract_legal_entity_id,
        cast(null as varchar) as contract_correlation_id
    from timecards
    where not is_deleted
    {%- if incremental_filters %}
        and ({{ psa_changed | replace('__DATE__', 'start_date') }})
    {%- endif %}

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
                     'billing_event_item_id', 'currency', 'system_modstamp']) }},
        'certinia',
        dlt_load_id,
        cast(null as varchar),
        cast(null as varchar),
        cast(null as varchar),
        cast(null as varchar)
    from expenses
    where not is_deleted
    {%- if incremental_filters %}
        and ({{ psa_changed | replace('__DATE__', 'expense_date') }})
    {%- endif %}

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
                     'is_approved_for_billing', 'billing_event_item_id', 'currency', 'system_modstamp']) }},
        'certinia',
        dlt_load_id,
        cast(null as varchar),
        cast(null as varchar),
        cast(null as varchar),
        cast(null as varchar)
    from milestones
    where not is_deleted
        and actual_date is not null
    {%- if incremental_filters %}
        and ({{ psa_changed | replace('__DATE__', 'actual_date') }})
    {%- endif %}

    union all

    select
        'stripe:' || subscription_item_id || ':' || cast(period_start as varchar),
        event_type,
        line_id,
        project_id,
        cast(null as varchar),
        cast(null as varchar),
        period_start,
        period_start,
        cast(quantity as decimal(18, 2)),
        cast(null as decimal(18, 2)),
        {{ stripe_minor_to_major('cast(amount_minor as bigint)', 'currency') }},
        true,
        true,
        cast(null as varchar),
        currency,
        invoice_modified_at,
        {{ charge_hash }},
        'stripe',
        cast(null as varchar),
        contract_id,
        contract_customer_id,
        contract_legal_entity_id,
        contract_correlation_id
    from stripe_charges
    {%- if incremental_filters %}
    -- Stripe charges (one per contract and month): those whose content changed.
    where not exists (
            select 1 from {{ this }} as existing
            where existing.source_system = 'stripe'
                and existing.billable_event_id = 'stripe:' || stripe_charges.subscription_item_id || ':'
                    || cast(stripe_charges.period_start as varchar)
                and existing.source_hash = {{ charge_hash }}
        )
        or project_id in (select project_id from changed_projects)
        or period_start >= (select fx_start from fx_restatement)
    {%- endif %}

),

changed as (

    select
        items.*,
        project_facts.project_hash
    from items
    left join project_facts
        on project_facts.project_id = items.project_id

),

enriched as (

    select
        changed.billable_event_id,
        changed.event_type,
        -- A charge's contract is its subscription's; the project is that contract's.
        coalesce(changed.item_contract_id, engagements.contract_id) as contract_id,
        coalesce(engagements.customer_id, changed.contract_customer_id) as customer_id,
        changed.project_id,
        changed.resource_id,
        changed.assignment_id,
        coalesce(engagements.effective_legal_entity_id, changed.contract_legal_entity_id) as legal_entity_id,
        coalesce(engagements.correlation_id, changed.contract_correlation_id) as correlation_id,
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
        changed.source_system,
        changed.source_id,
        changed.source_modified_at,
        changed.source_hash,
        changed.project_hash,
        changed.dlt_load_id as source_load_id
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
        on legal_entities.legal_entity_id
            = coalesce(engagements.effective_legal_entity_id, changed.contract_legal_entity_id)

),

completed_loads as (

    select max(load_id) as load_id
    from {{ certinia_loads }}
    where status = 0

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
        enriched.source_hash,
        enriched.project_hash,
        enriched.source_load_id,
        (select load_id from completed_loads) as loads_merged_through
    from enriched
    {{ q2c_fx_joins('enriched.currency', 'enriched.functional_currency', 'enriched.fx_date') }}

)

select * from final
