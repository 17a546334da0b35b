{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'coexistence_exceptions'}}}) }}
-- ERP coexistence: lists every source invoice routing excluded (a NetSuite invoice before its
-- entity's cut-over, a legacy invoice on or after it, an invoice in both ERPs). A warning, not
-- an error: the rows are data to look at (the reconciliation still balances, counting them), and
-- this way none is dropped silently.

select * from {{ ref('coexistence_exceptions') }}
