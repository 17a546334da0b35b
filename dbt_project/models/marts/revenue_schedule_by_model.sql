{#
    Revenue schedule per billing model and month, in the reporting currency (reference/domain.md,
    ASC 606 / IFRS 15 treatments), from canonical revenue_schedule (one row per contract x month):
      Time and Materials  right-to-invoice practical expedient: revenue = approved billable work;
      Fixed Fee           percent complete (input method) or milestones (output method);
      Retainer            straight-line over the term (time elapsed);
      Subscription        ratable over the service periods.
    One row per billing model x recognition method x month with recognized and billed revenue
    of the month and, at the contract level netted then summed, the cumulative position at the
    month's end: contract assets (recognized ahead of billing, unbilled revenue) and contract
    liabilities (billed ahead of recognition, deferred revenue). Months after the as-of month
    are the planned schedule (is_forecast).
#}

with

schedule as (

    select * from {{ ref('revenue_schedule') }}

),

as_of as (

    select
        {{ q2c_as_of_date() }} as as_of_date,
        cast({{ dbt.date_trunc('month', q2c_as_of_date()) }} as date) as as_of_month

),

per_contract as (

    select
        schedule.contract_id,
        schedule.billing_model,
        schedule.recognition_method,
        cast(schedule.period_month as date) as period_month,
        sum(schedule.recognized_amount_reporting) as recognized_reporting,
        sum(schedule.billed_amount_reporting) as billed_reporting
    from schedule
    group by
        schedule.contract_id,
        schedule.billing_model,
        schedule.recognition_method,
        cast(schedule.period_month as date)

),

cumulative as (

    select
        per_contract.*,
        sum(recognized_reporting) over (
            partition by contract_id, billing_model, recognition_method
            order by period_month
            rows between unbounded preceding and current row
        ) - sum(billed_reporting) over (
            partition by contract_id, billing_model, recognition_method
            order by period_month
            rows between unbounded preceding and current row
        ) as net_position_reporting
    from per_contract

),

per_model as (

    select
        billing_model,
        recognition_method,
        period_month,
        count(distinct contract_id) as contract_count,
        sum(recognized_reporting) as recognized_reporting,
        sum(billed_reporting) as billed_reporting,
        sum(case when net_position_reporting > 0 then net_position_reporting else 0 end)
            as contract_asset_reporting,
        sum(case when net_position_reporting < 0 then -net_position_reporting else 0 end)
            as contract_liability_reporting
    from cumulative
    group by billing_model, recognition_method, period_month

),

final as (

    select
        cast(
            per_model.billing_model || '|' || per_model.recognition_method || '|'
            || cast(per_model.period_month as varchar) as varchar
        ) as schedule_key,
        cast(per_model.billing_model as varchar) as billing_model,
        cast(per_model.recognition_method as varchar) as recognition_method,
        cast(per_model.period_month as date) as period_month,
        cast(per_model.contract_count as integer) as contract_count,
        cast('{{ var("reporting_currency") }}' as varchar) as reporting_currency,
        cast(per_model.recognized_reporting as decimal(18, 2)) as recognized_reporting,
        cast(per_model.billed_reporting as decimal(18, 2)) as billed_reporting,
        cast(per_model.contract_asset_reporting as decimal(18, 2)) as contract_asset_reporting,
        cast(per_model.contract_liability_reporting as decimal(18, 2)) as contract_liability_reporting,
        cast(per_model.period_month > as_of.as_of_month as boolean) as is_forecast,
        cast(as_of.as_of_date as date) as as_of_date
    from per_model
    cross join as_of

)

select * from final
