"""Reference detectors for the anomaly kinds and integrity checks of a rendered world.

``detect(world)`` applies each kind's rule (``sandbox.world_anomalies.KINDS[kind].rule``) to the
world's records as of its clock and returns the keys it flags, per kind: an executable statement
of what each control must find. Tests compare it with the ledger (precision and recall 1.0);
warehouse controls can be compared with it the same way. ``integrity(world)`` lists broken
invariants (dangling references, splits across months, sums that do not add up).

Only the records a reader sees are used: Salesforce rows with ``IsDeleted`` are ignored.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sandbox.world_anomalies import CASH_APPLICATION_GRACE_DAYS, KINDS
from sandbox.world_gen import normalise_name
from sandbox.world_model import (
    BILLING_GRACE_DAYS,
    CONTRACT_GRACE_DAYS,
    CRM_SYNC_GRACE_DAYS,
    CURRENCY_SYMBOL,
    DAY_FIELDS,
    LE_BY_ID,
    MILESTONE_GRACE_DAYS,
    PROJECT_GRACE_DAYS,
    PSA_BILLING_TYPE,
)


def _cents(x: Any) -> int:
    return int(round(float(x) * 100))


def _days(clock: date, iso: str | None) -> int:
    return (clock - date.fromisoformat(iso[:10])).days if iso else -1


def _live(world: Any, obj: str) -> list[dict[str, Any]]:
    return [r for r in world.salesforce.get(obj, []) if not r.get("IsDeleted")]


def ledger_keys(world: Any) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {k: set() for k in KINDS}
    for e in world.ledger:
        out[e["kind"]].add(e["key"])
    return out


def detect(world: Any) -> dict[str, set[str]]:  # noqa: C901 - one rule per kind, in catalogue order
    T = world.clock
    out: dict[str, set[str]] = {k: set() for k in KINDS}
    opps = _live(world, "Opportunity")
    contracts = _live(world, "Contract")
    quotes = _live(world, "SBQQ__Quote__c")
    projects = _live(world, "pse__Proj__c")
    splits = _live(world, "pse__Timecard__c")
    expenses = _live(world, "pse__Expense__c")
    milestones = _live(world, "pse__Milestone__c")
    assignments = {r["Id"]: r for r in _live(world, "pse__Assignment__c")}
    rate_cards = {r["Id"]: r for r in _live(world, "pse__Rate_Card__c")}
    bes = {r["Id"]: r for r in _live(world, "pse__Billing_Event__c")}
    crm_invoices = {r["ERP_Invoice_Id__c"]: r for r in _live(world, "ERP_Invoice__c")}
    contract_by_id = {c["Id"]: c for c in contracts}
    project_by_id = {p["Id"]: p for p in projects}
    tx = world.netsuite.get("transaction", [])
    lines_by_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in world.netsuite.get("transactionline", []):
        lines_by_tx[line["transaction"]].append(line)
    subsidiaries = {le["id"]: le["subsidiary_id"] for le in LE_BY_ID.values()}

    # contract activation
    activated_opps = {c["SBQQ__Opportunity__c"] for c in contracts if c["Status"] == "Activated"}
    for o in opps:
        if o["IsWon"] and o["Type"] != "Amendment" and o["Id"] not in activated_opps \
                and _days(T, o["CloseDate"]) > CONTRACT_GRACE_DAYS:
            out["won_opportunity_without_contract"].add(o["Id"])
    primary = {q["SBQQ__Opportunity2__c"]: q for q in quotes if q["SBQQ__Primary__c"] and q["SBQQ__Type__c"] == "Quote"}
    amendments: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for q in quotes:
        if q["SBQQ__Type__c"] == "Amendment" and q["SBQQ__Primary__c"] and q["SBQQ__Status__c"] == "Accepted":
            amendments[q["SBQQ__MasterContract__c"]].append(q)
    for c in contracts:
        if c["Status"] != "Activated":
            continue
        q = primary.get(c["SBQQ__Opportunity__c"])
        if q is None:
            continue
        expected = _cents(q["SBQQ__NetAmount__c"]) + sum(_cents(a["SBQQ__NetAmount__c"]) for a in amendments[c["Id"]])
        if (_cents(c["Contract_Amount__c"]) != expected or c["Billing_Frequency__c"] != q["SBQQ__BillingFrequency__c"]
                or c["Payment_Terms__c"] != q["SBQQ__PaymentTerms__c"]):
            out["contract_terms_differ_from_quote"].add(c["Id"])

    # project provisioning
    provisioned = {p["pse__Opportunity__c"] for p in projects
                   if p["pse__Opportunity__c"] and date.fromisoformat(p["CreatedDate"][:10]) <= T}
    for c in contracts:
        if c["Status"] == "Activated" and c["ActivatedDate"] and _days(T, c["ActivatedDate"]) > PROJECT_GRACE_DAYS \
                and c["SBQQ__Opportunity__c"] not in provisioned:
            out["contract_activated_without_project"].add(c["Id"])
    for p in projects:
        if p["pse__Project_Type__c"] != "Customer Project":
            continue
        if not p["Legal_Entity__c"] or not p["Tax_Nexus__c"]:
            out["project_missing_legal_entity_or_nexus"].add(p["Id"])
        c = contract_by_id.get(p["Contract__c"])
        if c is not None and PSA_BILLING_TYPE[c["Billing_Model__c"]] != p["pse__Billing_Type__c"]:
            out["project_billing_type_mismatch"].add(p["Id"])

    # billing eligibility
    for s in splits:
        if s["pse__Approved__c"] and s["pse__Billable__c"] and not s["pse__Billing_Event_Item__c"] \
                and _days(T, s["Approved_Date__c"]) > BILLING_GRACE_DAYS:
            out["approved_item_not_billed"].add(s["Id"])
        p = project_by_id.get(s["pse__Project__c"])
        if p is not None and (p["pse__Project_Type__c"] == "Temporary" or (
                not p["pse__Is_Active__c"] and p["pse__End_Date__c"] and s["pse__Start_Date__c"] > p["pse__End_Date__c"])):
            out["time_on_inactive_or_temporary_project"].add(s["Id"])
        a = assignments.get(s["pse__Assignment__c"] or "")
        if s["pse__Billable__c"] and a is not None:
            rc = rate_cards.get(a["pse__Rate_Card__c"])
            if rc is not None and _cents(rc["pse__Suggested_Bill_Rate__c"]) != _cents(s["pse__Bill_Rate__c"]):
                out["bill_rate_differs_from_rate_card"].add(s["Id"])
    for e in expenses:
        if e["pse__Approved__c"] and e["pse__Billable__c"] and not e["pse__Billing_Event_Item__c"] \
                and _days(T, e["Approved_Date__c"]) > BILLING_GRACE_DAYS:
            out["approved_item_not_billed"].add(e["Id"])
    for m in milestones:
        if m["pse__Status__c"] == "Complete" and not m["pse__Billing_Event_Item__c"] \
                and _days(T, m["pse__Actual_Date__c"]) > MILESTONE_GRACE_DAYS:
            out["completed_milestone_not_billed"].add(m["Id"])

    # invoice release
    invoices = [t for t in tx if t["type"] == "CustInvc"]
    by_be: dict[str, list[str]] = defaultdict(list)
    for inv in invoices:
        be_id = inv["custbody_q2c_billing_event_id"]
        if not be_id:
            continue
        by_be[be_id].append(inv["id"])
        be = bes.get(be_id)
        project = project_by_id.get(be["pse__Project__c"]) if be else None
        contract = contract_by_id.get(project["Contract__c"]) if project else None
        if contract is not None and (CURRENCY_SYMBOL[inv["currency"]] != contract["CurrencyIsoCode"]
                                     or inv["subsidiary"] != subsidiaries[contract["Legal_Entity__c"]]):
            out["invoice_currency_or_entity_mismatch"].add(inv["id"])
        items = [ln for ln in lines_by_tx[inv["id"]] if ln["mainline"] == "F" and ln["taxline"] == "F"]
        if any(ln["taxcode"] is None for ln in items):
            out["invoice_missing_tax_code"].add(inv["id"])
        if be is not None and sum(_cents(ln["foreignamount"]) for ln in items) != _cents(be["pse__Summary_Amount__c"]):
            out["invoice_total_differs_from_billing_event"].add(inv["id"])
    for be_id, ids in by_be.items():
        if len(ids) > 1:
            out["billing_event_invoiced_twice"].add(be_id)

    # cash application
    for t in tx:
        if t["type"] != "CustPymt":
            continue
        if not t["custbody_q2c_applied_to"]:
            if _days(T, t["trandate"]) > CASH_APPLICATION_GRACE_DAYS:
                out["unapplied_payment"].add(t["id"])
        elif _cents(t["foreignpaymentamountunused"] or 0) > 0:
            out["overpayment"].add(t["id"])
    for inv in invoices:
        if inv["status"] == "Paid In Full" and _days(T, inv["closedate"]) > CRM_SYNC_GRACE_DAYS:
            crm = crm_invoices.get(f"netsuite:{inv['id']}")
            if crm is None or crm["Status__c"] != "Paid":
                out["erp_paid_crm_open"].add(inv["id"])

    # master data
    accounts = _live(world, "Account")
    names = {normalise_name(a["Name"]) for a in accounts}
    for cust in world.netsuite.get("customer", []):
        if not cust["externalid"] and normalise_name(cust["companyname"]) in names:
            out["duplicate_customer"].add(cust["id"])
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in accounts:
        by_name[normalise_name(a["Name"])].append(a)
    for group in by_name.values():
        group.sort(key=lambda a: (a["CreatedDate"], a["Id"]))
        out["duplicate_customer"].update(a["Id"] for a in group[1:])
    for inv in invoices:
        project = project_by_id.get(inv["custbody_q2c_sf_project_id"] or "")
        if project is not None and project["Contract__c"] != inv["custbody_q2c_sf_contract_id"]:
            out["inconsistent_contract_id"].add(f"netsuite:{inv['id']}")
    subs = {s["id"]: s for s in world.stripe.get("subscriptions", [])}
    for inv in world.stripe.get("invoices", []):
        if inv["status"] in ("draft", "void"):
            continue
        sub = subs.get(((inv.get("parent") or {}).get("subscription_details") or {}).get("subscription"))
        if sub is not None and sub["metadata"]["salesforce_contract_id"] != inv["metadata"]["salesforce_contract_id"]:
            out["inconsistent_contract_id"].add(f"stripe:{inv['id']}")
    return out


# ------------------------------------------------------------------------------------- integrity
# (object, field) -> (system, target object) of every reference the world carries.
SF_REFS = {
    "Account": {"ParentId": "Account"},
    "Opportunity": {"AccountId": "Account", "SBQQ__PrimaryQuote__c": "SBQQ__Quote__c",
                    "SBQQ__AmendedContract__c": "Contract"},
    "OpportunityLineItem": {"OpportunityId": "Opportunity", "Product2Id": "Product2",
                            "SBQQ__QuoteLine__c": "SBQQ__QuoteLine__c"},
    "SBQQ__Quote__c": {"SBQQ__Account__c": "Account", "SBQQ__Opportunity2__c": "Opportunity",
                       "SBQQ__MasterContract__c": "Contract"},
    "SBQQ__QuoteLine__c": {"SBQQ__Quote__c": "SBQQ__Quote__c", "SBQQ__Product__c": "Product2"},
    "Contract": {"AccountId": "Account", "SBQQ__Opportunity__c": "Opportunity", "SBQQ__Quote__c": "SBQQ__Quote__c"},
    "pse__Proj__c": {"pse__Account__c": "Account", "pse__Opportunity__c": "Opportunity", "Contract__c": "Contract",
                     "pse__Project_Manager__c": "Contact"},
    "pse__Assignment__c": {"pse__Project__c": "pse__Proj__c", "pse__Resource__c": "Contact",
                           "pse__Rate_Card__c": "pse__Rate_Card__c"},
    "pse__Milestone__c": {"pse__Project__c": "pse__Proj__c",
                          "pse__Billing_Event_Item__c": "pse__Billing_Event_Item__c"},
    "pse__Timecard_Header__c": {"pse__Project__c": "pse__Proj__c", "pse__Resource__c": "Contact",
                                "pse__Assignment__c": "pse__Assignment__c"},
    "pse__Timecard__c": {"pse__Project__c": "pse__Proj__c", "pse__Resource__c": "Contact",
                         "pse__Timecard_Header__c": "pse__Timecard_Header__c",
                         "pse__Assignment__c": "pse__Assignment__c",
                         "pse__Billing_Event_Item__c": "pse__Billing_Event_Item__c"},
    "pse__Expense__c": {"pse__Project__c": "pse__Proj__c", "pse__Resource__c": "Contact",
                        "pse__Assignment__c": "pse__Assignment__c",
                        "pse__Billing_Event_Item__c": "pse__Billing_Event_Item__c"},
    "pse__Billing_Event__c": {"pse__Project__c": "pse__Proj__c"},
    "pse__Billing_Event_Item__c": {"pse__Billing_Event__c": "pse__Billing_Event__c", "pse__Project__c": "pse__Proj__c",
                                   "pse__Timecard_Split__c": "pse__Timecard__c", "pse__Expense__c": "pse__Expense__c",
                                   "pse__Milestone__c": "pse__Milestone__c"},
    "ERP_Invoice__c": {"Account__c": "Account", "Contract__c": "Contract", "Billing_Event__c": "pse__Billing_Event__c"},
}
NS_REFS = {
    "subsidiary": {"currency": ("netsuite", "currency"), "parent": ("netsuite", "subsidiary")},
    "currencyrate": {"basecurrency": ("netsuite", "currency"), "transactioncurrency": ("netsuite", "currency")},
    "salestaxitem": {"subsidiary": ("netsuite", "subsidiary")},
    "nexus": {"subsidiary": ("netsuite", "subsidiary")},
    "customer": {"subsidiary": ("netsuite", "subsidiary"), "currency": ("netsuite", "currency"),
                 "parent": ("netsuite", "customer"), "terms": ("netsuite", "term"),
                 "taxitem": ("netsuite", "salestaxitem"), "externalid": ("salesforce", "Account")},
    "job": {"customer": ("netsuite", "customer"), "subsidiary": ("netsuite", "subsidiary"),
            "currency": ("netsuite", "currency"), "externalid": ("salesforce", "pse__Proj__c")},
    "transaction": {"entity": ("netsuite", "customer"), "subsidiary": ("netsuite", "subsidiary"),
                    "currency": ("netsuite", "currency"), "custbody_q2c_applied_to": ("netsuite", "transaction"),
                    "postingperiod": ("netsuite", "accountingperiod"), "terms": ("netsuite", "term"),
                    "custbody_q2c_sf_contract_id": ("salesforce", "Contract"),
                    "custbody_q2c_sf_project_id": ("salesforce", "pse__Proj__c"),
                    "custbody_q2c_billing_event_id": ("salesforce", "pse__Billing_Event__c")},
    "transactionline": {"transaction": ("netsuite", "transaction"), "taxcode": ("netsuite", "salestaxitem"),
                        "account": ("netsuite", "account"), "subsidiary": ("netsuite", "subsidiary")},
}


def integrity(world: Any) -> list[str]:  # noqa: C901 - a list of independent checks
    problems: list[str] = []
    keys = {
        ("salesforce", obj): {r["Id"] for r in rows} for obj, rows in world.salesforce.items()}
    keys.update({("netsuite", obj): {r["id"] for r in rows} for obj, rows in world.netsuite.items()})
    keys.update({("stripe", obj): {r["id"] for r in rows} for obj, rows in world.stripe.items()})
    for obj, refs in SF_REFS.items():
        for r in _live(world, obj):
            for f, target in refs.items():
                if r[f] is not None and r[f] not in keys[("salesforce", target)]:
                    problems.append(f"salesforce {obj} {r['Id']}.{f} -> missing {target} {r[f]}")
    for obj, refs in NS_REFS.items():
        for r in world.netsuite.get(obj, []):
            for f, target in refs.items():
                if r[f] is not None and r[f] not in keys[target]:
                    problems.append(f"netsuite {obj} {r['id']}.{f} -> missing {target} {r[f]}")
    st = world.stripe
    for inv in st.get("invoices", []):
        sub = inv["parent"]["subscription_details"]["subscription"]
        for ref, target in ((inv["customer"], ("stripe", "customers")), (sub, ("stripe", "subscriptions")),
                            (inv["metadata"]["salesforce_contract_id"], ("salesforce", "Contract")),
                            (inv["metadata"]["salesforce_project_id"], ("salesforce", "pse__Proj__c"))):
            if ref is not None and ref not in keys[target]:
                problems.append(f"stripe invoice {inv['id']} -> missing {target} {ref}")
        if inv["total"] != inv["subtotal"] + sum(t["amount"] for t in inv["total_taxes"]):
            problems.append(f"stripe invoice {inv['id']} total != subtotal + taxes")
        if sum(li["amount"] for li in inv["lines"]["data"]) != inv["subtotal"]:
            problems.append(f"stripe invoice {inv['id']} lines != subtotal")
    for p in st.get("invoice_payments", []):
        if p["invoice"] not in keys[("stripe", "invoices")]:
            problems.append(f"stripe invoice_payment {p['id']} -> missing invoice {p['invoice']}")
    for s in st.get("subscriptions", []):
        if s["customer"] not in keys[("stripe", "customers")]:
            problems.append(f"stripe subscription {s['id']} -> missing customer")
    problems += _stripe_credit_and_schedules(st, keys)
    lg = world.legacy
    custs = {r["CUST_NO"] for r in lg.get("CUSTOMER_MASTER", [])}
    hdrs = {r["INV_NO"]: r for r in lg.get("AR_INVOICE_HDR", [])}
    for r in lg.get("AR_INVOICE_HDR", []):
        if r["CUST_NO"] not in custs:
            problems.append(f"legacy invoice {r['INV_NO']} -> missing customer {r['CUST_NO']}")
    for r in lg.get("AR_RECEIPT", []):
        if r["APPLIED_INV_NO"] not in hdrs:
            problems.append(f"legacy receipt {r['RCPT_NO']} -> missing invoice")
    line_sum: dict[str, int] = defaultdict(int)
    for r in lg.get("AR_INVOICE_LINE", []):
        line_sum[r["INV_NO"]] += r["LINE_AMT_CENTS"]
    for no, h in hdrs.items():
        if line_sum[no] != h["NET_AMT_CENTS"] or h["NET_AMT_CENTS"] + h["TAX_AMT_CENTS"] != h["GROSS_AMT_CENTS"]:
            problems.append(f"legacy invoice {no} amounts do not add up")

    # Timecards: each split within one month; a header's splits sum to it.
    splits_by_header: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in _live(world, "pse__Timecard__c"):
        if s["pse__Start_Date__c"][:7] != s["pse__End_Date__c"][:7]:
            problems.append(f"split {s['Id']} spans two months")
        if abs(sum(s[f] or 0 for f in DAY_FIELDS) - s["pse__Total_Hours__c"]) > 1e-6:
            problems.append(f"split {s['Id']} day hours != total")
        splits_by_header[s["pse__Timecard_Header__c"]].append(s)
    for h in _live(world, "pse__Timecard_Header__c"):
        ss = splits_by_header.get(h["Id"], [])
        if round(sum(s["pse__Total_Hours__c"] for s in ss), 4) != round(h["pse__Total_Hours__c"], 4) or \
                sum(_cents(s["pse__Total_Billable_Amount__c"]) for s in ss) != _cents(h["pse__Total_Billable_Amount__c"]):
            problems.append(f"header {h['Id']} != sum of its splits")
        for s in ss:
            if not (h["pse__Start_Date__c"] <= s["pse__Start_Date__c"] <= s["pse__End_Date__c"] <= h["pse__End_Date__c"]):
                problems.append(f"split {s['Id']} outside its header's week")
    # Billing events: items sum to the event.
    items_by_be: dict[str, int] = defaultdict(int)
    for i in _live(world, "pse__Billing_Event_Item__c"):
        items_by_be[i["pse__Billing_Event__c"]] += _cents(i["pse__Amount__c"])
    for be in _live(world, "pse__Billing_Event__c"):
        if items_by_be[be["Id"]] != _cents(be["pse__Summary_Amount__c"]):
            problems.append(f"billing event {be['Id']} != sum of its items")
    # NetSuite transactions: lines add up to the header.
    lines_by_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ln in world.netsuite.get("transactionline", []):
        lines_by_tx[ln["transaction"]].append(ln)
    for t in world.netsuite.get("transaction", []):
        ls = lines_by_tx[t["id"]]
        main = [ln for ln in ls if ln["mainline"] == "T"]
        if len(main) != 1 or abs(_cents(main[0]["foreignamount"])) != _cents(t["foreigntotal"]):
            problems.append(f"transaction {t['id']} mainline != total")
        if t["type"] == "CustInvc":
            body = sum(_cents(ln["foreignamount"]) for ln in ls if ln["mainline"] == "F")
            if body != _cents(t["foreigntotal"]):
                problems.append(f"invoice {t['id']} lines + tax != total")
            if _cents(t["foreignamountunpaid"]) < 0:
                problems.append(f"invoice {t['id']} negative open amount")
    return problems


def _stripe_credit_and_schedules(st: dict[str, Any], keys: dict[tuple[str, str], set[str]]) -> list[str]:  # noqa: C901
    """Stripe invoices' amounts against their credit notes and payments; schedules against subscriptions."""
    problems: list[str] = []
    invoices = {inv["id"]: inv for inv in st.get("invoices", [])}
    credited: dict[tuple[str, str], int] = defaultdict(int)
    for cn in st.get("credit_notes", []):
        inv = invoices.get(cn["invoice"])
        if inv is None or (cn["customer"], cn["currency"]) != (inv["customer"], inv["currency"]):
            problems.append(f"stripe credit_note {cn['id']} -> missing or another customer's invoice {cn['invoice']}")
            continue
        if (cn["amount"] != cn["total"] or cn["total"] != cn["subtotal"] + sum(t["amount"] for t in cn["total_taxes"])
                or sum(li["amount"] for li in cn["lines"]["data"]) != cn["subtotal"]
                or cn["pre_payment_amount"] + cn["post_payment_amount"] != cn["total"] or cn["total"] > inv["total"]):
            problems.append(f"stripe credit_note {cn['id']} amounts do not add up")
        if cn["status"] == "issued":
            credited[(inv["id"], cn["type"])] += cn["total"]
        elif cn["status"] != "void" or cn["voided_at"] is None:
            problems.append(f"stripe credit_note {cn['id']} status {cn['status']} without voided_at")
    paid: dict[str, int] = defaultdict(int)
    for p in st.get("invoice_payments", []):
        paid[p["invoice"]] += p["amount_paid"]
    for inv in invoices.values():
        pre, post = inv.get("pre_payment_credit_notes_amount", 0), inv.get("post_payment_credit_notes_amount", 0)
        if (pre, post) != (credited[(inv["id"], "pre_payment")], credited[(inv["id"], "post_payment")]):
            problems.append(f"stripe invoice {inv['id']} credit note amounts != its issued credit notes")
        if inv["status"] != "void" and (inv["amount_due"] != inv["total"] - pre
                                        or inv["amount_remaining"] != inv["amount_due"] - inv["amount_paid"]):
            problems.append(f"stripe invoice {inv['id']} amount_due/amount_remaining inconsistent")
        if inv["amount_paid"] != paid[inv["id"]]:
            problems.append(f"stripe invoice {inv['id']} amount_paid != its invoice payments")
    subs = {s["id"]: s for s in st.get("subscriptions", [])}
    for sc in st.get("subscription_schedules", []):
        managed = sc["subscription"] or sc["released_subscription"]
        if sc["customer"] not in keys[("stripe", "customers")] or (managed is not None and managed not in subs):
            problems.append(f"stripe subscription_schedule {sc['id']} -> missing customer or subscription")
            continue
        phases = sc["phases"]
        if not phases or any(p["start_date"] >= p["end_date"] for p in phases) or any(
                a["end_date"] != b["start_date"] for a, b in zip(phases, phases[1:], strict=False)):
            problems.append(f"stripe subscription_schedule {sc['id']} phases not consecutive")
        status, sub = sc["status"], subs.get(managed or "")
        ok = {"not_started": sc["subscription"] is None and sc["current_phase"] is None,
              "active": sub is not None and sub["schedule"] == sc["id"] and sc["current_phase"] is not None,
              "completed": sc["completed_at"] is not None and sc["current_phase"] is None,
              "released": sc["released_at"] is not None and sc["subscription"] is None and sub is not None
              and sub["schedule"] != sc["id"],
              "canceled": sc["canceled_at"] is not None and sc["current_phase"] is None}.get(status, False)
        if not ok:
            problems.append(f"stripe subscription_schedule {sc['id']} status {status} inconsistent")
    return problems
