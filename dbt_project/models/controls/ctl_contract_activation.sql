{#
    Control point: contract activation (docs/controls.md). Grain: one row per exception, i.e.
    per (rule_id, object_id); every column is the shared exception layout of the six control
    point models (see control_exceptions).

    CA-001 won_opportunity_without_contract: a won opportunity (Type not 'Amendment') with no
        activated contract whose SBQQ__Opportunity__c is it, more than var('contract_grace_days')
        days after its CloseDate. Object: the opportunity.
    CA-002 contract_terms_differ_from_quote: an activated contract whose Contract_Amount__c
        differs from its primary quote's SBQQ__NetAmount__c plus the net amounts of the accepted
        primary amendment quotes whose SBQQ__MasterContract__c is the contract, or whose
        Billing_Frequency__c / Payment_Terms__c differ from the primary quote's. The primary
        quote is the opportunity's quote with SBQQ__Primary__c and SBQQ__Type__c 'Quote'.
        Object: the contract.

    Deleted Salesforce rows (IsDeleted) are ignored.
#}

{%- set contract_grace_days = var('contract_grace_days', 30) | int -%}

with

opportunities as (

    select * from {{ ref('stg_salesforce__opportunity') }}
    where not is_deleted

),

contracts as (

    select * from {{ ref('stg_salesforce__contract') }}
    where not is_deleted

),

quotes as (

    select * from {{ ref('stg_salesforce__sbqq_quote_c') }}
    where not is_deleted

),

as_of as (

    select {{ q2c_as_of_date() }} as as_of_date

),

activated_opportunities as (

    select distinct opportunity_id
    from contracts
    where status = 'Activated'
        and opportunity_id is not null

),

won_without_contract as (

    select
        'CA-001' as rule_id,
        'won_opportunity_without_contract' as rule_name,
        'opportunity' as object_type,
        opportunities.opportunity_id as object_id,
        opportunities.account_id as customer_id,
        cast(null as varchar) as contract_id,
        cast(null as varchar) as project_id,
        cast(null as varchar) as invoice_id,
        'Opportunity ' || opportunities.opportunity_id || ' (' || coalesce(opportunities.opportunity_name, '') || ')'
            || ' was won on ' || cast(opportunities.close_date as varchar)
            || ' but no activated Contract has SBQQ__Opportunity__c = ' || opportunities.opportunity_id
            || ' after {{ contract_grace_days }} days.' as description,
        'Sales Operations' as owner_team,
        'high' as severity,
        opportunities.amount as amount_at_risk,
        opportunities.currency,
        cast({{ dbt.dateadd('day', contract_grace_days + 1, 'opportunities.close_date') }} as date) as detected_at_date
    from opportunities
    cross join as_of
    left join activated_opportunities
        on activated_opportunities.opportunity_id = opportunities.opportunity_id
    where opportunities.is_won
        and coalesce(opportunities.opportunity_type, '') <> 'Amendment'
        and activated_opportunities.opportunity_id is null
        and {{ dbt.datediff('opportunities.close_date', 'as_of.as_of_date', 'day') }} > {{ contract_grace_days }}

),

-- The primary quote of each opportunity (one per opportunity in the CPQ; the latest created
-- wins should there ever be two).
primary_quotes_ranked as (

    select
        quotes.*,
        row_number() over (
            partition by opportunity_id
            order by created_at desc nulls last, {{ q2c_sort_key('quote_id') }} desc
        ) as rn
    from quotes
    where is_primary
        and quote_type = 'Quote'

),

primary_quotes as (

    select * from primary_quotes_ranked where rn = 1

),

accepted_amendments as (

    select
        master_contract_id as contract_id,
        sum(net_amount) as amendment_net_amount,
        count(*) as amendment_count
    from quotes
    where quote_type = 'Amendment'
        and is_primary
        and status = 'Accepted'
        and master_contract_id is not null
    group by master_contract_id

),

contract_vs_quote as (

    select
        contracts.contract_id,
        contracts.account_id,
        contracts.currency,
        contracts.contract_amount,
        contracts.billing_frequency,
        contracts.payment_terms,
        contracts.activated_at,
        contracts.start_date,
        primary_quotes.quote_id,
        primary_quotes.billing_frequency as quote_billing_frequency,
        primary_quotes.payment_terms as quote_payment_terms,
        cast(
            primary_quotes.net_amount + coalesce(accepted_amendments.amendment_net_amount, 0)
            as decimal(18, 2)
        ) as expected_amount,
        coalesce(accepted_amendments.amendment_count, 0) as amendment_count
    from contracts
    inner join primary_quotes
        on primary_quotes.opportunity_id = contracts.opportunity_id
    left join accepted_amendments
        on accepted_amendments.contract_id = contracts.contract_id
    where contracts.status = 'Activated'

),

terms_differ as (

    select
        'CA-002' as rule_id,
        'contract_terms_differ_from_quote' as rule_name,
        'contract' as object_type,
        contract_id as object_id,
        account_id as customer_id,
        contract_id,
        cast(null as varchar) as project_id,
        cast(null as varchar) as invoice_id,
        rtrim(
            'Contract ' || contract_id || ' differs from its primary quote ' || quote_id || ':'
                || case when contract_amount is distinct from expected_amount
                    then ' Contract_Amount__c ' || coalesce(cast(contract_amount as varchar), 'empty')
                        || ' <> quote SBQQ__NetAmount__c plus ' || cast(amendment_count as varchar)
                        || ' accepted amendment(s) ' || coalesce(cast(expected_amount as varchar), 'empty') || ';'
                    else '' end
                || case when billing_frequency is distinct from quote_billing_frequency
                    then ' Billing_Frequency__c ' || coalesce(billing_frequency, 'empty')
                        || ' <> SBQQ__BillingFrequency__c ' || coalesce(quote_billing_frequency, 'empty') || ';'
                    else '' end
                || case when payment_terms is distinct from quote_payment_terms
                    then ' Payment_Terms__c ' || coalesce(payment_terms, 'empty')
                        || ' <> SBQQ__PaymentTerms__c ' || coalesce(quote_payment_terms, 'empty') || ';'
                    else '' end,
            ';'
        ) || '.' as description,
        'Deal Desk' as owner_team,
        'medium' as severity,
        cast(coalesce(contract_amount, 0) - coalesce(expected_amount, 0) as decimal(18, 2)) as amount_at_risk,
        currency,
        coalesce(cast(activated_at as date), start_date) as detected_at_date
    from contract_vs_quote
    where contract_amount is distinct from expected_amount
        or billing_frequency is distinct from quote_billing_frequency
        or payment_terms is distinct from quote_payment_terms

),

exceptions as (

    select * from won_without_contract
    union all
    select * from terms_differ

),

final as (

    select
        -- Stable across runs: the same case keeps its id every day.
        {{ q2c_hash(['exceptions.rule_id', 'exceptions.object_id']) }} as exception_id,
        exceptions.rule_id,
        exceptions.rule_name,
        'contract_activation' as control_point,
        exceptions.object_type,
        exceptions.object_id,
        cast('salesforce' as varchar) as source_system,
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
