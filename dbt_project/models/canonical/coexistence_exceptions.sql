{#
    Source invoices that are not canonical invoices because of ERP coexistence routing
    (invoice_routing): one row per excluded source invoice, with the reason. A warn test
    (assert_no_coexistence_exceptions) reports every row, so nothing is dropped silently.
#}

with

routing as (

    select * from {{ ref('invoice_routing') }}

),

candidates as (

    select * from {{ ref('invoice_candidate') }}

),

final as (

    select
        routing.invoice_id,
        routing.source_system,
        candidates.source_id,
        candidates.invoice_number,
        routing.legal_entity_id,
        candidates.currency,
        routing.invoice_date,
        routing.erp_cutover_date,
        candidates.total_amount,
        candidates.billing_event_id,
        routing.routing_status as reason,
        case routing.routing_status
            when 'netsuite_before_cutover' then 'NetSuite invoice dated before the entity''s ERP cut-over'
            when 'legacy_after_cutover' then 'Legacy ERP invoice dated on or after the entity''s ERP cut-over'
            when 'legacy_without_cutover' then 'Legacy ERP invoice of an entity that has no legacy ERP period'
            when 'duplicate_across_erps' then 'Same invoice in both ERPs (billing event, currency and total): counted once'
        end as reason_description,
        routing.surviving_invoice_id
    from routing
    inner join candidates
        on candidates.invoice_id = routing.invoice_id
    where routing.routing_status <> 'kept'

)

select * from final
