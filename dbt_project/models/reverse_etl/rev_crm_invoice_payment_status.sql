{#
    Payload for the CRM writeback: one Salesforce `Q2C_Invoice_Status__c` record per canonical
    invoice, upserted by external id field `Q2C_Invoice_Id__c`. Column names are the target
    field API names (quoted so the warehouse keeps their case); `external_id` and
    `content_hash` drive the diffed, idempotent sync.

    Days past due is not sent: it changes every day for every open invoice, so sending it
    would resend every open invoice daily. The CRM computes it from `Due_Date__c` (a formula
    field); the ageing bucket, which changes at most monthly, is sent.
#}

{%- set payload_fields = [
    '"Q2C_Invoice_Id__c"', '"Name"', '"Account__c"', '"Contract__c"', '"Invoice_Number__c"',
    '"Source_System__c"', '"CurrencyIsoCode"', '"Invoice_Date__c"', '"Due_Date__c"',
    '"Total_Amount__c"', '"Paid_Amount__c"', '"Open_Amount__c"', '"Payment_Status__c"',
    '"Aging_Bucket__c"'
] -%}

with

invoice_status as (

    select * from {{ ref('invoice_payment_status') }}

),

payload as (

    select
        invoice_id as "Q2C_Invoice_Id__c",
        invoice_number as "Name",
        customer_id as "Account__c",
        contract_id as "Contract__c",
        invoice_number as "Invoice_Number__c",
        source_system as "Source_System__c",
        currency as "CurrencyIsoCode",
        invoice_date as "Invoice_Date__c",
        due_date as "Due_Date__c",
        total_amount as "Total_Amount__c",
        paid_amount as "Paid_Amount__c",
        open_amount as "Open_Amount__c",
        payment_status as "Payment_Status__c",
        aging_bucket as "Aging_Bucket__c"
    from invoice_status

),

final as (

    select
        *,
        "Q2C_Invoice_Id__c" as external_id,
        {{ q2c_hash(payload_fields) }} as content_hash
    from payload

)

select * from final
