"""Objects each Salesforce-API source loads, and their increments."""

CRM_OBJECTS = ("Account", "Opportunity", "Contract")
PSA_OBJECTS = ("Contact", "pse__Proj__c", "pse__Timecard__c")
CURSOR_FIELD = "SystemModstamp"
API_VERSION = "59.0"
