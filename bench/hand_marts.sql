/*
    hand_marts.sql - the benchmark's "engine limit" reference (docs/performance.md).

    What it computes: four of the dbt project's marts, with the same columns and values,
        hand.invoice_payment_status   = marts.invoice_payment_status
        hand.ar_ageing                = marts.ar_ageing
        hand.wip                      = marts.wip
        hand.utilization              = marts.utilization
    From what: only the raw tables dlt loads (raw_salesforce, raw_certinia, raw_stripe,
    raw_netsuite, raw_legacy_erp) plus constants inlined below: the legal entities and their ERP
    cut-overs (dbt_project/seeds/legal_entities.csv and erp_cutovers.csv, with no
    erp_cutover_dates override), the reporting currency (USD, dbt var reporting_currency) and the
    as-of date (dbt var as_of_date). It does not read the seed tables in `staging` nor any dbt
    model.

    Why: it is what a capable engineer would write by hand without dbt - CTEs and a handful of
    `create table` statements in one DuckDB connection, no staging views, no per-node overhead,
    no tests - so that `dbt build` / `dbt run` of the same marts can be timed against it on the
    same raw data. Only the columns and rows the four marts need are computed (no FX columns of
    the canonical facts, no tax codes, no Stripe charges: the marts do not read them).
    bench/hand_marts.py runs it and compares its output with the dbt marts
    (tests/integration/test_hand_marts.py).

    Parameter: the as-of date appears as the placeholder {{as_of_date}}, which the runner
    (bench/hand_marts.py) replaces with a DATE literal it formats itself, e.g. DATE '2026-06-30'.
    The script assumes the raw schema dlt produces for the sandbox worlds (e.g. no dlt variant
    columns `<name>__v_<type>`, which the dbt staging layer would coalesce in).

    Intermediate results shared by several marts are temp tables (gone when the connection
    closes); the four outputs are tables in schema `hand`, replaced on each run.
*/

create schema if not exists hand;

begin transaction;

-- ============================================================================================
-- Constants: legal entities (seeds legal_entities.csv + erp_cutovers.csv), reporting currency USD.
-- erp_cutover_date: first day NetSuite holds the entity's invoices; before it the legacy ERP
-- (company code legacy_entity_code) does; null = NetSuite only.
-- ============================================================================================

create or replace temp table le as
select
    legal_entity_id,
    functional_currency,
    netsuite_subsidiary_id,
    legacy_entity_code,
    cast(erp_cutover_date as date) as erp_cutover_date
from (values
    ('LE-US', 'USD', '1', cast(null as varchar), cast(null as varchar)),
    ('LE-UK', 'GBP', '2', 'UK01', '2025-10-01'),
    ('LE-DE', 'EUR', '3', 'DE01', '2026-08-01')
) as t (legal_entity_id, functional_currency, netsuite_subsidiary_id, legacy_entity_code, erp_cutover_date);

-- ============================================================================================
-- FX rates (NetSuite currencyrate): daily rates carried forward to the day before the pair's
-- next rate; the latest record (highest id) wins a day; every currency converts to itself at 1.
-- ============================================================================================

create or replace temp table fx as
with
currency as (
    select cast(id as varchar) as currency_id, upper(symbol) as currency_code
    from raw_netsuite.currency
),
published as (
    select
        cast(r.effectivedate as date) as rate_date,
        tc.currency_code as from_currency,
        bc.currency_code as to_currency,
        cast(r.exchangerate as decimal(18, 8)) as rate,
        row_number() over (
            partition by tc.currency_code, bc.currency_code, cast(r.effectivedate as date)
            order by cast(cast(r.id as varchar) as bigint) desc
        ) as rn
    from raw_netsuite.currencyrate as r
    inner join currency as tc on tc.currency_id = cast(r.transactioncurrency as varchar)
    inner join currency as bc on bc.currency_id = cast(r.basecurrency as varchar)
    where r.effectivedate is not null
        and r.exchangerate is not null
        and tc.currency_code <> bc.currency_code
)
select
    rate_date,
    from_currency,
    to_currency,
    rate,
    rate_date as valid_from,
    coalesce(
        cast(lead(rate_date) over (partition by from_currency, to_currency order by rate_date) - 1 as date),
        date '9999-12-31'
    ) as valid_to
from published
where rn = 1
union all
select distinct
    cast(null as date), currency_code, currency_code, cast(1 as decimal(18, 8)),
    date '1900-01-01', date '9999-12-31'
from currency;

-- Closing rates into the reporting currency on the as-of date (marts.fx_closing_rate).
create or replace temp table closing_rate as
select
    from_currency,
    rate,
    coalesce(rate_date, {{as_of_date}}) as rate_date
from fx
where to_currency = 'USD'
    and {{as_of_date}} between valid_from and valid_to;

-- ============================================================================================
-- Invoices: every issued source invoice (NetSuite CustInvc, Stripe, legacy ERP), routed between
-- the ERPs by legal entity and cut-over date; routing_status = 'kept' are canonical invoices.
-- ============================================================================================

create or replace temp table invoice_candidate as
with
ns_customer as (
    select cast(id as varchar) as netsuite_customer_id, externalid as salesforce_account_id
    from raw_netsuite.customer
),
ns_currency as (
    select cast(id as varchar) as currency_id, upper(symbol) as currency_code
    from raw_netsuite.currency
),
-- Credit memos applied to an invoice lower what is due on it.
ns_credit as (
    select
        cast(custbody_q2c_applied_to as varchar) as transaction_id,
        sum(coalesce(cast(foreignpaymentamountused as decimal(18, 2)), cast(foreigntotal as decimal(18, 2))))
            as credited_amount
    from raw_netsuite.transaction
    where type = 'CustCred' and custbody_q2c_applied_to is not null
    group by 1
),
netsuite as (
    select
        'netsuite:' || cast(t.id as varchar) as invoice_id,
        'netsuite' as source_system,
        cast(t.id as varchar) as source_id,
        t.tranid as invoice_number,
        c.salesforce_account_id as customer_id,
        t.custbody_q2c_sf_contract_id as contract_id,
        t.custbody_q2c_sf_project_id as project_id,
        cast(t.custbody_q2c_billing_event_id as varchar) as billing_event_id,
        le.legal_entity_id,
        cur.currency_code as currency,
        cast(t.trandate as date) as invoice_date,
        cast(t.duedate as date) as due_date,
        cast(t.foreigntotal as decimal(18, 2)) - coalesce(cast(t.taxtotal as decimal(18, 2)), 0) as subtotal_amount,
        cast(t.foreigntotal as decimal(18, 2)) as total_amount,
        cast(coalesce(cr.credited_amount, 0) as decimal(18, 2)) as credited_amount
    from raw_netsuite.transaction as t
    left join ns_customer as c on c.netsuite_customer_id = cast(t.entity as varchar)
    left join ns_currency as cur on cur.currency_id = cast(t.currency as varchar)
    left join le on le.netsuite_subsidiary_id = cast(t.subsidiary as varchar)
    left join ns_credit as cr on cr.transaction_id = cast(t.id as varchar)
    where t.type = 'CustInvc'
        and coalesce(t.status, '') not in ('Pending Approval', 'Rejected', 'Voided')
),
-- Stripe amounts are in minor units (whole units for zero-decimal currencies).
stripe as (
    select
        'stripe:' || i.id as invoice_id,
        'stripe' as source_system,
        i.id as source_id,
        i.number as invoice_number,
        c.metadata__salesforce_account_id as customer_id,
        coalesce(
            i.metadata__salesforce_contract_id,
            json_extract_string(i.parent__subscription_details, '$.metadata.salesforce_contract_id'),
            json_extract_string(i.subscription_details__metadata, '$.salesforce_contract_id')
        ) as contract_id,
        i.metadata__salesforce_project_id as project_id,
        cast(null as varchar) as billing_event_id,
        coalesce(
            i.metadata__legal_entity,
            json_extract_string(i.parent__subscription_details, '$.metadata.legal_entity'),
            json_extract_string(i.subscription_details__metadata, '$.legal_entity'),
            c.metadata__legal_entity
        ) as legal_entity_id,
        upper(i.currency) as currency,
        cast(coalesce(
            to_timestamp(i.status_transitions__finalized_at) at time zone 'UTC',
            to_timestamp(i.created) at time zone 'UTC'
        ) as date) as invoice_date,
        cast(to_timestamp(i.due_date) at time zone 'UTC' as date) as due_date,
        cast(cast(i.subtotal as decimal(18, 2)) / m.unit as decimal(18, 2)) as subtotal_amount,
        cast(cast(i.total as decimal(18, 2)) / m.unit as decimal(18, 2)) as total_amount,
        -- Credit notes issued before payment (Stripe amount_due = total - these).
        coalesce(cast(cast(i.pre_payment_credit_notes_amount as decimal(18, 2)) / m.unit as decimal(18, 2)), 0)
            as credited_amount
    from raw_stripe.invoices as i
    cross join lateral (
        select case when lower(i.currency) in ('bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg',
            'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf') then 1 else 100 end as unit
    ) as m
    left join raw_stripe.customers as c on c.id = i.customer
    where not coalesce(i.deleted, false)
        and i.status not in ('draft', 'void')
),
legacy_customer as (
    select cast(cust_no as varchar) as legacy_customer_id, cast(sf_acct_ref as varchar) as salesforce_account_id
    from raw_legacy_erp.customer_master
),
-- Legacy dates are YYYYMMDD text; amounts integer cents.
legacy as (
    select
        'legacy_erp:' || cast(h.inv_no as varchar) as invoice_id,
        'legacy_erp' as source_system,
        cast(h.inv_no as varchar) as source_id,
        cast(h.inv_no as varchar) as invoice_number,
        lc.salesforce_account_id as customer_id,
        cast(h.sf_contract_ref as varchar) as contract_id,
        cast(h.project_ref as varchar) as project_id,
        cast(h.psa_be_ref as varchar) as billing_event_id,
        le.legal_entity_id,
        upper(h.curr_cd) as currency,
        case when length(trim(cast(h.inv_dt as varchar))) = 8
            then cast(substr(trim(cast(h.inv_dt as varchar)), 1, 4) || '-' || substr(trim(cast(h.inv_dt as varchar)), 5, 2) || '-' || substr(trim(cast(h.inv_dt as varchar)), 7, 2) as date)
            else cast(nullif(trim(cast(h.inv_dt as varchar)), '') as date) end as invoice_date,
        case when length(trim(cast(h.due_dt as varchar))) = 8
            then cast(substr(trim(cast(h.due_dt as varchar)), 1, 4) || '-' || substr(trim(cast(h.due_dt as varchar)), 5, 2) || '-' || substr(trim(cast(h.due_dt as varchar)), 7, 2) as date)
            else cast(nullif(trim(cast(h.due_dt as varchar)), '') as date) end as due_date,
        cast(cast(h.net_amt_cents as decimal(18, 2)) / 100 as decimal(18, 2)) as subtotal_amount,
        cast(cast(h.gross_amt_cents as decimal(18, 2)) / 100 as decimal(18, 2)) as total_amount,
        cast(0 as decimal(18, 2)) as credited_amount
    from raw_legacy_erp.ar_invoice_hdr as h
    left join legacy_customer as lc on lc.legacy_customer_id = cast(h.cust_no as varchar)
    left join le on le.legacy_entity_code = cast(h.entity_cd as varchar)
),
candidate as (
    select * from netsuite
    union all
    select * from stripe
    union all
    select * from legacy
),
-- ERP coexistence: the legacy ERP before the entity's cut-over, NetSuite from it on.
windowed as (
    select
        candidate.*,
        case
            when candidate.source_system = 'netsuite' and le.erp_cutover_date is not null
                and candidate.invoice_date < le.erp_cutover_date then 'netsuite_before_cutover'
            when candidate.source_system = 'legacy_erp' and le.erp_cutover_date is null then 'legacy_without_cutover'
            when candidate.source_system = 'legacy_erp' and candidate.invoice_date >= le.erp_cutover_date
                then 'legacy_after_cutover'
        end as window_exception
    from candidate
    left join le on le.legal_entity_id = candidate.legal_entity_id
),
-- The same invoice in both ERPs (billing event, currency, total): the copy in its window
-- survives (both or neither: the legacy original); the other is a duplicate.
duplicate as (
    select
        case when surviving_invoice_id = legacy_invoice_id then netsuite_invoice_id else legacy_invoice_id end
            as invoice_id,
        min(surviving_invoice_id) as surviving_invoice_id
    from (
        select
            ns.invoice_id as netsuite_invoice_id,
            lg.invoice_id as legacy_invoice_id,
            case when ns.window_exception is null and lg.window_exception is not null
                then ns.invoice_id else lg.invoice_id end as surviving_invoice_id
        from windowed as ns
        inner join windowed as lg
            on lg.billing_event_id = ns.billing_event_id
            and lg.currency = ns.currency
            and lg.total_amount = ns.total_amount
        where ns.source_system = 'netsuite' and lg.source_system = 'legacy_erp'
    ) as pairs
    group by 1
)
select
    windowed.* exclude (window_exception),
    case
        when duplicate.invoice_id is not null then 'duplicate_across_erps'
        when windowed.window_exception is not null then windowed.window_exception
        else 'kept'
    end as routing_status,
    duplicate.surviving_invoice_id
from windowed
left join duplicate on duplicate.invoice_id = windowed.invoice_id;

create or replace temp table invoice as
select * exclude (routing_status, surviving_invoice_id)
from invoice_candidate
where routing_status = 'kept';

-- ============================================================================================
-- Payments: NetSuite CustPymt, Stripe paid invoice payments (or amount_paid of an invoice
-- without any), legacy AR receipts; each resolved to the canonical invoice it pays (the
-- surviving copy of an ERP duplicate; null when not a canonical invoice or unapplied cash).
-- ============================================================================================

create or replace temp table payment as
with
ns_customer as (
    select cast(id as varchar) as netsuite_customer_id, externalid as salesforce_account_id
    from raw_netsuite.customer
),
ns_currency as (
    select cast(id as varchar) as currency_id, upper(symbol) as currency_code
    from raw_netsuite.currency
),
netsuite as (
    select
        case when t.custbody_q2c_applied_to is not null
            then 'netsuite:' || cast(t.custbody_q2c_applied_to as varchar) end as source_invoice_id,
        c.salesforce_account_id as customer_id,
        le.legal_entity_id,
        cur.currency_code as currency,
        cast(t.trandate as date) as payment_date,
        cast(t.foreigntotal as decimal(18, 2)) as amount,
        case when t.custbody_q2c_applied_to is not null
            then coalesce(cast(t.foreignpaymentamountused as decimal(18, 2)), cast(t.foreigntotal as decimal(18, 2)))
            else 0 end as applied_amount
    from raw_netsuite.transaction as t
    left join ns_customer as c on c.netsuite_customer_id = cast(t.entity as varchar)
    left join ns_currency as cur on cur.currency_id = cast(t.currency as varchar)
    left join le on le.netsuite_subsidiary_id = cast(t.subsidiary as varchar)
    where t.type = 'CustPymt'
),
stripe_paid as (
    select
        cast(invoice as varchar) as stripe_invoice_id,
        upper(currency) as currency,
        cast(cast(amount_paid as decimal(18, 2)) / case when lower(currency) in ('bif', 'clp', 'djf', 'gnf',
            'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf') then 1 else 100 end
            as decimal(18, 2)) as amount_paid,
        cast(coalesce(
            to_timestamp(status_transitions__paid_at) at time zone 'UTC',
            to_timestamp(created) at time zone 'UTC'
        ) as date) as payment_date
    from raw_stripe.invoice_payments
    where status = 'paid'
),
-- Issued Stripe invoices (all are canonical: Stripe is outside the ERP coexistence).
stripe_issued as (
    select
        s.id as stripe_invoice_id,
        invoice.invoice_id,
        invoice.customer_id,
        invoice.legal_entity_id,
        upper(s.currency) as currency,
        cast(cast(s.amount_paid as decimal(18, 2)) / case when lower(s.currency) in ('bif', 'clp', 'djf', 'gnf',
            'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf') then 1 else 100 end
            as decimal(18, 2)) as amount_paid,
        cast(coalesce(
            to_timestamp(s.status_transitions__paid_at) at time zone 'UTC',
            to_timestamp(s.status_transitions__finalized_at) at time zone 'UTC',
            to_timestamp(s.created) at time zone 'UTC'
        ) as date) as paid_date
    from raw_stripe.invoices as s
    inner join invoice on invoice.invoice_id = 'stripe:' || s.id
),
stripe as (
    select
        i.invoice_id as source_invoice_id,
        i.customer_id,
        i.legal_entity_id,
        coalesce(p.currency, i.currency) as currency,
        p.payment_date,
        p.amount_paid as amount,
        p.amount_paid as applied_amount
    from stripe_paid as p
    inner join stripe_issued as i on i.stripe_invoice_id = p.stripe_invoice_id
    union all
    -- Older API versions have no invoice_payment: the invoice's amount_paid is one payment.
    select
        i.invoice_id, i.customer_id, i.legal_entity_id, i.currency, i.paid_date, i.amount_paid, i.amount_paid
    from stripe_issued as i
    where i.amount_paid > 0
        and not exists (select 1 from stripe_paid as p where p.stripe_invoice_id = i.stripe_invoice_id)
),
legacy as (
    select
        case when r.applied_inv_no is not null then 'legacy_erp:' || cast(r.applied_inv_no as varchar) end
            as source_invoice_id,
        lc.sf_acct_ref as customer_id,
        le.legal_entity_id,
        upper(r.curr_cd) as currency,
        case when length(trim(cast(r.rcpt_dt as varchar))) = 8
            then cast(substr(trim(cast(r.rcpt_dt as varchar)), 1, 4) || '-' || substr(trim(cast(r.rcpt_dt as varchar)), 5, 2) || '-' || substr(trim(cast(r.rcpt_dt as varchar)), 7, 2) as date)
            else cast(nullif(trim(cast(r.rcpt_dt as varchar)), '') as date) end as payment_date,
        cast(r.rcpt_amt as decimal(18, 2)) as amount,
        case when r.applied_inv_no is not null then cast(r.rcpt_amt as decimal(18, 2)) else 0 end as applied_amount
    from raw_legacy_erp.ar_receipt as r
    left join raw_legacy_erp.customer_master as lc on cast(lc.cust_no as varchar) = cast(r.cust_no as varchar)
    left join le on le.legacy_entity_code = cast(r.entity_cd as varchar)
),
unioned as (
    select * from netsuite
    union all
    select * from stripe
    union all
    select * from legacy
)
select
    invoice.invoice_id,
    unioned.customer_id,
    unioned.legal_entity_id,
    unioned.currency,
    unioned.payment_date,
    cast(unioned.amount as decimal(18, 2)) as amount,
    cast(case when invoice.invoice_id is null then 0 else unioned.applied_amount end as decimal(18, 2))
        as applied_amount
from unioned
left join invoice_candidate as routing on routing.invoice_id = unioned.source_invoice_id
left join invoice on invoice.invoice_id = coalesce(routing.surviving_invoice_id, unioned.source_invoice_id);

-- ============================================================================================
-- Mart 1: invoice_payment_status - open amount, status and ageing bucket of every invoice
-- (payments dated on or before the as-of date).
-- ============================================================================================

create or replace table hand.invoice_payment_status as
with
paid as (
    select invoice_id, sum(applied_amount) as paid_amount, max(payment_date) as last_payment_date
    from payment
    where invoice_id is not null and payment_date <= {{as_of_date}}
    group by invoice_id
),
amounts as (
    select
        invoice.*,
        coalesce(paid.paid_amount, 0) as paid_amount,
        invoice.total_amount - invoice.credited_amount - coalesce(paid.paid_amount, 0) as open_amount,
        paid.last_payment_date,
        date_diff('day', invoice.due_date, {{as_of_date}}) as days_after_due
    from invoice
    left join paid on paid.invoice_id = invoice.invoice_id
    where invoice.invoice_date <= {{as_of_date}}
)
select
    cast(invoice_id as varchar) as invoice_id,
    cast(source_system as varchar) as source_system,
    cast(source_id as varchar) as source_id,
    cast(invoice_number as varchar) as invoice_number,
    cast(customer_id as varchar) as customer_id,
    cast(contract_id as varchar) as contract_id,
    cast(project_id as varchar) as project_id,
    cast(billing_event_id as varchar) as billing_event_id,
    cast(legal_entity_id as varchar) as legal_entity_id,
    cast(currency as varchar) as currency,
    cast(invoice_date as date) as invoice_date,
    cast(due_date as date) as due_date,
    cast(total_amount as decimal(18, 2)) as total_amount,
    cast(credited_amount as decimal(18, 2)) as credited_amount,
    cast(paid_amount as decimal(18, 2)) as paid_amount,
    cast(open_amount as decimal(18, 2)) as open_amount,
    cast(last_payment_date as date) as last_payment_date,
    cast(case
        when open_amount <= 0 then 'paid'
        when days_after_due > 0 then 'overdue'
        when paid_amount > 0 then 'partially_paid'
        else 'open'
    end as varchar) as payment_status,
    cast(case when open_amount > 0 and days_after_due > 0 then days_after_due else 0 end as integer)
        as days_past_due,
    cast(case
        when open_amount <= 0 then 'paid'
        when days_after_due <= 0 then 'current'
        when days_after_due <= 30 then '1-30'
        when days_after_due <= 60 then '31-60'
        when days_after_due <= 90 then '61-90'
        else '90+'
    end as varchar) as aging_bucket,
    cast({{as_of_date}} as date) as as_of_date
from amounts;

-- ============================================================================================
-- Mart 2: ar_ageing - open receivables by bucket and unapplied cash per customer x legal
-- entity x currency, translated at the closing rate.
-- ============================================================================================

create or replace table hand.ar_ageing as
with
open_invoices as (
    select
        customer_id,
        legal_entity_id,
        currency,
        count(*) as open_invoice_count,
        sum(case when aging_bucket = 'current' then open_amount else 0 end) as current_amount,
        sum(case when aging_bucket = '1-30' then open_amount else 0 end) as past_due_1_30_amount,
        sum(case when aging_bucket = '31-60' then open_amount else 0 end) as past_due_31_60_amount,
        sum(case when aging_bucket = '61-90' then open_amount else 0 end) as past_due_61_90_amount,
        sum(case when aging_bucket = '90+' then open_amount else 0 end) as past_due_over_90_amount,
        sum(open_amount) as total_open_amount,
        max(days_past_due) as max_days_past_due
    from hand.invoice_payment_status
    where open_amount > 0
    group by customer_id, legal_entity_id, currency
),
unapplied as (
    select customer_id, legal_entity_id, currency, sum(amount - applied_amount) as unapplied_amount
    from payment
    where payment_date <= {{as_of_date}} and amount > applied_amount
    group by customer_id, legal_entity_id, currency
),
keys as (
    select customer_id, legal_entity_id, currency from open_invoices
    union
    select customer_id, legal_entity_id, currency from unapplied
),
combined as (
    select
        keys.customer_id,
        keys.legal_entity_id,
        keys.currency,
        coalesce(o.open_invoice_count, 0) as open_invoice_count,
        coalesce(o.current_amount, 0) as current_amount,
        coalesce(o.past_due_1_30_amount, 0) as past_due_1_30_amount,
        coalesce(o.past_due_31_60_amount, 0) as past_due_31_60_amount,
        coalesce(o.past_due_61_90_amount, 0) as past_due_61_90_amount,
        coalesce(o.past_due_over_90_amount, 0) as past_due_over_90_amount,
        coalesce(o.total_open_amount, 0) as total_open_amount,
        coalesce(o.max_days_past_due, 0) as max_days_past_due,
        -coalesce(u.unapplied_amount, 0) as unapplied_cash_amount
    from keys
    left join open_invoices as o
        on o.customer_id = keys.customer_id
        and coalesce(o.legal_entity_id, '') = coalesce(keys.legal_entity_id, '')
        and o.currency = keys.currency
    left join unapplied as u
        on u.customer_id = keys.customer_id
        and coalesce(u.legal_entity_id, '') = coalesce(keys.legal_entity_id, '')
        and u.currency = keys.currency
),
customer as (
    select id as customer_id, name as customer_name
    from raw_salesforce.account
    where not coalesce(is_deleted, false)
)
select
    cast(c.customer_id || '|' || coalesce(c.legal_entity_id, '') || '|' || c.currency as varchar) as ar_ageing_key,
    cast(c.customer_id as varchar) as customer_id,
    cast(customer.customer_name as varchar) as customer_name,
    cast(c.legal_entity_id as varchar) as legal_entity_id,
    cast(c.currency as varchar) as currency,
    cast(c.open_invoice_count as integer) as open_invoice_count,
    cast(c.current_amount as decimal(18, 2)) as current_amount,
    cast(c.past_due_1_30_amount as decimal(18, 2)) as past_due_1_30_amount,
    cast(c.past_due_31_60_amount as decimal(18, 2)) as past_due_31_60_amount,
    cast(c.past_due_61_90_amount as decimal(18, 2)) as past_due_61_90_amount,
    cast(c.past_due_over_90_amount as decimal(18, 2)) as past_due_over_90_amount,
    cast(c.total_open_amount as decimal(18, 2)) as total_open_amount,
    cast(c.unapplied_cash_amount as decimal(18, 2)) as unapplied_cash_amount,
    cast(c.total_open_amount + c.unapplied_cash_amount as decimal(18, 2)) as net_receivable_amount,
    cast(c.max_days_past_due as integer) as max_days_past_due,
    cast('USD' as varchar) as reporting_currency,
    cast(r.rate as decimal(18, 8)) as fx_rate_reporting,
    cast(r.rate_date as date) as fx_rate_date,
    cast(c.total_open_amount * r.rate as decimal(18, 2)) as total_open_amount_reporting,
    cast(c.unapplied_cash_amount * r.rate as decimal(18, 2)) as unapplied_cash_amount_reporting,
    cast({{as_of_date}} as date) as as_of_date
from combined as c
left join customer on customer.customer_id = c.customer_id
left join closing_rate as r on r.from_currency = c.currency;

-- ============================================================================================
-- Engagements (PSA projects, not deleted): legal entity falls back to the contract's.
-- ============================================================================================

create or replace temp table engagement as
select
    p.id as project_id,
    p.name as project_name,
    p.pse__account__c as customer_id,
    p.contract__c as contract_id,
    coalesce(p.legal_entity__c, c.legal_entity__c) as legal_entity_id,
    p.pse__billing_type__c as billing_type,
    upper(p.currency_iso_code) as currency
from raw_certinia.pse_proj_c as p
left join raw_salesforce.contract as c
    on c.id = p.contract__c
    and not coalesce(c.is_deleted, false)
where not coalesce(p.is_deleted, false);

-- ============================================================================================
-- Mart 3: wip - earned (approved, billable PSA items to date) vs billed (ERP invoices' net to
-- date, in the project currency) per project, unbilled items aged.
-- ============================================================================================

create or replace table hand.wip as
with
-- PSA items (timecard splits, expenses, completed milestones), approved, billable, to date.
psa_item as (
    select
        pse__project__c as project_id,
        cast(pse__start_date__c as date) as event_date,
        cast(pse__total_billable_amount__c as decimal(18, 2)) as amount,
        pse__billing_event_item__c as billing_event_item_id
    from raw_certinia.pse_timecard_c
    where not coalesce(is_deleted, false)
        and coalesce(pse__billable__c, false)
        and coalesce(pse__approved__c, false)
        and cast(pse__start_date__c as date) <= {{as_of_date}}
    union all
    select
        pse__project__c,
        cast(pse__expense_date__c as date),
        cast(pse__billing_amount__c as decimal(18, 2)),
        pse__billing_event_item__c
    from raw_certinia.pse_expense_c
    where not coalesce(is_deleted, false)
        and coalesce(pse__billable__c, false)
        and coalesce(pse__approved__c, false)
        and cast(pse__expense_date__c as date) <= {{as_of_date}}
    union all
    select
        pse__project__c,
        cast(pse__actual_date__c as date),
        cast(pse__milestone_amount__c as decimal(18, 2)),
        pse__billing_event_item__c
    from raw_certinia.pse_milestone_c
    where not coalesce(is_deleted, false)
        and pse__actual_date__c is not null
        and coalesce(pse__approved_for_billing__c, false)
        and cast(pse__actual_date__c as date) <= {{as_of_date}}
),
-- Billing events (not deleted) that an ERP invoice dated on or before the as-of date references.
invoiced_billing_event as (
    select be.id as billing_event_id
    from raw_certinia.pse_billing_event_c as be
    inner join (
        select billing_event_id, min(invoice_date) as erp_invoice_date
        from invoice
        where billing_event_id is not null
        group by billing_event_id
    ) as first_invoice on first_invoice.billing_event_id = be.id
    where not coalesce(be.is_deleted, false)
        and first_invoice.erp_invoice_date <= {{as_of_date}}
),
earned_item as (
    select
        psa_item.project_id,
        psa_item.amount,
        date_diff('day', psa_item.event_date, {{as_of_date}}) as age_days,
        case when invoiced_billing_event.billing_event_id is null then 1 else 0 end as is_unbilled
    from psa_item
    left join raw_certinia.pse_billing_event_item_c as bei on bei.id = psa_item.billing_event_item_id
    left join invoiced_billing_event on invoiced_billing_event.billing_event_id = bei.pse__billing_event__c
),
earned as (
    select
        project_id,
        sum(amount) as earned_amount,
        sum(case when is_unbilled = 1 then amount else 0 end) as unbilled_amount,
        sum(case when is_unbilled = 1 and age_days <= 30 then amount else 0 end) as unbilled_0_30_amount,
        sum(case when is_unbilled = 1 and age_days between 31 and 60 then amount else 0 end) as unbilled_31_60_amount,
        sum(case when is_unbilled = 1 and age_days between 61 and 90 then amount else 0 end) as unbilled_61_90_amount,
        sum(case when is_unbilled = 1 and age_days > 90 then amount else 0 end) as unbilled_over_90_amount,
        sum(is_unbilled) as unbilled_item_count,
        max(case when is_unbilled = 1 then age_days end) as oldest_unbilled_days
    from earned_item
    group by project_id
),
billed as (
    select
        i.project_id,
        sum(case
            when i.currency = e.currency then i.subtotal_amount
            else cast(round(cast(i.subtotal_amount as decimal(18, 2)) * fx.rate, 2) as decimal(18, 2))
        end) as billed_amount,
        count(*) as invoice_count
    from invoice as i
    inner join engagement as e on e.project_id = i.project_id
    left join fx
        on fx.from_currency = i.currency
        and fx.to_currency = e.currency
        and i.invoice_date >= fx.valid_from
        and i.invoice_date <= fx.valid_to
    where i.source_system in ('netsuite', 'legacy_erp')
        and i.invoice_date <= {{as_of_date}}
    group by i.project_id
),
joined as (
    select
        e.*,
        coalesce(earned.earned_amount, 0) as earned_amount,
        coalesce(billed.billed_amount, 0) as billed_amount,
        coalesce(billed.invoice_count, 0) as invoice_count,
        coalesce(earned.unbilled_amount, 0) as unbilled_amount,
        coalesce(earned.unbilled_0_30_amount, 0) as unbilled_0_30_amount,
        coalesce(earned.unbilled_31_60_amount, 0) as unbilled_31_60_amount,
        coalesce(earned.unbilled_61_90_amount, 0) as unbilled_61_90_amount,
        coalesce(earned.unbilled_over_90_amount, 0) as unbilled_over_90_amount,
        coalesce(earned.unbilled_item_count, 0) as unbilled_item_count,
        earned.oldest_unbilled_days,
        r.rate as fx_rate_reporting
    from engagement as e
    left join earned on earned.project_id = e.project_id
    left join billed on billed.project_id = e.project_id
    left join closing_rate as r on r.from_currency = e.currency
    where earned.project_id is not null or billed.project_id is not null
)
select
    cast(project_id as varchar) as project_id,
    cast(project_name as varchar) as project_name,
    cast(contract_id as varchar) as contract_id,
    cast(customer_id as varchar) as customer_id,
    cast(legal_entity_id as varchar) as legal_entity_id,
    cast(billing_type as varchar) as billing_type,
    cast(currency as varchar) as currency,
    cast(earned_amount as decimal(18, 2)) as earned_amount,
    cast(billed_amount as decimal(18, 2)) as billed_amount,
    cast(earned_amount - billed_amount as decimal(18, 2)) as wip_amount,
    cast(invoice_count as integer) as invoice_count,
    cast(unbilled_amount as decimal(18, 2)) as unbilled_amount,
    cast(unbilled_0_30_amount as decimal(18, 2)) as unbilled_0_30_amount,
    cast(unbilled_31_60_amount as decimal(18, 2)) as unbilled_31_60_amount,
    cast(unbilled_61_90_amount as decimal(18, 2)) as unbilled_61_90_amount,
    cast(unbilled_over_90_amount as decimal(18, 2)) as unbilled_over_90_amount,
    cast(unbilled_item_count as integer) as unbilled_item_count,
    cast(oldest_unbilled_days as integer) as oldest_unbilled_days,
    cast('USD' as varchar) as reporting_currency,
    cast(fx_rate_reporting as decimal(18, 8)) as fx_rate_reporting,
    cast((earned_amount - billed_amount) * fx_rate_reporting as decimal(18, 2)) as wip_amount_reporting,
    cast(unbilled_amount * fx_rate_reporting as decimal(18, 2)) as unbilled_amount_reporting,
    cast({{as_of_date}} as date) as as_of_date
from joined;

-- ============================================================================================
-- Mart 4: utilization - per PSA resource and month: 8 h per working day (Mon-Fri) of its active
-- period within the 1,830 days up to the as-of date, against approved time booked.
-- ============================================================================================

create or replace table hand.utilization as
with
resource as (
    select
        id as resource_id,
        trim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) as resource_name,
        pse__resource_role__c as role,
        legal_entity__c as legal_entity_id,
        cast(created_date at time zone 'UTC' as date) as active_from,
        case when not coalesce(pse__is_resource_active__c, false)
            then cast(last_modified_date at time zone 'UTC' as date) end as active_to
    from raw_certinia.contact
    where coalesce(pse__is_resource__c, false)
        and not coalesce(is_deleted, false)
),
working_day as (
    select calendar_date, cast(date_trunc('month', calendar_date) as date) as month_start
    from (select {{as_of_date}} - cast(n as integer) as calendar_date from range(0, 1830) as t (n))
    where extract(dow from calendar_date) between 1 and 5
),
available as (
    select resource.resource_id, working_day.month_start, count(*) * 8 as available_hours
    from resource
    inner join working_day
        on working_day.calendar_date >= resource.active_from
        and (resource.active_to is null or working_day.calendar_date <= resource.active_to)
    group by resource.resource_id, working_day.month_start
),
-- Approved time (timecard splits) to date.
booked as (
    select
        pse__resource__c as resource_id,
        cast(date_trunc('month', cast(pse__start_date__c as date)) as date) as month_start,
        sum(case when coalesce(pse__billable__c, false)
            then cast(pse__total_hours__c as decimal(18, 2)) else 0 end) as billable_hours,
        sum(case when not coalesce(pse__billable__c, false)
            then cast(pse__total_hours__c as decimal(18, 2)) else 0 end) as non_billable_hours
    from raw_certinia.pse_timecard_c
    where not coalesce(is_deleted, false)
        and coalesce(pse__approved__c, false)
        and cast(pse__start_date__c as date) <= {{as_of_date}}
    group by 1, 2
),
joined as (
    select
        a.resource_id,
        a.month_start,
        a.available_hours,
        coalesce(b.billable_hours, 0) as billable_hours,
        coalesce(b.non_billable_hours, 0) as non_billable_hours
    from available as a
    left join booked as b on b.resource_id = a.resource_id and b.month_start = a.month_start
)
select
    cast(j.resource_id || '|' || cast(j.month_start as varchar) as varchar) as utilization_key,
    cast(j.resource_id as varchar) as resource_id,
    cast(r.resource_name as varchar) as resource_name,
    cast(r.role as varchar) as role,
    cast(r.legal_entity_id as varchar) as legal_entity_id,
    cast(j.month_start as date) as month_start,
    cast(j.available_hours as decimal(18, 2)) as available_hours,
    cast(j.billable_hours as decimal(18, 2)) as billable_hours,
    cast(j.non_billable_hours as decimal(18, 2)) as non_billable_hours,
    cast(case when j.available_hours > 0 then j.billable_hours / j.available_hours end as decimal(9, 4))
        as utilization,
    cast(case when j.available_hours > 0
        then (j.billable_hours + j.non_billable_hours) / j.available_hours end as decimal(9, 4))
        as total_utilization,
    cast({{as_of_date}} as date) as as_of_date
from joined as j
inner join resource as r on r.resource_id = j.resource_id;

commit;
