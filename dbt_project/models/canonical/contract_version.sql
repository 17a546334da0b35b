{#
    Contract versions: one row per version of a contract. Version 1 is the primary quote the
    contract was created from (contract.quote_id), effective on the contract start date; each
    accepted, not-deleted amendment quote whose SBQQ__MasterContract__c is the contract is a later
    version, effective on the amendment quote's start date, numbered in order of effective date
    (then quote id). amount_delta = the quote's net amount (an amendment quote prices the
    change only); cumulative_amount = the contract value once the version applies.
#}

with

contracts as (

    select * from {{ ref('contract') }}

),

quotes as (

    select * from {{ ref('stg_salesforce__sbqq_quote_c') }}

),

original as (

    select
        contracts.contract_id,
        contracts.quote_id,
        0 as version_order,
        contracts.start_date as effective_date,
        coalesce(quotes.net_amount, contracts.contract_amount) as amount_delta,
        coalesce(quotes.billing_frequency, contracts.billing_frequency) as billing_frequency,
        coalesce(quotes.payment_terms, contracts.payment_terms) as payment_terms,
        coalesce(quotes.currency, contracts.currency) as currency,
        quotes.contract_version as source_contract_version,
        'Quote' as quote_type
    from contracts
    left join quotes
        on quotes.quote_id = contracts.quote_id
        and not quotes.is_deleted

),

amendments as (

    select
        quotes.master_contract_id as contract_id,
        quotes.quote_id,
        1 as version_order,
        quotes.start_date as effective_date,
        quotes.net_amount as amount_delta,
        quotes.billing_frequency,
        quotes.payment_terms,
        quotes.currency,
        quotes.contract_version as source_contract_version,
        quotes.quote_type
    from quotes
    inner join contracts
        on contracts.contract_id = quotes.master_contract_id
    where quotes.master_contract_id is not null
        and quotes.status = 'Accepted'
        and not quotes.is_deleted

),

versions as (

    select * from original
    union all
    select * from amendments

),

numbered as (

    select
        versions.*,
        row_number() over (
            partition by contract_id
            order by version_order, effective_date, {{ q2c_sort_key('quote_id') }}
        ) as version_number
    from versions

),

final as (

    select
        contract_id || '|v' || cast(version_number as varchar) as contract_version_id,
        contract_id,
        cast(version_number as integer) as version_number,
        quote_id,
        quote_type,
        effective_date,
        cast(amount_delta as decimal(18, 2)) as amount_delta,
        cast(sum(amount_delta) over (
            partition by contract_id
            order by version_number
            rows between unbounded preceding and current row
        ) as decimal(18, 2)) as cumulative_amount,
        billing_frequency,
        payment_terms,
        currency,
        source_contract_version
    from numbered

)

select * from final
