{#
    The firm's legal entities, one row each, from the `legal_entities` seed and their ERP
    cut-over from the `erp_cutovers` seed.

    ERP coexistence: `erp_cutover_date` is the first day NetSuite holds the entity's invoices and
    payments; before it the legacy ERP (company code `legacy_entity_code`) does. Null: NetSuite
    always did. The seed's date is the default; the dbt var `erp_cutover_dates`
    ({legal_entity_id: date}) overrides it per entity.
#}

{%- set cutover_overrides = var('erp_cutover_dates', {}) or {} %}

with

legal_entities as (

    select * from {{ ref('legal_entities') }}

),

cutovers as (

    select * from {{ ref('erp_cutovers') }}

),

final as (

    select
        cast(legal_entities.legal_entity_id as varchar) as legal_entity_id,
        cast(name as varchar) as legal_entity_name,
        upper(cast(functional_currency as varchar)) as functional_currency,
        cast(country as varchar) as country,
        cast(netsuite_subsidiary_id as varchar) as netsuite_subsidiary_id,
        cast(nullif(trim(cast(cutovers.legacy_entity_code as varchar)), '') as varchar) as legacy_entity_code,
        {%- if cutover_overrides %}
        case cast(legal_entities.legal_entity_id as varchar)
            {%- for entity, cutover in cutover_overrides.items() %}
            when '{{ entity }}' then cast({{ "null" if cutover is none or (cutover | string | trim) == "" else "'" ~ (cutover | string | trim) ~ "'" }} as date)
            {%- endfor %}
            else cast(cutovers.erp_cutover_date as date)
        end as erp_cutover_date
        {%- else %}
        cast(cutovers.erp_cutover_date as date) as erp_cutover_date
        {%- endif %}
    from legal_entities
    left join cutovers
        on cutovers.legal_entity_id = cast(legal_entities.legal_entity_id as varchar)

)

select * from final
