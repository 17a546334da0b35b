{#
    Days sales outstanding as of q2c_as_of_date() (reference/domain.md, DSO), one row per
    legal entity plus one for the group (legal_entity_id = 'ALL'), in the reporting currency.
    Inputs: dso_monthly (AR at the as-of date, credit sales per month counting back).
      - simple DSO = AR / credit sales of the trailing 90 days x 90 (null without sales);
      - countback DSO: AR is exhausted against the sales of the as-of month, then of each
        earlier month. A month whose sales AR still covers counts in full; the month where AR
        runs out counts by the share AR left covers of its sales:
            dso = sum over months m (as-of month first) of
                  days(m) x min(1, max(0, (AR - sales of the months after m) / sales(m)))
        A month without sales counts in full while AR is left. Written as a cumulative window
        over the months, so no loop or recursion is needed. If AR exceeds the 24 months of
        sales, the countback is all their days and ar_exceeds_history is true.
#}

with

monthly as (

    select * from {{ ref('dso_monthly') }}

),

group_monthly as (

    select
        'ALL' as legal_entity_id,
        month_offset,
        max(month_start) as month_start,
        max(days_in_period) as days_in_period,
        max(reporting_currency) as reporting_currency,
        sum(sales_reporting) as sales_reporting,
        sum(ar_reporting) as ar_reporting,
        sum(sales_90d_reporting) as sales_90d_reporting,
        max(as_of_date) as as_of_date
    from monthly
    group by month_offset

),

all_rows as (

    select
        legal_entity_id, month_offset, month_start, days_in_period, reporting_currency,
        sales_reporting, ar_reporting, sales_90d_reporting, as_of_date
    from monthly
    union all
    select
        legal_entity_id, month_offset, month_start, days_in_period, reporting_currency,
        sales_reporting, ar_reporting, sales_90d_reporting, as_of_date
    from group_monthly

),

cumulated as (

    select
        all_rows.*,
        coalesce(
            sum(sales_reporting) over (
                partition by legal_entity_id
                order by month_offset
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as sales_after
    from all_rows

),

consumed as (

    select
        cumulated.*,
        case
            when sales_reporting > 0
                then days_in_period * least(
                    cast(1 as decimal(18, 8)),
                    greatest(cast(0 as decimal(18, 8)),
                        cast(ar_reporting - sales_after as decimal(18, 8)) / sales_reporting)
                )
            when ar_reporting > sales_after then days_in_period
            else 0
        end as days_counted,
        case when ar_reporting - sales_after > 0 then 1 else 0 end as month_used
    from cumulated

),

per_entity as (

    select
        legal_entity_id,
        max(reporting_currency) as reporting_currency,
        max(ar_reporting) as ar_reporting,
        max(sales_90d_reporting) as sales_90d_reporting,
        sum(sales_reporting) as sales_history_reporting,
        sum(days_counted) as dso_countback,
        sum(month_used) as countback_months,
        max(as_of_date) as as_of_date
    from consumed
    group by legal_entity_id

),

final as (

    select
        cast(legal_entity_id as varchar) as legal_entity_id,
        cast(reporting_currency as varchar) as reporting_currency,
        cast(ar_reporting as decimal(18, 2)) as ar_reporting,
        cast(sales_90d_reporting as decimal(18, 2)) as sales_90d_reporting,
        cast(
            case when sales_90d_reporting > 0 then ar_reporting / sales_90d_reporting * 90 end
            as decimal(9, 2)
        ) as dso_simple,
        cast(dso_countback as decimal(9, 2)) as dso_countback,
        cast(countback_months as integer) as countback_months,
        cast(ar_reporting > sales_history_reporting as boolean) as ar_exceeds_history,
        cast(as_of_date as date) as as_of_date
    from per_entity

)

select * from final
