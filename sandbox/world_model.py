"""Reference data and small helpers of the sandbox world (no generation logic here).

Legal entities, currencies, tax codes and nexus, roles and rate levels, products, the field
lists of every object each simulated system serves, id formats, time helpers and the hashing
that makes every random choice reproducible from (seed, what, which).
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

DEFAULT_SEED = 42
DEFAULT_CLOCK = date(2026, 6, 30)
HISTORY_DAYS = 365

# Grace periods of the controls the anomaly ledger is written for (days after which a case is
# an exception; the ledger's ``at`` is the first clock date on which it is one).
CONTRACT_GRACE_DAYS = 30  # won opportunity -> activated contract
PROJECT_GRACE_DAYS = 14  # activated contract -> PSA project (PP-001)
BILLING_GRACE_DAYS = 45  # approved billable time/expense -> billing event
MILESTONE_GRACE_DAYS = 30  # completed milestone -> billing event
CRM_SYNC_GRACE_DAYS = 3  # ERP invoice paid -> CRM invoice record shows it

# Stripe billing activity besides invoices and payments (not anomalies: ordinary business). Each is drawn
# from its own random stream, keyed by (seed, kind, object id), so every other record of the world is the
# same whatever these rates are (0 turns a kind off): a credit note per paid invoice, a subscription
# schedule managing a subscription, a renewal schedule drafted before a term ends (canceled before it
# starts: the world renews no subscription). ``build_world(stripe_activity={...})`` overrides them.
STRIPE_ACTIVITY_RATES: dict[str, float] = {"credit_note": 0.12, "subscription_schedule": 0.5,
                                           "renewal_schedule": 0.35}


def resolve_stripe_activity(rates: dict[str, float] | None) -> dict[str, float]:
    """``STRIPE_ACTIVITY_RATES`` updated with ``rates``; unknown names or rates outside [0, 1] are errors."""
    out = dict(STRIPE_ACTIVITY_RATES)
    for name, value in (rates or {}).items():
        if name not in STRIPE_ACTIVITY_RATES:
            raise ValueError(f"unknown Stripe activity {name!r}; known: {sorted(STRIPE_ACTIVITY_RATES)}")
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"rate of {name} must be within [0, 1], got {value}")
        out[name] = float(value)
    return out

LEGAL_ENTITIES: list[dict[str, Any]] = [
    {"id": "LE-US", "name": "Q2C Consulting Inc.", "currency": "USD", "country": "US",
     "subsidiary_id": "1", "currency_id": "1", "parent_subsidiary_id": None, "legacy_code": None},
    {"id": "LE-UK", "name": "Q2C Consulting Ltd", "currency": "GBP", "country": "GB",
     "subsidiary_id": "2", "currency_id": "2", "parent_subsidiary_id": "1", "legacy_code": "UK01"},
    {"id": "LE-DE", "name": "Q2C Consulting GmbH", "currency": "EUR", "country": "DE",
     "subsidiary_id": "3", "currency_id": "3", "parent_subsidiary_id": "1", "legacy_code": "DE01"},
]
LE_BY_ID = {le["id"]: le for le in LEGAL_ENTITIES}
LE_BY_SUBSIDIARY = {le["subsidiary_id"]: le for le in LEGAL_ENTITIES}
CURRENCIES = [
    {"id": "1", "symbol": "USD", "name": "US Dollar", "isbasecurrency": "T"},
    {"id": "2", "symbol": "GBP", "name": "British Pound", "isbasecurrency": "F"},
    {"id": "3", "symbol": "EUR", "name": "Euro", "isbasecurrency": "F"},
]
CURRENCY_ID = {c["symbol"]: c["id"] for c in CURRENCIES}
CURRENCY_SYMBOL = {c["id"]: c["symbol"] for c in CURRENCIES}
# Price levels relative to USD (rate cards, fees) and the FX random walk's starting point.
PRICE_FACTOR = {"USD": 1.0, "GBP": 0.8, "EUR": 0.92}
FX_START_USD = {"USD": 1.0, "GBP": 1.27, "EUR": 1.08}  # USD per unit
FX_DAILY_VOL = 0.0045

# Where each billing model is invoiced, and the PSA billing type its project carries.
BILLING_MODELS = ("Time and Materials", "Fixed Fee", "Retainer", "Subscription")
BILLING_SYSTEM = {"Time and Materials": "netsuite", "Fixed Fee": "netsuite", "Retainer": "stripe",
                  "Subscription": "stripe"}
PSA_BILLING_TYPE = {"Time and Materials": "Time and Materials", "Fixed Fee": "Fixed Price",
                    "Retainer": "Time and Materials", "Subscription": "Time and Materials"}
BILLING_FREQUENCY = {"Time and Materials": "Monthly", "Fixed Fee": "Invoice Plan", "Retainer": "Monthly",
                     "Subscription": "Monthly"}
PAYMENT_TERMS = {"Net 30": 30, "Net 45": 45, "Net 60": 60}
TERM_ID = {"Net 30": "2", "Net 45": "3", "Net 60": "4"}

ROLES = [("Consultant", 150), ("Senior Consultant", 200), ("Manager", 250), ("Director", 320)]
RATE_CARD_UPLIFT = 0.04  # per calendar year
COST_RATIO = 0.45

COMPANY_WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne",
                 "Soylent", "Hooli", "Vandelay", "Wonka", "Pied Piper", "Massive", "Oscorp", "Aperture"]
COMPANY_SUFFIX = ["Holdings", "Group", "Labs", "Partners", "Industries", "Systems", "Retail", "Health"]
INDUSTRIES = ["Financial Services", "Retail", "Healthcare", "Technology", "Manufacturing"]
EXPENSE_TYPES = [("Airfare", 250, 1400), ("Lodging", 120, 900), ("Meals", 20, 180), ("Ground Transportation", 15, 160)]

PRODUCTS = [
    # Id number, name, code, family, charge type, billing type, billing frequency
    (1, "Consulting Services - Time and Materials", "PS-TM", "Professional Services", "Usage", "Arrears", "Monthly"),
    (2, "Fixed Fee Deliverable", "PS-FF", "Professional Services", "One-Time", "Arrears", "Invoice Plan"),
    (3, "Advisory Retainer", "PS-RET", "Retainer", "Recurring", "Advance", "Monthly"),
    (4, "Managed Service Subscription", "PS-SUB", "Subscription", "Recurring", "Advance", "Monthly"),
]
PRODUCT_BY_MODEL = {"Time and Materials": 1, "Fixed Fee": 2, "Retainer": 3, "Subscription": 4}

# Tax: one code per jurisdiction (NetSuite salestaxitem; Stripe tax_rates mirror the non-zero ones).
# (id, itemid, description, rate %, country, state, legal entity, tax type)
TAX_CODES = [
    ("101", "US-EXEMPT", "Professional services - not taxable", 0.0, "US", None, "LE-US", "Sales Tax"),
    ("102", "US-NY", "New York State and City sales tax (information services)", 8.875, "US", "NY", "LE-US",
     "Sales Tax"),
    ("103", "US-TX", "Texas sales tax (data processing services)", 6.6, "US", "TX", "LE-US", "Sales Tax"),
    ("104", "US-WA", "Washington retail sales tax", 10.25, "US", "WA", "LE-US", "Sales Tax"),
    ("201", "GB-VAT-S", "UK VAT standard rate", 20.0, "GB", None, "LE-UK", "VAT"),
    ("202", "GB-VAT-RC", "UK VAT - reverse charge / outside the scope", 0.0, "GB", None, "LE-UK", "VAT"),
    ("301", "DE-USt-19", "Umsatzsteuer 19%", 19.0, "DE", None, "LE-DE", "VAT"),
    ("302", "DE-USt-RC", "Reverse charge (Paragraph 13b UStG)", 0.0, "DE", None, "LE-DE", "VAT"),
]
TAX_BY_ID = {t[0]: t for t in TAX_CODES}
TAX_BY_CODE = {t[1]: t for t in TAX_CODES}
# Where each legal entity is registered for tax (NetSuite nexus; the PSA project's Tax_Nexus__c).
NEXUS = [("1", "US", "CA", "LE-US"), ("2", "US", "NY", "LE-US"), ("3", "US", "TX", "LE-US"),
         ("4", "US", "WA", "LE-US"), ("5", "US", "MA", "LE-US"), ("6", "US", "IL", "LE-US"),
         ("7", "GB", None, "LE-UK"), ("8", "DE", None, "LE-DE")]
# Customer locations per legal entity: (country, state, weight).
LOCATIONS = {
    "LE-US": [("US", "CA", 3), ("US", "NY", 3), ("US", "TX", 2), ("US", "WA", 1), ("US", "MA", 1), ("US", "IL", 1)],
    "LE-UK": [("GB", None, 9), ("IE", None, 1)],
    "LE-DE": [("DE", None, 8), ("AT", None, 1), ("FR", None, 1)],
}


def tax_code_for(le_id: str, country: str, state: str | None) -> str:
    """The NetSuite tax code (salestaxitem id) an invoice to this customer location carries."""
    if le_id == "LE-US":
        return {"NY": "102", "TX": "103", "WA": "104"}.get(state or "", "101")
    if le_id == "LE-UK":
        return "201" if country == "GB" else "202"
    return "301" if country == "DE" else "302"


def nexus_for(le_id: str, country: str, state: str | None) -> str:
    """The tax nexus (``US-NY``, ``GB``, ``DE``) a project for this customer location is delivered under."""
    if le_id == "LE-US":
        return f"US-{state}"
    return "GB" if le_id == "LE-UK" else "DE"


# ---------------------------------------------------------------------------------------------- ids
# Salesforce key prefixes (the standard ones as Salesforce uses them; custom objects' are the org's).
SF_PREFIX = {
    "Account": "001", "Contact": "003", "Opportunity": "006", "Contract": "800", "Product2": "01t",
    "OpportunityLineItem": "00k", "SBQQ__Quote__c": "a5Q", "SBQQ__QuoteLine__c": "a5L",
    "pse__Proj__c": "a1P", "pse__Timecard__c": "a2T", "pse__Timecard_Header__c": "a2H",
    "pse__Milestone__c": "a1M", "pse__Assignment__c": "a1A", "pse__Rate_Card__c": "a1R",
    "pse__Expense__c": "a1E", "pse__Billing_Event__c": "a1B", "pse__Billing_Event_Item__c": "a1I",
    "ERP_Invoice__c": "a4I",
}


def sf_id(obj: str, n: int) -> str:
    return f"{SF_PREFIX[obj]}{n:012d}AAA"


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def stripe_id(prefix: str, seed: int, n: int) -> str:
    """A Stripe-looking id (``in_`` + 14 characters), derived from (seed, prefix, n)."""
    h = h64(seed, "stripe-id", prefix, n)
    chars = []
    for _ in range(14):
        h, r = divmod(h, 62)
        if h == 0:
            h = h64(seed, "stripe-id-more", prefix, n, len(chars))
        chars.append(_ALNUM[r])
    return f"{prefix}_{''.join(chars)}"


# --------------------------------------------------------------------------------------------- hashing
def h64(*parts: Any) -> int:
    """A stable 64-bit hash of ``parts`` (their repr): the source of every reproducible choice."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "big")


def unit(*parts: Any) -> float:
    """A uniform number in [0, 1) determined by ``parts``."""
    return h64(*parts) / 18446744073709551616.0


def rng_for(*parts: Any) -> random.Random:
    return random.Random(h64(*parts))


# ------------------------------------------------------------------------------------------------ time
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
DAY = 86400


def ts(d: date, hour: int = 0, minute: int = 0) -> int:
    """Unix seconds of ``d`` at hour:minute UTC."""
    return (d.toordinal() - EPOCH_ORDINAL) * DAY + hour * 3600 + minute * 60


def day_of(t: int) -> int:
    """Days since 1970-01-01 of unix time ``t``."""
    return t // DAY


def date_of(t: int) -> date:
    return date.fromordinal(t // DAY + EPOCH_ORDINAL)


def day_number(d: date) -> int:
    return d.toordinal() - EPOCH_ORDINAL


def from_day(n: int) -> date:
    return date.fromordinal(n + EPOCH_ORDINAL)


@lru_cache(maxsize=200_000)
def sf_ts(t: int) -> str:
    """Salesforce REST datetime: 2026-05-01T10:00:00.000+0000."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


@lru_cache(maxsize=200_000)
def ns_ts(t: int) -> str:
    """NetSuite SuiteQL timestamp as this sandbox renders it (ISO, UTC)."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=50_000)
def legacy_ts(t: int) -> str:
    """The legacy ERP's timestamps: YYYYMMDDHHMMSS text."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y%m%d%H%M%S")


def add_months(d: date, months: int) -> date:
    """Month arithmetic clamped to the month's last day (what SQL interval arithmetic does)."""
    y, m = divmod(d.month - 1 + months, 12)
    y, m = d.year + y, m + 1
    return date(y, m, min(d.day, month_end(date(y, m, 1)).day))


def month_start(d: date) -> date:
    return date(d.year, d.month, 1)


def month_end(d: date) -> date:
    nxt = date(d.year + (d.month // 12), d.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def next_month(d: date) -> date:
    return date(d.year + (d.month // 12), d.month % 12 + 1, 1)


def month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def from_month_index(i: int) -> date:
    return date(i // 12, i % 12 + 1, 1)


# ---------------------------------------------------------------------------------------------- fields
# Every record of an object carries exactly these fields (None where unset), so schemas are stable
# whatever the seed, scale or clock. Salesforce's system fields (IsDeleted, CreatedDate,
# LastModifiedDate, SystemModstamp) are appended when a record is rendered.
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAY_FIELDS = tuple(f"pse__{d}_Hours__c" for d in _DAYS)

SF_FIELDS: dict[str, tuple[str, ...]] = {
    "Account": ("Id", "Name", "Type", "Industry", "BillingCountry", "CurrencyIsoCode", "Legal_Entity__c",
                "ParentId", "BillingState", "AccountNumber"),
    "Contact": ("Id", "FirstName", "LastName", "pse__Is_Resource__c", "pse__Resource_Role__c",
                "pse__Default_Bill_Rate__c", "Legal_Entity__c", "CurrencyIsoCode", "Email",
                "pse__Is_Resource_Active__c", "pse__Default_Cost_Rate__c"),
    "Product2": ("Id", "Name", "ProductCode", "Family", "IsActive", "SBQQ__ChargeType__c", "SBQQ__BillingType__c",
                 "SBQQ__BillingFrequency__c"),
    "Opportunity": ("Id", "AccountId", "Name", "StageName", "IsClosed", "IsWon", "CloseDate", "Amount",
                    "Probability", "CurrencyIsoCode", "Type", "pse__Is_Services_Opportunity__c",
                    "SBQQ__PrimaryQuote__c", "SBQQ__AmendedContract__c", "Billing_Model__c"),
    "OpportunityLineItem": ("Id", "OpportunityId", "Product2Id", "ProductCode", "Quantity", "UnitPrice",
                            "ListPrice", "TotalPrice", "ServiceDate", "SBQQ__QuoteLine__c", "CurrencyIsoCode"),
    "SBQQ__Quote__c": ("Id", "Name", "SBQQ__Account__c", "SBQQ__Opportunity2__c", "SBQQ__Primary__c",
                       "SBQQ__Status__c", "SBQQ__Type__c", "SBQQ__StartDate__c", "SBQQ__EndDate__c",
                       "SBQQ__SubscriptionTerm__c", "SBQQ__NetAmount__c", "SBQQ__CustomerAmount__c",
                       "SBQQ__BillingFrequency__c", "SBQQ__PaymentTerms__c", "SBQQ__MasterContract__c",
                       "SBQQ__ExpirationDate__c", "Billing_Model__c", "Contract_Version__c", "CurrencyIsoCode"),
    "SBQQ__QuoteLine__c": ("Id", "Name", "SBQQ__Quote__c", "SBQQ__Product__c", "SBQQ__ProductCode__c",
                           "SBQQ__Description__c", "SBQQ__Quantity__c", "SBQQ__ListPrice__c", "SBQQ__NetPrice__c",
                           "SBQQ__NetTotal__c", "SBQQ__StartDate__c", "SBQQ__EndDate__c",
                           "SBQQ__SubscriptionTerm__c", "SBQQ__ChargeType__c", "SBQQ__BillingType__c",
                           "SBQQ__BillingFrequency__c", "Resource_Role__c", "CurrencyIsoCode"),
    "Contract": ("Id", "AccountId", "ContractNumber", "Status", "StartDate", "EndDate", "ContractTerm",
                 "ActivatedDate", "CurrencyIsoCode", "SBQQ__Opportunity__c", "Billing_Model__c",
                 "Contract_Amount__c", "Billing_Frequency__c", "Legal_Entity__c", "SBQQ__Quote__c",
                 "Payment_Terms__c", "Contract_Version__c"),
    "pse__Proj__c": ("Id", "Name", "pse__Project_ID__c", "pse__Account__c", "pse__Opportunity__c",
                     "pse__Billing_Type__c", "pse__Stage__c", "pse__Is_Active__c", "pse__Is_Billable__c",
                     "pse__Start_Date__c", "pse__End_Date__c", "Legal_Entity__c", "CurrencyIsoCode", "Contract__c",
                     "pse__Project_Type__c", "Tax_Nexus__c", "pse__Project_Manager__c"),
    "pse__Rate_Card__c": ("Id", "Name", "pse__Role__c", "pse__Suggested_Bill_Rate__c", "pse__Average_Cost_Rate__c",
                          "pse__Start_Date__c", "pse__End_Date__c", "Legal_Entity__c", "CurrencyIsoCode"),
    "pse__Assignment__c": ("Id", "Name", "pse__Project__c", "pse__Resource__c", "pse__Rate_Card__c", "pse__Role__c",
                           "pse__Bill_Rate__c", "pse__Cost_Rate_Amount__c", "pse__Is_Billable__c",
                           "pse__Start_Date__c", "pse__End_Date__c", "pse__Scheduled_Hours__c", "pse__Status__c",
                           "CurrencyIsoCode"),
    "pse__Milestone__c": ("Id", "Name", "pse__Project__c", "pse__Milestone_Amount__c", "pse__Target_Date__c",
                          "pse__Actual_Date__c", "pse__Status__c", "pse__Approved__c", "pse__Approved_for_Billing__c",
                          "pse__Billed__c", "pse__Billing_Event_Item__c", "CurrencyIsoCode"),
    "pse__Timecard_Header__c": ("Id", "Name", "pse__Project__c", "pse__Resource__c", "pse__Assignment__c",
                                "pse__Start_Date__c", "pse__End_Date__c", *DAY_FIELDS, "pse__Total_Hours__c",
                                "pse__Bill_Rate__c", "pse__Total_Billable_Amount__c", "pse__Billable__c",
                                "pse__Status__c", "pse__Submitted__c", "pse__Approved__c", "Approved_Date__c",
                                "CurrencyIsoCode"),
    "pse__Timecard__c": ("Id", "pse__Project__c", "pse__Resource__c", "pse__Start_Date__c", "pse__End_Date__c",
                         "pse__Total_Hours__c", "pse__Bill_Rate__c", "pse__Total_Billable_Amount__c",
                         "pse__Billable__c", "pse__Approved__c", "pse__Status__c", "pse__Billed__c",
                         "CurrencyIsoCode", "pse__Timecard_Header__c", "pse__Assignment__c", *DAY_FIELDS,
                         "pse__Billing_Event_Item__c", "Approved_Date__c"),
    "pse__Expense__c": ("Id", "Name", "pse__Project__c", "pse__Resource__c", "pse__Assignment__c",
                        "pse__Expense_Date__c", "pse__Type__c", "pse__Amount__c", "pse__Billing_Amount__c",
                        "pse__Billable__c", "pse__Status__c", "pse__Approved__c", "Approved_Date__c", "pse__Billed__c",
                        "pse__Billing_Event_Item__c", "CurrencyIsoCode"),
    "pse__Billing_Event__c": ("Id", "Name", "pse__Project__c", "pse__Date__c", "pse__Status__c",
                              "pse__Is_Released__c", "pse__Invoiced__c", "pse__Invoice_Number__c",
                              "pse__Invoice_Date__c", "pse__Summary_Amount__c", "CurrencyIsoCode"),
    "pse__Billing_Event_Item__c": ("Id", "Name", "pse__Billing_Event__c", "pse__Project__c", "pse__Category__c",
                                   "pse__Timecard_Split__c", "pse__Expense__c", "pse__Milestone__c",
                                   "pse__Object_Id__c", "pse__Date__c", "pse__Quantity__c", "pse__Unit_Price__c",
                                   "pse__Amount__c", "pse__Description__c", "CurrencyIsoCode"),
    "ERP_Invoice__c": ("Id", "Name", "ERP_Invoice_Id__c", "Source_System__c", "Account__c", "Contract__c",
                       "Billing_Event__c", "Invoice_Date__c", "Due_Date__c", "Total_Amount__c", "Amount_Paid__c",
                       "Status__c", "CurrencyIsoCode", "Last_Synced__c"),
}

NS_FIELDS: dict[str, tuple[str, ...]] = {
    "subsidiary": ("id", "name", "currency", "country", "iselimination", "lastmodifieddate", "parent", "fullname"),
    "currency": ("id", "symbol", "name", "isbasecurrency", "lastmodifieddate", "currencyprecision"),
    "currencyrate": ("id", "basecurrency", "transactioncurrency", "exchangerate", "effectivedate"),
    "accountingperiod": ("id", "periodname", "startdate", "enddate", "isposting", "isquarter", "isyear",
                         "isadjust", "closed", "closedondate"),
    "account": ("id", "acctnumber", "acctname", "accttype", "generalrate", "isinactive"),
    "term": ("id", "name", "daysuntilnetdue"),
    "salestaxitem": ("id", "itemid", "description", "rate", "country", "state", "subsidiary", "taxtype",
                     "isinactive"),
    "nexus": ("id", "country", "state", "description", "subsidiary"),
    "customer": ("id", "entityid", "companyname", "subsidiary", "currency", "externalid", "datecreated",
                 "lastmodifieddate", "parent", "terms", "taxitem", "isperson", "custentity_q2c_legacy_id"),
    "job": ("id", "entityid", "companyname", "customer", "subsidiary", "currency", "externalid", "startdate",
            "projectedenddate", "jobbillingtype", "entitystatus", "datecreated", "lastmodifieddate"),
    "transaction": ("id", "tranid", "type", "trandate", "duedate", "entity", "subsidiary", "currency",
                    "foreigntotal", "foreignamountpaid", "foreignamountunpaid", "status",
                    "custbody_q2c_sf_contract_id", "custbody_q2c_sf_project_id", "custbody_q2c_applied_to",
                    "createddate", "lastmodifieddate", "exchangerate", "postingperiod", "terms", "taxtotal", "memo",
                    "closedate", "foreignpaymentamountused", "foreignpaymentamountunused",
                    "custbody_q2c_billing_event_id", "otherrefnum"),
    "transactionline": ("id", "transaction", "linesequencenumber", "mainline", "taxline", "memo", "quantity",
                        "rate", "foreignamount", "taxcode", "account", "subsidiary", "linelastmodifieddate"),
}

# NetSuite chart of accounts the transaction lines post to.
NS_ACCOUNTS = [("1", "1000", "Operating Cash", "Bank", "CURRENT"),
               ("2", "1100", "Accounts Receivable", "AcctRec", "CURRENT"),
               ("3", "2200", "Sales Tax / VAT Payable", "OthCurrLiab", "CURRENT"),
               ("4", "2400", "Deferred Revenue", "DeferRevenue", "CURRENT"),
               ("5", "3900", "Retained Earnings", "Equity", "HISTORICAL"),
               ("6", "4000", "Professional Services Revenue", "Income", "AVERAGE"),
               ("7", "4100", "Reimbursable Expense Revenue", "Income", "AVERAGE"),
               ("8", "4900", "Sales Discounts and Credits", "Income", "AVERAGE")]


def blank(fields: tuple[str, ...], **values: Any) -> dict[str, Any]:
    """A record of ``fields`` (all None) with ``values`` filled in; unknown names are a bug."""
    unknown = set(values) - set(fields)
    if unknown:
        raise KeyError(f"unknown field(s) {sorted(unknown)}")
    return {f: values.get(f) for f in fields}
