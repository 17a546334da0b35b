"""Objects each Salesforce-API source loads, and their increments."""

# CRM and CPQ (Salesforce CPQ's SBQQ__ objects), and the ERP invoice mirror the finance team keeps in the CRM.
CRM_OBJECTS = ("Account", "Opportunity", "OpportunityLineItem", "Product2", "SBQQ__Quote__c", "SBQQ__QuoteLine__c",
               "Contract", "ERP_Invoice__c")
# Certinia PSA (pse__ objects) on the same org; PSA resources are Contacts.
PSA_OBJECTS = ("Contact", "pse__Proj__c", "pse__Rate_Card__c", "pse__Assignment__c", "pse__Milestone__c",
               "pse__Timecard_Header__c", "pse__Timecard__c", "pse__Expense__c", "pse__Billing_Event__c",
               "pse__Billing_Event_Item__c")
CURSOR_FIELD = "SystemModstamp"
API_VERSION = "59.0"
# Changes committed late carry an older SystemModstamp (offline approvals synced days later): each run
# re-reads this window before its cursor. Merging on Id makes the re-read idempotent.
LAG_SECONDS = 5 * 24 * 3600
BATCH_ROWS = 20_000  # records per Arrow batch handed to dlt
# Salesforce field types -> contract kinds (ingestion.contract.KINDS); anything else is text.
FIELD_KINDS = {"boolean": "bool", "int": "int", "long": "int", "double": "float", "currency": "float",
               "percent": "float", "date": "date", "datetime": "timestamp", "address": "json", "location": "json"}
