with

legal_entities as (

    select * from {{ ref('legal_entities') }}

),

final as (

    select
        cast(legal_entity_id as varchar) as legal_entity_id,
        cast(name as varchar) as legal_entity_name,
        upper(cast(functional_currency as varchar)) as functional_currency,
        cast(country as varchar) as country,
        cast(netsuite_subsidiary_id as varchar) as netsuite_subsidiary_id
    from legal_entities

)

select * from final
