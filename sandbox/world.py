"""The sandbox world: a seeded, deterministic professional-services firm.

``build_world(seed, scale)`` returns every record the simulated systems serve, already in
each vendor's wire format (Salesforce field API names and timestamp strings, Stripe minor
units and unix times, NetSuite SuiteQL column names), plus the ground-truth ledger of the
anomalies that were injected. Same seed and scale, same world, byte for byte.

The firm has two legal entities in two currencies. Won opportunities become contracts;
activated contracts get a PSA project, except the injected anomalies; projects book weekly
approved timecard splits; time-and-materials and fixed-fee work is invoiced from the cloud
ERP (NetSuite), retainers and subscriptions from the billing platform (Stripe); customers
pay in full, in part, late or not yet.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

DEFAULT_SEED = 42
DEFAULT_CLOCK = date(2026, 6, 30)
# A contract activated longer ago than this without a project is an exception.
PROJECT_GRACE_DAYS = 14

LEGAL_ENTITIES = [
    {"id": "LE-US", "name": "Q2C Consulting Inc.", "currency": "USD", "country": "US",
     "subsidiary_id": "1", "currency_id": "1"},
    {"id": "LE-UK", "name": "Q2C Consulting Ltd", "currency": "GBP", "country": "GB",
     "subsidiary_id": "2", "currency_id": "2"},
]
CURRENCIES = [
    {"id": "1", "symbol": "USD", "name": "US Dollar", "isbasecurrency": "T"},
    {"id": "2", "symbol": "GBP", "name": "British Pound", "isbasecurrency": "F"},
]
# Where each billing model is invoiced.
BILLING_SYSTEM = {
    "Time and Materials": "netsuite",
    "Fixed Fee": "netsuite",
    "Retainer": "stripe",
    "Subscription": "stripe",
}
PSA_BILLING_TYPE = {
    "Time and Materials": "Time and Materials",
    "Fixed Fee": "Fixed Price",
    "Retainer": "Time and Materials",
    "Subscription": "Time and Materials",
}
COMPANY_WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne",
                 "Soylent", "Hooli", "Vandelay", "Wonka", "Pied Piper", "Massive", "Oscorp", "Aperture"]
COMPANY_SUFFIX = ["Holdings", "Group", "Labs", "Partners", "Industries", "Systems", "Retail", "Health"]
ROLES = [("Consultant", 150), ("Senior Consultant", 200), ("Manager", 250), ("Director", 320)]
UK_RATE_FACTOR = 0.8  # GBP rate cards sit below USD ones

# Salesforce key prefixes, as the real org uses them.
SF_PREFIX = {"Account": "001", "Opportunity": "006", "Contract": "800", "Contact": "003",
             "pse__Proj__c": "a1P", "pse__Timecard__c": "a2T"}


def _sf_ts(dt: datetime) -> str:
    """Salesforce REST datetime: 2026-05-01T10:00:00.000+0000."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _ns_ts(dt: datetime) -> str:
    """NetSuite SuiteQL timestamp as this sandbox renders it (ISO, UTC)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sf_system(created: datetime, modified: datetime | None = None) -> dict[str, Any]:
    """The system fields every Salesforce record carries."""
    modified = modified or created
    return {"IsDeleted": False, "CreatedDate": _sf_ts(created),
            "LastModifiedDate": _sf_ts(modified), "SystemModstamp": _sf_ts(modified)}


def _unix(dt: datetime) -> int:
    return int(dt.timestamp())


def _at(d: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.combine(d, time(hour, minute), tzinfo=UTC)


def _month_starts(start: date, end: date) -> list[date]:
    out, d = [], date(start.year, start.month, 1)
    while d <= end:
        out.append(d)
        d = date(d.year + (d.month // 12), d.month % 12 + 1, 1)
    return out


def _month_end(d: date) -> date:
    nxt = date(d.year + (d.month // 12), d.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    return date(d.year + y, m + 1, min(d.day, 28))


@dataclass
class World:
    """Every record of every simulated system, in wire format, plus the anomaly ledger."""

    seed: int
    scale: float
    clock: date
    salesforce: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    stripe: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    netsuite: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ledger: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            "salesforce": {k: len(v) for k, v in self.salesforce.items()},
            "stripe": {k: len(v) for k, v in self.stripe.items()},
            "netsuite": {k: len(v) for k, v in self.netsuite.items()},
        }


class _Ids:
    def __init__(self) -> None:
        self.counters: dict[str, int] = {}

    def next(self, kind: str) -> int:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return self.counters[kind]

    def sf(self, obj: str) -> str:
        n = self.next(obj)
        return f"{SF_PREFIX[obj]}{n:012d}AAA"

    def stripe(self, prefix: str, rng: random.Random) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        self.next(prefix)
        return prefix + "_" + "".join(rng.choice(alphabet) for _ in range(14))

    def ns(self, table: str, start: int) -> str:
        return str(start + self.next("ns_" + table))


def build_world(seed: int = DEFAULT_SEED, scale: float = 1.0, clock: date = DEFAULT_CLOCK) -> World:
    """Generate the world for ``seed`` and ``scale`` (1.0 is a world tests build in well under a second)."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    rng = random.Random(seed)
    ids = _Ids()
    w = World(seed=seed, scale=scale, clock=clock)
    sf = {k: [] for k in ("Account", "Contact", "Opportunity", "Contract", "pse__Proj__c",
                          "pse__Timecard__c")}
    st: dict[str, list[dict[str, Any]]] = {"customers": [], "invoices": []}
    ns: dict[str, list[dict[str, Any]]] = {
        "subsidiary": [
            {"id": le["subsidiary_id"], "name": le["name"], "currency": le["currency_id"],
             "country": le["country"], "iselimination": "F",
             "lastmodifieddate": _ns_ts(_at(clock - timedelta(days=400)))}
            for le in LEGAL_ENTITIES
        ],
        "currency": [dict(c, lastmodifieddate=_ns_ts(_at(clock - timedelta(days=400))))
                     for c in CURRENCIES],
        "customer": [],
        "transaction": [],
    }
    history_start = clock - timedelta(days=365)

    # Resources (PSA contacts), per legal entity.
    resources: dict[str, list[dict[str, Any]]] = {le["id"]: [] for le in LEGAL_ENTITIES}
    for le in LEGAL_ENTITIES:
        for i in range(max(3, int(6 * scale))):
            role, rate = ROLES[i % len(ROLES)]
            rate = round(rate * (UK_RATE_FACTOR if le["currency"] == "GBP" else 1.0), 2)
            rid = ids.sf("Contact")
            rec = {"Id": rid, "FirstName": f"Res{i + 1}", "LastName": le["country"],
                   "pse__Is_Resource__c": True, "pse__Resource_Role__c": role,
                   "pse__Default_Bill_Rate__c": rate, "Legal_Entity__c": le["id"],
                   "CurrencyIsoCode": le["currency"],
                   **sf_system(_at(history_start - timedelta(days=30)))}
            sf["Contact"].append(rec)
            resources[le["id"]].append(rec)

    n_accounts = max(4, int(round(24 * scale)))
    invoice_no = {"netsuite": 10000, "stripe": 0}
    for a in range(n_accounts):
        le = LEGAL_ENTITIES[a % len(LEGAL_ENTITIES)]
        created = _at(history_start - timedelta(days=rng.randint(10, 200)), 8)
        name = f"{COMPANY_WORDS[a % len(COMPANY_WORDS)]} {COMPANY_SUFFIX[(a // len(COMPANY_WORDS)) % len(COMPANY_SUFFIX)]}"
        if a >= len(COMPANY_WORDS) * len(COMPANY_SUFFIX):
            name += f" {a}"
        acc_id = ids.sf("Account")
        sf["Account"].append({
            "Id": acc_id, "Name": name, "Type": "Customer", "Industry": rng.choice(
                ["Financial Services", "Retail", "Healthcare", "Technology", "Manufacturing"]),
            "BillingCountry": le["country"], "CurrencyIsoCode": le["currency"],
            "Legal_Entity__c": le["id"], **sf_system(created)})
        # The same customer in the ERP and the billing platform, keyed back to the CRM.
        ns_cust_id = ids.ns("customer", 500)
        ns["customer"].append({
            "id": ns_cust_id, "entityid": f"CUST-{a + 1:05d}", "companyname": name,
            "subsidiary": le["subsidiary_id"], "currency": le["currency_id"],
            "externalid": acc_id, "datecreated": _ns_ts(created), "lastmodifieddate": _ns_ts(created)})
        cus_id = ids.stripe("cus", rng)
        st["customers"].append({
            "id": cus_id, "object": "customer", "name": name,
            "email": f"ap@{name.split()[0].lower()}{a + 1}.example.com",
            "currency": le["currency"].lower(), "created": _unix(created), "livemode": False,
            "balance": 0, "delinquent": False,
            "metadata": {"salesforce_account_id": acc_id, "legal_entity": le["id"]}})

        for _ in range(rng.randint(1, 3)):
            close = history_start + timedelta(days=rng.randint(0, 360))
            won = rng.random() < 0.75 and close <= clock
            model = rng.choice(list(BILLING_SYSTEM))
            term = rng.choice([6, 12, 12, 24]) if model in ("Retainer", "Subscription") else rng.choice([3, 6, 9])
            monthly = rng.choice([4000, 6000, 8000, 12000, 15000]) * (UK_RATE_FACTOR if le["currency"] == "GBP" else 1)
            amount = round(monthly * term, 2)
            opp_id = ids.sf("Opportunity")
            opp_created = _at(close - timedelta(days=rng.randint(20, 90)), 10)
            opp_modified = _at(close, 17) if close <= clock else opp_created
            stage = "Closed Won" if won else rng.choice(["Proposal", "Negotiation", "Closed Lost"])
            sf["Opportunity"].append({
                "Id": opp_id, "AccountId": acc_id, "Name": f"{name} - {model} {close:%Y-%m}",
                "StageName": stage, "IsClosed": stage.startswith("Closed"), "IsWon": won,
                "CloseDate": close.isoformat(), "Amount": amount, "Probability": 100 if won else 40,
                "CurrencyIsoCode": le["currency"], "Type": "New Business",
                "pse__Is_Services_Opportunity__c": True, **sf_system(opp_created, opp_modified)})
            if not won:
                continue

            start = close + timedelta(days=rng.randint(3, 20))
            activated = rng.random() < 0.9 and start <= clock
            contract_id = ids.sf("Contract")
            activated_at = _at(start, 11) if activated else None
            c_created = _at(close, 18)
            sf["Contract"].append({
                "Id": contract_id, "AccountId": acc_id,
                "ContractNumber": f"{ids.next('contract_number'):08d}",
                "Status": "Activated" if activated else "Draft", "StartDate": start.isoformat(),
                "EndDate": (add_months(start, term) - timedelta(days=1)).isoformat(),
                "ContractTerm": term, "ActivatedDate": _sf_ts(activated_at) if activated_at else None,
                "CurrencyIsoCode": le["currency"], "SBQQ__Opportunity__c": opp_id,
                "Billing_Model__c": model, "Contract_Amount__c": amount,
                "Billing_Frequency__c": "Monthly", "Legal_Entity__c": le["id"],
                **sf_system(c_created, activated_at or c_created)})
            if not activated:
                continue

            # Project provisioning, with the injected anomaly: an activated contract whose
            # project never arrives. Recently activated contracts may legitimately wait.
            days_active = (clock - start).days
            if days_active > PROJECT_GRACE_DAYS and rng.random() < 0.15:
                w.ledger.append({
                    "kind": "contract_activated_without_project",
                    "control_point": "project_provisioning",
                    "objects": {"contract_id": contract_id, "opportunity_id": opp_id, "account_id": acc_id},
                    "at": (start + timedelta(days=PROJECT_GRACE_DAYS)).isoformat()})
                continue
            if days_active <= PROJECT_GRACE_DAYS and rng.random() < 0.5:
                continue  # within the grace window: not an exception (yet)

            proj_created = _at(start + timedelta(days=rng.randint(0, min(5, max(0, days_active)))), 12)
            proj_id = ids.sf("pse__Proj__c")
            sf["pse__Proj__c"].append({
                "Id": proj_id, "Name": f"{name} {model} {start:%Y-%m}",
                "pse__Project_ID__c": f"PRJ-{ids.next('project_number'):06d}",
                "pse__Account__c": acc_id, "pse__Opportunity__c": opp_id,
                "pse__Billing_Type__c": PSA_BILLING_TYPE[model], "pse__Stage__c": "In Progress",
                "pse__Is_Active__c": True, "pse__Is_Billable__c": True,
                "pse__Start_Date__c": start.isoformat(),
                "pse__End_Date__c": (add_months(start, term) - timedelta(days=1)).isoformat(),
                "Legal_Entity__c": le["id"], "CurrencyIsoCode": le["currency"],
                **sf_system(proj_created)})

            end = min(clock, add_months(start, term) - timedelta(days=1))
            _book_time_and_invoice(
                rng, ids, w, sf, st, ns, le, resources[le["id"]], acc_id, cus_id, ns_cust_id,
                contract_id, proj_id, model, monthly, start, end, invoice_no)

    w.salesforce, w.stripe, w.netsuite = sf, st, ns
    return w


def _book_time_and_invoice(rng, ids, w, sf, st, ns, le, team, acc_id, cus_id, ns_cust_id,
                           contract_id, proj_id, model, monthly, start, end, invoice_no) -> int:
    """Weekly approved timecard splits for the project, then monthly invoices and payments."""
    clock = w.clock
    staff = rng.sample(team, k=min(len(team), rng.randint(1, 2)))
    by_month: dict[date, float] = {}
    week = start - timedelta(days=start.weekday())
    while week <= end:
        for res in staff:
            split_start = max(week, start)
            split_end = min(week + timedelta(days=6), end)
            if split_end < split_start:
                continue
            hours = float(rng.choice([8, 16, 24, 32, 40]))
            rate = res["pse__Default_Bill_Rate__c"]
            approved_at = _at(split_end + timedelta(days=2), 16)
            if approved_at.date() > clock:
                continue
            tc_id = ids.sf("pse__Timecard__c")
            sf["pse__Timecard__c"].append({
                "Id": tc_id, "pse__Project__c": proj_id, "pse__Resource__c": res["Id"],
                "pse__Start_Date__c": split_start.isoformat(), "pse__End_Date__c": split_end.isoformat(),
                "pse__Total_Hours__c": hours, "pse__Bill_Rate__c": rate,
                "pse__Total_Billable_Amount__c": round(hours * rate, 2),
                "pse__Billable__c": True, "pse__Approved__c": True, "pse__Status__c": "Approved",
                "pse__Billed__c": False, "CurrencyIsoCode": le["currency"],
                **sf_system(_at(split_end, 18), approved_at)})
            month = date(split_start.year, split_start.month, 1)
            by_month[month] = by_month.get(month, 0.0) + round(hours * rate, 2)
        week += timedelta(days=7)

    # Invoice every month that has closed before the clock.
    n_invoices = 0
    for month in _month_starts(start, end):
        inv_date = _month_end(month)
        if inv_date >= clock:
            break
        amount = round(by_month.get(month, 0.0), 2) if model == "Time and Materials" else round(monthly, 2)
        if amount <= 0:
            continue
        terms = 30
        due = inv_date + timedelta(days=terms)
        # How the customer pays: in full on time, late, partly, or not yet.
        fate = rng.choices(["on_time", "late", "partial", "unpaid"], weights=[55, 20, 10, 15])[0]
        pay_date = {"on_time": due - timedelta(days=rng.randint(0, 10)),
                    "late": due + timedelta(days=rng.randint(5, 40)),
                    "partial": due - timedelta(days=rng.randint(0, 5)),
                    "unpaid": None}[fate]
        if pay_date is not None and pay_date > clock:
            pay_date = None
        if fate == "partial" and BILLING_SYSTEM[model] == "stripe":
            fate = "on_time"  # the billing platform collects in full or not at all here
        paid = 0.0 if pay_date is None else (round(amount * 0.5, 2) if fate == "partial" else amount)
        n_invoices += 1
        if BILLING_SYSTEM[model] == "netsuite":
            invoice_no["netsuite"] += 1
            inv_id = ids.ns("transaction", 9000)
            ns["transaction"].append({
                "id": inv_id, "tranid": f"INV{invoice_no['netsuite']}", "type": "CustInvc",
                "trandate": inv_date.isoformat(), "duedate": due.isoformat(), "entity": ns_cust_id,
                "subsidiary": le["subsidiary_id"], "currency": le["currency_id"],
                "foreigntotal": amount, "foreignamountpaid": paid,
                "foreignamountunpaid": round(amount - paid, 2),
                "status": "Paid In Full" if paid >= amount else "Open",
                "custbody_q2c_sf_contract_id": contract_id, "custbody_q2c_sf_project_id": proj_id,
                "custbody_q2c_applied_to": None,
                "createddate": _ns_ts(_at(inv_date, 20)),
                "lastmodifieddate": _ns_ts(_at(pay_date, 21) if pay_date else _at(inv_date, 20))})
            if pay_date is not None:
                pay_id = ids.ns("transaction", 9000)
                ns["transaction"].append({
                    "id": pay_id, "tranid": f"PYMT{pay_id}", "type": "CustPymt",
                    "trandate": pay_date.isoformat(), "duedate": None, "entity": ns_cust_id,
                    "subsidiary": le["subsidiary_id"], "currency": le["currency_id"],
                    "foreigntotal": paid, "foreignamountpaid": None, "foreignamountunpaid": None,
                    "status": "Deposited", "custbody_q2c_sf_contract_id": contract_id,
                    "custbody_q2c_sf_project_id": proj_id, "custbody_q2c_applied_to": inv_id,
                    "createddate": _ns_ts(_at(pay_date, 21)), "lastmodifieddate": _ns_ts(_at(pay_date, 21))})
        else:
            invoice_no["stripe"] += 1
            cents = int(round(amount * 100))
            paid_cents = int(round(paid * 100))
            finalized = _at(inv_date, 20)
            status = "paid" if paid_cents >= cents else "open"
            st["invoices"].append({
                "id": ids.stripe("in", rng), "object": "invoice",
                "number": f"Q2C-{invoice_no['stripe']:06d}", "customer": cus_id,
                "status": status, "collection_method": "send_invoice",
                "billing_reason": "manual", "currency": le["currency"].lower(),
                "created": _unix(finalized), "due_date": _unix(_at(due, 23, 59)),
                "period_start": _unix(_at(month, 0)), "period_end": _unix(_at(inv_date, 23, 59)),
                "subtotal": cents, "total": cents, "amount_due": cents, "amount_paid": paid_cents,
                "amount_remaining": cents - paid_cents, "livemode": False,
                "status_transitions": {
                    "finalized_at": _unix(finalized),
                    "paid_at": _unix(_at(pay_date, 15)) if pay_date else None,
                    "voided_at": None, "marked_uncollectible_at": None},
                "metadata": {"salesforce_contract_id": contract_id, "salesforce_project_id": proj_id,
                             "legal_entity": le["id"]},
            })
    return n_invoices
