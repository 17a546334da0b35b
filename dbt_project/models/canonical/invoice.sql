{#
    Canonical customer invoices: one row per issued source invoice that ERP coexistence routing
    keeps (invoice_routing.routing_status = 'kept'), from NetSuite, Stripe and the legacy ERP
    (invoice_candidate holds the per-system rules). Every kept source invoice maps to exactly
    one canonical id `<source_system>:<source_id>`; an invoice in both ERPs is counted once, and
    the excluded rows are in coexistence_exceptions.

    Amounts in the invoice (transaction) currency, converted to the legal entity's functional
    currency and the reporting currency at the rate of the invoice date (macros/fx.sql).
    open_amount = total - credited - paid is the mart's concern (payments are dated); the
    source's own open balance is source_open_amount, and a test checks
    total - credited - applied payments = source_open_amount for every invoice.

    correlation_id: the deal's CRM opportunity - through the invoice's project (engagement),
    else the billing event's project, else the contract's opportunity.
#}

with

candidates as (

    select * from {{ ref('invoice_candidate') }}

),

routing as (

    select * from {{ ref('invoice_routing') }}

),

engagements as (

    select * from {{ ref('engagement') }}

),

billing_events as (

    select * from {{ ref('stg_certinia__pse_billing_event_c') }}

),

contracts as (

    select * from {{ ref('stg_salesforce__contract') }}

),

legal_entities as (

    select * from {{ ref('legal_entity') }}

),

kept as (

    select
        candidates.*,
        coalesce(
            project_engagements.correlation_id,
            event_engagements.correlation_id,
            contracts.opportunity_id
        ) as correlation_id,
        legal_entities.functional_currency
    from candidates
    inner join routing
        on routing.invoice_id = candidates.invoice_id
        and routing.routing_status = 'kept'
    left join engagements as project_engagements
        on project_engagements.project_id = candidates.project_id
    left join billing_events
        on billing_events.billing_event_id = candidates.billing_event_id
    left join engagements as event_engagements
        on event_engagements.project_id = billing_events.project_id
    left join contracts
        on contracts.contract_id = candidates.contract_id
        and not contracts.is_deleted
    left join legal_entities
        on legal_entities.legal_entity_id = candidates.legal_entity_id

),

final as (

    select
        kept.invoice_id,
        kept.source_system,
        kept.source_id,
        kept.invoice_number,
        kept.customer_id,
        kept.contract_id,
        kept.project_id,
        kept.billing_event_id,
        kept.legal_entity_id,
        kept.correlation_id,
        kept.currency,
        kept.invoice_date,
        kept.due_date,
        kept.subtotal_amount,
        kept.tax_amount,
        kept.total_amount,
        kept.credited_amount,
        kept.source_open_amount,
        kept.tax_code,
        kept.status,
        kept.source_status,
        kept.source_updated_at,
        kept.functional_currency,
        {{ q2c_fx_columns(['subtotal_amount', 'tax_amount', 'total_amount', 'credited_amount', 'source_open_amount'],
                          'kept', 'kept.invoice_date') }}
    from kept
    {{ q2c_fx_joins('kept.currency', 'kept.functional_currency', 'kept.invoice_date') }}

)

select * from final
