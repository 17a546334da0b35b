{#
    Control PP-001 (project provisioning): an activated contract must have a PSA project
    for its opportunity within var('project_grace_days') days (default 14) of activation.
    One exception row per activated contract activated more than that many days before the
    as-of date with no (not deleted) project created on or before the as-of date whose
    pse__Opportunity__c is the contract's opportunity.
#}

{%- set grace_days = var('project_grace_days', 14) | int -%}

with

contracts as (

    select * from {{ ref('contract') }}

),

projects as (

    select * from {{ ref('stg_certinia__pse_proj_c') }}

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

),

activated_contracts as (

    select
        contracts.contract_id,
        contracts.opportunity_id,
        contracts.customer_id,
        contracts.activated_at,
        as_of.as_of_date,
        {{ dbt.datediff('cast(contracts.activated_at as date)', 'as_of.as_of_date', 'day') }}
            as days_since_activation
    from contracts
    cross join as_of
    where contracts.is_activated
        and contracts.activated_at is not null

),

provisioned_opportunities as (

    select distinct projects.opportunity_id
    from projects
    cross join as_of
    where not projects.is_deleted
        and projects.opportunity_id is not null
        and cast(projects.created_at as date) <= as_of.as_of_date

),

exceptions as (

    select activated_contracts.*
    from activated_contracts
    left join provisioned_opportunities
        on provisioned_opportunities.opportunity_id = activated_contracts.opportunity_id
    where activated_contracts.days_since_activation > {{ grace_days }}
        and provisioned_opportunities.opportunity_id is null

),

final as (

    select
        -- Stable across runs: the same contract keeps the same exception id every day.
        {{ q2c_hash(["'PP-001'", "contract_id"]) }} as exception_id,
        'PP-001' as rule_id,
        'project_provisioning' as control_point,
        contract_id,
        opportunity_id,
        customer_id,
        activated_at,
        cast(days_since_activation as integer) as days_since_activation,
        'Delivery Operations' as owner_team,
        'high' as severity,
        as_of_date
    from exceptions

)

select * from final
