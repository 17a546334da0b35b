{%- set cols = staging_raw_columns('raw_netsuite', 'job') -%}

with

source as (

    select * from {{ source('raw_netsuite', 'job') }}

),

renamed as (

    select

        ----------  ids
        cast(id as varchar) as netsuite_job_id,
        {{ staging_column(cols, 'entityid', 'varchar') }} as project_number,
        {{ staging_column(cols, 'externalid', 'varchar') }} as salesforce_project_id,
        {{ staging_column(cols, 'customer', 'varchar') }} as netsuite_customer_id,
        {{ staging_column(cols, 'subsidiary', 'varchar') }} as subsidiary_id,
        {{ staging_column(cols, 'currency', 'varchar') }} as currency_id,
        cast('netsuite' as varchar) as source_system,

        ----------  strings
        {{ staging_column(cols, 'companyname', 'varchar') }} as job_name,
        {{ staging_column(cols, 'jobbillingtype', 'varchar') }} as job_billing_type,
        {{ staging_column(cols, 'entitystatus', 'varchar') }} as job_status,

        ----------  booleans
        false as is_deleted,

        ----------  dates and timestamps (UTC)
        {{ staging_column(cols, 'startdate', 'date') }} as start_date,
        {{ staging_column(cols, 'projectedenddate', 'date') }} as projected_end_date,
        {{ to_utc_timestamp(staging_column(cols, 'datecreated', 'timestamptz')) }} as created_at,
        {{ to_utc_timestamp(staging_column(cols, 'lastmodifieddate', 'timestamptz')) }} as last_modified_at

    from source

)

select * from renamed
