{#
    ERP coexistence routing: one row per invoice_candidate, deciding whether it is a canonical
    invoice (routing_status 'kept') or not, and why.

    Per legal entity, the legacy ERP holds invoices dated before legal_entity.erp_cutover_date
    and NetSuite those dated on or after it (no cut-over date: NetSuite only). The billing
    platform (Stripe) is not part of the ERP coexistence: its invoices are always kept.
      - 'netsuite_before_cutover': a NetSuite invoice dated before its entity's cut-over;
      - 'legacy_after_cutover': a legacy invoice dated on or after the cut-over;
      - 'legacy_without_cutover': a legacy invoice of an entity never on the legacy ERP, or of
        a company code no legal entity has;
      - 'duplicate_across_erps': the same invoice in both ERPs (a NetSuite and a legacy invoice
        of the same billing event, currency and total, e.g. migrated). It is counted once: the
        copy in its system's window survives (both in window: the legacy original); the other
        copy is this row, with surviving_invoice_id naming the one kept.
    A row that is not kept is listed in coexistence_exceptions (a warn test), never dropped
    silently. Two invoices of one billing event in the same system are not collapsed (that is a
    billing control's exception, and both are the source's invoices).
#}

with

candidates as (

    select * from {{ ref('invoice_candidate') }}

),

legal_entities as (

    select * from {{ ref('legal_entity') }}

),

windowed as (

    select
        candidates.invoice_id,
        candidates.source_system,
        candidates.legal_entity_id,
        candidates.invoice_date,
        candidates.billing_event_id,
        candidates.currency,
        candidates.total_amount,
        legal_entities.erp_cutover_date,
        case
            when candidates.source_system = 'netsuite' and legal_entities.erp_cutover_date is not null
                and candidates.invoice_date < legal_entities.erp_cutover_date
                then 'netsuite_before_cutover'
            when candidates.source_system = 'legacy_erp' and legal_entities.erp_cutover_date is null
                then 'legacy_without_cutover'
            when candidates.source_system = 'legacy_erp'
                and candidates.invoice_date >= legal_entities.erp_cutover_date
                then 'legacy_after_cutover'
        end as window_exception
    from candidates
    left join legal_entities
        on legal_entities.legal_entity_id = candidates.legal_entity_id

),

overlap_pairs as (

    select
        ns.invoice_id as netsuite_invoice_id,
        lg.invoice_id as legacy_invoice_id,
        -- The copy in its window survives; both in (or out of) window: the legacy original.
        case
            when ns.window_exception is null and lg.window_exception is not null then ns.invoice_id
            else lg.invoice_id
        end as surviving_invoice_id
    from windowed as ns
    inner join windowed as lg
        on lg.billing_event_id = ns.billing_event_id
        and lg.currency = ns.currency
        and lg.total_amount = ns.total_amount
    where ns.source_system = 'netsuite'
        and lg.source_system = 'legacy_erp'

),

duplicates as (

    select
        duplicate_invoice_id as invoice_id,
        min(surviving_invoice_id) as surviving_invoice_id
    from (
        select
            case when surviving_invoice_id = legacy_invoice_id then netsuite_invoice_id else legacy_invoice_id end
                as duplicate_invoice_id,
            surviving_invoice_id
        from overlap_pairs
    ) as losers
    group by duplicate_invoice_id

),

final as (

    select
        windowed.invoice_id,
        windowed.source_system,
        windowed.legal_entity_id,
        windowed.invoice_date,
        windowed.erp_cutover_date,
        case
            when duplicates.invoice_id is not null then 'duplicate_across_erps'
            when windowed.window_exception is not null then windowed.window_exception
            else 'kept'
        end as routing_status,
        duplicates.surviving_invoice_id
    from windowed
    left join duplicates
        on duplicates.invoice_id = windowed.invoice_id

)

select * from final
