{#
    Control point: invoice release (docs/controls.md). Grain: one row per exception, i.e. per
    (rule_id, object_id), in the shared exception layout (see control_exceptions).

    Every rule reads the cloud ERP's invoices (NetSuite transactions of type 'CustInvc') that
    carry a billing event (custbody_q2c_billing_event_id); an invoice without one is not the
    release of a PSA billing event and is not checked here.

    IR-001 billing_event_invoiced_twice: a billing event referenced by more than one invoice.
        Object: the billing event.
    IR-002 invoice_currency_or_entity_mismatch: an invoice whose currency (the NetSuite currency
        record's symbol) or subsidiary differs from its contract's CurrencyIsoCode or its
        Legal_Entity__c's NetSuite subsidiary (legal_entities seed); the contract is found
        through billing event -> project -> Contract__c. Object: the invoice.
    IR-003 invoice_missing_tax_code: an invoice with an item line (neither mainline nor
        taxline) without taxcode. Object: the invoice.
    IR-004 invoice_total_differs_from_billing_event: an invoice whose item lines sum to another
        amount than its billing event's pse__Summary_Amount__c. Object: the invoice.

    Deleted PSA / Salesforce rows (IsDeleted) are ignored.
#}

with

transactions as (

    select * from {{ ref('stg_netsuite__transaction') }}

),

transaction_lines as (

    select * from {{ ref('stg_netsuite__transactionline') }}

),

currencies as (

    select * from {{ ref('stg_netsuite__currency') }}

),

legal_entities as (

    select * from {{ ref('legal_entities') }}

),

billing_events as (

    select * from {{ ref('stg_certinia__pse_billing_event_c') }}
    where not is_deleted

),

projects as (

    select * from {{ ref('stg_certinia__pse_proj_c') }}
    where not is_deleted

),

contracts as (

    select * from {{ ref('stg_salesforce__contract') }}
    where not is_deleted

),

netsuite_customers as (

    select * from {{ ref('stg_netsuite__customer') }}

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

),

item_lines as (

    select
        transaction_id,
        sum(amount) as item_amount,
        sum(case when tax_item_id is null then 1 else 0 end) as lines_without_tax_code,
        sum(case when tax_item_id is null then amount else 0 end) as amount_without_tax_code
    from transaction_lines
    where not is_main_line
        and not is_tax_line
    group by transaction_id

),

invoices as (

    select
        transactions.transaction_id as invoice_id,
        transactions.transaction_number,
        transactions.salesforce_billing_event_id as billing_event_id,
        transactions.salesforce_contract_id as recorded_contract_id,
        transactions.subsidiary_id,
        transactions.total_amount,
        transactions.transaction_date,
        currencies.currency_code as currency,
        billing_events.billing_event_id as live_billing_event_id,
        billing_events.summary_amount as billing_event_amount,
        projects.project_id,
        contracts.contract_id,
        contracts.currency as contract_currency,
        contracts.legal_entity_id as contract_legal_entity_id,
        legal_entities.netsuite_subsidiary_id as contract_subsidiary_id,
        coalesce(contracts.account_id, netsuite_customers.salesforce_account_id) as customer_id,
        cast(coalesce(item_lines.item_amount, 0) as decimal(18, 2)) as item_amount,
        coalesce(item_lines.lines_without_tax_code, 0) as lines_without_tax_code,
        cast(coalesce(item_lines.amount_without_tax_code, 0) as decimal(18, 2)) as amount_without_tax_code
    from transactions
    left join currencies
        on currencies.currency_id = transactions.currency_id
    left join billing_events
        on billing_events.billing_event_id = transactions.salesforce_billing_event_id
    left join projects
        on projects.project_id = billing_events.project_id
    left join contracts
        on contracts.contract_id = projects.contract_id
    left join legal_entities
        on legal_entities.legal_entity_id = contracts.legal_entity_id
    left join netsuite_customers
        on netsuite_customers.netsuite_customer_id = transactions.netsuite_customer_id
    left join item_lines
        on item_lines.transaction_id = transactions.transaction_id
    where transactions.transaction_type = 'CustInvc'
        and coalesce(transactions.salesforce_billing_event_id, '') <> ''

),

invoices_per_event as (

    select
        invoices.*,
        row_number() over (
            partition by billing_event_id
            order by transaction_date, {{ q2c_sort_key('invoice_id') }}
        ) as invoice_rank,
        count(*) over (partition by billing_event_id) as invoice_count
    from invoices

),

invoiced_twice as (

    select
        'IR-001' as rule_id,
        'billing_event_invoiced_twice' as rule_name,
        'billing_event' as object_type,
        billing_event_id as object_id,
        cast('certinia' as varchar) as source_system,
        max(customer_id) as customer_id,
        max(contract_id) as contract_id,
        max(project_id) as project_id,
        -- The first duplicate: the second invoice of the event.
        max(case when invoice_rank = 2 then invoice_id end) as invoice_id,
        'Billing event ' || billing_event_id || ' is referenced by ' || cast(max(invoice_count) as varchar)
            || ' NetSuite invoices (custbody_q2c_billing_event_id): '
            || {{ dbt.listagg('invoice_id', "', '", 'order by invoice_rank') }} || '.' as description,
        'Billing Operations' as owner_team,
        'high' as severity,
        -- Everything billed after the first invoice.
        sum(case when invoice_rank > 1 then total_amount else 0 end) as amount_at_risk,
        max(currency) as currency,
        max(case when invoice_rank = 2 then transaction_date end) as detected_at_date
    from invoices_per_event
    where invoice_count > 1
    group by billing_event_id

),

currency_or_entity_mismatch as (

    select
        'IR-002' as rule_id,
        'invoice_currency_or_entity_mismatch' as rule_name,
        'invoice' as object_type,
        invoice_id as object_id,
        cast('netsuite' as varchar) as source_system,
        customer_id,
        contract_id,
        project_id,
        invoice_id,
        rtrim(
            'NetSuite invoice ' || invoice_id || ' (' || coalesce(transaction_number, '') || ', billing event '
                || billing_event_id || ') has'
                || case when currency is distinct from contract_currency
                    then ' currency ' || coalesce(currency, 'empty') || ' but contract ' || contract_id
                        || ' has CurrencyIsoCode ' || coalesce(contract_currency, 'empty') || ';'
                    else '' end
                || case when subsidiary_id is distinct from contract_subsidiary_id
                    then ' subsidiary ' || coalesce(subsidiary_id, 'empty') || ' but contract ' || contract_id
                        || ' has Legal_Entity__c ' || coalesce(contract_legal_entity_id, 'empty')
                        || ' (subsidiary ' || coalesce(contract_subsidiary_id, 'unknown') || ');'
                    else '' end,
            ';'
        ) || '.' as description,
        'Billing Operations' as owner_team,
        'high' as severity,
        total_amount as amount_at_risk,
        currency,
        transaction_date as detected_at_date
    from invoices
    where contract_id is not null
        and (
            currency is distinct from contract_currency
            or subsidiary_id is distinct from contract_subsidiary_id
        )

),

missing_tax_code as (

    select
        'IR-003' as rule_id,
        'invoice_missing_tax_code' as rule_name,
        'invoice' as object_type,
        invoice_id as object_id,
        cast('netsuite' as varchar) as source_system,
        customer_id,
        coalesce(contract_id, recorded_contract_id) as contract_id,
        project_id,
        invoice_id,
        'NetSuite invoice ' || invoice_id || ' (' || coalesce(transaction_number, '') || ') has '
            || cast(lines_without_tax_code as varchar) || ' item line(s) without taxcode.' as description,
        'Tax' as owner_team,
        'high' as severity,
        amount_without_tax_code as amount_at_risk,
        currency,
        transaction_date as detected_at_date
    from invoices
    where lines_without_tax_code > 0

),

total_differs as (

    select
        'IR-004' as rule_id,
        'invoice_total_differs_from_billing_event' as rule_name,
        'invoice' as object_type,
        invoice_id as object_id,
        cast('netsuite' as varchar) as source_system,
        customer_id,
        coalesce(contract_id, recorded_contract_id) as contract_id,
        project_id,
        invoice_id,
        'NetSuite invoice ' || invoice_id || ' (' || coalesce(transaction_number, '') || ') item lines sum to '
            || cast(item_amount as varchar) || ' but billing event ' || billing_event_id
            || ' has pse__Summary_Amount__c ' || coalesce(cast(billing_event_amount as varchar), 'empty') || '.'
            as description,
        'Billing Operations' as owner_team,
        'high' as severity,
        item_amount - billing_event_amount as amount_at_risk,
        currency,
        transaction_date as detected_at_date
    from invoices
    where live_billing_event_id is not null
        and item_amount is distinct from billing_event_amount

),

exceptions as (

    select * from invoiced_twice
    union all
    select * from currency_or_entity_mismatch
    union all
    select * from missing_tax_code
    union all
    select * from total_differs

),

final as (

    select
        -- Stable across runs: the same case keeps its id every day.
        {{ q2c_hash(['exceptions.rule_id', 'exceptions.object_id']) }} as exception_id,
        exceptions.rule_id,
        exceptions.rule_name,
        'invoice_release' as control_point,
        exceptions.object_type,
        exceptions.object_id,
        exceptions.source_system,
        exceptions.customer_id,
        exceptions.contract_id,
        exceptions.project_id,
        exceptions.invoice_id,
        exceptions.description,
        exceptions.owner_team,
        exceptions.severity,
        cast(exceptions.amount_at_risk as decimal(18, 2)) as amount_at_risk,
        exceptions.currency,
        exceptions.detected_at_date,
        as_of.as_of_date
    from exceptions
    cross join as_of

)

select * from final
