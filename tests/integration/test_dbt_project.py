"""The dbt project, built on a fixture warehouse loaded from the sandbox world.

Loads the world's records with dlt (tests/fixtures/raw_world.py), runs `dbt build` in a
subprocess exactly as our code does, and checks the models against numbers computed here
from the world's records and its anomaly ledger.
"""

from __future__ import annotations

import hashlib
from calendar import monthrange
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from sandbox.world import World
from sandbox.world_model import LEGAL_ENTITIES
from tests.fixtures.dbt_build import AS_OF, Built

CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def built(world_builds) -> Built:
    """Seed 42 at scale 1, the whole project built and tested (shared with the other dbt tests)."""
    return world_builds.get(42, 1.0)


# ---------------------------------------------------------------- expectations from the world


def _money(value: float | int) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def _stripe_major(minor: int) -> Decimal:
    return (Decimal(minor) / 100).quantize(CENT)


def _unix_date(ts: int) -> date:
    return datetime.fromtimestamp(ts, tz=UTC).date()


@dataclass
class ExpectedInvoice:
    invoice_id: str
    currency: str
    due_date: date
    total: Decimal
    paid: Decimal
    credited: Decimal = Decimal(0)  # credit notes issued before payment (Stripe), lowering what is due

    @property
    def open(self) -> Decimal:
        return self.total - self.credited - self.paid


def expected_invoices(world: World) -> dict[str, ExpectedInvoice]:
    """Every invoice the canonical layer should hold, from the world's records: NetSuite CustInvc
    dated on/after its entity's ERP cut-over, issued Stripe invoices, legacy ERP invoices dated
    before the cut-over; paid = payments applied, credited = NetSuite credit memos applied /
    Stripe pre-payment credit notes."""
    currency_symbol = {c["id"]: c["symbol"] for c in world.netsuite["currency"]}
    entity_of_subsidiary = {le["subsidiary_id"]: le["id"] for le in LEGAL_ENTITIES}
    entity_of_code = {le["legacy_code"]: le["id"] for le in LEGAL_ENTITIES if le["legacy_code"]}
    cutover = {le: None if d is None else date.fromisoformat(d) for le, d in world.cutover_dates().items()}
    ns_paid: dict[str, Decimal] = defaultdict(Decimal)
    ns_credited: dict[str, Decimal] = defaultdict(Decimal)
    for t in world.netsuite["transaction"]:
        if t["type"] in ("CustPymt", "CustCred") and t["custbody_q2c_applied_to"]:
            # What reached the invoice (an overpayment's excess stays unapplied on the payment).
            used = t.get("foreignpaymentamountused")
            amount = _money(t["foreigntotal"] if used is None else used)
            (ns_paid if t["type"] == "CustPymt" else ns_credited)[t["custbody_q2c_applied_to"]] += amount
    out = {}
    for t in world.netsuite["transaction"]:
        if t["type"] == "CustInvc":
            cut = cutover[entity_of_subsidiary[t["subsidiary"]]]
            if cut is not None and date.fromisoformat(t["trandate"]) < cut:
                continue
            out[f"netsuite:{t['id']}"] = ExpectedInvoice(
                f"netsuite:{t['id']}",
                currency_symbol[t["currency"]],
                date.fromisoformat(t["duedate"]),
                _money(t["foreigntotal"]),
                ns_paid[t["id"]],
                ns_credited[t["id"]],
            )
    for inv in _issued_stripe_invoices(world):
        out[f"stripe:{inv['id']}"] = ExpectedInvoice(
            f"stripe:{inv['id']}",
            inv["currency"].upper(),
            _unix_date(inv["due_date"]),
            _stripe_major(inv["total"]),
            _stripe_major(inv["amount_paid"]),
            _stripe_major(inv.get("pre_payment_credit_notes_amount") or 0),
        )
    legacy_paid: dict[str, Decimal] = defaultdict(Decimal)
    for r in world.legacy["AR_RECEIPT"]:
        legacy_paid[r["APPLIED_INV_NO"]] += _money(r["RCPT_AMT"])
    for h in world.legacy["AR_INVOICE_HDR"]:
        cut = cutover[entity_of_code[h["ENTITY_CD"]]]
        if cut is None or _legacy_date(h["INV_DT"]) >= cut:
            continue
        out[f"legacy_erp:{h['INV_NO']}"] = ExpectedInvoice(
            f"legacy_erp:{h['INV_NO']}",
            h["CURR_CD"],
            _legacy_date(h["DUE_DT"]),
            _stripe_major(h["GROSS_AMT_CENTS"]),
            legacy_paid[h["INV_NO"]],
        )
    return out


def _legacy_date(yyyymmdd: str) -> date:
    return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))


def _issued_stripe_invoices(world: World) -> list[dict]:
    """Stripe invoices that are invoices (not drafts, not voided), the canonical inclusion rule."""
    return [inv for inv in world.stripe["invoices"] if inv["status"] not in ("draft", "void")]


def expected_bucket(inv: ExpectedInvoice, as_of: date) -> tuple[str, str, int]:
    """(payment_status, aging_bucket, days_past_due), reference/domain.md §3.1."""
    open_amount = inv.open
    days = (as_of - inv.due_date).days
    if open_amount <= 0:
        return "paid", "paid", 0
    status = "overdue" if days > 0 else ("partially_paid" if inv.paid > 0 else "open")
    if days <= 0:
        return status, "current", 0
    bucket = "1-30" if days <= 30 else "31-60" if days <= 60 else "61-90" if days <= 90 else "90+"
    return status, bucket, days


def _add_months(d: date, months: int) -> date:
    """Calendar month arithmetic clamped to the month's last day (SQL interval semantics)."""
    y, m = divmod(d.month - 1 + months, 12)
    return date(d.year + y, m + 1, min(d.day, monthrange(d.year + y, m + 1)[1]))


def expected_billing_lines(world: World, as_of: date) -> dict[str, tuple[str, int, int, int]]:
    """external_id -> (contract_id, amount minor units, period_start, period_end) of each contract's next installment."""
    lines = {}
    for c in world.salesforce["Contract"]:
        if c["Status"] != "Activated" or c["Billing_Model__c"] not in ("Retainer", "Subscription"):
            continue
        term, total = c["ContractTerm"], int(_money(c["Contract_Amount__c"]) * 100)
        share = total // term
        start = date.fromisoformat(c["StartDate"])
        for k in range(term):
            period_start = _add_months(start, k)
            if period_start <= as_of:
                continue
            period_end = _add_months(start, k + 1) - timedelta(days=1)
            amount = total - share * (term - 1) if k == term - 1 else share
            epoch = date(1970, 1, 1)
            lines[f"{c['Id']}-{period_start:%Y%m}"] = (
                c["Id"],
                amount,
                (period_start - epoch).days * 86400,
                (period_end - epoch).days * 86400 + 86399,
            )
            break  # only the next installment is written
    return lines


# ---------------------------------------------------------------- tests


def test_models_land_in_their_schemas(built: Built) -> None:
    rows = built.query(
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_schema in ('staging', 'canonical', 'marts', 'controls', 'reverse_etl')"
    )
    names = {r[0] for r in rows}
    assert {
        "canonical.customer",
        "canonical.contract",
        "canonical.invoice",
        "canonical.payment",
        "canonical.payment_application",
        "canonical.invoice_line",
        "canonical.billable_event",
        "canonical.revenue_schedule",
        "canonical.fx_rate",
        "canonical.engagement",
        "canonical.billing_event",
        "canonical.contract_version",
        "canonical.resource",
        "canonical.rate_card",
        "canonical.coexistence_exceptions",
        "marts.invoice_payment_status",
        "controls.ctl_project_provisioning",
        "reverse_etl.rev_crm_invoice_payment_status",
        "reverse_etl.rev_billing_schedule",
        "staging.stg_netsuite__transaction",
        "staging.stg_stripe__invoices",
    } <= names


def test_invoice_count_is_erps_plus_billing_platform(built: Built) -> None:
    expected = expected_invoices(built.world)
    per_system: dict[str, int] = defaultdict(int)
    for invoice_id in expected:
        per_system[invoice_id.split(":")[0]] += 1
    counts = dict(built.query("select source_system, count(*) from canonical.invoice group by 1"))
    assert counts == per_system
    assert set(per_system) == {"netsuite", "stripe", "legacy_erp"}  # every system contributes
    assert built.query("select count(*) from marts.invoice_payment_status")[0][0] == len(expected)
    assert built.query("select count(*) from reverse_etl.rev_crm_invoice_payment_status")[0][0] == len(expected)


def test_invoice_and_payment_totals_per_currency_match_the_world(built: Built) -> None:
    w = built.world
    expected = expected_invoices(w)
    currency_symbol = {c["id"]: c["symbol"] for c in w.netsuite["currency"]}
    invoiced: dict[str, Decimal] = defaultdict(Decimal)
    paid: dict[str, Decimal] = defaultdict(Decimal)  # every payment received
    applied: dict[str, Decimal] = defaultdict(Decimal)  # what of it reached an invoice
    for inv in expected.values():
        invoiced[inv.currency] += inv.total
        applied[inv.currency] += inv.paid
    for t in w.netsuite["transaction"]:
        if t["type"] == "CustPymt":
            paid[currency_symbol[t["currency"]]] += _money(t["foreigntotal"])
    for inv in _issued_stripe_invoices(w):
        paid[inv["currency"].upper()] += _stripe_major(inv["amount_paid"])
    for r in w.legacy["AR_RECEIPT"]:
        paid[r["CURR_CD"]] += _money(r["RCPT_AMT"])

    assert (
        dict(built.query("select currency, sum(total_amount) from canonical.invoice group by 1")) == invoiced
    )
    assert dict(built.query("select currency, sum(amount) from canonical.payment group by 1")) == paid
    assert dict(built.query("select currency, sum(applied_amount) from canonical.payment group by 1")) == applied
    assert (
        dict(built.query("select currency, sum(paid_amount) from marts.invoice_payment_status group by 1"))
        == applied
    )


def test_every_invoice_status_and_bucket_matches_python(built: Built) -> None:
    expected = expected_invoices(built.world)
    rows = built.query(
        "select invoice_id, currency, due_date, total_amount, paid_amount, open_amount, payment_status, "
        "aging_bucket, days_past_due, as_of_date from marts.invoice_payment_status"
    )
    assert {r[0] for r in rows} == set(expected)
    seen_buckets = set()
    for invoice_id, currency, due, total, paid_amt, open_amt, status, bucket, days, as_of in rows:
        exp = expected[invoice_id]
        assert (currency, due, total, paid_amt, open_amt) == (
            exp.currency,
            exp.due_date,
            exp.total,
            exp.paid,
            exp.open,
        ), invoice_id
        assert (status, bucket, days) == expected_bucket(exp, AS_OF), invoice_id
        assert as_of == AS_OF
        seen_buckets.add(bucket)
    # The world has paid, current and long-overdue invoices: the check above is not vacuous.
    assert {"paid", "current", "90+"} <= seen_buckets


def test_crm_payload_mirrors_the_mart(built: Built) -> None:
    rows = built.query(
        'select p."Q2C_Invoice_Id__c", p.external_id, p."Open_Amount__c", m.open_amount, '
        'p."Aging_Bucket__c", m.aging_bucket, p."Account__c", m.customer_id, length(p.content_hash) '
        "from reverse_etl.rev_crm_invoice_payment_status p "
        'join marts.invoice_payment_status m on m.invoice_id = p."Q2C_Invoice_Id__c"'
    )
    assert rows
    for inv_id, ext_id, p_open, m_open, p_bucket, m_bucket, p_acc, m_acc, hash_len in rows:
        assert (ext_id, p_open, p_bucket, p_acc, hash_len) == (inv_id, m_open, m_bucket, m_acc, 32)


def test_billing_schedule_matches_python(built: Built) -> None:
    expected = expected_billing_lines(built.world, AS_OF)
    rows = built.query(
        "select external_id, contract_id, amount, period_start, period_end, currency, stripe_customer_id, "
        "description, content_hash from reverse_etl.rev_billing_schedule"
    )
    assert len(rows) == len(expected) > 0
    assert {r[0]: r[1:5] for r in rows} == expected
    for ext_id, contract_id, amount, p_start, p_end, currency, customer, description, content_hash in rows:
        assert currency in ("usd", "gbp", "eur") and customer.startswith("cus_")
        # content_hash = md5 of the payload fields in their fixed order, joined by U+001F.
        payload = [ext_id, customer, contract_id, amount, currency, description, p_start, p_end]
        assert content_hash == hashlib.md5("\x1f".join(str(v) for v in payload).encode()).hexdigest()
