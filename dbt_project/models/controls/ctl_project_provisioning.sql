{#
    Control point: project provisioning (docs/controls.md). Grain: one row per exception, i.e.
    per (rule_id, object_id), in the shared exception layout (see control_exceptions).

    PP-001 contract_activated_without_project: an activated contract activated more than
        var('project_grace_days') days before the as-of date with no project created on or
        before the as-of date whose pse__Opportunity__c is the contract's opportunity.
        Object: the contract.
    PP-002 project_missing_legal_entity_or_nexus: a customer project (pse__Project_Type__c
        'Customer Project') with Legal_Entity__c or Tax_Nexus__c empty. Object: the project.
    PP-003 project_billing_type_mismatch: a customer project whose pse__Billing_Type__c is not
        the one its contract's (Contract__c) Billing_Model__c implies: 'Fixed Price' for
        'Fixed Fee', 'Time and Materials' for the other models. Object: the project.

    Deleted Salesforce / PSA rows (IsDeleted) are ignored.
#}

{%- set project_grace_days = var('project_grace_days', 14) | int -%}

with

contracts as (

    select * from {{ ref('stg_salesforce__contract') }}
    where not is_deleted

),

projects as (

    select * from {{ ref('stg_certinia__pse_proj_c') }}
    where not is_deleted

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

),

provisioned_opportunities as (

    select distinct projects.opportunity_id
    from projects
    cross join as_of
    where projects.opportunity_id is not null
        and projects.opportunity_id <> ''
        and cast(projects.created_at as date) <= as_of.as_of_date

),

without_project as (

    select
        'PP-001' as rule_id,
        'contract_activated_without_project' as rule_name,
        'contract' as object_type,
        contracts.contract_id as object_id,
        contracts.account_id as customer_id,
        contracts.contract_id,
        cast(null as varchar) as project_id,
        cast(null as varchar) as invoice_id,
        'Contract ' || contracts.contract_id || ' was activated on ' || cast(cast(contracts.activated_at as date) as varchar)
            || ' but no pse__Proj__c has pse__Opportunity__c = ' || coalesce(contracts.opportunity_id, 'empty')
            || ' after {{ project_grace_days }} days.' as description,
        'Delivery Operations' as owner_team,
        'high' as severity,
        contracts.contract_amount as amount_at_risk,
        contracts.currency,
        cast({{ dbt.dateadd('day', project_grace_days + 1, 'cast(contracts.activated_at as date)') }} as date)
            as detected_at_date
    from contracts
    cross join as_of
    left join provisioned_opportunities
        on provisioned_opportunities.opportunity_id = contracts.opportunity_id
    where contracts.status = 'Activated'
        and contracts.activated_at is not null
        and {{ dbt.datediff('cast(contracts.activated_at as date)', 'as_of.as_of_date', 'day') }} > {{ project_grace_days }}
        and provisioned_opportunities.opportunity_id is null

),

customer_projects as (

    select
        projects.*,
        contracts.billing_model as contract_billing_model,
        contracts.contract_amount,
        contracts.currency as contract_currency,
        contracts.contract_id as live_contract_id,
        case contracts.billing_model
            when 'Time and Materials' then 'Time and Materials'
            when 'Fixed Fee' then 'Fixed Price'
            when 'Retainer' then 'Time and Materials'
            when 'Subscription' then 'Time and Materials'
        end as expected_billing_type
    from projects
    left join contracts
        on contracts.contract_id = projects.contract_id
    where projects.project_type = 'Customer Project'

),

missing_entity_or_nexus as (

    select
        'PP-002' as rule_id,
        'project_missing_legal_entity_or_nexus' as rule_name,
        'project' as object_type,
        project_id as object_id,
        account_id as customer_id,
        contract_id,
        project_id,
        cast(null as varchar) as invoice_id,
        'Project ' || project_id || ' (' || coalesce(project_name, '') || ') has '
            || case
                when coalesce(legal_entity_id, '') = '' and coalesce(tax_nexus, '') = ''
                    then 'Legal_Entity__c and Tax_Nexus__c'
                when coalesce(legal_entity_id, '') = '' then 'Legal_Entity__c'
                else 'Tax_Nexus__c'
            end || ' empty.' as description,
        'Delivery Operations' as owner_team,
        'medium' as severity,
        cast(null as decimal(18, 2)) as amount_at_risk,
        cast(null as varchar) as currency,
        cast(created_at as date) as detected_at_date
    from customer_projects
    where coalesce(legal_entity_id, '') = ''
        or coalesce(tax_nexus, '') = ''

),

billing_type_mismatch as (

    select
        'PP-003' as rule_id,
        'project_billing_type_mismatch' as rule_name,
        'project' as object_type,
        project_id as object_id,
        account_id as customer_id,
        contract_id,
        project_id,
        cast(null as varchar) as invoice_id,
        'Project ' || project_id || ' has pse__Billing_Type__c ' || coalesce(billing_type, 'empty')
            || ' but its contract ' || contract_id || ' has Billing_Model__c '
            || coalesce(contract_billing_model, 'empty') || ', which implies '
            || coalesce(expected_billing_type, 'no known billing type') || '.' as description,
        'Delivery Operations' as owner_team,
        'medium' as severity,
        contract_amount as amount_at_risk,
        contract_currency as currency,
        cast(created_at as date) as detected_at_date
    from customer_projects
    where live_contract_id is not null
        and expected_billing_type is distinct from billing_type

),

exceptions as (

    select * from without_project
    union all
    select * from missing_entity_or_nexus
    union all
    select * from billing_type_mismatch

),

final as (

    select
        -- Stable across runs: the same case keeps its id every day.
        {{ q2c_hash(['exceptions.rule_id', 'exceptions.object_id']) }} as exception_id,
        exceptions.rule_id,
        exceptions.rule_name,
        'project_provisioning' as control_point,
        exceptions.object_type,
        exceptions.object_id,
        cast(case when exceptions.object_type = 'contract' then 'salesforce' else 'certinia' end as varchar)
            as source_system,
        exceptions.customer_id,
        exceptions.contract_id,
        exceptions.project_id,
        exceptions.invoice_id,
        exceptions.description,
        exceptions.owner_team,
        exceptions.severity,
        cast(exceptions.amount_at_risk as decimal(18, 2)) as amount_at_risk,
        exceptions.currency,
        exceptions.detected_at_date,
        as_of.as_of_date
    from exceptions
    cross join as_of

)

select * from final
