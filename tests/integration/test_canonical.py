"""The canonical layer against the sandbox world, at two seeds and scales.

Every expectation is computed here from the world's own records (wire format), never from the
SQL: which source invoices are canonical (ERP cut-over rule), their totals and open balances,
FX conversion with the world's NetSuite currencyrate rows, the billable PSA items and Stripe
charges, the correlation chain opportunity -> contract -> project -> invoice -> payment, and
straight-line retainer revenue. The last test changes raw data and checks that the incremental models end up
equal to a full refresh.
"""

from __future__ import annotations

import shutil
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from sandbox.world import World
from sandbox.world_model import LEGAL_ENTITIES
from tests.fixtures.dbt_build import Built, run_dbt

CENT = Decimal("0.01")
REPORTING_CURRENCY = "USD"  # dbt var reporting_currency (dbt_project.yml)
WORLDS = [(42, 1.0), (7, 4.0)]


@pytest.fixture(scope="module", params=WORLDS, ids=lambda p: f"seed{p[0]}_scale{p[1]:g}")
def built(request, world_builds) -> Built:
    seed, scale = request.param
    return world_builds.get(seed, scale)


# ---------------------------------------------------------------- expectations from the world


def _money(value: float | int | str) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def _cents(value: int) -> Decimal:
    return (Decimal(value) / 100).quantize(CENT)


def _unix_date(ts: int) -> date:
    return datetime.fromtimestamp(ts, tz=UTC).date()


def _yyyymmdd(text: str) -> date:
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


@dataclass
class SourceInvoice:
    invoice_id: str
    system: str
    legal_entity: str
    currency: str
    invoice_date: date
    total: Decimal
    credited: Decimal
    source_open: Decimal  # the source system's own open balance


def source_invoices(world: World) -> dict[str, SourceInvoice]:
    """The invoices the canonical layer must hold: NetSuite CustInvc (not pending/rejected/voided)
    dated on/after the entity's cut-over, legacy AR invoices dated before it, issued Stripe invoices."""
    cutover = {le: None if d is None else date.fromisoformat(d) for le, d in world.cutover_dates().items()}
    entity_of_subsidiary = {le["subsidiary_id"]: le["id"] for le in LEGAL_ENTITIES}
    entity_of_code = {le["legacy_code"]: le["id"] for le in LEGAL_ENTITIES if le["legacy_code"]}
    currency_symbol = {c["id"]: c["symbol"] for c in world.netsuite["currency"]}
    stripe_customer_entity = {c["id"]: (c.get("metadata") or {}).get("legal_entity") for c in world.stripe["customers"]}
    credited: dict[str, Decimal] = defaultdict(Decimal)
    for t in world.netsuite["transaction"]:
        if t["type"] == "CustCred" and t["custbody_q2c_applied_to"]:
            credited[t["custbody_q2c_applied_to"]] += _money(t["foreignpaymentamountused"])
    out: dict[str, SourceInvoice] = {}
    for t in world.netsuite["transaction"]:
        if t["type"] != "CustInvc" or t["status"] in ("Pending Approval", "Rejected", "Voided"):
            continue
        le, d = entity_of_subsidiary[t["subsidiary"]], date.fromisoformat(t["trandate"])
        if cutover[le] is not None and d < cutover[le]:
            continue
        out[f"netsuite:{t['id']}"] = SourceInvoice(
            f"netsuite:{t['id']}", "netsuite", le, currency_symbol[t["currency"]], d, _money(t["foreigntotal"]),
            credited[t["id"]], _money(t["foreignamountunpaid"]))
    for h in world.legacy["AR_INVOICE_HDR"]:
        le, d = entity_of_code[h["ENTITY_CD"]], _yyyymmdd(h["INV_DT"])
        if cutover[le] is None or d >= cutover[le]:
            continue
        out[f"legacy_erp:{h['INV_NO']}"] = SourceInvoice(
            f"legacy_erp:{h['INV_NO']}", "legacy_erp", le, h["CURR_CD"], d, _cents(h["GROSS_AMT_CENTS"]),
            Decimal("0.00"), _cents(h["OPEN_AMT_CENTS"]))
    for inv in world.stripe["invoices"]:
        if inv["status"] in ("draft", "void") or inv.get("deleted"):
            continue
        le = (inv.get("metadata") or {}).get("legal_entity") or stripe_customer_entity.get(inv["customer"])
        finalized = (inv.get("status_transitions") or {}).get("finalized_at") or inv["created"]
        out[f"stripe:{inv['id']}"] = SourceInvoice(
            f"stripe:{inv['id']}", "stripe", le, inv["currency"].upper(), _unix_date(finalized),
            _cents(inv["total"]), _cents(inv.get("pre_payment_credit_notes_amount") or 0),
            _cents(inv["amount_remaining"]))
    return out


class Rates:
    """The world's NetSuite currencyrate rows: units of base per 1 transaction currency, effective
    from their date until the pair's next rate."""

    def __init__(self, world: World) -> None:
        symbol = {c["id"]: c["symbol"] for c in world.netsuite["currency"]}
        pairs: dict[tuple[str, str], dict[date, tuple[int, Decimal]]] = defaultdict(dict)
        for r in world.netsuite["currencyrate"]:
            key = (symbol[r["transactioncurrency"]], symbol[r["basecurrency"]])
            day, rid = date.fromisoformat(r["effectivedate"]), int(r["id"])
            if day not in pairs[key] or pairs[key][day][0] < rid:  # a later publication the same day wins
                pairs[key][day] = (rid, Decimal(str(r["exchangerate"])))
        self._pairs = {k: sorted((d, v[1]) for d, v in days.items()) for k, days in pairs.items()}

    def rate(self, from_currency: str, to_currency: str, on: date) -> Decimal:
        if from_currency == to_currency:
            return Decimal(1)
        series = self._pairs[(from_currency, to_currency)]
        i = bisect_right([d for d, _ in series], on)
        assert i > 0, f"no {from_currency}->{to_currency} rate on or before {on}"
        return series[i - 1][1]

    def convert(self, amount: Decimal, from_currency: str, to_currency: str, on: date) -> Decimal:
        return (amount * self.rate(from_currency, to_currency, on)).quantize(CENT, rounding=ROUND_HALF_UP)


FUNCTIONAL = {le["id"]: le["currency"] for le in LEGAL_ENTITIES}


# ---------------------------------------------------------------- invoices


def test_every_source_invoice_appears_exactly_once(built: Built) -> None:
    expected = source_invoices(built.world)
    rows = built.query("select invoice_id, source_system from canonical.invoice")
    assert len(rows) == len({r[0] for r in rows})  # one row per invoice id
    assert {r[0] for r in rows} == set(expected)
    per_system: dict[str, int] = defaultdict(int)
    for inv in expected.values():
        per_system[inv.system] += 1
    assert dict(built.query("select source_system, count(*) from canonical.invoice group by 1")) == per_system
    assert set(per_system) == {"netsuite", "stripe", "legacy_erp"}
    # The sandbox's systems respect the cut-over: routing excludes nothing.
    assert built.query("select count(*) from canonical.coexistence_exceptions")[0][0] == 0


def test_invoice_totals_per_system_and_currency_to_the_cent(built: Built) -> None:
    expected: dict[tuple[str, str], list] = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
    for inv in source_invoices(built.world).values():
        agg = expected[(inv.system, inv.currency)]
        agg[0] += 1
        agg[1] += inv.total
        agg[2] += inv.credited
    rows = built.query(
        "select source_system, currency, count(*), sum(total_amount), sum(credited_amount) "
        "from canonical.invoice group by 1, 2"
    )
    assert {(r[0], r[1]): [r[2], r[3], r[4]] for r in rows} == dict(expected)


def test_every_open_amount_equals_the_source_systems_own_balance(built: Built) -> None:
    expected = source_invoices(built.world)
    rows = built.query(
        "select i.invoice_id, i.total_amount, i.credited_amount, i.source_open_amount, "
        "coalesce(sum(case when a.application_type = 'payment' then a.applied_amount end), 0), "
        "coalesce(sum(case when a.application_type = 'credit_memo' then a.applied_amount end), 0) "
        "from canonical.invoice i left join canonical.payment_application a on a.invoice_id = i.invoice_id "
        "group by 1, 2, 3, 4"
    )
    assert len(rows) == len(expected)
    for invoice_id, total, credited, source_open, paid, credit_applied in rows:
        exp = expected[invoice_id]
        assert (total, credited, credit_applied) == (exp.total, exp.credited, exp.credited), invoice_id
        assert total - credited - paid == exp.source_open == source_open, invoice_id
    assert any(e.source_open > 0 for e in expected.values()) and any(e.source_open == 0 for e in expected.values())


def test_fx_amounts_equal_a_python_conversion_with_the_worlds_rates(built: Built) -> None:
    rates = Rates(built.world)
    expected = source_invoices(built.world)
    rows = built.query(
        "select invoice_id, legal_entity_id, currency, invoice_date, total_amount, functional_currency, "
        "total_amount_functional, total_amount_reporting, fx_rate_functional, fx_rate_reporting, fx_rate_date "
        "from canonical.invoice"
    )
    converted = 0
    for inv_id, le, cur, d, total, functional, total_f, total_r, rate_f, rate_r, fx_date in rows:
        assert (le, cur, d) == (expected[inv_id].legal_entity, expected[inv_id].currency,
                                expected[inv_id].invoice_date), inv_id
        assert functional == FUNCTIONAL[le] and fx_date == d
        assert rate_f == rates.rate(cur, functional, d) and rate_r == rates.rate(cur, REPORTING_CURRENCY, d), inv_id
        assert total_f == rates.convert(total, cur, functional, d), inv_id
        assert total_r == rates.convert(total, cur, REPORTING_CURRENCY, d), inv_id
        converted += cur != REPORTING_CURRENCY
    assert converted > 0  # foreign-currency invoices exist: the check converts something

    # Billable events (service-date rates) and payments (payment-date rates), every row.
    for table, amount, on in (("billable_event", "amount", "event_date"), ("payment", "amount", "payment_date")):
        rows = built.query(
            f"select currency, functional_currency, {on}, {amount}, {amount}_functional, {amount}_reporting "
            f"from canonical.{table} where functional_currency is not null"
        )
        assert rows
        for cur, functional, d, value, value_f, value_r in rows:
            assert value_f == rates.convert(value, cur, functional, d), (table, cur, d, value)
            assert value_r == rates.convert(value, cur, REPORTING_CURRENCY, d), (table, cur, d, value)


# ---------------------------------------------------------------- billable events


def test_billable_events_equal_the_worlds_psa_items(built: Built) -> None:
    sf = built.world.salesforce
    expected: dict[str, list] = {}
    for kind, obj, amount_field, keep in (
        ("time", "pse__Timecard__c", "pse__Total_Billable_Amount__c", lambda r: True),
        ("expense", "pse__Expense__c", "pse__Billing_Amount__c", lambda r: True),
        ("milestone", "pse__Milestone__c", "pse__Milestone_Amount__c", lambda r: r["pse__Actual_Date__c"]),
    ):
        items = [r for r in sf[obj] if not r.get("IsDeleted") and keep(r)]
        expected[kind] = [len(items), sum((_money(r[amount_field] or 0) for r in items), Decimal(0))]
    expected_hours = sum((_money(r["pse__Total_Hours__c"]) for r in sf["pse__Timecard__c"] if not r.get("IsDeleted")),
                         Decimal(0))
    rows = built.query("select event_type, count(*), sum(amount) from canonical.billable_event "
                       "where source_system = 'certinia' group by 1")
    assert {r[0]: [r[1], r[2]] for r in rows} == expected
    assert built.query("select sum(quantity) from canonical.billable_event where event_type = 'time'")[0][0] \
        == expected_hours
    # Each split's ids and billing link as the PSA has them.
    splits = {f"certinia:{r['Id']}": r for r in sf["pse__Timecard__c"] if not r.get("IsDeleted")}
    bei_event = {r["Id"]: r["pse__Billing_Event__c"] for r in sf["pse__Billing_Event_Item__c"]}
    for event_id, project, event_date, bill_rate, billing_event in built.query(
        "select billable_event_id, project_id, event_date, bill_rate, billing_event_id "
        "from canonical.billable_event where event_type = 'time'"
    ):
        r = splits[event_id]
        assert (project, event_date.isoformat(), bill_rate, billing_event) == (
            r["pse__Project__c"], r["pse__Start_Date__c"],
            None if r["pse__Bill_Rate__c"] is None else _money(r["pse__Bill_Rate__c"]),
            bei_event.get(r["pse__Billing_Event_Item__c"])), event_id


def _stripe_line_subscription_item(line: dict) -> str | None:
    """The subscription item a Stripe invoice line bills: Basil ``parent.subscription_item_details``,
    before it the flat ``subscription_item``."""
    details = (line.get("parent") or {}).get("subscription_item_details") or {}
    return details.get("subscription_item") or line.get("subscription_item")


def test_billable_events_equal_the_worlds_stripe_charges(built: Built) -> None:
    """One charge per subscription item and service period of the world's Stripe invoices (a voided
    invoice and its reissue are one charge), its amount from the latest invoice that is not void, its
    contract from the subscription's metadata (never the invoice's), its project the contract's."""
    w = built.world
    subscriptions = {s["id"]: s for s in w.stripe["subscriptions"]}
    billing_model = {c["Id"]: c["Billing_Model__c"] for c in w.salesforce["Contract"]}
    projects_of: dict[str, list[str]] = defaultdict(list)
    for p in w.salesforce["pse__Proj__c"]:
        if p.get("Contract__c") and not p.get("IsDeleted"):
            projects_of[p["Contract__c"]].append(p["Id"])
    periods: dict[tuple[str, date], list[tuple[dict, dict]]] = defaultdict(list)
    for inv in w.stripe["invoices"]:
        if inv.get("deleted"):
            continue
        for line in inv["lines"]["data"]:
            item = _stripe_line_subscription_item(line)
            if item is not None:
                periods[(item, _unix_date(line["period"]["start"]))].append((inv, line))
    expected: dict[str, tuple] = {}
    contract_named_elsewhere = 0
    for (item, start), billed in periods.items():
        inv, line = min(billed, key=lambda b: (b[0]["status"] == "void", -b[0]["created"]))
        subscription = subscriptions[inv["parent"]["subscription_details"]["subscription"]]
        contract = subscription["metadata"]["salesforce_contract_id"]
        assert len(projects_of[contract]) == 1, contract  # the world has one project per Stripe contract
        assert inv["currency"] in ("usd", "eur", "gbp")  # two-decimal currencies: minor units are cents
        contract_named_elsewhere += (inv.get("metadata") or {}).get("salesforce_contract_id") != contract
        expected[f"stripe:{item}:{start.isoformat()}"] = (
            {"Retainer": "retainer", "Subscription": "subscription"}[billing_model[contract]],
            contract, projects_of[contract][0], start, start, _money(line["quantity"]), _cents(line["amount"]),
            inv["currency"].upper(), line["id"])
    merged = sum(len(billed) > 1 for billed in periods.values())
    assert expected and merged > 0  # the world voids and reissues some invoices: those periods are merged
    assert merged == sum(inv["status"] == "void" for inv in w.stripe["invoices"])
    assert contract_named_elsewhere > 0  # the invoice's metadata names another contract for some charges

    rows = built.query(
        "select billable_event_id, event_type, contract_id, project_id, event_date, ready_to_bill_date, quantity, "
        "amount, currency, source_id, standard_rate, standard_amount, bill_rate, is_billable, is_approved, "
        "resource_id, assignment_id, billing_event_item_id, billing_event_id, source_system "
        "from canonical.billable_event where event_type in ('retainer', 'subscription')"
    )
    actual = {r[0]: tuple(r[1:10]) for r in rows}
    assert len(actual) == len(rows)
    assert actual == expected
    for r in rows:
        assert (r[10], r[11], r[12:15], r[15:19], r[19]) == (None, r[7], (None, True, True), (None,) * 4, "stripe"), r[0]
    # The project's account (else the contract's), legal entity (else the contract's) and deal.
    contracts = {c["Id"]: c for c in w.salesforce["Contract"]}
    projects = {p["Id"]: p for p in w.salesforce["pse__Proj__c"]}
    for event_id, contract, project, customer, legal_entity, correlation in built.query(
        "select billable_event_id, contract_id, project_id, customer_id, legal_entity_id, correlation_id "
        "from canonical.billable_event where source_system = 'stripe'"
    ):
        c, p = contracts[contract], projects[project]
        assert (customer, legal_entity, correlation) == (
            p["pse__Account__c"] or c["AccountId"], p["Legal_Entity__c"] or c["Legal_Entity__c"],
            c["SBQQ__Opportunity__c"]), event_id


# ---------------------------------------------------------------- correlation chain


def test_correlation_ids_reach_from_opportunity_to_payment(built: Built) -> None:
    """The deal of each invoice, from the world's links (invoice -> project -> contract ->
    opportunity; the contract's opportunity when the invoice names no project), carried on to
    the invoice's payments. Invoices the ledger marks with a wrong contract reference are left out."""
    w = built.world
    contract_opportunity = {c["Id"]: c["SBQQ__Opportunity__c"] for c in w.salesforce["Contract"]}
    projects = {p["Id"]: p for p in w.salesforce["pse__Proj__c"]}

    def deal(project_id: str | None, contract_id: str | None) -> str | None:
        if project_id in projects:
            p = projects[project_id]
            return contract_opportunity.get(p["Contract__c"]) or p["pse__Opportunity__c"]
        return contract_opportunity.get(contract_id)

    expected: dict[str, str | None] = {}
    for t in w.netsuite["transaction"]:
        if t["type"] == "CustInvc":
            expected[f"netsuite:{t['id']}"] = deal(t["custbody_q2c_sf_project_id"], t["custbody_q2c_sf_contract_id"])
    for h in w.legacy["AR_INVOICE_HDR"]:
        expected[f"legacy_erp:{h['INV_NO']}"] = deal(h["PROJECT_REF"], h["SF_CONTRACT_REF"])
    for inv in w.stripe["invoices"]:
        meta = inv.get("metadata") or {}
        expected[f"stripe:{inv['id']}"] = deal(meta.get("salesforce_project_id"), meta.get("salesforce_contract_id"))
    wrong_reference = {e["key"] for e in w.ledger if e["kind"] == "inconsistent_contract_id"}

    invoices = built.query("select invoice_id, correlation_id from canonical.invoice")
    checked = 0
    for invoice_id, correlation_id in invoices:
        if invoice_id in wrong_reference:
            continue
        assert correlation_id == expected[invoice_id] is not None, invoice_id
        checked += 1
    assert checked >= 0.9 * len(invoices) > 0
    by_invoice = dict(invoices)
    payments = built.query("select payment_id, invoice_id, correlation_id from canonical.payment")
    assert any(inv is not None for _, inv, _ in payments)
    for payment_id, invoice_id, correlation_id in payments:
        assert correlation_id == (by_invoice[invoice_id] if invoice_id else None), payment_id
    # ... and the invoice's opportunity is a won opportunity of the invoice's customer.
    won = {o["Id"]: o["AccountId"] for o in w.salesforce["Opportunity"] if o["IsWon"]}
    for invoice_id, correlation_id, customer_id in built.query(
        "select invoice_id, correlation_id, customer_id from canonical.invoice"
    ):
        if invoice_id not in wrong_reference:
            assert won.get(correlation_id) == customer_id, invoice_id


# ---------------------------------------------------------------- revenue


def _months(first: date, last: date):
    m = date(first.year, first.month, 1)
    while m <= last:
        yield m
        m = date(m.year + (m.month // 12), m.month % 12 + 1, 1)


def test_retainer_revenue_is_straight_line_by_day(built: Built) -> None:
    expected: dict[tuple[str, date], Decimal] = {}
    for c in built.world.salesforce["Contract"]:
        if c["Billing_Model__c"] != "Retainer" or not c["ActivatedDate"] or c.get("IsDeleted"):
            continue
        start, end = date.fromisoformat(c["StartDate"]), date.fromisoformat(c["EndDate"])
        amount, days = _money(c["Contract_Amount__c"]), (end - start).days + 1

        def through(d: date, amount: Decimal = amount, start: date = start, days: int = days) -> Decimal:
            elapsed = min(days, max(0, (d - start).days + 1))
            return (amount * elapsed / days).quantize(CENT, rounding=ROUND_HALF_UP)

        for m in _months(start, end):
            month_end = date(m.year + (m.month // 12), m.month % 12 + 1, 1) - timedelta(days=1)
            expected[(c["Id"], m)] = through(month_end) - through(m - timedelta(days=1))
    assert expected
    rows = built.query(
        "select contract_id, period_month, recognized_amount from canonical.revenue_schedule "
        "where recognition_method = 'straight_line'"
    )
    actual = {(r[0], r[1]): r[2] for r in rows}
    # Months outside the term (an invoice dated after it) recognise nothing.
    assert {k: v for k, v in actual.items() if k in expected} == expected
    assert all(v == 0 for k, v in actual.items() if k not in expected)


# ---------------------------------------------------------------- incremental models


def _table(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple]:
    return sorted(con.execute(f"select * from canonical.{name}").fetchall(), key=repr)


def test_incremental_models_equal_a_full_refresh_after_source_changes(world_builds, tmp_path: Path) -> None:
    base = world_builds.get(42, 1.0)
    incremental_wh, full_wh = tmp_path / "incremental.duckdb", tmp_path / "full.duckdb"
    shutil.copy(base.warehouse, incremental_wh)
    with duckdb.connect(str(incremental_wh)) as con:
        split_id, hours, amount = con.execute(
            "select id, pse__total_hours__c, pse__total_billable_amount__c from raw_certinia.pse_timecard_c "
            "where pse__total_billable_amount__c > 0 order by id limit 1").fetchone()
        deleted_split = con.execute(
            "select id from raw_certinia.pse_timecard_c where not is_deleted order by id desc limit 1").fetchone()[0]
        line_id, line_tx = con.execute(
            "select l.id, l.transaction from raw_netsuite.transactionline l join raw_netsuite.transaction t "
            "on t.id = l.transaction where t.type = 'CustInvc' and l.mainline = 'F' and l.taxline = 'F' "
            "order by l.id limit 1").fetchone()
        # Rows come through a later dlt load (its load id), as the pipeline would write them.
        load = str(float(con.execute("select max(_dlt_load_id) from raw_certinia.pse_timecard_c").fetchone()[0]) + 3600)
        newer = f"system_modstamp + interval 1 day, _dlt_load_id = '{load}'"
        # An updated split (more hours, a newer SystemModstamp), a new split, a split in the
        # recycle bin, a split that arrives late with an old SystemModstamp, a project whose
        # legal entity is filled in, and a NetSuite transaction line hard-deleted from raw.
        con.execute(f"update raw_certinia.pse_timecard_c set pse__total_hours__c = pse__total_hours__c + 1, "
                    f"pse__total_billable_amount__c = pse__total_billable_amount__c + 100, "
                    f"system_modstamp = {newer} where id = ?", [split_id])
        con.execute("insert into raw_certinia.pse_timecard_c select * replace ('a2TNEW000000001AAA' as id, "
                    "system_modstamp + interval 1 day as system_modstamp, ? as _dlt_load_id) "
                    "from raw_certinia.pse_timecard_c where id = ?", [load, split_id])
        con.execute("insert into raw_certinia.pse_timecard_c select * replace ('a2TLATE00000001AAA' as id, "
                    "system_modstamp - interval 400 day as system_modstamp, ? as _dlt_load_id) "
                    "from raw_certinia.pse_timecard_c where id = ?", [load, split_id])
        con.execute(f"update raw_certinia.pse_timecard_c set is_deleted = true, system_modstamp = {newer} "
                    "where id = ?", [deleted_split])
        moved_project, old_entity, new_entity = con.execute(
            "select p.id, p.legal_entity__c, (select min(l.legal_entity__c) from raw_certinia.pse_proj_c l "
            "where l.legal_entity__c <> p.legal_entity__c) from raw_certinia.pse_proj_c p "
            "join raw_certinia.pse_timecard_c t on t.pse__project__c = p.id "
            "where p.legal_entity__c is not null order by p.id limit 1").fetchone()
        con.execute("update raw_certinia.pse_proj_c set legal_entity__c = ? where id = ?", [new_entity, moved_project])
        con.execute("delete from raw_netsuite.transactionline where id = ?", [line_id])
        # Stripe: a paid invoice voided and reissued a day later in the pre-Basil shape (flat
        # `subscription` / `subscription_item`) at another price, and another invoice hard-deleted.
        stripe_line = ("select i.id, i.created, l.value ->> 'id', l.value ->> '$.parent.subscription_item_details."
                       "subscription_item', l.value ->> '$.parent.subscription_item_details.subscription', "
                       "cast(l.value ->> '$.period.start' as bigint), cast(l.value ->> 'amount' as bigint), "
                       "l.value -> 'period' from raw_stripe.invoices i, json_each(i.lines__data) l "
                       "where i.status = 'paid' and i.billing_reason <> 'manual' order by i.id")  # alone in their period
        voided, created, voided_line, item, subscription, period_start, line_amount, period = \
            con.execute(stripe_line).fetchone()
        gone_invoice, _, gone_line, gone_item, _, gone_start, _, _ = con.execute(stripe_line).fetchall()[-1]
        con.execute("update raw_stripe.invoices set status = 'void', status_transitions__voided_at = created + 3600 "
                    "where id = ?", [voided])
        con.execute(
            "insert into raw_stripe.invoices select * replace ('in_TESTREISSUE01' as id, created + 86400 as created, "
            "'open' as status, cast(null as json) as parent__subscription_details, "
            "cast(null as varchar) as parent__type, ? as subscription, '2024-06-20' as _stripe_api_version, "
            "json_array(json_object('id', 'il_TESTREISSUE01', 'object', 'line_item', 'type', 'subscription', "
            "'amount', ?, 'currency', currency, 'quantity', 1, 'period', ?::json, 'subscription', ?, "
            "'subscription_item', ?)) as lines__data) from raw_stripe.invoices where id = ?",
            [subscription, line_amount + 1234, period, subscription, item, voided])
        con.execute("delete from raw_stripe.invoices where id = ?", [gone_invoice])
    shutil.copy(incremental_wh, full_wh)

    run_dbt(incremental_wh, tmp_path / "inc", "build", "--select", "engagement", "billable_event", "invoice_line",
            "--indirect-selection", "cautious")
    run_dbt(full_wh, tmp_path / "full", "build", "--select", "engagement", "billable_event", "invoice_line",
            "--indirect-selection", "cautious", "--full-refresh")

    with duckdb.connect(str(incremental_wh), read_only=True) as inc, duckdb.connect(str(full_wh), read_only=True) as full:
        for name in ("billable_event", "invoice_line"):
            assert _table(inc, name) == _table(full, name), name
        events = dict(inc.execute("select billable_event_id, amount from canonical.billable_event").fetchall())
        assert events[f"certinia:{split_id}"] == _money(amount) + 100
        assert events["certinia:a2TNEW000000001AAA"] == _money(amount) + 100
        assert f"certinia:{deleted_split}" not in events
        assert events["certinia:a2TLATE00000001AAA"] == _money(amount) + 100
        entities = {r[0] for r in inc.execute("select distinct legal_entity_id from canonical.billable_event "
                                              "where project_id = ?", [moved_project]).fetchall()}
        assert entities == {new_entity} != {old_entity}
        assert inc.execute("select quantity from canonical.billable_event where billable_event_id = ?",
                           [f"certinia:{split_id}"]).fetchone()[0] == _money(hours) + 1
        # The reissue replaces the voided line as the period's charge; the deleted invoice's charge is gone.
        charge = f"stripe:{item}:{_unix_date(period_start).isoformat()}"
        assert inc.execute("select source_id, amount from canonical.billable_event where billable_event_id = ?",
                           [charge]).fetchone() == ("il_TESTREISSUE01", _cents(line_amount + 1234)), voided_line
        assert f"stripe:{gone_item}:{_unix_date(gone_start).isoformat()}" not in events, gone_line
        lines = {r[0] for r in inc.execute("select invoice_line_id from canonical.invoice_line").fetchall()}
        assert f"netsuite:{line_id}" not in lines
        assert any(lid.startswith("netsuite:") for lid in lines)
        # The invoice keeps its other lines.
        assert inc.execute("select count(*) from canonical.invoice_line where invoice_id = ?",
                           [f"netsuite:{line_tx}"]).fetchone()[0] == full.execute(
            "select count(*) from canonical.invoice_line_source where invoice_id = ?", [f"netsuite:{line_tx}"]
        ).fetchone()[0]
