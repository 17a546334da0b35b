{#
    The inputs of DSO (reference/domain.md, DSO), one row per legal entity x calendar month,
    counting back from the month of q2c_as_of_date() (month_offset 0) over 24 months:
      - sales_reporting: credit sales = invoices issued in the month (gross invoice totals, tax
        included, as AR is), each translated at its invoice-date rate into the reporting
        currency. Month 0 counts only up to the as-of date;
      - days_in_period: the month's calendar days (month 0: days from its 1st to the as-of
        date);
      - the entity's AR at the as-of date (ar_reporting, open invoice balances at the closing
        rate) and its credit sales of the 90 days ending on the as-of date, repeated on each of
        its rows so that `dso` needs no other input.
    The countback itself is in `dso`.
#}

{%- set lookback_months = 24 -%}

with

invoices as (

    select * from {{ ref('invoice') }}

),

invoice_status as (

    select * from {{ ref('invoice_payment_status') }}

),

legal_entities as (

    select * from {{ ref('legal_entity') }}

),

closing_rates as (

    select * from {{ ref('fx_closing_rate') }}

),

as_of as (

    select
        {{ q2c_as_of_date() }} as as_of_date,
        cast({{ dbt.date_trunc('month', q2c_as_of_date()) }} as date) as as_of_month

),

month_offsets as (

    {{ integer_spine(lookback_months) }}

),

months as (

    select
        month_offsets.n as month_offset,
        cast({{ dbt.dateadd('month', '-1 * month_offsets.n', 'as_of.as_of_month') }} as date) as month_start,
        case
            when month_offsets.n = 0 then as_of.as_of_date
            else cast(
                {{ dbt.dateadd('day', -1, dbt.dateadd('month', '1 - month_offsets.n', 'as_of.as_of_month')) }}
                as date
            )
        end as period_end
    from month_offsets
    cross join as_of

),

invoices_reporting as (

    select
        invoice_id,
        legal_entity_id,
        invoice_date,
        total_amount_reporting
    from invoices

),

monthly_sales as (

    select
        invoices_reporting.legal_entity_id,
        months.month_offset,
        sum(invoices_reporting.total_amount_reporting) as sales_reporting
    from invoices_reporting
    inner join months
        on invoices_reporting.invoice_date >= months.month_start
        and invoices_reporting.invoice_date <= months.period_end
    group by invoices_reporting.legal_entity_id, months.month_offset

),

trailing_sales as (

    select
        invoices_reporting.legal_entity_id,
        sum(invoices_reporting.total_amount_reporting) as sales_90d_reporting
    from invoices_reporting
    cross join as_of
    where invoices_reporting.invoice_date <= as_of.as_of_date
        and invoices_reporting.invoice_date > {{ dbt.dateadd('day', -90, 'as_of.as_of_date') }}
    group by invoices_reporting.legal_entity_id

),

receivables as (

    select
        invoice_status.legal_entity_id,
        sum(invoice_status.open_amount * closing_rates.rate) as ar_reporting
    from invoice_status
    inner join closing_rates
        on closing_rates.from_currency = invoice_status.currency
    where invoice_status.open_amount > 0
    group by invoice_status.legal_entity_id

),

final as (

    select
        cast(legal_entities.legal_entity_id as varchar) as legal_entity_id,
        cast(months.month_offset as integer) as month_offset,
        cast(months.month_start as date) as month_start,
        cast(months.period_end as date) as period_end,
        cast({{ dbt.datediff('months.month_start', 'months.period_end', 'day') }} + 1 as integer) as days_in_period,
        cast('{{ var("reporting_currency") }}' as varchar) as reporting_currency,
        cast(coalesce(monthly_sales.sales_reporting, 0) as decimal(18, 2)) as sales_reporting,
        cast(coalesce(receivables.ar_reporting, 0) as decimal(18, 2)) as ar_reporting,
        cast(coalesce(trailing_sales.sales_90d_reporting, 0) as decimal(18, 2)) as sales_90d_reporting,
        cast(as_of.as_of_date as date) as as_of_date
    from legal_entities
    cross join months
    cross join as_of
    left join monthly_sales
        on monthly_sales.legal_entity_id = legal_entities.legal_entity_id
        and monthly_sales.month_offset = months.month_offset
    left join receivables
        on receivables.legal_entity_id = legal_entities.legal_entity_id
    left join trailing_sales
        on trailing_sales.legal_entity_id = legal_entities.legal_entity_id

)

select * from final
