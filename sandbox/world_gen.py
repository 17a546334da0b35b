"""The world generator: a professional-services firm's quote-to-cash records over time.

``Generator`` builds the *timeline* (``sandbox.clock``): every record with its lifecycle, for
deals closing month after month. A month's deals ("cohort") are generated from their own random
streams, once, in month order, and each deal's whole lifecycle (opportunity, quotes, contract and
amendments, project, staffing, weekly timecards split at month ends, expenses, milestones,
billing events, invoices in the legacy ERP, NetSuite or Stripe, payments, CRM sync) is laid out
when the deal is generated. Advancing the clock therefore only generates the cohorts that become
visible and re-renders; the same seed, scale, rates and clock dates give the same world whatever
the steps taken to get there.

Amounts are integer cents internally (sums are exact); rendered as vendor values.
Anomalies are decided by ``sandbox.world_anomalies.Decider`` (never by the random streams here).
"""

from __future__ import annotations

import bisect
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sandbox.clock import Rec, Timeline
from sandbox.world_anomalies import CASH_APPLICATION_GRACE_DAYS, Decider, entry
from sandbox.world_columns import CATEGORIES, COLUMN_TABLES
from sandbox.world_model import (
    BILLING_FREQUENCY,
    BILLING_GRACE_DAYS,
    BILLING_SYSTEM,
    COMPANY_SUFFIX,
    COMPANY_WORDS,
    CONTRACT_GRACE_DAYS,
    COST_RATIO,
    CRM_SYNC_GRACE_DAYS,
    CURRENCIES,
    CURRENCY_ID,
    DAY,
    EXPENSE_TYPES,
    FX_DAILY_VOL,
    FX_START_USD,
    HISTORY_DAYS,
    INDUSTRIES,
    LE_BY_ID,
    LEGAL_ENTITIES,
    LOCATIONS,
    MILESTONE_GRACE_DAYS,
    NEXUS,
    NS_ACCOUNTS,
    NS_FIELDS,
    PAYMENT_TERMS,
    PRICE_FACTOR,
    PRODUCT_BY_MODEL,
    PRODUCTS,
    PROJECT_GRACE_DAYS,
    PSA_BILLING_TYPE,
    RATE_CARD_UPLIFT,
    ROLES,
    SF_FIELDS,
    TAX_BY_ID,
    TAX_CODES,
    TERM_ID,
    add_months,
    blank,
    date_of,
    day_number,
    month_end,
    month_index,
    month_start,
    next_month,
    nexus_for,
    ns_ts,
    resolve_stripe_activity,
    rng_for,
    sf_id,
    sf_ts,
    stripe_id,
    tax_code_for,
    ts,
    unit,
)

NS_ID_START = {"customer": 500, "transaction": 9000, "job": 3000, "transactionline": 0}
MODEL_WEIGHTS = (40, 25, 20, 15)
LEGAL_SUFFIXES = frozenset({"inc", "ltd", "llc", "gmbh", "plc", "corp", "co", "limited", "ag"})
DUP_SUFFIX = {"LE-US": " Inc.", "LE-UK": " Ltd", "LE-DE": " GmbH"}


def normalise_name(name: str) -> str:
    """Company name for duplicate matching: lower case, punctuation and legal-form words dropped."""
    words = re.sub(r"[^a-z0-9]+", " ", name.lower()).split()
    return " ".join(w for w in words if w not in LEGAL_SUFFIXES)


def _amount(cents: int) -> float:
    return cents / 100


def _d(d: date) -> str:
    return d.isoformat()


def _poisson(rng: Any, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


@dataclass
class Account:
    idx: int
    sf_id: str
    name: str
    le: str
    country: str
    state: str | None
    created: int
    ns_id: str
    ns_created: int | None
    stripe_id: str
    tax_code: str
    nexus: str
    legacy_no: str | None


@dataclass
class Buf:
    """A deal's records before commit, by what they depend on."""

    deal: list[tuple[str, str, Rec]] = field(default_factory=list)  # kept always
    active: list[tuple[str, str, Rec]] = field(default_factory=list)  # gone if the contract is never activated
    project: list[tuple[str, str, Rec]] = field(default_factory=list)  # gone if the project never comes
    ledger_active: list[dict[str, Any]] = field(default_factory=list)
    ledger_project: list[dict[str, Any]] = field(default_factory=list)


class Generator:
    """The world's timeline for (seed, scale, base clock, rates); ``ensure(day)`` extends it."""

    def __init__(self, seed: int, scale: float, base_clock: date, rates: dict[str, float],
                 stripe_activity: dict[str, float] | None = None) -> None:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale!r}")
        self.seed = seed
        self.scale = scale
        self.base_clock = base_clock
        self.rates = rates
        self.stripe_activity = resolve_stripe_activity(stripe_activity)
        self.dec = Decider(seed, rates)
        # Larger firms run larger engagements: staffing per project grows with the square root of scale.
        self.team_factor = max(1, int(round(math.sqrt(scale))))
        self.tl = Timeline()
        for cls in COLUMN_TABLES.values():
            self.tl.register(cls())
        self.ledger: list[dict[str, Any]] = []
        self.counters: dict[str, int] = defaultdict(int)
        self.H = base_clock - timedelta(days=HISTORY_DAYS)
        self.cutover: dict[str, date | None] = {
            "LE-US": None,
            "LE-UK": month_start(base_clock - timedelta(days=270)),
            "LE-DE": month_start(base_clock + timedelta(days=62)),
        }
        # From when NetSuite holds an entity's master data (customers, projects): 30 days before cut-over.
        self.ns_live: dict[str, int | None] = {
            le: None if c is None else ts(c - timedelta(days=30), 2) for le, c in self.cutover.items()}
        self.fx_first_day = day_number(self.H) - 60
        self.fx_vals: list[dict[str, float]] = []
        self.period_base = month_index(date(self.H.year - 1, 1, 1))
        self.periods_until = self.period_base - 1
        self.accounts: list[Account] = []
        self.acc_created: list[int] = []
        self.resources: dict[str, list[dict[str, Any]]] = {le["id"]: [] for le in LEGAL_ENTITIES}
        self.rate_cards: dict[tuple[str, str, int], tuple[str, int]] = {}
        self.temp_project: dict[str, str] = {}
        # Activated contracts per (legal entity, billing system): what a wrong contract reference names.
        self.contract_pool: dict[tuple[str, str], list[tuple[int, str, str]]] = defaultdict(list)
        self.months_done = month_index(self.H) - 1
        self._setup()

    # ------------------------------------------------------------------------------------ ids
    def nid(self, kind: str) -> int:
        self.counters[kind] += 1
        return self.counters[kind]

    def sfid(self, obj: str) -> str:
        return sf_id(obj, self.nid(obj))

    def nsid(self, table: str) -> str:
        return str(NS_ID_START[table] + self.nid("ns_" + table))

    def stid(self, prefix: str) -> str:
        return stripe_id(prefix, self.seed, self.nid("st_" + prefix))

    # ----------------------------------------------------------------------------- records
    @staticmethod
    def sf(buf: list, obj: str, t: int, vis: int | None = None, **values: Any) -> Rec:
        rec = Rec(values["Id"], t, blank(SF_FIELDS[obj], **values), vis)
        buf.append(("salesforce", obj, rec))
        return rec

    @staticmethod
    def ns(buf: list, table: str, t: int, vis: int | None = None, **values: Any) -> Rec:
        rec = Rec(values["id"], t, blank(NS_FIELDS[table], **values), vis)
        buf.append(("netsuite", table, rec))
        return rec

    @staticmethod
    def st(buf: list, obj: str, t: int, values: dict[str, Any]) -> Rec:
        rec = Rec(values["id"], t, values)
        buf.append(("stripe", obj, rec))
        return rec

    @staticmethod
    def legacy(buf: list, table: str, key: str, t: int, values: dict[str, Any]) -> Rec:
        rec = Rec(key, t, values)
        buf.append(("legacy", table, rec))
        return rec

    def commit(self, recs: list[tuple[str, str, Rec | dict]]) -> None:
        tables = self.tl.tables
        for system, obj, rec in recs:
            if isinstance(rec, Rec):
                self.tl.add(system, obj, rec)
            else:  # a columnar row (sandbox.world_columns)
                tables[(system, obj)].append(rec)

    # --------------------------------------------------------------------------- reference
    def _setup(self) -> None:
        g: list = []
        t0 = ts(self.H - timedelta(days=400), 8)
        for le in LEGAL_ENTITIES:
            parent = le["parent_subsidiary_id"]
            fullname = le["name"] if parent is None else f"{LEGAL_ENTITIES[0]['name']} : {le['name']}"
            self.ns(g, "subsidiary", t0, id=le["subsidiary_id"], name=le["name"], currency=le["currency_id"],
                    country=le["country"], iselimination="F", lastmodifieddate="", parent=parent, fullname=fullname)
        for c in CURRENCIES:
            self.ns(g, "currency", t0, **c, lastmodifieddate="", currencyprecision=2)
        for name, days in PAYMENT_TERMS.items():
            self.ns(g, "term", t0, id=TERM_ID[name], name=name, daysuntilnetdue=days)
        for aid, number, name, kind, rate in NS_ACCOUNTS:
            self.ns(g, "account", t0, id=aid, acctnumber=number, acctname=name, accttype=kind, generalrate=rate,
                    isinactive="F")
        for tid, code, desc, rate, country, state, le, ttype in TAX_CODES:
            self.ns(g, "salestaxitem", t0, id=tid, itemid=code, description=desc, rate=rate, country=country,
                    state=state, subsidiary=LE_BY_ID[le]["subsidiary_id"], taxtype=ttype, isinactive="F")
        for nid, country, state, le in NEXUS:
            self.ns(g, "nexus", t0, id=nid, country=country, state=state,
                    description=f"{country}-{state}" if state else country, subsidiary=LE_BY_ID[le]["subsidiary_id"])
        for n, name, code, family, charge, btype, freq in PRODUCTS:
            self.sf(g, "Product2", t0, Id=sf_id("Product2", n), Name=name, ProductCode=code, Family=family,
                    IsActive=True, SBQQ__ChargeType__c=charge, SBQQ__BillingType__c=btype,
                    SBQQ__BillingFrequency__c=freq)
        self.tax_rate_ids: dict[str, str] = {}
        for tid, code, desc, rate, country, state, _le, ttype in TAX_CODES:
            if rate <= 0:
                continue
            txr = self.stid("txr")
            self.tax_rate_ids[tid] = txr
            self.st(g, "tax_rates", t0, {
                "id": txr, "object": "tax_rate", "active": True, "country": country, "state": state,
                "display_name": "VAT" if ttype == "VAT" else "Sales Tax", "description": desc,
                "inclusive": False, "jurisdiction": f"{country}-{state}" if state else country,
                "percentage": rate, "tax_type": "vat" if ttype == "VAT" else "sales_tax", "created": t0,
                "livemode": False, "metadata": {"netsuite_tax_code": code}})
        self.commit(g)
        self._ensure_periods(month_index(self.base_clock) + 3)
        self._ensure_fx(day_number(self.base_clock) + 1)

        # Resources (PSA contacts) per legal entity, and the rate cards of the first years.
        n_res = max(3, int(6 * self.scale))
        r_created = ts(self.H - timedelta(days=30), 9)
        for year in range(self.H.year, self.base_clock.year + 2):
            for le in LEGAL_ENTITIES:
                for role, _ in ROLES:
                    self.rate_card(le["id"], role, year)
        g = []
        for le in LEGAL_ENTITIES:
            for i in range(n_res):
                role, base = ROLES[i % len(ROLES)]
                rid = self.sfid("Contact")
                rate = round(base * PRICE_FACTOR[le["currency"]], 2)
                self.sf(g, "Contact", r_created, Id=rid, FirstName=f"Res{i + 1}", LastName=le["country"],
                        pse__Is_Resource__c=True, pse__Resource_Role__c=role, pse__Default_Bill_Rate__c=rate,
                        Legal_Entity__c=le["id"], CurrencyIsoCode=le["currency"],
                        Email=f"res{i + 1}.{le['country'].lower()}@q2c-consulting.example.com",
                        pse__Is_Resource_Active__c=True, pse__Default_Cost_Rate__c=round(rate * COST_RATIO, 2))
                self.resources[le["id"]].append({"id": rid, "role": role, "le": le["id"]})
            # A placeholder project per entity for pre-sales and bench time (no customer, not billable).
            pid = self.sfid("pse__Proj__c")
            self.temp_project[le["id"]] = pid
            start = self.H - timedelta(days=60)
            self.sf(g, "pse__Proj__c", ts(start, 9), Id=pid, Name=f"TEMP - {le['id']} pre-sales and bench",
                    pse__Project_ID__c=f"PRJ-{self.nid('project_number'):06d}", pse__Billing_Type__c=None,
                    pse__Stage__c="In Progress", pse__Is_Active__c=True, pse__Is_Billable__c=False,
                    pse__Start_Date__c=_d(start), Legal_Entity__c=le["id"], CurrencyIsoCode=le["currency"],
                    pse__Project_Type__c="Temporary", Tax_Nexus__c="US-NY" if le["id"] == "LE-US" else le["country"])
        self.commit(g)

        rng = rng_for(self.seed, "accounts")
        n_accounts = max(4, int(round(24 * self.scale)))
        created = sorted(ts(self.H - timedelta(days=100 + rng.randint(0, 200)), 8) for _ in range(n_accounts))
        for t in created:
            self._new_account(t, rng)

    def rate_card(self, le: str, role: str, year: int) -> tuple[str, int]:
        key = (le, role, year)
        if key not in self.rate_cards:
            base = dict(ROLES)[role]
            cur = LE_BY_ID[le]["currency"]
            cents = int(round(base * PRICE_FACTOR[cur] * (1 + RATE_CARD_UPLIFT) ** (year - self.H.year) * 100))
            rid = self.sfid("pse__Rate_Card__c")
            g: list = []
            self.sf(g, "pse__Rate_Card__c", ts(date(year - 1, 12, 1), 9), Id=rid, Name=f"{le} {role} {year}",
                    pse__Role__c=role, pse__Suggested_Bill_Rate__c=_amount(cents),
                    pse__Average_Cost_Rate__c=round(cents * COST_RATIO / 100, 2),
                    pse__Start_Date__c=_d(date(year, 1, 1)), pse__End_Date__c=_d(date(year, 12, 31)),
                    Legal_Entity__c=le, CurrencyIsoCode=cur)
            self.commit(g)
            self.rate_cards[key] = (rid, cents)
        return self.rate_cards[key]

    def _ensure_periods(self, upto: int) -> None:
        g: list = []
        while self.periods_until < upto:
            self.periods_until += 1
            mi = self.periods_until
            start = date(mi // 12, mi % 12 + 1, 1)
            end = month_end(start)
            rec = self.ns(g, "accountingperiod", ts(start - timedelta(days=60), 1),
                          id=str(mi - self.period_base + 1), periodname=start.strftime("%b %Y"),
                          startdate=_d(start), enddate=_d(end), isposting="T", isquarter="F", isyear="F",
                          isadjust="F", closed="F")
            closed = end + timedelta(days=10)
            rec.update(ts(closed, 18), {"closed": "T", "closedondate": _d(closed)})
        self.commit(g)

    def period_id(self, d: date) -> str:
        mi = month_index(d)
        self._ensure_periods(mi)
        return str(mi - self.period_base + 1)

    def _ensure_fx(self, day: int) -> None:
        g: list = []
        symbols = [c["symbol"] for c in CURRENCIES]
        while self.fx_first_day + len(self.fx_vals) <= day:
            d = self.fx_first_day + len(self.fx_vals)
            prev = self.fx_vals[-1] if self.fx_vals else FX_START_USD
            r = rng_for(self.seed, "fx", d)
            vals = {"USD": 1.0}
            for sym in symbols[1:]:
                vals[sym] = prev[sym] * math.exp(r.gauss(0.0, FX_DAILY_VOL))
            self.fx_vals.append(vals)
            n = (d - self.fx_first_day) * 6
            t = d * DAY + 300
            for base in symbols:
                for trans in symbols:
                    if trans == base:
                        continue
                    n += 1
                    self.ns(g, "currencyrate", t, id=str(n), basecurrency=CURRENCY_ID[base],
                            transactioncurrency=CURRENCY_ID[trans],
                            exchangerate=round(vals[trans] / vals[base], 6), effectivedate=_d(date_of(t)))
        self.commit(g)

    def fx(self, trans: str, base: str, t: int) -> float:
        """Units of ``base`` per unit of ``trans`` on the day of ``t`` (NetSuite currencyrate)."""
        if trans == base:
            return 1.0
        d = t // DAY
        self._ensure_fx(d)
        vals = self.fx_vals[d - self.fx_first_day]
        return round(vals[trans] / vals[base], 6)

    # ----------------------------------------------------------------------------- accounts
    def _new_account(self, created: int, rng: Any) -> Account:
        a = len(self.accounts)
        le = LEGAL_ENTITIES[a % len(LEGAL_ENTITIES)]
        name = f"{COMPANY_WORDS[a % len(COMPANY_WORDS)]} {COMPANY_SUFFIX[(a // len(COMPANY_WORDS)) % len(COMPANY_SUFFIX)]}"
        if a >= len(COMPANY_WORDS) * len(COMPANY_SUFFIX):
            name += f" {a}"
        locs = LOCATIONS[le["id"]]
        country, state, _ = rng.choices(locs, weights=[w for *_, w in locs])[0]
        industry = rng.choice(INDUSTRIES)
        parent: Account | None = None
        if a >= 4 and rng.random() < 0.2:
            peers = [p for p in self.accounts if p.le == le["id"]]
            if peers:
                parent = peers[rng.randrange(len(peers))]
        acc_id = self.sfid("Account")
        ns_id = self.nsid("customer")
        cus_id = self.stid("cus")
        dup_ns_id, dup_sf_id = self.nsid("customer"), self.sfid("Account")  # reserved for a duplicate
        live = self.ns_live[le["id"]]
        ns_created = created + 3600 if live is None or created >= live else live
        cutover = self.cutover[le["id"]]
        legacy_no = None
        if cutover is not None and created < ts(cutover):
            legacy_no = f"{le['legacy_code'][:2]}{a + 1:06d}"
        tax_code = tax_code_for(le["id"], country, state)
        acc = Account(a, acc_id, name, le["id"], country, state, created, ns_id, ns_created, cus_id, tax_code,
                      nexus_for(le["id"], country, state), legacy_no)
        g: list = []
        self.sf(g, "Account", created, Id=acc_id, Name=name, Type="Customer", Industry=industry,
                BillingCountry=country, CurrencyIsoCode=le["currency"], Legal_Entity__c=le["id"],
                ParentId=parent.sf_id if parent else None, BillingState=state, AccountNumber=f"ACC-{a + 1:06d}")
        self.ns(g, "customer", ns_created, id=ns_id, entityid=f"CUST-{a + 1:05d}", companyname=name,
                subsidiary=le["subsidiary_id"], currency=le["currency_id"], externalid=acc_id,
                datecreated=ns_ts(ns_created), lastmodifieddate="", parent=parent.ns_id if parent else None,
                terms=TERM_ID["Net 30"], taxitem=tax_code, isperson="F", custentity_q2c_legacy_id=legacy_no)
        exempt = TAX_BY_ID[tax_code][3] == 0
        self.st(g, "customers", created, {
            "id": cus_id, "object": "customer", "name": name,
            "email": f"ap@{name.split()[0].lower()}{a + 1}.example.com", "currency": le["currency"].lower(),
            "created": created, "livemode": False, "balance": 0, "delinquent": False,
            "address": {"country": country, "state": state},
            "tax_exempt": "reverse" if exempt and le["id"] != "LE-US" else ("exempt" if exempt else "none"),
            "invoice_prefix": f"Q2C{a + 1:05d}",
            "metadata": {"salesforce_account_id": acc_id, "legal_entity": le["id"]}})
        if legacy_no is not None:
            self.legacy(g, "CUSTOMER_MASTER", legacy_no, created, {
                "CUST_NO": legacy_no, "CUST_NAME": name.upper(), "ENTITY_CD": le["legacy_code"],
                "COUNTRY_CD": country, "CURRENCY_CD": le["currency"], "SF_ACCT_REF": acc_id,
                "CREATED_DT": date_of(created).strftime("%Y%m%d"), "STATUS_CD": "A",
                "LAST_UPD_TS": ""})
        # Master data: the same customer entered a second time, in the ERP or the CRM.
        if self.dec.hit("duplicate_customer", acc_id):
            r = rng_for(self.seed, "dup-customer", acc_id)
            dup_t = max(created, ns_created) + DAY * r.randint(30, 200) + 3600 * r.randint(0, 8)
            if self.dec.pick("duplicate_customer", acc_id, 2) == 0:
                self.ns(g, "customer", dup_t, id=dup_ns_id, entityid=f"CUST-D{a + 1:05d}",
                        companyname=name + DUP_SUFFIX[le["id"]], subsidiary=le["subsidiary_id"],
                        currency=le["currency_id"], externalid=None, datecreated=ns_ts(dup_t), lastmodifieddate="",
                        parent=None, terms=TERM_ID["Net 30"], taxitem=tax_code, isperson="F")
                system, dup_id = "netsuite", dup_ns_id
            else:
                self.sf(g, "Account", dup_t, Id=dup_sf_id, Name=name, Type="Prospect", Industry=industry,
                        BillingCountry=country, CurrencyIsoCode=le["currency"], Legal_Entity__c=le["id"],
                        BillingState=state)
                system, dup_id = "salesforce", dup_sf_id
            self.ledger.append(entry("duplicate_customer", dup_id, {
                "account_id": acc_id, "duplicate_system": system, "duplicate_id": dup_id}, _d(date_of(dup_t))))
        self.commit(g)
        self.accounts.append(acc)
        self.acc_created.append(created)
        return acc

    # ------------------------------------------------------------------------------ cohorts
    def ensure(self, day: int) -> None:
        """Generate every cohort whose records can be visible on clock ``day``."""
        target = month_index(date_of(day * DAY) + timedelta(days=100))
        while self.months_done < target:
            self.months_done += 1
            self._cohort(self.months_done)

    def _cohort(self, m: int) -> None:
        rng = rng_for(self.seed, "cohort", m)
        first = date(m // 12, m % 12 + 1, 1)
        if m > month_index(self.H):
            new = sorted(ts(first + timedelta(days=rng.randint(0, 27)), 8) for _ in range(
                _poisson(rng, 0.6 * self.scale)))
            for t in new:
                self._new_account(t, rng_for(self.seed, "account", m, t))
        for i in range(_poisson(rng, 5.0 * self.scale)):
            self._deal(m, i)

    # --------------------------------------------------------------------------------- deals
    def _deal(self, m: int, i: int) -> None:  # noqa: C901 - one deal's whole story, in order
        rng = rng_for(self.seed, "deal", m, i)
        first = date(m // 12, m % 12 + 1, 1)
        lo = max(first, self.H)
        close = lo + timedelta(days=rng.randint(0, max(0, (month_end(first) - lo).days)))
        opp_created_d = close - timedelta(days=rng.randint(20, 90))
        t_opp = ts(opp_created_d, 10)
        k = bisect.bisect_left(self.acc_created, t_opp - DAY)
        if k == 0:
            return
        acc = self.accounts[rng.randrange(k)]
        le = LE_BY_ID[acc.le]
        cur = le["currency"]
        model = rng.choices(list(PSA_BILLING_TYPE), weights=MODEL_WEIGHTS)[0]
        recurring = model in ("Retainer", "Subscription")
        term = rng.choice((6, 12, 12, 24)) if recurring else rng.choice((3, 6, 9))
        monthly = int(round(rng.choice((4000, 6000, 8000, 12000, 15000)) * PRICE_FACTOR[cur] * 100))
        won = rng.random() < 0.72
        terms_name = rng.choices(list(PAYMENT_TERMS), weights=(70, 20, 10))[0]
        planned_start = close + timedelta(days=7)
        planned_end = add_months(planned_start, term) - timedelta(days=1)
        prod = PRODUCT_BY_MODEL[model]
        prod_id = sf_id("Product2", prod)
        prod_code = PRODUCTS[prod - 1][2]
        charge, btype, freq = PRODUCTS[prod - 1][4:7]

        # Quote lines of the primary quote: (description, role, qty, unit cents, total cents).
        lines: list[tuple[str, str | None, float, int, int]] = []
        if model == "Time and Materials":
            for role, _ in rng.sample(ROLES, rng.randint(1, 3)):
                hours = rng.choice((40, 60, 80, 120)) * term
                _, rate = self.rate_card(acc.le, role, planned_start.year)
                lines.append((f"{role} time", role, float(hours), rate, hours * rate))
        elif model == "Fixed Fee":
            fee = monthly * term
            weights = [rng.randint(1, 3) for _ in range(rng.randint(2, 4))]
            amounts = [fee * w // sum(weights) for w in weights]
            amounts[-1] += fee - sum(amounts)
            for j, a in enumerate(amounts):
                lines.append((f"Milestone {j + 1}: {('Discovery', 'Design', 'Build', 'Rollout')[j]}", None, 1.0, a, a))
        else:
            lines.append((PRODUCTS[prod - 1][1], None, 1.0, monthly, monthly * term))
        net = sum(li[4] for li in lines)

        span = (close - opp_created_d).days
        t_qual = ts(opp_created_d + timedelta(days=span // 4), 11)
        proposal_d = opp_created_d + timedelta(days=span // 2)
        t_prop = ts(proposal_d, 10)
        t_nego = ts(opp_created_d + timedelta(days=span * 4 // 5), 15)
        t_close = ts(close, 17)
        alt = rng.random() < 0.3
        alt_delete = rng.randint(1, 20) if rng.random() < 0.5 else None
        dup_opp = rng.random() < 0.04
        dup_opp_delete = rng.randint(1, 5)
        t_approve = ts(proposal_d + timedelta(days=rng.randint(2, 5)), 14)

        b = Buf()
        opp_id = self.sfid("Opportunity")
        opp_name = f"{acc.name} - {model} {close:%Y-%m}"
        opp = self.sf(b.deal, "Opportunity", t_opp, Id=opp_id, AccountId=acc.sf_id, Name=opp_name,
                      StageName="Prospecting", IsClosed=False, IsWon=False, CloseDate=_d(close),
                      Amount=_amount(net), Probability=10, CurrencyIsoCode=cur, Type="New Business",
                      pse__Is_Services_Opportunity__c=True, Billing_Model__c=model)
        opp.update(t_qual, {"StageName": "Qualification", "Probability": 20})
        quote_fields = dict(SBQQ__Account__c=acc.sf_id, SBQQ__Opportunity2__c=opp_id, SBQQ__Type__c="Quote",
                            SBQQ__StartDate__c=_d(planned_start), SBQQ__EndDate__c=_d(planned_end),
                            SBQQ__SubscriptionTerm__c=term, SBQQ__BillingFrequency__c=BILLING_FREQUENCY[model],
                            SBQQ__PaymentTerms__c=terms_name, Billing_Model__c=model, CurrencyIsoCode=cur,
                            SBQQ__ExpirationDate__c=_d(proposal_d + timedelta(days=60)))
        if alt:  # an alternative the customer did not take; often deleted after the deal closed
            aq_id = self.sfid("SBQQ__Quote__c")
            t_alt = t_prop - 3 * DAY
            alt_net = sum(int(round(li[4] * 1.1)) for li in lines)
            aq = self.sf(b.deal, "SBQQ__Quote__c", t_alt, Id=aq_id, Name=f"Q-{self.nid('quote_number'):05d}",
                         SBQQ__Primary__c=False, SBQQ__Status__c="Draft",
                         SBQQ__NetAmount__c=_amount(alt_net), SBQQ__CustomerAmount__c=_amount(alt_net),
                         **quote_fields)
            alt_lines = [self._quote_line(b.deal, t_alt, aq_id, li, prod_id, prod_code, charge, btype, freq, cur,
                                          planned_start, planned_end, term, factor=1.1) for li in lines]
            if alt_delete is not None:
                t_del = t_close + alt_delete * DAY
                aq.delete(t_del)
                for ql in alt_lines:
                    ql.delete(t_del)
        q_id = self.sfid("SBQQ__Quote__c")
        quote = self.sf(b.deal, "SBQQ__Quote__c", t_prop, Id=q_id, Name=f"Q-{self.nid('quote_number'):05d}",
                        SBQQ__Primary__c=True, SBQQ__Status__c="Draft", SBQQ__NetAmount__c=_amount(net),
                        SBQQ__CustomerAmount__c=_amount(net), **quote_fields)
        q_lines = [self._quote_line(b.deal, t_prop, q_id, li, prod_id, prod_code, charge, btype, freq, cur,
                                    planned_start, planned_end, term) for li in lines]
        quote.update(t_approve, {"SBQQ__Status__c": "Approved"})
        opp.update(t_prop, {"StageName": "Proposal", "Probability": 50, "SBQQ__PrimaryQuote__c": q_id})
        for ql in q_lines:  # the primary quote syncs its lines to the opportunity
            self.sf(b.deal, "OpportunityLineItem", t_approve, Id=self.sfid("OpportunityLineItem"),
                    OpportunityId=opp_id, Product2Id=prod_id, ProductCode=prod_code,
                    Quantity=ql.fields["SBQQ__Quantity__c"], UnitPrice=ql.fields["SBQQ__NetPrice__c"],
                    ListPrice=ql.fields["SBQQ__ListPrice__c"], TotalPrice=ql.fields["SBQQ__NetTotal__c"],
                    ServiceDate=_d(planned_start), SBQQ__QuoteLine__c=ql.key, CurrencyIsoCode=cur)
        opp.update(t_nego, {"StageName": "Negotiation", "Probability": 75})
        opp.update(t_close, {"StageName": "Closed Won" if won else "Closed Lost", "IsClosed": True, "IsWon": won,
                             "Probability": 100 if won else 0})
        quote.update(t_close, {"SBQQ__Status__c": "Accepted" if won else "Rejected"})
        if dup_opp:  # entered twice by mistake, deleted a few days later
            dup = self.sf(b.deal, "Opportunity", t_opp + DAY, Id=self.sfid("Opportunity"), AccountId=acc.sf_id,
                          Name=opp_name, StageName="Prospecting", IsClosed=False, IsWon=False, CloseDate=_d(close),
                          Amount=_amount(net), Probability=10, CurrencyIsoCode=cur, Type="New Business",
                          pse__Is_Services_Opportunity__c=True, Billing_Model__c=model)
            dup.delete(t_opp + (1 + dup_opp_delete) * DAY)
        if not won:
            self.commit(b.deal)
            return

        # ------------------------------------------------------------------ contract and amendments
        start = close + timedelta(days=rng.randint(3, 20))
        t_act = ts(start, 11)
        end = add_months(start, term) - timedelta(days=1)
        amend = None
        if term >= 6 and rng.random() < 0.25:
            k = rng.randint(2, term - 2)
            a_date = add_months(start, k) + timedelta(days=rng.randint(0, 10))
            kind = rng.choice(("increase", "extend")) if recurring else "increase"
            factor = rng.choice((1.25, 1.5, 0.8))
            lead = rng.randint(10, 20)
            amend = {"date": a_date, "kind": kind, "factor": factor, "lead": lead}
        t_project = ts(start + timedelta(days=rng.randint(0, 10)), 12)
        removal, u_deal = self.dec.deal(opp_id)
        contract_ok = not self.dec.deal_reserved_for_contract(u_deal)
        project_ok = not self.dec.deal_reserved_for_project(u_deal)

        contract_id = self.sfid("Contract")
        contract_amount, freq_c, terms_c = net, BILLING_FREQUENCY[model], terms_name
        if contract_ok and self.dec.hit("contract_terms_differ_from_quote", contract_id):
            variant = ("amount", "payment_terms", "billing_frequency")[
                self.dec.pick("contract_terms_differ_from_quote", contract_id, 3)]
            if variant == "amount":
                contract_amount = net * 11 // 10
            elif variant == "payment_terms":
                terms_c = "Net 60" if terms_name != "Net 60" else "Net 30"
            else:
                freq_c = "Quarterly"
            b.ledger_active.append(entry("contract_terms_differ_from_quote", contract_id, {
                "contract_id": contract_id, "quote_id": q_id, "opportunity_id": opp_id, "field": variant},
                _d(start)))
        contract = self.sf(b.deal, "Contract", ts(close, 18), Id=contract_id, AccountId=acc.sf_id,
                           ContractNumber=f"{self.nid('contract_number'):08d}", Status="Draft",
                           StartDate=_d(start), EndDate=_d(end), ContractTerm=term, CurrencyIsoCode=cur,
                           SBQQ__Opportunity__c=opp_id, Billing_Model__c=model,
                           Contract_Amount__c=_amount(contract_amount), Billing_Frequency__c=freq_c,
                           Legal_Entity__c=acc.le, SBQQ__Quote__c=q_id, Payment_Terms__c=terms_c,
                           Contract_Version__c=1)
        activated = removal != "won_opportunity_without_contract"
        if activated:
            contract.update(t_act, {"Status": "Activated", "ActivatedDate": sf_ts(t_act)})
        if contract_ok:
            self.contract_pool[(acc.le, BILLING_SYSTEM[model])].append((t_act, contract_id, acc.sf_id))

        final_term, new_monthly, amend_idx, extra_ms = term, monthly, None, None
        if amend is not None:
            a_t = ts(amend["date"], 12)
            if recurring and amend["kind"] == "increase":
                new_monthly = int(round(monthly * amend["factor"]))
                amend_idx = next(j for j in range(term + 1) if j == term or add_months(start, j) >= amend["date"])
                delta = (new_monthly - monthly) * (term - amend_idx)
                a_lines = [(f"{PRODUCTS[prod - 1][1]} (change)", None, 1.0, new_monthly - monthly, delta)]
            elif recurring:
                final_term = term + 3
                delta = monthly * 3
                a_lines = [(f"{PRODUCTS[prod - 1][1]} (extension)", None, 1.0, monthly, delta)]
            elif model == "Time and Materials":
                role = lines[0][1]
                hours = int(lines[0][2]) // 4
                delta = hours * lines[0][3]
                a_lines = [(f"{role} time (additional)", role, float(hours), lines[0][3], delta)]
            else:
                delta = net // 5
                extra_ms = delta
                a_lines = [("Milestone: additional deliverable", None, 1.0, delta, delta)]
            end = add_months(start, final_term) - timedelta(days=1)
            a_opp_t = a_t - amend["lead"] * DAY
            a_opp_id = self.sfid("Opportunity")
            a_opp = self.sf(b.active, "Opportunity", a_opp_t, Id=a_opp_id, AccountId=acc.sf_id,
                            Name=f"{acc.name} - {model} amendment {amend['date']:%Y-%m}", StageName="Proposal",
                            IsClosed=False, IsWon=False, CloseDate=_d(amend["date"]), Amount=_amount(delta),
                            Probability=50, CurrencyIsoCode=cur, Type="Amendment",
                            pse__Is_Services_Opportunity__c=True, SBQQ__AmendedContract__c=contract_id,
                            Billing_Model__c=model)
            aq_id = self.sfid("SBQQ__Quote__c")
            aq = self.sf(b.active, "SBQQ__Quote__c", a_opp_t + 2 * DAY, Id=aq_id,
                         Name=f"Q-{self.nid('quote_number'):05d}", SBQQ__Account__c=acc.sf_id,
                         SBQQ__Opportunity2__c=a_opp_id, SBQQ__Primary__c=True, SBQQ__Status__c="Approved",
                         SBQQ__Type__c="Amendment", SBQQ__StartDate__c=_d(amend["date"]), SBQQ__EndDate__c=_d(end),
                         SBQQ__SubscriptionTerm__c=final_term, SBQQ__NetAmount__c=_amount(delta),
                         SBQQ__CustomerAmount__c=_amount(delta), SBQQ__BillingFrequency__c=BILLING_FREQUENCY[model],
                         SBQQ__PaymentTerms__c=terms_name, SBQQ__MasterContract__c=contract_id,
                         Billing_Model__c=model, Contract_Version__c=2, CurrencyIsoCode=cur)
            a_opp.update(a_opp_t + 2 * DAY, {"SBQQ__PrimaryQuote__c": aq_id})
            for li in a_lines:
                self._quote_line(b.active, a_opp_t + 2 * DAY, aq_id, li, prod_id, prod_code, charge, btype, freq,
                                 cur, amend["date"], end, final_term)
            a_opp.update(a_t, {"StageName": "Closed Won", "IsClosed": True, "IsWon": True, "Probability": 100})
            aq.update(a_t, {"SBQQ__Status__c": "Accepted"})
            if activated:
                contract.update(a_t, {"Contract_Amount__c": _amount(contract_amount + delta),
                                      "Contract_Version__c": 2, "EndDate": _d(end), "ContractTerm": final_term})
            amend["t"] = a_t

        # ------------------------------------------------------------------ project and delivery
        # Drawn even when it never happens (removal kinds), so ids and streams stay the same.
        self._delivery(rng, b, acc, model, term, final_term, monthly, new_monthly, amend, amend_idx, extra_ms,
                       lines, start, end, t_project, t_act, contract_id, opp_id, terms_name, project_ok)
        if removal == "won_opportunity_without_contract":
            self.commit(b.deal)
            self.ledger.append(entry("won_opportunity_without_contract", opp_id, {
                "opportunity_id": opp_id, "account_id": acc.sf_id, "contract_id": contract_id},
                _d(close + timedelta(days=CONTRACT_GRACE_DAYS + 1))))
        elif removal == "contract_activated_without_project":
            self.commit(b.deal + b.active)
            self.ledger.extend(b.ledger_active)
            self.ledger.append(entry("contract_activated_without_project", contract_id, {
                "contract_id": contract_id, "opportunity_id": opp_id, "account_id": acc.sf_id},
                _d(start + timedelta(days=PROJECT_GRACE_DAYS + 1))))
        else:
            self.commit(b.deal + b.active + b.project)
            self.ledger.extend(b.ledger_active + b.ledger_project)

    def _quote_line(self, buf: list, t: int, quote_id: str, li: tuple, prod_id: str, prod_code: str, charge: str,
                    btype: str, freq: str, cur: str, start: date, end: date, term: int, factor: float = 1.0) -> Rec:
        desc, role, qty, unit_c, total = li  # a recurring line's total is price x quantity x term
        unit_c, total = int(round(unit_c * factor)), int(round(total * factor))
        return self.sf(buf, "SBQQ__QuoteLine__c", t, Id=self.sfid("SBQQ__QuoteLine__c"),
                       Name=f"QL-{self.nid('quote_line_number'):07d}", SBQQ__Quote__c=quote_id,
                       SBQQ__Product__c=prod_id, SBQQ__ProductCode__c=prod_code, SBQQ__Description__c=desc,
                       SBQQ__Quantity__c=qty, SBQQ__ListPrice__c=_amount(unit_c), SBQQ__NetPrice__c=_amount(unit_c),
                       SBQQ__NetTotal__c=_amount(total), SBQQ__StartDate__c=_d(start), SBQQ__EndDate__c=_d(end),
                       SBQQ__SubscriptionTerm__c=term, SBQQ__ChargeType__c=charge, SBQQ__BillingType__c=btype,
                       SBQQ__BillingFrequency__c=freq, Resource_Role__c=role, CurrencyIsoCode=cur)

    def _delivery(self, rng: Any, b: Buf, acc: Account, model: str, term: int, final_term: int, monthly: int,
                  new_monthly: int, amend: dict | None, amend_idx: int | None, extra_ms: int | None,
                  lines: list, start: date, end: date, t_project: int, t_act: int, contract_id: str, opp_id: str,
                  terms_name: str, project_ok: bool) -> None:
        le = LE_BY_ID[acc.le]
        cur = le["currency"]
        dec = self.dec
        pb = b.project
        proj_id = self.sfid("pse__Proj__c")
        orig_end = add_months(start, term) - timedelta(days=1)
        t_close_proj = ts(end + timedelta(days=PROJECT_GRACE_DAYS), 10)
        pool = self.resources[acc.le]
        team = rng.sample(pool, k=min(len(pool), rng.randint(1, 3) * self.team_factor))
        managers = [r for r in pool if r["role"] in ("Manager", "Director")] or pool
        pm = managers[rng.randrange(len(managers))]
        le_id, nexus, btype_psa = acc.le, acc.nexus, PSA_BILLING_TYPE[model]
        if project_ok and dec.hit("project_missing_legal_entity_or_nexus", proj_id):
            variant = ("legal_entity", "tax_nexus")[dec.pick("project_missing_legal_entity_or_nexus", proj_id, 2)]
            if variant == "legal_entity":
                le_id = None
            else:
                nexus = None
            b.ledger_project.append(entry("project_missing_legal_entity_or_nexus", proj_id, {
                "project_id": proj_id, "contract_id": contract_id, "missing": variant}, _d(date_of(t_project))))
        if project_ok and dec.hit("project_billing_type_mismatch", proj_id):
            btype_psa = "Time and Materials" if btype_psa == "Fixed Price" else "Fixed Price"
            b.ledger_project.append(entry("project_billing_type_mismatch", proj_id, {
                "project_id": proj_id, "contract_id": contract_id, "billing_model": model,
                "billing_type": btype_psa}, _d(date_of(t_project))))
        proj_name = f"{acc.name} {model} {start:%Y-%m}"
        project = self.sf(pb, "pse__Proj__c", t_project, Id=proj_id, Name=proj_name,
                          pse__Project_ID__c=f"PRJ-{self.nid('project_number'):06d}", pse__Account__c=acc.sf_id,
                          pse__Opportunity__c=opp_id, pse__Billing_Type__c=btype_psa, pse__Stage__c="In Progress",
                          pse__Is_Active__c=True, pse__Is_Billable__c=True, pse__Start_Date__c=_d(start),
                          pse__End_Date__c=_d(orig_end), Legal_Entity__c=le_id, CurrencyIsoCode=cur,
                          Contract__c=contract_id, pse__Project_Type__c="Customer Project", Tax_Nexus__c=nexus,
                          pse__Project_Manager__c=pm["id"])
        if amend is not None and end != orig_end:
            project.update(amend["t"], {"pse__End_Date__c": _d(end)})
        project.update(t_close_proj, {"pse__Stage__c": "Completed", "pse__Is_Active__c": False})
        # NetSuite mirrors the project as a job once the entity's master data lives there.
        job_id = self.nsid("job")
        live = self.ns_live[acc.le]
        t_job = max(t_project + 14 * 3600, live or 0)
        job = self.ns(pb, "job", t_job, id=job_id, entityid=project.fields["pse__Project_ID__c"],
                      companyname=proj_name, customer=acc.ns_id, subsidiary=le["subsidiary_id"],
                      currency=le["currency_id"], externalid=proj_id, startdate=_d(start),
                      projectedenddate=_d(end), jobbillingtype="TM" if model == "Time and Materials" else "FF",
                      entitystatus="In Progress", datecreated=ns_ts(t_job), lastmodifieddate="")
        job.update(max(t_close_proj + DAY, t_job + 60), {"entitystatus": "Closed"})

        billable = model == "Time and Materials"
        items: list[dict[str, Any]] = []  # billable items: timecard splits and expenses
        inject_time = project_ok and dec.hit("time_on_inactive_or_temporary_project", proj_id)
        inj_hn, inj_sn = self.nid("pse__Timecard_Header__c"), self.nid("pse__Timecard__c")  # reserved
        inj_header, inj_split = sf_id("pse__Timecard_Header__c", inj_hn), sf_id("pse__Timecard__c", inj_sn)
        assignments = []
        for res in team:
            asg_id = self.sfid("pse__Assignment__c")
            rc_id, rate = self.rate_card(acc.le, res["role"], start.year)
            bill_rate = rate
            if billable and project_ok and dec.hit("bill_rate_differs_from_rate_card", asg_id):
                bill_rate = int(round(rate * (1.1 if dec.pick("bill_rate_differs_from_rate_card", asg_id, 2) else 0.9)))
            weekly = [rng.choice((8, 16, 24, 32, 40)) for _ in range(((end - start).days + 13) // 7)]
            self.sf(pb, "pse__Assignment__c", t_project, Id=asg_id, Name=f"{res['role']} on {proj_name}"[:80],
                    pse__Project__c=proj_id, pse__Resource__c=res["id"], pse__Rate_Card__c=rc_id,
                    pse__Role__c=res["role"], pse__Bill_Rate__c=_amount(bill_rate),
                    pse__Cost_Rate_Amount__c=round(rate * COST_RATIO / 100, 2), pse__Is_Billable__c=billable,
                    pse__Start_Date__c=_d(start), pse__End_Date__c=_d(end),
                    pse__Scheduled_Hours__c=float(sum(weekly)), pse__Status__c="Scheduled",
                    CurrencyIsoCode=cur).update(t_close_proj, {"pse__Status__c": "Closed"})
            assignments.append((asg_id, res, rc_id, rate, bill_rate, weekly))

        # Weekly timecards, split at month ends (PSA bills from the splits).
        week0 = start - timedelta(days=start.weekday())
        for asg_id, res, rc_id, rate, bill_rate, weekly in assignments:
            for w, hours in enumerate(weekly):
                monday = week0 + timedelta(days=7 * w)
                if monday > end:
                    break
                days = [monday + timedelta(days=j) for j in range(5)
                        if start <= monday + timedelta(days=j) <= end]
                appr_off = rng.randint(1, 3)
                appr_at = rng.randint(9 * 60, 18 * 60 - 1)  # minute of the day the approver clicks
                late = rng.random() < 0.05  # approved offline, synced days later
                lag = rng.randint(2, 4)
                if not days:
                    continue
                per_day = hours * 2  # tenths of an hour per working day (hours / 5)
                sunday = monday + timedelta(days=6)
                t_sub = max(ts(sunday, 18), t_project + 7200)  # nobody books before the project exists
                t_appr = max(ts(sunday + timedelta(days=appr_off), 0, appr_at), t_sub + DAY)
                v_appr = t_appr + lag * DAY if late else t_appr
                hdr_splits = self._timecard(pb, items, proj_id, res, asg_id, bill_rate, billable, cur, monday, days,
                                            per_day, t_sub, t_appr, v_appr)
                if billable and bill_rate != rate:
                    for sp_id in hdr_splits:
                        b.ledger_project.append(entry("bill_rate_differs_from_rate_card", sp_id, {
                            "timecard_id": sp_id, "assignment_id": asg_id, "rate_card_id": rc_id,
                            "project_id": proj_id}, _d(date_of(t_sub))))

        if inject_time:
            variant = "inactive" if dec.pick("time_on_inactive_or_temporary_project", proj_id, 2) == 0 else "temporary"
            res = team[0]
            if variant == "inactive":
                day = date_of(t_close_proj) + timedelta(days=7 + 7 * dec.pick("inject-week", proj_id, 3))
                day -= timedelta(days=day.weekday())  # a Monday after the project closed
                target = proj_id
            else:
                span = max(0, (end - start).days)
                day = start + timedelta(days=int(unit(self.seed, "inject-day", proj_id) * (span + 1)))
                day -= timedelta(days=day.weekday())
                day = max(day, start - timedelta(days=start.weekday()))
                target = self.temp_project[acc.le]
            t_sub = ts(day + timedelta(days=6), 18)
            # Six hours on the Monday, submitted and never approved (nobody can approve time there).
            common = {"project": target, "resource": res["id"], "assignment": None, "currency": cur, "per_day": 60,
                      "mask": 1, "tenths": 60, "rate": None, "amount": 0, "billable": 0, "t_sub": t_sub,
                      "t_appr": None, "v_appr": None}
            pb.append(("salesforce", "pse__Timecard_Header__c", {**common, "n": inj_hn, "monday": day_number(day)}))
            pb.append(("salesforce", "pse__Timecard__c", {**common, "n": inj_sn, "header": inj_hn,
                                                          "start": day_number(day), "end": day_number(day)}))
            b.ledger_project.append(entry("time_on_inactive_or_temporary_project", inj_split, {
                "timecard_id": inj_split, "timecard_header_id": inj_header, "project_id": target,
                "customer_project_id": proj_id, "reason": variant}, _d(date_of(t_sub))))

        # Expenses (billable pass-through on T&M and fixed-fee work).
        if model in ("Time and Materials", "Fixed Fee"):
            mon = month_start(start)
            while mon <= end:
                draws = [rng.random() for _ in range(10)]
                if draws[0] < 0.35:
                    for j in range(1 + (draws[1] < 0.4)):
                        lo_d, hi_d = max(mon, start), min(month_end(mon), end)
                        e_date = lo_d + timedelta(days=int(draws[2 + j] * ((hi_d - lo_d).days + 1)))
                        etype, lo_a, hi_a = EXPENSE_TYPES[int(draws[4 + j] * len(EXPENSE_TYPES))]
                        amount = int((lo_a + draws[6 + j] * (hi_a - lo_a)) * 100)
                        asg_id, res = assignments[j % len(assignments)][0], assignments[j % len(assignments)][1]
                        t_e = max(ts(e_date + timedelta(days=1 + j), 19), t_project + 7200)
                        t_ea = max(ts(e_date + timedelta(days=3 + j * 2), 0, 9 * 60 + int(draws[6 + j] * 500)),
                                   t_e + DAY)
                        v_ea = t_ea + DAY * (2 + j) if draws[8 + j] < 0.05 else t_ea  # synced late
                        exp_id = self.sfid("pse__Expense__c")
                        rec = self.sf(pb, "pse__Expense__c", t_e, Id=exp_id, Name=f"EXP-{exp_id[-9:-3]}",
                                      pse__Project__c=proj_id, pse__Resource__c=res["id"], pse__Assignment__c=asg_id,
                                      pse__Expense_Date__c=_d(e_date), pse__Type__c=etype,
                                      pse__Amount__c=_amount(amount), pse__Billing_Amount__c=_amount(amount),
                                      pse__Billable__c=True, pse__Status__c="Submitted", pse__Approved__c=False,
                                      pse__Billed__c=False, CurrencyIsoCode=cur)
                        rec.update(t_ea, {"pse__Status__c": "Approved", "pse__Approved__c": True,
                                          "Approved_Date__c": _d(date_of(t_ea))}, v_ea)
                        items.append({"rec": rec, "cat": "Expense", "id": exp_id, "vis": v_ea, "t_appr": t_ea,
                                      "end": e_date, "amount": amount, "qty": 1.0, "unit": amount,
                                      "group": ("Expense", etype, amount), "desc": f"Expenses: {etype}"})
                mon = next_month(mon)

        # Milestones (fixed fee): complete, approve, bill each on its own billing event.
        milestones = []
        if model == "Fixed Fee":
            ms_lines = [(li[0], li[4]) for li in lines]
            if extra_ms is not None:
                ms_lines.append(("Milestone: additional deliverable", extra_ms))
            n = len(ms_lines)
            span = (end - start).days
            for j, (name, amount) in enumerate(ms_lines):
                ms_id = self.sfid("pse__Milestone__c")
                extra = extra_ms is not None and j == n - 1
                target = end - timedelta(days=5) if extra else start + timedelta(days=span * (j + 1) // len(lines))
                actual = min(end, max(start + timedelta(days=1), target + timedelta(days=rng.randint(-3, 7))))
                t_ms = amend["t"] if extra else t_project
                t_done = max(ts(actual, 15), t_ms + DAY)
                t_ok = t_done + DAY * rng.randint(1, 3) - 5 * 3600
                t_be = ts(date_of(t_ok) + timedelta(days=rng.randint(1, 5)), 6)
                rec = self.sf(pb, "pse__Milestone__c", t_ms, Id=ms_id, Name=name[:80], pse__Project__c=proj_id,
                              pse__Milestone_Amount__c=_amount(amount), pse__Target_Date__c=_d(target),
                              pse__Status__c="Open", pse__Approved__c=False, pse__Approved_for_Billing__c=False,
                              pse__Billed__c=False, CurrencyIsoCode=cur)
                rec.update(t_done, {"pse__Status__c": "Complete", "pse__Actual_Date__c": _d(date_of(t_done))})
                rec.update(t_ok, {"pse__Approved__c": True, "pse__Approved_for_Billing__c": True})
                milestones.append({"rec": rec, "id": ms_id, "amount": amount, "t_be": t_be, "done": t_done,
                                   "name": name})

        if BILLING_SYSTEM[model] == "netsuite":
            self._psa_billing(b, acc, proj_id, contract_id, terms_name, items, milestones, start, project_ok)
        else:
            self._stripe_billing(b, acc, model, proj_id, t_project, contract_id, start, final_term, monthly,
                                 new_monthly, amend, amend_idx, terms_name, t_act, end, project_ok)

    def _timecard(self, pb: list, items: list, proj_id: str, res: dict, asg_id: str, bill_rate: int,
                  billable: bool, cur: str, monday: date, days: list[date], per_day: int, t_sub: int, t_appr: int,
                  v_appr: int) -> list[str]:
        """A weekly timecard and its splits (one per month the week's days fall in), as columnar rows."""
        hdr_n = self.nid("pse__Timecard_Header__c")
        by_month: dict[date, list[date]] = {}
        for d in days:
            by_month.setdefault(month_start(d), []).append(d)
        hdr_tenths = hdr_cents = hdr_mask = 0
        ids = []
        common = {"project": proj_id, "resource": res["id"], "assignment": asg_id, "currency": cur,
                  "per_day": per_day, "rate": bill_rate, "billable": int(billable), "t_sub": t_sub, "t_appr": t_appr,
                  "v_appr": v_appr}
        for mdays in by_month.values():
            tenths = per_day * len(mdays)
            cents = int(round(tenths * bill_rate / 10)) if billable else 0
            mask = sum(1 << d.weekday() for d in mdays)
            hdr_tenths, hdr_cents, hdr_mask = hdr_tenths + tenths, hdr_cents + cents, hdr_mask | mask
            sp_n = self.nid("pse__Timecard__c")
            sp_id = sf_id("pse__Timecard__c", sp_n)
            ids.append(sp_id)
            row = {**common, "n": sp_n, "header": hdr_n, "start": day_number(mdays[0]), "end": day_number(mdays[-1]),
                   "mask": mask, "tenths": tenths, "amount": cents}
            pb.append(("salesforce", "pse__Timecard__c", row))
            if billable:
                items.append({"rec": row, "cat": "Timecard", "id": sp_id, "n": sp_n, "vis": v_appr, "t_appr": t_appr,
                              "end": mdays[-1], "amount": cents, "qty": tenths / 10, "unit": bill_rate,
                              "group": ("Timecard", res["role"], bill_rate), "desc": f"{res['role']} time"})
        pb.append(("salesforce", "pse__Timecard_Header__c", {
            **common, "n": hdr_n, "monday": day_number(monday), "mask": hdr_mask, "tenths": hdr_tenths,
            "amount": hdr_cents}))
        return ids

    # ------------------------------------------------------------------------------- billing
    def _psa_billing(self, b: Buf, acc: Account, proj_id: str, contract_id: str, terms_name: str,
                     items: list[dict], milestones: list[dict], start: date, project_ok: bool) -> None:
        """PSA billing: monthly runs (3rd of the month) for approved billable items, one event per milestone."""
        dec = self.dec
        events: list[tuple[int, list[dict], str | None]] = []  # (generated at, items, milestone id)
        pending = sorted(items, key=lambda it: (it["end"], it["id"]))
        mon = next_month(month_start(start))
        while pending:
            run_t = ts(mon + timedelta(days=2), 6)
            group = [it for it in pending if it["vis"] <= run_t and it["end"] < mon]
            if group:
                events.append((run_t, group, None))
                taken = {it["id"] for it in group}
                pending = [it for it in pending if it["id"] not in taken]
            mon = next_month(mon)
        for ms in milestones:
            events.append((ms["t_be"], [{"rec": ms["rec"], "cat": "Milestone", "id": ms["id"], "amount": ms["amount"],
                                         "qty": 1.0, "unit": ms["amount"], "group": ("Milestone", ms["name"]),
                                         "desc": ms["name"], "end": date_of(ms["done"]), "t_appr": ms["done"]}],
                           ms["id"]))
        events.sort(key=lambda e: (e[0], e[1][0]["id"]))
        for run_t, group, ms_id in events:
            be_id = self.sfid("pse__Billing_Event__c")
            bei_ids = [self.nid("pse__Billing_Event_Item__c") for _ in group]
            invoice_ok = project_ok
            if ms_id is not None:
                never, reserved = dec.milestone(ms_id)
                invoice_ok = project_ok and not reserved
                if never and project_ok:
                    ms = group[0]
                    b.ledger_project.append(entry("completed_milestone_not_billed", ms_id, {
                        "milestone_id": ms_id, "project_id": proj_id},
                        _d(date_of(ms["t_appr"]) + timedelta(days=MILESTONE_GRACE_DAYS + 1))))
                    # Drawn but thrown away: the ids it would have taken stay taken.
                    self._billing_event(Buf(), acc, proj_id, contract_id, terms_name, be_id, run_t,
                                        [(group[0], bei_ids[0])], len(group), False, dry=True)
                    continue
            kept = []
            for j, it in enumerate(group):
                if j > 0 and project_ok and dec.hit("approved_item_not_billed", it["id"]):
                    b.ledger_project.append(entry("approved_item_not_billed", it["id"], {
                        "item_id": it["id"], "item_type": "timecard" if it["cat"] == "Timecard" else "expense",
                        "project_id": proj_id},
                        _d(date_of(it["t_appr"]) + timedelta(days=BILLING_GRACE_DAYS + 1))))
                    continue
                kept.append((it, bei_ids[j]))
            n_groups = len({it["group"] for it in group})
            self._billing_event(b, acc, proj_id, contract_id, terms_name, be_id, run_t, kept, n_groups, invoice_ok)

    def _billing_event(self, b: Buf, acc: Account, proj_id: str, contract_id: str, terms_name: str, be_id: str,
                       run_t: int, kept: list[tuple[dict, str]], n_groups: int, invoice_ok: bool,
                       dry: bool = False) -> None:
        """One billing event and its invoice. ``n_groups`` invoice lines are reserved whatever was left
        out of the event, and a ``dry`` run only takes the ids (its records are thrown away)."""
        pb = b.project
        le = LE_BY_ID[acc.le]
        cur = le["currency"]
        r = rng_for(self.seed, "be", be_id)
        t_rel = ts(date_of(run_t) + timedelta(days=r.randint(1, 2)), 10)
        t_inv = ts(date_of(t_rel) + timedelta(days=r.randint(0, 1)), 20)
        t_wb = ts(date_of(t_inv) + timedelta(days=1 + r.randint(0, 1)), 7)
        total = sum(it["amount"] for it, _ in kept)
        be = self.sf(pb, "pse__Billing_Event__c", run_t, Id=be_id, Name=f"BE-{be_id[-9:-3]}", pse__Project__c=proj_id,
                     pse__Date__c=_d(date_of(run_t)), pse__Status__c="Draft", pse__Is_Released__c=False,
                     pse__Invoiced__c=False, pse__Summary_Amount__c=_amount(total), CurrencyIsoCode=cur)
        be.update(t_rel, {"pse__Status__c": "Released", "pse__Is_Released__c": True})
        be_n = int(be_id[3:15])
        for it, bei_n in kept:
            cat = it["cat"]
            pb.append(("salesforce", "pse__Billing_Event_Item__c", {
                "n": bei_n, "event": be_n, "project": proj_id, "category": CATEGORIES.index(cat),
                "split": it["n"] if cat == "Timecard" else None, "object": None if cat == "Timecard" else it["id"],
                "day": day_number(it["end"]), "qty": int(round(it["qty"] * 100)), "unit": it["unit"],
                "amount": it["amount"], "description": it["desc"], "currency": cur, "t": run_t}))
            if dry:
                continue
            if isinstance(it["rec"], Rec):
                it["rec"].update(t_rel, {"pse__Billing_Event_Item__c": sf_id("pse__Billing_Event_Item__c", bei_n),
                                         "pse__Billed__c": True})
            else:  # a timecard split's columnar row
                it["rec"]["t_rel"], it["rec"]["bei"] = t_rel, bei_n
        # Invoice lines: one per (category, role or type, unit price).
        groups: dict[tuple, list[dict]] = {}
        for it, _ in kept:
            groups.setdefault(it["group"], []).append(it)
        inv_lines = []
        for key, its in groups.items():
            amount = sum(i["amount"] for i in its)
            qty = round(sum(i["qty"] for i in its), 2)
            unit_c = its[0]["unit"] if key[0] == "Timecard" else amount
            inv_lines.append((its[0]["desc"], qty if key[0] == "Timecard" else 1.0, unit_c, amount))
        cutover = self.cutover[acc.le]
        inv_date = date_of(t_inv)
        days = PAYMENT_TERMS[terms_name]
        if cutover is not None and inv_date < cutover:
            number = self._legacy_invoice(pb, acc, be_id, proj_id, contract_id, inv_lines, t_inv, days)
        else:
            number = self._ns_invoice(b, acc, be_id, proj_id, contract_id, inv_lines, t_inv, days, terms_name,
                                      n_groups, invoice_ok)
        be.update(t_wb, {"pse__Status__c": "Invoiced", "pse__Invoiced__c": True, "pse__Invoice_Number__c": number,
                         "pse__Invoice_Date__c": _d(inv_date)})

    def _tax(self, tax_code: str | None, net: int) -> int:
        if tax_code is None:
            return 0
        return int(round(net * TAX_BY_ID[tax_code][3] / 100))

    def _ns_invoice(self, b: Buf, acc: Account, be_id: str, proj_id: str, contract_id: str, inv_lines: list,
                    t_inv: int, days: int, terms_name: str, n_groups: int, eligible: bool) -> str:
        dec = self.dec
        pb = b.project
        le = LE_BY_ID[acc.le]
        inv_id = self.nsid("transaction")
        number = f"INV{10000 + self.nid('invoice_number')}"
        slots = [self.nsid("transactionline") for _ in range(n_groups + 2)]
        line_ids = slots[:len(inv_lines) + 1] + slots[-1:]
        dup_id = self.nsid("transaction")  # reserved for a second invoice of the same billing event
        dup_number = f"INV{10000 + self.nid('invoice_number')}"
        dup_slots = [self.nsid("transactionline") for _ in range(n_groups + 2)]
        dup_line_ids = dup_slots[:len(inv_lines) + 1] + dup_slots[-1:]
        crm_id, dup_crm_id = self.sfid("ERP_Invoice__c"), self.sfid("ERP_Invoice__c")
        inv_date = date_of(t_inv)
        due = inv_date + timedelta(days=days)
        cur, sub = le["currency"], le["subsidiary_id"]
        tax_code: str | None = acc.tax_code
        lines = list(inv_lines)
        recorded_contract = contract_id
        at = _d(inv_date)
        if eligible:
            if dec.hit("invoice_currency_or_entity_mismatch", inv_id):
                entities = [x for x in LEGAL_ENTITIES if x["id"] != acc.le
                            and (self.cutover[x["id"]] is None or self.cutover[x["id"]] <= inv_date)]
                if dec.pick("invoice_currency_or_entity_mismatch", inv_id, 2) == 0 or not entities:
                    others = [c["symbol"] for c in CURRENCIES if c["symbol"] != cur]
                    cur = others[dec.pick("mismatch-currency", inv_id, len(others))]
                    variant = "currency"
                else:
                    sub = entities[dec.pick("mismatch-entity", inv_id, len(entities))]["subsidiary_id"]
                    variant = "legal_entity"
                b.ledger_project.append(entry("invoice_currency_or_entity_mismatch", inv_id, {
                    "invoice_id": inv_id, "contract_id": contract_id, "billing_event_id": be_id, "field": variant},
                    at))
            if dec.hit("invoice_missing_tax_code", inv_id):
                tax_code = None
                b.ledger_project.append(entry("invoice_missing_tax_code", inv_id, {
                    "invoice_id": inv_id, "billing_event_id": be_id}, at))
            if dec.hit("invoice_total_differs_from_billing_event", inv_id):
                desc, qty, unit_c, amount = lines[0]
                factor = 1.05 if dec.pick("invoice_total_differs_from_billing_event", inv_id, 2) else 0.95
                changed = int(round(amount * factor))
                lines[0] = (desc, qty, unit_c, changed)
                b.ledger_project.append(entry("invoice_total_differs_from_billing_event", inv_id, {
                    "invoice_id": inv_id, "billing_event_id": be_id}, at))
            if dec.hit("inconsistent_contract_id", f"netsuite:{inv_id}"):
                other = self._other_contract(acc, contract_id, t_inv, f"netsuite:{inv_id}", "netsuite")
                if other is not None:
                    recorded_contract = other
                    b.ledger_project.append(entry("inconsistent_contract_id", f"netsuite:{inv_id}", {
                        "invoice_id": inv_id, "system": "netsuite", "recorded_contract_id": other,
                        "expected_contract_id": contract_id, "project_id": proj_id}, at))
        inv = self._ns_invoice_record(pb, inv_id, number, line_ids, acc, sub, cur, lines, tax_code, t_inv, due,
                                      terms_name, recorded_contract, proj_id, be_id)
        states = self._ns_collect(b, acc, inv, inv_id, sub, cur, t_inv, due, recorded_contract, proj_id, crm_id,
                                  eligible)
        self._crm_sync(pb, crm_id, inv_id, number, acc, recorded_contract, be_id, inv_date, due, cur,
                       inv.fields["foreigntotal"], t_inv, states, stale_paid=states and states[-1].get("crm_stale"))
        if eligible and dec.hit("billing_event_invoiced_twice", inv_id):
            t_dup = ts(inv_date + timedelta(days=3 + dec.pick("dup-days", inv_id, 18)), 20)
            dup = self._ns_invoice_record(pb, dup_id, dup_number, dup_line_ids, acc, le["subsidiary_id"],
                                          le["currency"], list(inv_lines), acc.tax_code, t_dup,
                                          date_of(t_dup) + timedelta(days=days), terms_name, contract_id, proj_id,
                                          be_id)
            self._crm_sync(pb, dup_crm_id, dup_id, dup_number, acc, contract_id, be_id, date_of(t_dup),
                           date_of(t_dup) + timedelta(days=days), le["currency"], dup.fields["foreigntotal"], t_dup,
                           [])
            b.ledger_project.append(entry("billing_event_invoiced_twice", be_id, {
                "billing_event_id": be_id, "invoice_ids": [inv_id, dup_id]}, _d(date_of(t_dup))))
        return number

    def _other_contract(self, acc: Account, contract_id: str, t: int, host: str, system: str) -> str | None:
        """Another activated contract (same entity and billing system; the customer's own if it has one)."""
        pool = [c for c in self.contract_pool[(acc.le, system)] if c[0] <= t and c[1] != contract_id]
        same = [c for c in pool if c[2] == acc.sf_id]
        cands = same or pool
        if not cands:
            return None
        return cands[self.dec.pick("other-contract", host, len(cands))][1]

    def _ns_invoice_record(self, pb: list, inv_id: str, number: str, line_ids: list[str], acc: Account, sub: str,
                           cur: str, lines: list, tax_code: str | None, t_inv: int, due: date, terms_name: str,
                           contract_id: str, proj_id: str, be_id: str) -> Rec:
        net = sum(li[3] for li in lines)
        tax = self._tax(tax_code, net)
        total = net + tax
        inv_date = date_of(t_inv)
        base_cur = next(x["currency"] for x in LEGAL_ENTITIES if x["subsidiary_id"] == sub)
        inv = self.ns(pb, "transaction", t_inv, id=inv_id, tranid=number, type="CustInvc", trandate=_d(inv_date),
                      duedate=_d(due), entity=acc.ns_id, subsidiary=sub, currency=CURRENCY_ID[cur],
                      foreigntotal=_amount(total), foreignamountpaid=0.0, foreignamountunpaid=_amount(total),
                      status="Open", custbody_q2c_sf_contract_id=contract_id, custbody_q2c_sf_project_id=proj_id,
                      custbody_q2c_applied_to=None, createddate=ns_ts(t_inv), lastmodifieddate="",
                      exchangerate=self.fx(cur, base_cur, t_inv), postingperiod=self.period_id(inv_date),
                      terms=TERM_ID[terms_name], taxtotal=_amount(tax), memo=f"Billing event {be_id}",
                      custbody_q2c_billing_event_id=be_id)
        seq = 0
        self.ns(pb, "transactionline", t_inv, id=line_ids[0], transaction=inv_id, linesequencenumber=seq,
                mainline="T", taxline="F", memo=number, foreignamount=_amount(total), account="2", subsidiary=sub,
                linelastmodifieddate="")
        for j, (desc, qty, unit_c, amount) in enumerate(lines):
            self.ns(pb, "transactionline", t_inv, id=line_ids[j + 1], transaction=inv_id, linesequencenumber=j + 1,
                    mainline="F", taxline="F", memo=desc, quantity=qty, rate=_amount(unit_c),
                    foreignamount=_amount(amount), taxcode=tax_code,
                    account="7" if desc.startswith("Expenses") else "6", subsidiary=sub, linelastmodifieddate="")
        self.ns(pb, "transactionline", t_inv, id=line_ids[-1], transaction=inv_id, linesequencenumber=len(lines) + 1,
                mainline="F", taxline="T", memo="Tax", foreignamount=_amount(tax), taxcode=tax_code, account="3",
                subsidiary=sub, linelastmodifieddate="")
        return inv

    def _ns_collect(self, b: Buf, acc: Account, inv: Rec, inv_id: str, sub: str, cur: str, t_inv: int, due: date,
                    contract_id: str, proj_id: str, crm_id: str, eligible: bool) -> list[dict[str, Any]]:
        """Payments (and credits) against one NetSuite invoice; returns the invoice's state changes."""
        pb = b.project
        total = int(round(inv.fields["foreigntotal"] * 100))
        inv_date = date_of(t_inv)
        p = rng_for(self.seed, "pay", inv_id)
        fate = p.choices(("on_time", "late", "partial", "very_late"), weights=(58, 22, 8, 12))[0]
        d_on = max(inv_date + timedelta(days=1), due - timedelta(days=p.randint(0, 10)))
        d_late = due + timedelta(days=p.randint(5, 45))
        d_very = due + timedelta(days=p.randint(95, 200))
        rest_paid = p.random() < 0.5
        d_rest = due + timedelta(days=p.randint(30, 90))
        apply_lags = [0 if p.random() < 0.8 else p.randint(1, 2) for _ in range(2)]
        lates = [p.randint(2, 4) if p.random() < 0.1 else 0 for _ in range(2)]  # committed days late
        extra_pct = p.randint(2, 10)
        error_credit = p.random() < 0.03
        error_days, error_del = p.randint(3, 10), p.randint(1, 3)
        pay_ids = [self.nsid("transaction") for _ in range(2)]
        pay_line_ids = [[self.nsid("transactionline") for _ in range(2)] for _ in range(2)]
        cm_id, cm_err_id = self.nsid("transaction"), self.nsid("transaction")
        cm_line_ids = [self.nsid("transactionline") for _ in range(4)]

        cash = self.dec.cash(inv_id) if eligible else None
        plan: list[tuple[date, int, str]] = []  # (date, cents, 'payment' | 'credit')
        if fate == "on_time":
            plan.append((d_on, total, "payment"))
        elif fate == "late":
            plan.append((d_late, total, "payment"))
        elif fate == "very_late":
            plan.append((d_very, total, "payment"))
        else:
            half = total // 2
            plan.append((d_on, half, "payment"))
            plan.append((d_rest, total - half, "payment") if rest_paid else
                        (due + timedelta(days=60), total - half, "credit"))
        states: list[dict[str, Any]] = []
        paid = credited = 0
        base_cur = next(x["currency"] for x in LEGAL_ENTITIES if x["subsidiary_id"] == sub)
        for n, (d, cents, what) in enumerate(plan):
            if what == "credit":
                t_cm = ts(d, 14)
                self._ns_credit(pb, cm_id, cm_line_ids[:2], acc, sub, cur, base_cur, t_cm, cents, inv_id,
                                contract_id, proj_id, "Fully Applied", applied=True)
                credited += cents
                states.append(self._inv_state(inv, total, paid, credited, t_cm, t_cm))
                continue
            t_pay = ts(d, 21)
            lag = lates[n]
            v_pay = t_pay + lag * DAY
            amount = cents
            unapplied = cash == "unapplied_payment" and n == 0
            over = cash == "overpayment" and len(plan) == 1
            if over:
                amount = cents + cents * extra_pct // 100
            t_apply = t_pay if lag else ts(d + timedelta(days=apply_lags[n]), 21 if apply_lags[n] == 0 else 10)
            pay = self.ns(pb, "transaction", t_pay, v_pay, id=pay_ids[n], tranid=f"PYMT{pay_ids[n]}", type="CustPymt",
                          trandate=_d(d), entity=acc.ns_id, subsidiary=sub, currency=CURRENCY_ID[cur],
                          foreigntotal=_amount(amount), status="Deposited", custbody_q2c_sf_contract_id=contract_id,
                          custbody_q2c_sf_project_id=proj_id,
                          custbody_q2c_applied_to=None if (unapplied or t_apply > t_pay) else inv_id,
                          createddate=ns_ts(t_pay), lastmodifieddate="", exchangerate=self.fx(cur, base_cur, t_pay),
                          postingperiod=self.period_id(d), memo="Customer payment",
                          foreignpaymentamountused=0.0 if (unapplied or t_apply > t_pay) else _amount(cents),
                          foreignpaymentamountunused=_amount(amount) if (unapplied or t_apply > t_pay)
                          else _amount(amount - cents))
            self.ns(pb, "transactionline", t_pay, v_pay, id=pay_line_ids[n][0], transaction=pay_ids[n],
                    linesequencenumber=0, mainline="T", taxline="F", memo="Customer payment",
                    foreignamount=_amount(amount), account="1", subsidiary=sub, linelastmodifieddate="")
            self.ns(pb, "transactionline", t_pay, v_pay, id=pay_line_ids[n][1], transaction=pay_ids[n],
                    linesequencenumber=1, mainline="F", taxline="F", memo="Accounts receivable",
                    foreignamount=_amount(-amount), account="2", subsidiary=sub, linelastmodifieddate="")
            if unapplied:
                b.ledger_project.append(entry("unapplied_payment", pay_ids[n], {
                    "payment_id": pay_ids[n], "customer_id": acc.ns_id, "intended_invoice_id": inv_id},
                    _d(max(d + timedelta(days=CASH_APPLICATION_GRACE_DAYS + 1), date_of(v_pay)))))
                continue
            if t_apply > t_pay:
                pay.update(t_apply, {"custbody_q2c_applied_to": inv_id, "foreignpaymentamountused": _amount(cents),
                                     "foreignpaymentamountunused": _amount(amount - cents)})
            paid += cents
            states.append(self._inv_state(inv, total, paid, credited, t_apply, max(v_pay, t_apply)))
            if over:
                b.ledger_project.append(entry("overpayment", pay_ids[n], {
                    "payment_id": pay_ids[n], "invoice_id": inv_id},
                    _d(date_of(max(v_pay, t_apply)))))
        if error_credit:  # a credit memo keyed in error (applied to nothing), deleted shortly after
            t_err = ts(inv_date + timedelta(days=error_days), 14)
            cm = self._ns_credit(pb, cm_err_id, cm_line_ids[2:], acc, sub, cur, base_cur, t_err, total // 10, None,
                                 contract_id, proj_id, "Open", applied=False)
            cm_lines = pb[-2:]
            t_del = t_err + error_del * DAY
            cm.delete(t_del)
            for _s, _o, line in cm_lines:
                line.delete(t_del)
        if states and states[-1]["status"] == "Paid In Full" and cash == "erp_paid_crm_open":
            states[-1]["crm_stale"] = True
            closed = date_of(states[-1]["t"])
            b.ledger_project.append(entry("erp_paid_crm_open", inv_id, {
                "invoice_id": inv_id, "crm_invoice_id": crm_id},
                _d(max(closed + timedelta(days=CRM_SYNC_GRACE_DAYS + 1), date_of(states[-1]["vis"])))))
        return states

    def _inv_state(self, inv: Rec, total: int, paid: int, credited: int, t: int, vis: int) -> dict[str, Any]:
        unpaid = total - paid - credited
        state = {"foreignamountpaid": _amount(paid), "foreignamountunpaid": _amount(unpaid),
                 "status": "Paid In Full" if unpaid <= 0 else "Open"}
        if unpaid <= 0:
            state["closedate"] = _d(date_of(t))
        inv.update(t, dict(state), vis)
        return {**state, "t": t, "vis": vis, "paid": paid}

    def _ns_credit(self, pb: list, cm_id: str, line_ids: list[str], acc: Account, sub: str, cur: str, base_cur: str,
                   t: int, cents: int, inv_id: str | None, contract_id: str, proj_id: str, status: str,
                   applied: bool) -> Rec:
        d = date_of(t)
        cm = self.ns(pb, "transaction", t, id=cm_id, tranid=f"CM{cm_id}", type="CustCred", trandate=_d(d),
                     entity=acc.ns_id, subsidiary=sub, currency=CURRENCY_ID[cur], foreigntotal=_amount(cents),
                     status=status, custbody_q2c_sf_contract_id=contract_id, custbody_q2c_sf_project_id=proj_id,
                     custbody_q2c_applied_to=inv_id, createddate=ns_ts(t), lastmodifieddate="",
                     exchangerate=self.fx(cur, base_cur, t), postingperiod=self.period_id(d),
                     memo="Write-off of the remaining balance" if applied else "Credit memo",
                     foreignpaymentamountused=_amount(cents) if applied else 0.0,
                     foreignpaymentamountunused=0.0 if applied else _amount(cents))
        self.ns(pb, "transactionline", t, id=line_ids[0], transaction=cm_id, linesequencenumber=0, mainline="T",
                taxline="F", memo=cm.fields["memo"], foreignamount=_amount(-cents), account="2", subsidiary=sub,
                linelastmodifieddate="")
        self.ns(pb, "transactionline", t, id=line_ids[1], transaction=cm_id, linesequencenumber=1, mainline="F",
                taxline="F", memo="Credit", foreignamount=_amount(cents), account="8", subsidiary=sub,
                linelastmodifieddate="")
        return cm

    def _crm_sync(self, pb: list, crm_id: str, inv_id: str, number: str, acc: Account, contract_id: str, be_id: str,
                  inv_date: date, due: date, cur: str, total: float, t_inv: int, states: list[dict[str, Any]],
                  stale_paid: bool | None = False) -> None:
        """The nightly ERP -> CRM invoice sync (ERP_Invoice__c), one day behind the ERP."""
        t_sync = ts(date_of(t_inv) + timedelta(days=1), 3)
        rec = self.sf(pb, "ERP_Invoice__c", t_sync, Id=crm_id, Name=number, ERP_Invoice_Id__c=f"netsuite:{inv_id}",
                      Source_System__c="netsuite", Account__c=acc.sf_id, Contract__c=contract_id,
                      Billing_Event__c=be_id, Invoice_Date__c=_d(inv_date), Due_Date__c=_d(due),
                      Total_Amount__c=total, Amount_Paid__c=0.0, Status__c="Open", CurrencyIsoCode=cur,
                      Last_Synced__c=sf_ts(t_sync))
        for k, state in enumerate(states):
            if stale_paid and k == len(states) - 1:
                break
            t = max(ts(date_of(state["vis"]) + timedelta(days=1), 3), t_sync + 60)
            paid = state["foreignamountpaid"]
            status = "Paid" if state["status"] == "Paid In Full" else ("Partially Paid" if paid > 0 else "Open")
            rec.update(t, {"Amount_Paid__c": paid, "Status__c": status, "Last_Synced__c": sf_ts(t)})

    def _legacy_invoice(self, pb: list, acc: Account, be_id: str, proj_id: str, contract_id: str, inv_lines: list,
                        t_inv: int, days: int) -> str:
        """Invoices of an entity before its cut-over: the legacy ERP's AR tables."""
        le = LE_BY_ID[acc.le]
        n = self.nid("legacy_invoice")
        inv_no = f"{le['legacy_code']}-{n:06d}"
        inv_date = date_of(t_inv)
        due = inv_date + timedelta(days=days)
        net = sum(li[3] for li in inv_lines)
        tax = self._tax(acc.tax_code, net)
        total = net + tax
        hdr = self.legacy(pb, "AR_INVOICE_HDR", inv_no, t_inv, {
            "INV_NO": inv_no, "ENTITY_CD": le["legacy_code"], "CUST_NO": acc.legacy_no or "",
            "INV_DT": inv_date.strftime("%Y%m%d"), "DUE_DT": due.strftime("%Y%m%d"), "CURR_CD": le["currency"],
            "NET_AMT_CENTS": net, "TAX_AMT_CENTS": tax, "GROSS_AMT_CENTS": total, "OPEN_AMT_CENTS": total,
            "STATUS": "O", "TAX_CD": TAX_BY_ID[acc.tax_code][1], "PSA_BE_REF": be_id, "SF_CONTRACT_REF": contract_id,
            "PROJECT_REF": proj_id, "LAST_UPD_TS": ""})
        for j, (desc, qty, unit_c, amount) in enumerate(inv_lines):
            self.legacy(pb, "AR_INVOICE_LINE", f"{inv_no}/{j + 1}", t_inv, {
                "INV_NO": inv_no, "LINE_NO": j + 1, "DESCR": desc.upper(), "QTY": f"{qty:.2f}",
                "UNIT_PRICE": f"{unit_c / 100:.2f}", "LINE_AMT_CENTS": amount, "TAX_CD": TAX_BY_ID[acc.tax_code][1]})
        p = rng_for(self.seed, "legacy-pay", inv_no)
        fate = p.choices(("on_time", "late", "split"), weights=(70, 20, 10))[0]
        d1 = max(inv_date + timedelta(days=1), due - timedelta(days=p.randint(0, 10)))
        d2 = due + timedelta(days=p.randint(5, 60))
        receipts = [(d1, total)] if fate == "on_time" else [(d2, total)] if fate == "late" else \
            [(d1, total // 2), (d2, total - total // 2)]
        open_amt = total
        for d, cents in receipts:
            rn = f"R{le['legacy_code'][:2]}{self.nid('legacy_receipt'):07d}"
            t = ts(d, 17)
            self.legacy(pb, "AR_RECEIPT", rn, t, {
                "RCPT_NO": rn, "ENTITY_CD": le["legacy_code"], "CUST_NO": acc.legacy_no or "",
                "RCPT_DT": d.strftime("%Y%m%d"), "CURR_CD": le["currency"], "RCPT_AMT": f"{cents / 100:.2f}",
                "APPLIED_INV_NO": inv_no, "BANK_REF": f"BK{p.randint(100000, 999999)}", "LAST_UPD_TS": ""})
            open_amt -= cents
            hdr.update(t, {"OPEN_AMT_CENTS": open_amt, "STATUS": "P" if open_amt <= 0 else "O"})
        return inv_no

    def _stripe_billing(self, b: Buf, acc: Account, model: str, proj_id: str, t_project: int, contract_id: str,
                        start: date, final_term: int, monthly: int, new_monthly: int, amend: dict | None,
                        amend_idx: int | None, terms_name: str, t_act: int, end: date, project_ok: bool) -> None:
        """Retainers and subscriptions: a Stripe subscription invoicing each month in advance."""
        pb = b.project
        le = LE_BY_ID[acc.le]
        cur = le["currency"].lower()
        days = PAYMENT_TERMS[terms_name]
        sub_id, si_id = self.stid("sub"), self.stid("si")
        price_ids = [self.stid("price"), self.stid("price")]
        t_sub = t_act + 300
        txr = self.tax_rate_ids.get(acc.tax_code)
        rate_pct = TAX_BY_ID[acc.tax_code][3]
        meta = {"salesforce_contract_id": contract_id, "salesforce_account_id": acc.sf_id, "legal_entity": acc.le}

        def item(price: int, price_id: str, p_start: int, p_end: int) -> dict[str, Any]:
            return {"object": "list", "has_more": False, "url": f"/v1/subscription_items?subscription={sub_id}",
                    "data": [{"id": si_id, "object": "subscription_item", "quantity": 1,
                              "current_period_start": p_start, "current_period_end": p_end,
                              "price": {"id": price_id, "object": "price", "currency": cur, "unit_amount": price,
                                        "recurring": {"interval": "month", "interval_count": 1},
                                        "product": f"prod_{model.split()[0].upper()}"}}]}

        p0_end = ts(add_months(start, 1), 0) - 1
        sub = self.st(pb, "subscriptions", t_sub, {
            "id": sub_id, "object": "subscription", "customer": acc.stripe_id, "status": "active",
            "collection_method": "send_invoice", "currency": cur, "days_until_due": days,
            "start_date": t_sub, "billing_cycle_anchor": t_sub, "created": t_sub,
            "cancel_at": ts(end + timedelta(days=1)), "cancel_at_period_end": False, "canceled_at": None,
            "ended_at": None, "items": item(monthly, price_ids[0], t_sub, p0_end), "latest_invoice": None,
            "default_tax_rates": [txr] if txr else [], "livemode": False, "metadata": dict(meta),
            "schedule": None})
        if amend is not None and amend["kind"] == "extend":
            sub.update(amend["t"], {"cancel_at": ts(end + timedelta(days=1))})
        elif amend is not None and amend_idx is not None:
            sub.update(amend["t"], {"items": item(new_monthly, price_ids[1], t_sub, p0_end)})
        for k in range(final_term):
            p_start, p_end = add_months(start, k), add_months(start, k + 1) - timedelta(days=1)
            price = new_monthly if amend_idx is not None and k >= amend_idx else monthly
            price_id = price_ids[1] if price != monthly else price_ids[0]
            t_created = max(ts(p_start, 0, 10), t_sub + 60)
            r = rng_for(self.seed, "stripe-invoice", contract_id, k)
            fate = r.choices(("on_time", "late", "very_late"), weights=(70, 20, 10))[0]
            void = r.random() < 0.04
            void_days = r.randint(1, 5)
            offsets = [r.randint(0, 10), r.randint(5, 40), r.randint(90, 150)]
            ids = [self.stid("in"), self.stid("in")]
            il_ids = [self.stid("il"), self.stid("il")]
            pay_ids = [self.stid("inpay"), self.stid("inpay")]
            pi_ids = [self.stid("pi"), self.stid("pi")]
            numbers = [self.nid("stripe_invoice_number"), self.nid("stripe_invoice_number")]
            project_ref = proj_id if t_project <= t_created else None
            recorded = contract_id
            if project_ok and not void and self.dec.hit("inconsistent_contract_id", f"stripe:{ids[0]}"):
                other = self._other_contract(acc, contract_id, t_created, f"stripe:{ids[0]}", "stripe")
                if other is not None:
                    recorded = other
                    b.ledger_project.append(entry("inconsistent_contract_id", f"stripe:{ids[0]}", {
                        "invoice_id": ids[0], "system": "stripe", "recorded_contract_id": other,
                        "expected_contract_id": contract_id, "subscription_id": sub_id},
                        _d(date_of(t_created))))
            tax = int(round(price * rate_pct / 100))
            reason = "subscription_create" if k == 0 else "subscription_cycle"
            for attempt in range(2 if void else 1):
                inv_id = ids[attempt]
                t_inv = t_created if attempt == 0 else t_created + void_days * DAY + 3600
                due_t = ts(date_of(t_inv) + timedelta(days=days), 23, 59)
                inv_meta = {"salesforce_contract_id": recorded if attempt == 0 else contract_id,
                            "salesforce_project_id": project_ref if attempt == 0 else (
                                proj_id if t_project <= t_inv else None), "legal_entity": acc.le}
                line = {"id": il_ids[attempt], "object": "line_item", "invoice": inv_id, "amount": price,
                        "currency": cur, "description": f"{PRODUCTS[PRODUCT_BY_MODEL[model] - 1][1]} "
                                                        f"({p_start:%b %Y})",
                        "quantity": 1, "period": {"start": ts(p_start), "end": ts(p_end, 23, 59)},
                        "pricing": {"type": "price_details", "price_details": {"price": price_id,
                                                                              "product": f"prod_{model.split()[0].upper()}"},
                                    "unit_amount_decimal": str(price)},
                        "parent": {"type": "subscription_item_details",
                                   "subscription_item_details": {"subscription": sub_id, "subscription_item": si_id,
                                                                 "proration": False}},
                        "taxes": [{"amount": tax, "tax_behavior": "exclusive", "type": "tax_rate_details",
                                   "tax_rate_details": {"tax_rate": txr}, "taxability_reason": "standard_rated",
                                   "taxable_amount": price}] if txr else [],
                        "metadata": {}}
                status_transitions = {"finalized_at": t_inv, "paid_at": None, "voided_at": None,
                                      "marked_uncollectible_at": None}
                inv = self.st(pb, "invoices", t_inv, {
                    "id": inv_id, "object": "invoice",
                    "number": f"Q2C-{numbers[attempt]:06d}", "customer": acc.stripe_id, "status": "open",
                    "collection_method": "send_invoice", "billing_reason": reason if attempt == 0 else "manual",
                    "currency": cur, "created": t_inv, "effective_at": t_inv, "due_date": due_t,
                    "period_start": ts(p_start), "period_end": ts(p_end, 23, 59),
                    "subtotal": price, "subtotal_excluding_tax": price, "total_excluding_tax": price,
                    "total": price + tax,
                    "total_taxes": [{"amount": tax, "tax_behavior": "exclusive", "type": "tax_rate_details",
                                     "tax_rate_details": {"tax_rate": txr}, "taxability_reason": "standard_rated",
                                     "taxable_amount": price}] if txr else [],
                    "amount_due": price + tax, "amount_paid": 0, "amount_remaining": price + tax,
                    "amount_overpaid": 0, "pre_payment_credit_notes_amount": 0, "post_payment_credit_notes_amount": 0,
                    "livemode": False, "status_transitions": dict(status_transitions),
                    "parent": {"type": "subscription_details", "quote_details": None,
                               "subscription_details": {"subscription": sub_id, "metadata": dict(meta)}},
                    "lines": {"object": "list", "data": [line], "has_more": False, "total_count": 1,
                              "url": f"/v1/invoices/{inv_id}/lines"},
                    "metadata": inv_meta})
                sub.update(t_inv, {"latest_invoice": inv_id,
                                   "items": item(price, price_id, ts(p_start), ts(p_end, 23, 59))})
                if attempt == 0 and void:
                    t_void = t_created + void_days * DAY
                    inv.update(t_void, {"status": "void", "amount_remaining": 0,
                                        "status_transitions": {**status_transitions, "voided_at": t_void}})
                    continue
                due_d = date_of(due_t)
                pay_d = {"on_time": due_d - timedelta(days=offsets[0]), "late": due_d + timedelta(days=offsets[1]),
                         "very_late": due_d + timedelta(days=offsets[2])}[fate]
                t_paid = max(ts(pay_d, 15), t_inv + 3600)
                # What the customer pays: the invoice less a pre-payment credit note still issued then.
                paid = price + tax - self._stripe_credit_note(
                    pb, inv, line, f"Q2C-{numbers[attempt]:06d}", acc, contract_id, price, tax, rate_pct, txr,
                    t_inv, t_paid)
                inv.update(t_paid, {"status": "paid", "amount_paid": paid, "amount_remaining": 0,
                                    "status_transitions": {**status_transitions, "paid_at": t_paid}})
                self.st(pb, "invoice_payments", t_paid, {
                    "id": pay_ids[attempt], "object": "invoice_payment", "invoice": inv_id,
                    "amount_paid": paid, "amount_requested": paid, "currency": cur,
                    "created": t_paid, "is_default": True, "livemode": False, "status": "paid",
                    "status_transitions": {"paid_at": t_paid, "canceled_at": None},
                    "payment": {"type": "payment_intent", "payment_intent": pi_ids[attempt]}})
        t_end = ts(end + timedelta(days=1))
        sub.update(t_end, {"status": "canceled", "canceled_at": t_end, "ended_at": t_end})
        self._stripe_schedules(pb, sub, acc, cur, days, txr, meta, start, t_sub, t_end,
                               [(0, price_ids[0])] if amend_idx is None or amend_idx >= final_term
                               else [(0, price_ids[0]), (amend_idx, price_ids[1])],
                               None if amend is None or amend_idx is None else amend["t"])

    # ------------------------------------------------------------------ Stripe credit notes and schedules
    # Drawn from their own streams, keyed by (seed, kind, invoice or subscription id), and numbered by their
    # own counters: at any rate (sandbox.world_model.STRIPE_ACTIVITY_RATES) the rest of the world is the same.
    def _stripe_credit_note(self, pb: list, inv: Rec, line: dict[str, Any], number: str, acc: Account,
                            contract_id: str, price: int, tax: int, rate_pct: float, txr: str | None, t_inv: int,
                            t_paid: int) -> int:
        """Maybe a credit note on an invoice the customer pays at ``t_paid``; returns the pre-payment credit
        still issued then (what the payment leaves out).

        - ``pre_payment`` (the invoice still open): part of a month credited (scope reduced, work not
          accepted). The invoice's ``amount_due`` and ``amount_remaining`` drop by the credit and its
          ``pre_payment_credit_notes_amount`` rises; ``total`` stays. A quarter are voided before the payment
          (the amounts restored).
        - ``post_payment`` (after the payment): a service credit settled outside Stripe
          (``out_of_band_amount``) or a partial or full refund (``refunds``). The invoice's
          ``post_payment_credit_notes_amount`` rises; ``amount_paid`` and ``amount_remaining`` stay. Some
          service credits are voided later; refunds never are.
        """
        r = rng_for(self.seed, "stripe-credit-note", inv.key)
        if not r.random() < self.stripe_activity["credit_note"]:
            return 0
        total = price + tax
        pre = t_paid - t_inv >= 2 * DAY and r.random() < 0.4
        frac = r.choice((0.1, 0.2, 0.25, 0.5)) if pre else r.choice((0.1, 0.15, 0.25, 0.5, 1.0))
        sub = int(round(price * frac))
        cn_tax = int(round(sub * rate_pct / 100)) if txr else 0
        amount = sub + cn_tax
        refund = not pre and r.random() < 0.5
        if pre:
            t_cn = t_inv + r.randint(3600, t_paid - t_inv - DAY)
            voided = t_paid - t_cn > 2 * 3600 and r.random() < 0.25
            t_void = t_cn + r.randint(3600, t_paid - t_cn - 3600) if voided else None
            reason, memo = r.choice((("order_change", "Scope reduced for the month"),
                                     ("product_unsatisfactory", "Deliverable not accepted: partial credit")))
        else:
            t_cn = t_paid + r.randint(1, 45) * DAY + r.randint(0, 8 * 3600)
            voided = not refund and r.random() < 0.3
            t_void = t_cn + r.randint(1, 10) * DAY + r.randint(0, 8 * 3600) if voided else None
            reason, memo = (("order_change", "Unused retainer hours refunded") if refund
                            else ("product_unsatisfactory", "Service credit"))
        cn_id, li_id = self.stid("cn"), self.stid("cnli")

        def taxes() -> list[dict[str, Any]]:
            return [{"amount": cn_tax, "tax_behavior": "exclusive", "tax_rate_details": {"tax_rate": txr},
                     "taxability_reason": "standard_rated", "taxable_amount": sub, "type": "tax_rate_details"}
                    ] if txr else []

        cn_line = {"id": li_id, "object": "credit_note_line_item", "amount": sub,
                   "description": line["description"], "discount_amount": 0, "discount_amounts": [],
                   "invoice_line_item": line["id"], "livemode": False, "metadata": {}, "pretax_credit_amounts": [],
                   "quantity": 1, "tax_rates": [], "taxes": taxes(), "type": "invoice_line_item",
                   "unit_amount": None, "unit_amount_decimal": None}
        cn = self.st(pb, "credit_notes", t_cn, {
            "id": cn_id, "object": "credit_note", "amount": amount, "amount_shipping": 0, "created": t_cn,
            "currency": line["currency"], "customer": acc.stripe_id, "customer_account": None,
            "customer_balance_transaction": None, "discount_amount": 0, "discount_amounts": [], "effective_at": t_cn,
            "invoice": inv.key,
            "lines": {"object": "list", "data": [cn_line], "has_more": False, "total_count": 1,
                      "url": f"/v1/credit_notes/{cn_id}/lines"},
            "livemode": False, "memo": memo, "metadata": {"salesforce_contract_id": contract_id, "legal_entity": acc.le},
            "number": f"{number}-CN-01", "out_of_band_amount": None if pre or refund else amount,
            "pdf": f"https://pay.stripe.com/credit_notes/{cn_id}/pdf",
            "post_payment_amount": 0 if pre else amount, "pre_payment_amount": amount if pre else 0,
            "pretax_credit_amounts": [], "reason": reason,
            "refunds": [{"amount_refunded": amount, "payment_record_refund": None, "refund": self.stid("re"),
                         "type": "refund"}] if refund else [],
            "shipping_cost": None, "status": "issued", "subtotal": sub, "subtotal_excluding_tax": sub,
            "total": amount, "total_excluding_tax": sub, "total_taxes": taxes(),
            "type": "pre_payment" if pre else "post_payment", "voided_at": None})
        if pre:
            inv.update(t_cn, {"amount_due": total - amount, "amount_remaining": total - amount,
                              "pre_payment_credit_notes_amount": amount})
        else:
            inv.update(t_cn, {"post_payment_credit_notes_amount": amount})
        if t_void is None:
            return amount if pre else 0
        cn.update(t_void, {"status": "void", "voided_at": t_void})
        inv.update(t_void, {"amount_due": total, "amount_remaining": total, "pre_payment_credit_notes_amount": 0}
                   if pre else {"post_payment_credit_notes_amount": 0})
        return 0

    def _stripe_schedules(self, pb: list, sub: Rec, acc: Account, cur: str, days: int, txr: str | None,
                          meta: dict[str, str], start: date, t_sub: int, t_end: int,
                          prices: list[tuple[int, str]], t_amend: int | None) -> None:
        """Maybe subscription schedules for the subscription ``sub`` (``prices``: (month index, price id)).

        - managing: created from the subscription just after it starts, one phase to its end
          (``end_behavior: cancel``); a price amendment splits it at the month the new price applies
          (``subscription_schedule.updated`` when the amendment is signed); ``current_phase`` moves at
          each phase start. ``completed`` when the subscription ends, or ``released`` some time before
          (``released_subscription`` set, ``subscription`` and the subscription's ``schedule`` cleared).
        - renewal: drafted 20-40 days before the term ends for a 12-month term starting then
          (``not_started``, no subscription yet) and canceled a few days before it would start.
        """
        r = rng_for(self.seed, "stripe-schedule", sub.key)
        manage = r.random() < self.stripe_activity["subscription_schedule"]
        renew = r.random() < self.stripe_activity["renewal_schedule"]
        released = manage and r.random() < 0.2 and t_end - t_sub > 50 * DAY
        t_rel = t_sub + r.randint(30, (t_end - t_sub) // DAY - 15) * DAY + r.randint(0, 8 * 3600) if released else None
        t_draft = t_end - r.randint(20, 40) * DAY + r.randint(0, 8 * 3600)
        t_cancel = t_end - r.randint(1, 7) * DAY - r.randint(0, 8 * 3600)
        renew = renew and not released and t_draft > t_sub + DAY and t_cancel > t_draft

        def phase(p_start: int, p_end: int, price_id: str) -> dict[str, Any]:
            return {"add_invoice_items": [], "application_fee_percent": None,
                    "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
                    "billing_cycle_anchor": None, "billing_thresholds": None, "collection_method": "send_invoice",
                    "currency": cur, "default_payment_method": None, "default_tax_rates": [txr] if txr else [],
                    "description": None, "discounts": [], "end_date": p_end,
                    "invoice_settings": {"account_tax_ids": None, "days_until_due": days, "issuer": None},
                    "items": [{"billing_thresholds": None, "discounts": [], "metadata": {}, "plan": price_id,
                               "price": price_id, "quantity": 1, "tax_rates": []}],
                    "metadata": {}, "on_behalf_of": None, "proration_behavior": "none", "start_date": p_start,
                    "transfer_data": None, "trial_end": None}

        def schedule(t: int, phases: list[dict[str, Any]], **values: Any) -> dict[str, Any]:
            return {"id": self.stid("sub_sched"), "object": "subscription_schedule", "application": None,
                    "billing_mode": {"flexible": None, "type": "classic", "updated_at": None}, "canceled_at": None,
                    "completed_at": None, "created": t, "current_phase": None, "customer": acc.stripe_id,
                    "customer_account": None,
                    "default_settings": {
                        "application_fee_percent": None,
                        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
                        "billing_cycle_anchor": "automatic", "billing_thresholds": None,
                        "collection_method": "send_invoice", "default_payment_method": None, "description": None,
                        "invoice_settings": {"account_tax_ids": None, "days_until_due": days,
                                             "issuer": {"type": "self"}},
                        "on_behalf_of": None, "transfer_data": None},
                    "end_behavior": "cancel", "livemode": False, "metadata": dict(meta), "phases": phases,
                    "released_at": None, "released_subscription": None, "status": "active", "subscription": None,
                    "test_clock": None, **values}

        if manage:
            t0 = t_sub + 120
            one = [phase(t_sub, t_end, prices[0][1])]
            split = None
            if len(prices) > 1 and t_amend is not None:
                b = ts(add_months(start, prices[1][0]))
                split = [phase(t_sub, b, prices[0][1]), phase(b, t_end, prices[1][1])]

            def state(t: int) -> dict[str, Any]:
                phases = split if split is not None and t >= t_amend else one
                now = next(p for p in phases if p["start_date"] <= t < p["end_date"])
                return {"phases": phases, "current_phase": {"end_date": now["end_date"], "start_date": now["start_date"]}}

            first = state(t0)
            rec = self.st(pb, "subscription_schedules", t0, schedule(t0, first["phases"], subscription=sub.key,
                                                                     current_phase=first["current_phase"]))
            sub.update(t0, {"schedule": rec.key})
            stop = t_rel if t_rel is not None else t_end
            moments = sorted({t_amend, *(p["start_date"] for p in split)} - {None}) if split is not None else []
            last = first
            for m in moments:
                if not t0 < m < stop:
                    continue
                now = state(m)
                changed = {k: v for k, v in now.items() if v != last[k]}
                if changed:
                    rec.update(m, changed)
                    last = now
            if t_rel is not None:
                rec.update(t_rel, {"status": "released", "released_at": t_rel, "released_subscription": sub.key,
                                   "subscription": None, "current_phase": None})
                sub.update(t_rel, {"schedule": None})
            else:
                rec.update(t_end, {"status": "completed", "completed_at": t_end, "current_phase": None})
        if renew:
            renewal_end = ts(add_months(date_of(t_end), 12))
            rec = self.st(pb, "subscription_schedules", t_draft, schedule(
                t_draft, [phase(t_end, renewal_end, prices[-1][1])], status="not_started", end_behavior="release",
                metadata={**meta, "q2c_renewal_of": sub.key}))
            rec.update(t_cancel, {"status": "canceled", "canceled_at": t_cancel})
