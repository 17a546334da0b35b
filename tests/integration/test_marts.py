"""The marts against an independent computation from the sandbox's own records.

For seeds 42 and 7 at scales 1 and 4 (``world_builds``: one full `dbt build` per world, shared
with the other dbt tests), AR, DSO and WIP are recomputed here from the world's records in
their wire format - NetSuite `foreignamountunpaid`, Stripe `amount_remaining`, the legacy ERP's
`OPEN_AMT_CENTS`, NetSuite's daily `currencyrate` rows, the PSA's timecard splits, expenses,
milestones and billing events - and compared with the marts. Nothing here reads the warehouse
to compute an expectation. Definitions: docs/metrics.md and reference/domain.md §3.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pytest

from reverse_etl.state import DDL as SYNC_DDL
from sandbox.world import World
from tests.fixtures.dbt_build import AS_OF, Built, run_dbt

CENT = Decimal("0.01")
REPORTING = "USD"
WORLDS = [(42, 1.0), (7, 1.0), (42, 4.0), (7, 4.0)]
LEGACY_ENTITY = {"UK01": "LE-UK", "DE01": "LE-DE"}


@pytest.fixture(scope="module", params=WORLDS, ids=lambda p: f"seed{p[0]}-scale{p[1]:g}")
def built(request, world_builds) -> Built:
    seed, scale = request.param
    return world_builds.get(seed, scale)


# ---------------------------------------------------------------- helpers on wire-format records


def _money(value: float | int | str) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def _cents(value: int) -> Decimal:
    return (Decimal(value) / 100).quantize(CENT)


def _unix_date(ts: int) -> date:
    return datetime.fromtimestamp(ts, tz=UTC).date()


def _ymd(text: str) -> date:
    return datetime.strptime(text, "%Y%m%d").date()


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class Rates:
    """NetSuite's daily rates (currencyrate): units of base per unit of transaction currency,
    the latest published on or before a date."""

    def __init__(self, world: World) -> None:
        symbol = {c["id"]: c["symbol"] for c in world.netsuite["currency"]}
        self._by_pair: dict[tuple[str, str], list[tuple[date, Decimal]]] = defaultdict(list)
        for r in world.netsuite["currencyrate"]:
            pair = (symbol[r["transactioncurrency"]], symbol[r["basecurrency"]])
            self._by_pair[pair].append((date.fromisoformat(r["effectivedate"][:10]), Decimal(str(r["exchangerate"]))))
        for rows in self._by_pair.values():
            rows.sort()

    def rate(self, from_currency: str, to_currency: str, on: date) -> Decimal:
        if from_currency == to_currency:
            return Decimal(1)
        best = None
        for d, r in self._by_pair[(from_currency, to_currency)]:
            if d > on:
                break
            best = r
        assert best is not None, f"no {from_currency}->{to_currency} rate on or before {on}"
        return best


@dataclass
class Receivable:
    """One invoice as its system of record holds it."""

    invoice_id: str
    system: str
    customer_id: str
    legal_entity_id: str
    currency: str
    invoice_date: date
    due_date: date
    total: Decimal
    open: Decimal


def receivables(world: World) -> list[Receivable]:
    """Every issued invoice from the ERP of record (legacy before the entity's cut-over, NetSuite
    from it) and from Stripe, with its open balance as the source system states it."""
    cutover = {le: None if d is None else date.fromisoformat(d) for le, d in world.cutover_dates().items()}
    symbol = {c["id"]: c["symbol"] for c in world.netsuite["currency"]}
    subsidiary_le = {"1": "LE-US", "2": "LE-UK", "3": "LE-DE"}
    ns_customer = {c["id"]: c["externalid"] for c in world.netsuite["customer"]}
    legacy_customer = {c["CUST_NO"]: c["SF_ACCT_REF"] for c in world.legacy["CUSTOMER_MASTER"]}
    stripe_customer = {c["id"]: c for c in world.stripe["customers"]}
    out = []
    for t in world.netsuite["transaction"]:
        if t["type"] != "CustInvc" or t["status"] in ("Pending Approval", "Rejected", "Voided"):
            continue
        le = subsidiary_le[t["subsidiary"]]
        inv_date = date.fromisoformat(t["trandate"])
        if cutover[le] is not None and inv_date < cutover[le]:
            continue  # before the cut-over the legacy ERP is the book of record
        out.append(Receivable(f"netsuite:{t['id']}", "netsuite", ns_customer[t["entity"]], le,
                              symbol[t["currency"]], inv_date, date.fromisoformat(t["duedate"]),
                              _money(t["foreigntotal"]), _money(t["foreignamountunpaid"])))
    for h in world.legacy["AR_INVOICE_HDR"]:
        le = LEGACY_ENTITY[h["ENTITY_CD"]]
        inv_date = _ymd(h["INV_DT"])
        if cutover[le] is None or inv_date >= cutover[le]:
            continue  # from the cut-over NetSuite is the book of record
        out.append(Receivable(f"legacy_erp:{h['INV_NO']}", "legacy_erp", legacy_customer[h["CUST_NO"]], le,
                              h["CURR_CD"], inv_date, _ymd(h["DUE_DT"]), _cents(h["GROSS_AMT_CENTS"]),
                              _cents(h["OPEN_AMT_CENTS"])))
    for inv in world.stripe["invoices"]:
        if inv["status"] in ("draft", "void"):
            continue
        customer = stripe_customer[inv["customer"]]
        le = (inv.get("metadata") or {}).get("legal_entity") or customer["metadata"]["legal_entity"]
        issued = (inv.get("status_transitions") or {}).get("finalized_at") or inv["created"]
        out.append(Receivable(f"stripe:{inv['id']}", "stripe", customer["metadata"]["salesforce_account_id"], le,
                              inv["currency"].upper(), _unix_date(issued), _unix_date(inv["due_date"]),
                              _cents(inv["total"]), _cents(inv["amount_remaining"])))
    return out


def ageing_bucket(due: date, as_of: date) -> str:
    """reference/domain.md §3.1: by due date."""
    days = (as_of - due).days
    if days <= 0:
        return "current"
    return "1-30" if days <= 30 else "31-60" if days <= 60 else "61-90" if days <= 90 else "90+"


def unapplied_cash(world: World, as_of: date) -> dict[tuple[str, str], Decimal]:
    """(customer, currency) -> cash received that reached no invoice: NetSuite payments'
    foreignpaymentamountunused (unapplied payments and overpayment excess), a Stripe customer's
    credit balance, legacy receipts applied to no invoice."""
    symbol = {c["id"]: c["symbol"] for c in world.netsuite["currency"]}
    ns_customer = {c["id"]: c["externalid"] for c in world.netsuite["customer"]}
    legacy_customer = {c["CUST_NO"]: c["SF_ACCT_REF"] for c in world.legacy["CUSTOMER_MASTER"]}
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for t in world.netsuite["transaction"]:
        if t["type"] == "CustPymt" and date.fromisoformat(t["trandate"]) <= as_of:
            unused = _money(t["foreignpaymentamountunused"] or 0)
            if unused:
                out[(ns_customer[t["entity"]], symbol[t["currency"]])] += unused
    for c in world.stripe["customers"]:
        if c["balance"] < 0:
            out[(c["metadata"]["salesforce_account_id"], c["currency"].upper())] += _cents(-c["balance"])
    for r in world.legacy["AR_RECEIPT"]:
        if not r["APPLIED_INV_NO"] and _ymd(r["RCPT_DT"]) <= as_of:
            out[(legacy_customer[r["CUST_NO"]], r["CURR_CD"])] += _money(r["RCPT_AMT"])
    return {k: v for k, v in out.items() if v}


def _months_back(as_of: date, n: int) -> list[tuple[date, date]]:
    """(first day, last day counted) of the as-of month and the n-1 months before it."""
    out = []
    start = as_of.replace(day=1)
    end = as_of
    for _ in range(n):
        out.append((start, end))
        end = start - timedelta(days=1)
        start = end.replace(day=1)
    return out


def expected_dso(world: World, as_of: date) -> dict[str, dict[str, Decimal | None]]:
    """Per legal entity and 'ALL': AR at the closing rate, 90-day credit sales, simple and
    countback DSO (reference/domain.md §3.2), from the invoices of record and NetSuite's rates."""
    rates = Rates(world)
    invoices = receivables(world)
    entities = sorted({"LE-US", "LE-UK", "LE-DE"})
    ar: dict[str, Decimal] = defaultdict(Decimal)
    sales_90: dict[str, Decimal] = defaultdict(Decimal)
    months = _months_back(as_of, 24)
    monthly: dict[str, list[Decimal]] = {le: [Decimal(0)] * len(months) for le in entities}
    for inv in invoices:
        if inv.open > 0:
            ar[inv.legal_entity_id] += inv.open * rates.rate(inv.currency, REPORTING, as_of)
        sale = _round(inv.total * rates.rate(inv.currency, REPORTING, inv.invoice_date))
        if as_of - timedelta(days=90) < inv.invoice_date <= as_of:
            sales_90[inv.legal_entity_id] += sale
        for k, (start, end) in enumerate(months):
            if start <= inv.invoice_date <= end:
                monthly[inv.legal_entity_id][k] += sale
    days = [(end - start).days + 1 for start, end in months]
    out = {}
    for key in [*entities, "ALL"]:
        scope = entities if key == "ALL" else [key]
        ar_k = sum((ar[le] for le in scope), Decimal(0))
        s90 = sum((sales_90[le] for le in scope), Decimal(0))
        sales = [sum((monthly[le][k] for le in scope), Decimal(0)) for k in range(len(months))]
        remaining, countback = ar_k, Decimal(0)
        for k, month_sales in enumerate(sales):  # the loop of reference/domain.md §3.2
            if remaining <= 0:
                break
            if remaining >= month_sales:
                countback += days[k]
                remaining -= month_sales
            else:
                countback += remaining / month_sales * days[k]
                break
        out[key] = {"ar": ar_k, "sales_90d": s90, "dso_simple": ar_k / s90 * 90 if s90 else None,
                    "dso_countback": countback}
    return out


# ---------------------------------------------------------------- AR


def test_ar_per_customer_and_currency_equals_the_systems_of_record(built: Built) -> None:
    expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for inv in receivables(built.world):
        if inv.open > 0:
            expected[(inv.customer_id, inv.currency)] += inv.open
    rows = built.query(
        "select customer_id, currency, sum(total_open_amount) from marts.ar_ageing "
        "group by 1, 2 having sum(total_open_amount) <> 0"
    )
    assert {(c, cur): amount for c, cur, amount in rows} == dict(expected)
    assert len(expected) > 5


def test_ar_per_ageing_bucket_equals_the_systems_of_record(built: Built) -> None:
    expected: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for inv in receivables(built.world):
        if inv.open > 0:
            expected[(inv.customer_id, inv.currency, ageing_bucket(inv.due_date, AS_OF))] += inv.open
    columns = {"current": "current_amount", "1-30": "past_due_1_30_amount", "31-60": "past_due_31_60_amount",
               "61-90": "past_due_61_90_amount", "90+": "past_due_over_90_amount"}
    actual: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for bucket, column in columns.items():
        for customer, currency, amount in built.query(
            f"select customer_id, currency, {column} from marts.ar_ageing where {column} <> 0"
        ):
            actual[(customer, currency, bucket)] += amount
    assert dict(actual) == dict(expected)
    # Open invoices both current and long overdue exist: the comparison covers several buckets.
    assert {"current", "90+"} <= {k[2] for k in expected}


def test_unapplied_cash_is_a_separate_negative_column(built: Built) -> None:
    expected = unapplied_cash(built.world, AS_OF)
    rows = built.query(
        "select customer_id, currency, sum(unapplied_cash_amount) from marts.ar_ageing "
        "group by 1, 2 having sum(unapplied_cash_amount) <> 0"
    )
    assert {(c, cur): -amount for c, cur, amount in rows} == expected
    # Unapplied cash never lowers the buckets: net = open + unapplied.
    assert built.query(
        "select count(*) from marts.ar_ageing where net_receivable_amount <> total_open_amount + unapplied_cash_amount"
    ) == [(0,)]


# ---------------------------------------------------------------- DSO


def test_dso_simple_and_countback_equal_python(built: Built) -> None:
    expected = expected_dso(built.world, AS_OF)
    rows = built.query("select legal_entity_id, ar_reporting, sales_90d_reporting, dso_simple, dso_countback "
                       "from marts.dso")
    assert {r[0] for r in rows} == set(expected)
    for le, ar, sales_90d, simple, countback in rows:
        exp = expected[le]
        assert abs(ar - exp["ar"]) <= Decimal("0.02"), (le, ar, exp["ar"])
        assert abs(sales_90d - exp["sales_90d"]) <= Decimal("0.02"), (le, sales_90d, exp["sales_90d"])
        if exp["dso_simple"] is None:
            assert simple is None, le
        else:
            assert abs(simple - exp["dso_simple"]) <= Decimal("0.011"), (le, simple, exp["dso_simple"])
        assert abs(countback - exp["dso_countback"]) <= Decimal("0.011"), (le, countback, exp["dso_countback"])
    # Every entity has receivables and sales in these worlds: the DSOs are real numbers.
    assert all(expected[le]["dso_countback"] > 0 for le in expected)


# ---------------------------------------------------------------- WIP


@dataclass
class ProjectWip:
    earned: Decimal = Decimal(0)
    billed: Decimal = Decimal(0)
    unbilled: Decimal = Decimal(0)
    unbilled_buckets: dict[str, Decimal] | None = None

    @property
    def wip(self) -> Decimal:
        return self.earned - self.billed


def wip_age_bucket(item_date: date, as_of: date) -> str:
    """Canopy's WIP ageing (reference/domain.md §3.3): days since the work, 0-30/31-60/61-90/91+."""
    days = (as_of - item_date).days
    return "0-30" if days <= 30 else "31-60" if days <= 60 else "61-90" if days <= 90 else "91+"


def expected_wip(world: World, as_of: date) -> dict[str, ProjectWip]:
    """Per PSA project: earned = approved billable timecard splits (by start date), expenses (by
    expense date) and completed milestones approved for billing (by actual date) up to the as-of
    date; billed = net of the ERP invoices of record for the project (NetSuite subtotal =
    foreigntotal - taxtotal, legacy NET_AMT) dated up to the as-of date, in the project's
    currency; unbilled = the earned items not on a billing event that such an invoice bills."""
    sf = world.salesforce
    rates = Rates(world)
    cutover = {le: None if d is None else date.fromisoformat(d) for le, d in world.cutover_dates().items()}
    subsidiary_le = {"1": "LE-US", "2": "LE-UK", "3": "LE-DE"}
    symbol = {c["id"]: c["symbol"] for c in world.netsuite["currency"]}
    project_currency = {p["Id"]: p["CurrencyIsoCode"] for p in sf["pse__Proj__c"] if not p["IsDeleted"]}
    bei_event = {i["Id"]: i["pse__Billing_Event__c"] for i in sf["pse__Billing_Event_Item__c"] if not i["IsDeleted"]}

    invoiced_events: set[str] = set()
    billed: dict[str, Decimal] = defaultdict(Decimal)
    for t in world.netsuite["transaction"]:
        if t["type"] != "CustInvc" or t["status"] in ("Pending Approval", "Rejected", "Voided"):
            continue
        inv_date = date.fromisoformat(t["trandate"])
        le = subsidiary_le[t["subsidiary"]]
        if inv_date > as_of or (cutover[le] is not None and inv_date < cutover[le]):
            continue
        if t["custbody_q2c_billing_event_id"]:
            invoiced_events.add(t["custbody_q2c_billing_event_id"])
        project = t["custbody_q2c_sf_project_id"]
        if project in project_currency:
            net = _money(t["foreigntotal"]) - _money(t["taxtotal"] or 0)
            currency = symbol[t["currency"]]
            if currency != project_currency[project]:
                net = _round(net * rates.rate(currency, project_currency[project], inv_date))
            billed[project] += net
    for h in world.legacy["AR_INVOICE_HDR"]:
        inv_date = _ymd(h["INV_DT"])
        le = LEGACY_ENTITY[h["ENTITY_CD"]]
        if inv_date > as_of or cutover[le] is None or inv_date >= cutover[le]:
            continue
        if h["PSA_BE_REF"]:
            invoiced_events.add(h["PSA_BE_REF"])
        if h["PROJECT_REF"] in project_currency:
            billed[h["PROJECT_REF"]] += _cents(h["NET_AMT_CENTS"])

    items: list[tuple[str, date, Decimal, str | None]] = []  # (project, date, amount, billing event item)
    for t in sf["pse__Timecard__c"]:
        if not t["IsDeleted"] and t["pse__Billable__c"] and t["pse__Approved__c"]:
            items.append((t["pse__Project__c"], date.fromisoformat(t["pse__Start_Date__c"]),
                          _money(t["pse__Total_Billable_Amount__c"]), t["pse__Billing_Event_Item__c"]))
    for e in sf["pse__Expense__c"]:
        if not e["IsDeleted"] and e["pse__Billable__c"] and e["pse__Approved__c"]:
            items.append((e["pse__Project__c"], date.fromisoformat(e["pse__Expense_Date__c"]),
                          _money(e["pse__Billing_Amount__c"]), e["pse__Billing_Event_Item__c"]))
    for m in sf["pse__Milestone__c"]:
        if not m["IsDeleted"] and m["pse__Actual_Date__c"] and m["pse__Approved_for_Billing__c"]:
            items.append((m["pse__Project__c"], date.fromisoformat(m["pse__Actual_Date__c"]),
                          _money(m["pse__Milestone_Amount__c"]), m["pse__Billing_Event_Item__c"]))

    out: dict[str, ProjectWip] = defaultdict(lambda: ProjectWip(unbilled_buckets=defaultdict(Decimal)))
    for project, item_date, amount, bei in items:
        if item_date > as_of:
            continue
        pw = out[project]
        pw.earned += amount
        if bei_event.get(bei) not in invoiced_events:
            pw.unbilled += amount
            pw.unbilled_buckets[wip_age_bucket(item_date, as_of)] += amount
    for project, amount in billed.items():
        out[project].billed += amount
    return dict(out)


def test_wip_per_project_equals_python(built: Built) -> None:
    expected = expected_wip(built.world, AS_OF)
    rows = built.query(
        "select project_id, earned_amount, billed_amount, wip_amount, unbilled_amount, unbilled_0_30_amount, "
        "unbilled_31_60_amount, unbilled_61_90_amount, unbilled_over_90_amount from marts.wip"
    )
    assert {r[0] for r in rows} == set(expected)
    for project, earned, billed, wip, unbilled, b30, b60, b90, b91 in rows:
        exp = expected[project]
        assert (earned, billed, wip, unbilled) == (exp.earned, exp.billed, exp.wip, exp.unbilled), project
        buckets = exp.unbilled_buckets or {}
        assert (b30, b60, b90, b91) == tuple(buckets.get(k, Decimal(0)) for k in ("0-30", "31-60", "61-90", "91+")), \
            project
    # Work in progress exists (recent unbilled time) and so do fully billed projects.
    assert any(e.unbilled > 0 for e in expected.values())
    assert any(e.billed > 0 and e.unbilled == 0 for e in expected.values())


# ---------------------------------------------------------------- lifecycle, utilization


def _sf_date(ts: str | None) -> date | None:
    return None if ts is None else date.fromisoformat(ts[:10])


def test_lifecycle_hand_off_latencies_equal_the_crm_and_psa_records(built: Built) -> None:
    """Won -> contract activation -> first project, from Opportunity.CloseDate,
    Contract.ActivatedDate (SBQQ__Opportunity__c) and pse__Proj__c.CreatedDate (pse__Opportunity__c)."""
    sf = built.world.salesforce
    activated = {c["SBQQ__Opportunity__c"]: _sf_date(c["ActivatedDate"]) for c in sf["Contract"]
                 if not c["IsDeleted"] and c["Status"] == "Activated"}
    first_project: dict[str, date] = {}
    for p in sf["pse__Proj__c"]:
        created = _sf_date(p["CreatedDate"])
        if not p["IsDeleted"] and p["pse__Opportunity__c"] and created <= AS_OF:
            opp = p["pse__Opportunity__c"]
            first_project[opp] = min(created, first_project.get(opp, created))
    expected = {}
    for o in sf["Opportunity"]:
        if o["IsDeleted"] or not o["IsWon"] or o["Type"] == "Amendment":
            continue
        won = date.fromisoformat(o["CloseDate"])
        contract, project = activated.get(o["Id"]), first_project.get(o["Id"])
        expected[o["Id"]] = (
            None if contract is None else (contract - won).days,
            None if project is None else (project - won).days,
            None if contract is None or project is None else (project - contract).days,
        )
    rows = built.query("select opportunity_id, days_won_to_contract, days_won_to_project, days_contract_to_project "
                       "from marts.q2c_lifecycle")
    assert {r[0]: r[1:] for r in rows} == expected
    # Deals without a contract or without a project (anomalies) are there, and so are complete ones.
    assert any(v[0] is None for v in expected.values()) or any(v[1] is None for v in expected.values())
    assert any(None not in v for v in expected.values())


def test_utilization_equals_billable_hours_over_working_hours(built: Built) -> None:
    """Available = 8 h x Monday-Friday days from the resource's creation to the as-of date (every
    sandbox resource is active); billable = approved billable split hours by start month."""
    sf = built.world.salesforce
    active_from = {c["Id"]: _sf_date(c["CreatedDate"]) for c in sf["Contact"]
                   if c["pse__Is_Resource__c"] and not c["IsDeleted"]}
    assert all(c["pse__Is_Resource_Active__c"] for c in sf["Contact"] if c["Id"] in active_from)
    available: dict[tuple[str, date], int] = defaultdict(int)
    for resource, start in active_from.items():
        day = start
        while day <= AS_OF:
            if day.weekday() < 5:
                available[(resource, day.replace(day=1))] += 8
            day += timedelta(days=1)
    billable: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    for t in sf["pse__Timecard__c"]:
        start = date.fromisoformat(t["pse__Start_Date__c"])
        if not t["IsDeleted"] and t["pse__Billable__c"] and t["pse__Approved__c"] and start <= AS_OF:
            billable[(t["pse__Resource__c"], start.replace(day=1))] += _money(t["pse__Total_Hours__c"])
    rows = built.query("select resource_id, month_start, available_hours, billable_hours, utilization "
                       "from marts.utilization")
    assert {(r[0], r[1]) for r in rows} == set(available)
    for resource, month, avail, hours, util in rows:
        assert avail == available[(resource, month)], (resource, month)
        assert hours == billable.get((resource, month), Decimal(0)), (resource, month)
        assert util == (hours / avail).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP), (resource, month)
    assert sum(billable.values()) > 0


# ---------------------------------------------------------------- business health


def test_business_health_covers_90_days_and_builds_before_any_writeback(built: Built) -> None:
    rows = built.query("select report_date, writeback_attempts, writeback_failures, writeback_failure_rate, "
                       "invoices_issued_30d, billable_backlog_reporting from observability.business_health_daily")
    assert sorted(r[0] for r in rows) == [AS_OF - timedelta(days=n) for n in range(89, -1, -1)]
    # No writeback has run in these warehouses (no q2c_sync.sync_log): nothing attempted, rate unknown.
    assert {(r[1], r[2], r[3]) for r in rows} == {(0, 0, None)}
    assert all(r[4] > 0 for r in rows) and all(r[5] > 0 for r in rows)


def test_business_health_counts_writeback_failures_per_day(world_builds, tmp_path) -> None:
    """Once reverse_etl has logged records sent ('ok' or 'failed'), failures are counted on their day;
    records confirmed after a crash, skipped or planned in a dry run were not sent and do not count."""
    source = world_builds.get(42, 1.0)
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(source.warehouse, warehouse)
    attempts = [  # (day offset before the as-of date, status)
        (0, "ok"), (0, "ok"), (0, "failed"), (3, "failed"), (3, "failed"), (5, "ok"),
        (0, "confirmed"), (3, "skipped"), (5, "planned"), (6, "skipped"),
    ]
    with duckdb.connect(str(warehouse)) as con:
        con.execute(SYNC_DDL)
        for n, (offset, status) in enumerate(attempts):
            at = datetime.combine(AS_OF - timedelta(days=offset), datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
            con.execute("insert into q2c_sync.sync_log (sync_run_id, target, external_id, operation, status, "
                        "attempted_at) values (?, 'crm', ?, 'update', ?, ?)", [f"run{offset}", f"x{n}", status, at])
    run_dbt(warehouse, tmp_path, "run", "--select", "business_health_daily")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("select report_date, writeback_attempts, writeback_failures, writeback_failure_rate "
                           "from observability.business_health_daily where writeback_attempts > 0").fetchall()
    assert sorted(rows) == [
        (AS_OF - timedelta(days=5), 1, 0, Decimal("0.0000")),
        (AS_OF - timedelta(days=3), 2, 2, Decimal("1.0000")),
        (AS_OF, 3, 1, Decimal("0.3333")),
    ]


def test_as_of_a_past_date_invoices_issued_after_it_are_not_receivables(world_builds, tmp_path) -> None:
    """Reporting as of an earlier date (a month-end close, a restatement): the invoices issued
    after it are not in the payment status, the AR ageing or the CRM payload, and what remains
    open is each earlier invoice's total less credits less the payments dated by then."""
    source = world_builds.get(7, 4.0)
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(source.warehouse, warehouse)
    as_of = date(2026, 3, 31)
    run_dbt(warehouse, tmp_path, "run", "--select", "invoice_payment_status", "ar_ageing",
            "rev_crm_invoice_payment_status", as_of=as_of)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        issued = dict(con.execute(
            "select invoice_id, total_amount - credited_amount from canonical.invoice where invoice_date <= ?",
            [as_of]).fetchall())
        later = con.execute("select count(*) from canonical.invoice where invoice_date > ?", [as_of]).fetchone()[0]
        paid = dict(con.execute(
            "select invoice_id, sum(applied_amount) from canonical.payment where invoice_id is not null "
            "and payment_date <= ? group by 1", [as_of]).fetchall())
        status = dict(con.execute("select invoice_id, open_amount from marts.invoice_payment_status").fetchall())
        (ageing_open,) = con.execute("select sum(total_open_amount) from marts.ar_ageing").fetchone()
        (payload,) = con.execute("select count(*) from reverse_etl.rev_crm_invoice_payment_status").fetchone()
    assert later > 0, "the world has no invoice after the as-of date: the test would prove nothing"
    assert status == {i: owed - paid.get(i, 0) for i, owed in issued.items()}
    assert ageing_open == sum(v for v in status.values() if v > 0)
    assert payload == len(issued)
