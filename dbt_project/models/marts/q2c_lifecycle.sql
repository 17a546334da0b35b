{#
    Quote-to-cash lifecycle, one row per won new-business opportunity (the deal): when each
    hand-off happened and how long it took (reference/domain.md, project activation latency).
      closed_won_date         Opportunity CloseDate (the CRM keeps no stage history here)
      contract_activated_at   ActivatedDate of the contract whose SBQQ__Opportunity__c is the deal
      project_created_at      CreatedDate of the deal's first PSA project (engagement whose
                              correlation_id - the contract's opportunity - is the deal)
      first_time_approved_date  first approval date of time booked to the deal's projects
      first_billing_event_date  date of the first PSA billing event of those projects
      first_invoice_date      first canonical invoice of the deal's contract or projects
      first_payment_date      first payment applied to one of those invoices
    Latencies are whole days between consecutive hand-offs (null while the later one has not
    happened); days_won_to_project is the project-creation latency of the business-health
    model. Amendment opportunities are not deals of their own: their work is on the original
    deal's contract and projects. Dates are those on or before the as-of date.
    current_stage is the furthest hand-off reached: won, contracted, provisioned, delivering,
    billing, invoiced, cash_collected.
#}

with

opportunities as (

    select * from {{ ref('stg_salesforce__opportunity') }}

),

contracts as (

    select * from {{ ref('contract') }}

),

engagements as (

    select * from {{ ref('engagement') }}

),

billable_events as (

    select * from {{ ref('billable_event') }}

),

billing_events as (

    select * from {{ ref('billing_event') }}

),

invoices as (

    select * from {{ ref('invoice') }}

),

payments as (

    select * from {{ ref('payment') }}

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

),

deals as (

    select opportunities.*
    from opportunities
    cross join as_of
    where not opportunities.is_deleted
        and opportunities.is_won
        and coalesce(opportunities.opportunity_type, '') <> 'Amendment'
        and opportunities.close_date <= as_of.as_of_date

),

deal_contracts as (

    select
        contracts.opportunity_id,
        contracts.contract_id,
        contracts.activated_at,
        contracts.legal_entity_id,
        row_number() over (
            partition by contracts.opportunity_id
            order by contracts.activated_at nulls last, {{ q2c_sort_key('contracts.contract_id') }}
        ) as rn
    from contracts
    where contracts.opportunity_id is not null

),

deal_projects as (

    select
        engagements.correlation_id as opportunity_id,
        engagements.project_id,
        engagements.created_at
    from engagements
    cross join as_of
    where engagements.correlation_id is not null
        and cast(engagements.created_at as date) <= as_of.as_of_date

),

first_projects as (

    select
        opportunity_id,
        project_id,
        created_at,
        row_number() over (
            partition by opportunity_id
            order by created_at, {{ q2c_sort_key('project_id') }}
        ) as rn
    from deal_projects

),

first_time as (

    select
        deal_projects.opportunity_id,
        min(billable_events.ready_to_bill_date) as first_time_approved_date
    from deal_projects
    inner join billable_events
        on billable_events.project_id = deal_projects.project_id
    cross join as_of
    where billable_events.event_type = 'time'
        and billable_events.is_approved
        and billable_events.ready_to_bill_date <= as_of.as_of_date
    group by deal_projects.opportunity_id

),

first_billing_event as (

    select
        deal_projects.opportunity_id,
        min(billing_events.billing_event_date) as first_billing_event_date
    from deal_projects
    inner join billing_events
        on billing_events.project_id = deal_projects.project_id
    cross join as_of
    where billing_events.billing_event_date <= as_of.as_of_date
    group by deal_projects.opportunity_id

),

deal_invoices as (

    select distinct
        deals.opportunity_id,
        invoices.invoice_id,
        invoices.invoice_date
    from deals
    inner join deal_contracts
        on deal_contracts.opportunity_id = deals.opportunity_id
    inner join invoices
        on invoices.contract_id = deal_contracts.contract_id
    cross join as_of
    where invoices.invoice_date <= as_of.as_of_date
    union
    select distinct
        deal_projects.opportunity_id,
        invoices.invoice_id,
        invoices.invoice_date
    from deal_projects
    inner join invoices
        on invoices.project_id = deal_projects.project_id
    cross join as_of
    where invoices.invoice_date <= as_of.as_of_date

),

first_invoice as (

    select
        opportunity_id,
        min(invoice_date) as first_invoice_date
    from deal_invoices
    group by opportunity_id

),

first_payment as (

    select
        deal_invoices.opportunity_id,
        min(payments.payment_date) as first_payment_date
    from deal_invoices
    inner join payments
        on payments.invoice_id = deal_invoices.invoice_id
    cross join as_of
    where payments.payment_date <= as_of.as_of_date
        and payments.applied_amount > 0
    group by deal_invoices.opportunity_id

),

joined as (

    select
        deals.opportunity_id,
        deals.opportunity_name,
        deals.account_id as customer_id,
        deal_contracts.legal_entity_id,
        deals.billing_model,
        deals.currency,
        deals.amount,
        deals.close_date as closed_won_date,
        deal_contracts.contract_id,
        case when deal_contracts.activated_at <= {{ dbt.dateadd('day', 1, 'as_of.as_of_date') }}
            then deal_contracts.activated_at end as contract_activated_at,
        first_projects.project_id as first_project_id,
        first_projects.created_at as project_created_at,
        first_time.first_time_approved_date,
        first_billing_event.first_billing_event_date,
        first_invoice.first_invoice_date,
        first_payment.first_payment_date,
        as_of.as_of_date
    from deals
    cross join as_of
    left join deal_contracts
        on deal_contracts.opportunity_id = deals.opportunity_id
        and deal_contracts.rn = 1
    left join first_projects
        on first_projects.opportunity_id = deals.opportunity_id
        and first_projects.rn = 1
    left join first_time
        on first_time.opportunity_id = deals.opportunity_id
    left join first_billing_event
        on first_billing_event.opportunity_id = deals.opportunity_id
    left join first_invoice
        on first_invoice.opportunity_id = deals.opportunity_id
    left join first_payment
        on first_payment.opportunity_id = deals.opportunity_id

),

final as (

    select
        cast(opportunity_id as varchar) as opportunity_id,
        cast(opportunity_name as varchar) as opportunity_name,
        cast(customer_id as varchar) as customer_id,
        cast(legal_entity_id as varchar) as legal_entity_id,
        cast(billing_model as varchar) as billing_model,
        cast(currency as varchar) as currency,
        cast(amount as decimal(18, 2)) as amount,
        cast(closed_won_date as date) as closed_won_date,
        cast(contract_id as varchar) as contract_id,
        cast(contract_activated_at as {{ dbt.type_timestamp() }}) as contract_activated_at,
        cast(first_project_id as varchar) as first_project_id,
        cast(project_created_at as {{ dbt.type_timestamp() }}) as project_created_at,
        cast(first_time_approved_date as date) as first_time_approved_date,
        cast(first_billing_event_date as date) as first_billing_event_date,
        cast(first_invoice_date as date) as first_invoice_date,
        cast(first_payment_date as date) as first_payment_date,
        cast({{ dbt.datediff('closed_won_date', 'cast(contract_activated_at as date)', 'day') }} as integer)
            as days_won_to_contract,
        cast(
            {{ dbt.datediff('cast(contract_activated_at as date)', 'cast(project_created_at as date)', 'day') }}
            as integer
        ) as days_contract_to_project,
        cast({{ dbt.datediff('closed_won_date', 'cast(project_created_at as date)', 'day') }} as integer)
            as days_won_to_project,
        cast({{ dbt.datediff('cast(project_created_at as date)', 'first_time_approved_date', 'day') }} as integer)
            as days_project_to_first_time,
        cast({{ dbt.datediff('first_time_approved_date', 'first_billing_event_date', 'day') }} as integer)
            as days_first_time_to_billing_event,
        cast({{ dbt.datediff('first_billing_event_date', 'first_invoice_date', 'day') }} as integer)
            as days_billing_event_to_invoice,
        cast({{ dbt.datediff('first_invoice_date', 'first_payment_date', 'day') }} as integer)
            as days_invoice_to_payment,
        cast({{ dbt.datediff('closed_won_date', 'first_invoice_date', 'day') }} as integer) as days_won_to_invoice,
        cast({{ dbt.datediff('closed_won_date', 'first_payment_date', 'day') }} as integer) as days_won_to_cash,
        cast(
            case
                when first_payment_date is not null then 'cash_collected'
                when first_invoice_date is not null then 'invoiced'
                when first_billing_event_date is not null then 'billing'
                when first_time_approved_date is not null then 'delivering'
                when project_created_at is not null then 'provisioned'
                when contract_activated_at is not null then 'contracted'
                else 'won'
            end as varchar
        ) as current_stage,
        cast(as_of_date as date) as as_of_date
    from joined

)

select * from final
