{#
    Engagements (PSA projects), one row per not-deleted `pse__Proj__c`.

    correlation_id ties the project to the deal it delivers: the CRM opportunity of its contract
    (contract.opportunity_id, the original won opportunity, also after amendments); the
    project's own opportunity when it has no contract; null for projects of neither (temporary
    and internal projects). netsuite_job_id is the NetSuite job mirroring the project (job
    externalid = project Id; the most recently modified one if the ERP holds several).
    legal_entity_id is the project's own (null when the PSA left it empty, a master-data
    exception); effective_legal_entity_id falls back to the contract's entity, and is what the
    facts of the project (billable events) carry.
#}

with

projects as (

    select * from {{ ref('stg_certinia__pse_proj_c') }}

),

contracts as (

    select * from {{ ref('stg_salesforce__contract') }}

),

netsuite_jobs as (

    select * from {{ ref('stg_netsuite__job') }}

),

jobs_ranked as (

    select
        salesforce_project_id,
        netsuite_job_id,
        row_number() over (
            partition by salesforce_project_id
            order by last_modified_at desc nulls last, {{ q2c_sort_key('netsuite_job_id') }}
        ) as rn
    from netsuite_jobs
    where not is_deleted
        and salesforce_project_id is not null

),

final as (

    select
        projects.project_id,
        projects.project_number,
        projects.project_name,
        projects.account_id as customer_id,
        projects.contract_id,
        projects.opportunity_id,
        projects.legal_entity_id,
        coalesce(projects.legal_entity_id, contracts.legal_entity_id) as effective_legal_entity_id,
        projects.billing_type,
        projects.project_type,
        projects.stage,
        projects.is_active,
        projects.is_billable,
        projects.start_date,
        projects.end_date,
        projects.created_at,
        jobs_ranked.netsuite_job_id,
        projects.tax_nexus,
        projects.currency,
        coalesce(contracts.opportunity_id, projects.opportunity_id) as correlation_id,
        projects.project_manager_id,
        'certinia' as source_system,
        projects.project_id as source_id,
        projects.system_modstamp
    from projects
    left join contracts
        on contracts.contract_id = projects.contract_id
        and not contracts.is_deleted
    left join jobs_ranked
        on jobs_ranked.salesforce_project_id = projects.project_id
        and jobs_ranked.rn = 1
    where not projects.is_deleted

)

select * from final
