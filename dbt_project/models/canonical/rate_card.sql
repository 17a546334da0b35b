{#
    PSA rate cards: one row per not-deleted pse__Rate_Card__c - the suggested bill rate and
    average cost rate of a role in a legal entity over a validity period (in `currency`).
    Assignments reference them; billable_event.standard_rate is the assignment's card's
    suggested_bill_rate.
#}

with

rate_cards as (

    select * from {{ ref('stg_certinia__pse_rate_card_c') }}

),

final as (

    select
        rate_card_id,
        rate_card_name,
        legal_entity_id,
        role,
        currency,
        cast(suggested_bill_rate as decimal(18, 2)) as suggested_bill_rate,
        cast(average_cost_rate as decimal(18, 2)) as average_cost_rate,
        start_date,
        end_date,
        'certinia' as source_system,
        rate_card_id as source_id,
        system_modstamp
    from rate_cards
    where not is_deleted

)

select * from final
