"""The world generator: determinism, structure, referential integrity and what the warehouse reads."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from sandbox.world import DEFAULT_CLOCK, build_world
from sandbox.world_audit import integrity
from sandbox.world_model import CURRENCY_SYMBOL, LE_BY_ID, TAX_BY_ID


@pytest.fixture(scope="module")
def world():
    return build_world(seed=42)


def _dump(w) -> str:
    return json.dumps({"sf": w.salesforce, "st": w.stripe, "ns": w.netsuite, "legacy": w.legacy, "ledger": w.ledger},
                      sort_keys=True)


def test_same_seed_and_scale_give_the_same_world_byte_for_byte(world):
    assert _dump(build_world(seed=42)) == _dump(world)
    assert _dump(build_world(seed=43)) != _dump(world)
    assert _dump(build_world(seed=42, scale=1.5)) != _dump(world)


def test_scale_one_builds_fast():
    start = time.perf_counter()
    w = build_world(seed=11)
    assert time.perf_counter() - start < 2.0
    assert 500 <= len(w.salesforce["pse__Timecard__c"]) <= 5000


@pytest.mark.parametrize("seed", [42, 7, 2])
def test_every_reference_resolves_and_every_sum_adds_up(seed):
    """Foreign keys, splits within one month and summing to their header, billing event items summing
    to their event, invoice lines + tax = total (sandbox.world_audit.integrity)."""
    assert integrity(build_world(seed=seed)) == []


def test_entities_currencies_and_daily_fx(world):
    subs = {s["id"]: s for s in world.netsuite["subsidiary"]}
    assert {s["currency"] for s in subs.values()} == {"1", "2", "3"} and len(subs) == 3
    assert subs["1"]["parent"] is None and subs["2"]["parent"] == subs["3"]["parent"] == "1"
    assert {c["symbol"] for c in world.netsuite["currency"]} == {"USD", "GBP", "EUR"}
    rates = world.netsuite["currencyrate"]
    per_day = Counter(r["effectivedate"] for r in rates)
    days = sorted(per_day)
    assert set(per_day.values()) == {6}  # every (base, transaction) pair of the three currencies
    assert date.fromisoformat(days[-1]) == DEFAULT_CLOCK
    assert date.fromisoformat(days[0]) <= DEFAULT_CLOCK - timedelta(days=365)
    assert len(days) == (date.fromisoformat(days[-1]) - date.fromisoformat(days[0])).days + 1  # no gap
    by = {(r["effectivedate"], r["basecurrency"], r["transactioncurrency"]): r["exchangerate"] for r in rates}
    for (day, base, trans), rate in list(by.items())[:300]:
        assert rate * by[(day, trans, base)] == pytest.approx(1.0, rel=1e-5)
    usd_gbp = [r["exchangerate"] for r in rates if r["basecurrency"] == "1" and r["transactioncurrency"] == "2"]
    assert 1.0 < min(usd_gbp) < max(usd_gbp) < 1.6  # GBP in USD, moving day to day


def test_customer_hierarchies_in_crm_and_erp(world):
    accounts = {a["Id"]: a for a in world.salesforce["Account"]}
    children = [a for a in accounts.values() if a["ParentId"]]
    assert children
    ns_by_account = {c["externalid"]: c for c in world.netsuite["customer"] if c["externalid"]}
    for child in children:
        assert accounts[child["ParentId"]]["Legal_Entity__c"] == child["Legal_Entity__c"]
        if child["Id"] in ns_by_account and child["ParentId"] in ns_by_account:
            assert ns_by_account[child["Id"]]["parent"] == ns_by_account[child["ParentId"]]["id"]


def test_opportunity_quote_contract_chain_with_amendments():
    w = build_world(seed=2)
    quotes = [q for q in w.salesforce["SBQQ__Quote__c"] if not q["IsDeleted"]]
    primary = defaultdict(list)
    for q in quotes:
        if q["SBQQ__Primary__c"]:
            primary[q["SBQQ__Opportunity2__c"]].append(q)
    assert all(len(v) == 1 for v in primary.values())
    lines = defaultdict(int)
    for ql in w.salesforce["SBQQ__QuoteLine__c"]:
        lines[ql["SBQQ__Quote__c"]] += round(ql["SBQQ__NetTotal__c"] * 100)
    for q in quotes:
        assert lines[q["Id"]] == round(q["SBQQ__NetAmount__c"] * 100)
    contracts = w.salesforce["Contract"]
    for c in contracts:
        assert primary[c["SBQQ__Opportunity__c"]][0]["Id"] == c["SBQQ__Quote__c"]
    amended = [c for c in contracts if c["Contract_Version__c"] == 2]
    assert amended, "some contracts are amended"
    for c in amended:
        amendments = [q for q in quotes if q["SBQQ__MasterContract__c"] == c["Id"]]
        assert [q["SBQQ__Type__c"] for q in amendments] == ["Amendment"]
    assert any(q["IsDeleted"] for q in w.salesforce["SBQQ__Quote__c"])  # discarded alternatives


def test_billing_models_are_invoiced_where_they_belong(world):
    contracts = {c["Id"]: c for c in world.salesforce["Contract"]}
    cutover = {k: v for k, v in world.cutover_dates().items()}
    for t in world.netsuite["transaction"]:
        if t["type"] == "CustInvc":
            assert contracts[t["custbody_q2c_sf_contract_id"]]["Billing_Model__c"] in ("Time and Materials",
                                                                                       "Fixed Fee")
            le = LE_BY_ID[contracts[t["custbody_q2c_sf_contract_id"]]["Legal_Entity__c"]]["id"]
            assert cutover[le] is None or t["trandate"] >= cutover[le]
    for inv in world.stripe["invoices"]:
        assert contracts[inv["metadata"]["salesforce_contract_id"]]["Billing_Model__c"] in ("Retainer", "Subscription")
    assert world.legacy["AR_INVOICE_HDR"]
    for hdr in world.legacy["AR_INVOICE_HDR"]:
        le = {"UK01": "LE-UK", "DE01": "LE-DE"}[hdr["ENTITY_CD"]]
        assert hdr["INV_DT"] < cutover[le].replace("-", "")
    # Stripe's Basil shape: the subscription is the invoice's parent, lines carry their own parent.
    inv = world.stripe["invoices"][0]
    assert inv["parent"]["type"] == "subscription_details" and inv["lines"]["data"][0]["parent"]["type"] == \
        "subscription_item_details"


def test_payment_fates_and_credit_memos(world):
    tx = world.netsuite["transaction"]
    invoices = {t["id"]: t for t in tx if t["type"] == "CustInvc"}
    statuses = Counter(t["status"] for t in invoices.values())
    assert statuses["Paid In Full"] and statuses["Open"]
    partly = [t for t in invoices.values() if 0 < t["foreignamountpaid"] < t["foreigntotal"]]
    late = [t for t in tx if t["type"] == "CustPymt" and t["custbody_q2c_applied_to"]
            and t["trandate"] > invoices[t["custbody_q2c_applied_to"]]["duedate"]]
    assert partly and late
    assert any(t["type"] == "CustCred" for t in tx)
    kinds = {e["kind"] for e in world.ledger}
    assert {"unapplied_payment", "overpayment"} <= kinds
    assert any(i["status"] == "void" for i in world.stripe["invoices"])


def test_invoices_carry_the_tax_code_of_the_customers_jurisdiction(world):
    customers = {c["id"]: c for c in world.netsuite["customer"]}
    missing = {e["key"] for e in world.ledger if e["kind"] == "invoice_missing_tax_code"}
    invoices = {t["id"]: t for t in world.netsuite["transaction"] if t["type"] == "CustInvc"}
    for line in world.netsuite["transactionline"]:
        inv = invoices.get(line["transaction"])
        if inv is None or line["mainline"] == "T":
            continue
        if inv["id"] in missing:
            assert line["taxcode"] is None
        else:
            assert line["taxcode"] == customers[inv["entity"]]["taxitem"]
            assert TAX_BY_ID[line["taxcode"]][6] == LE_BY_ID[
                {"1": "LE-US", "2": "LE-UK", "3": "LE-DE"}[customers[inv["entity"]]["subsidiary"]]]["id"]
    assert {CURRENCY_SYMBOL[i["currency"]] for i in invoices.values()} >= {"USD", "GBP"}


# The fields the warehouse's staging models read today (dbt_project/models/staging): kept, same meaning.
STAGED = {
    ("salesforce", "Account"): ["Id", "Legal_Entity__c", "Name", "Type", "Industry", "BillingCountry",
                                "CurrencyIsoCode", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp"],
    ("salesforce", "Opportunity"): ["Id", "AccountId", "Name", "StageName", "Type", "CurrencyIsoCode", "Amount",
                                    "Probability", "IsClosed", "IsWon", "pse__Is_Services_Opportunity__c",
                                    "CloseDate"],
    ("salesforce", "Contract"): ["Id", "AccountId", "SBQQ__Opportunity__c", "Legal_Entity__c", "ContractNumber",
                                 "Status", "Billing_Model__c", "Billing_Frequency__c", "CurrencyIsoCode",
                                 "ContractTerm", "Contract_Amount__c", "StartDate", "EndDate", "ActivatedDate"],
    ("salesforce", "Contact"): ["Id", "Legal_Entity__c", "FirstName", "LastName", "pse__Resource_Role__c",
                                "CurrencyIsoCode", "pse__Default_Bill_Rate__c", "pse__Is_Resource__c"],
    ("salesforce", "pse__Proj__c"): ["Id", "pse__Project_ID__c", "pse__Account__c", "pse__Opportunity__c",
                                     "Legal_Entity__c", "Name", "pse__Billing_Type__c", "pse__Stage__c",
                                     "CurrencyIsoCode", "pse__Is_Active__c", "pse__Is_Billable__c",
                                     "pse__Start_Date__c", "pse__End_Date__c"],
    ("salesforce", "pse__Timecard__c"): ["Id", "pse__Project__c", "pse__Resource__c", "pse__Status__c",
                                         "CurrencyIsoCode", "pse__Total_Hours__c", "pse__Bill_Rate__c",
                                         "pse__Total_Billable_Amount__c", "pse__Billable__c", "pse__Approved__c",
                                         "pse__Billed__c", "pse__Start_Date__c", "pse__End_Date__c"],
    ("netsuite", "currency"): ["id", "symbol", "name", "isbasecurrency", "lastmodifieddate"],
    ("netsuite", "customer"): ["id", "entityid", "externalid", "subsidiary", "currency", "companyname",
                               "datecreated", "lastmodifieddate"],
    ("netsuite", "subsidiary"): ["id", "currency", "name", "country", "iselimination", "lastmodifieddate"],
    ("netsuite", "transaction"): ["id", "tranid", "entity", "subsidiary", "currency", "custbody_q2c_sf_contract_id",
                                  "custbody_q2c_sf_project_id", "custbody_q2c_applied_to", "type", "status",
                                  "foreigntotal", "foreignamountpaid", "foreignamountunpaid", "trandate", "duedate",
                                  "createddate", "lastmodifieddate"],
    ("stripe", "customers"): ["id", "name", "email", "currency", "balance", "delinquent", "livemode", "created",
                              "metadata"],
    ("stripe", "invoices"): ["id", "number", "customer", "status", "collection_method", "billing_reason", "currency",
                             "subtotal", "total", "amount_due", "amount_paid", "amount_remaining", "livemode",
                             "due_date", "created", "period_start", "period_end", "status_transitions", "metadata"],
}


def test_every_field_the_warehouse_reads_is_still_served(world):
    for (system, obj), fields in STAGED.items():
        records = getattr(world, system)[obj]
        assert records, (system, obj)
        for rec in records:
            assert set(fields) <= set(rec), (system, obj, set(fields) - set(rec))
    for cus in world.stripe["customers"]:
        assert {"salesforce_account_id", "legal_entity"} <= set(cus["metadata"])
    for inv in world.stripe["invoices"]:
        assert {"salesforce_contract_id", "salesforce_project_id", "legal_entity"} <= set(inv["metadata"])
        assert set(inv["status_transitions"]) >= {"finalized_at", "paid_at", "voided_at"}
