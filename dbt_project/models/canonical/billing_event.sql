{#
    PSA billing events, one row per not-deleted `pse__Billing_Event__c`, with the canonical
    invoice that bills it: the ERP (NetSuite or legacy) invoice whose billing-event reference
    (custbody_q2c_billing_event_id / PSA_BE_REF) names it - the earliest by invoice date, then
    id, if several do (a duplicate invoice is a billing control's exception). invoice_count says
    how many canonical invoices reference it. Not incremental: invoicing changes an event's
    status, and it is small.
#}

with

billing_events as (

    select * from {{ ref('stg_certinia__pse_billing_event_c') }}

),

invoices as (

    select * from {{ ref('invoice') }}

),

engagements as (

    select * from {{ ref('engagement') }}

),

invoices_ranked as (

    select
        billing_event_id,
        invoice_id,
        invoice_date,
        row_number() over (
            partition by billing_event_id
            order by invoice_date, {{ q2c_sort_key('invoice_id') }}
        ) as rn,
        count(*) over (partition by billing_event_id) as invoice_count
    from invoices
    where billing_event_id is not null

),

final as (

    select
        billing_events.billing_event_id,
        billing_events.billing_event_number,
        billing_events.project_id,
        engagements.contract_id,
        engagements.customer_id,
        engagements.effective_legal_entity_id as legal_entity_id,
        engagements.correlation_id,
        billing_events.status,
        billing_events.currency,
        billing_events.summary_amount,
        billing_events.is_released,
        billing_events.is_invoiced,
        billing_events.billing_event_date,
        billing_events.invoice_number,
        billing_events.invoice_date,
        invoices_ranked.invoice_id,
        invoices_ranked.invoice_date as erp_invoice_date,
        coalesce(invoices_ranked.invoice_count, 0) as invoice_count,
        billing_events.created_at,
        billing_events.system_modstamp
    from billing_events
    left join engagements
        on engagements.project_id = billing_events.project_id
    left join invoices_ranked
        on invoices_ranked.billing_event_id = billing_events.billing_event_id
        and invoices_ranked.rn = 1
    where not billing_events.is_deleted

)

select * from final
