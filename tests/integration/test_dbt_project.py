"""The dbt project, built on a fixture warehouse loaded from the sandbox world.

Loads the world's records with dlt (tests/fixtures/raw_world.py), runs `dbt build` in a
subprocess exactly as our code does, and checks the models against numbers computed here
from the world's records and its anomaly ledger.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from calendar import monthrange
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

_REPO_ROOT = Path(__file__).resolve().parents[2]
if str(_REPO_ROOT) not in sys.path:  # tests/ is not a package; make `tests.fixtures` importable
    sys.path.insert(0, str(_REPO_ROOT))

from sandbox.world import World  # noqa: E402
from tests.fixtures.raw_world import load_raw_world  # noqa: E402

DBT_PROJECT_DIR = _REPO_ROOT / "dbt_project"
AS_OF = date(2026, 6, 30)  # the sandbox world's default clock
CENT = Decimal("0.01")


def _dbt_executable() -> str:
    beside_python = Path(sys.executable).parent / "dbt"
    return str(beside_python) if beside_python.exists() else (shutil.which("dbt") or "dbt")


def run_dbt(warehouse: Path, work_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`dbt <args>` against `warehouse`, with target and log files under `work_dir`."""
    env = dict(
        os.environ, Q2C_WAREHOUSE_PATH=str(warehouse.resolve()), DBT_SEND_ANONYMOUS_USAGE_STATS="false"
    )
    cmd = [
        _dbt_executable(),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(work_dir / "target"),
        "--log-path",
        str(work_dir / "logs"),
        "--vars",
        f'{{as_of_date: "{AS_OF.isoformat()}"}}',
    ]
    proc = subprocess.run(cmd, cwd=_REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    return proc


@dataclass
class Built:
    world: World
    warehouse: Path

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql).fetchall()


def _build(tmp_path_factory: pytest.TempPathFactory, seed: int, *select: str) -> Built:
    work = tmp_path_factory.mktemp(f"dbt_seed{seed}")
    warehouse = work / "warehouse.duckdb"
    world = load_raw_world(warehouse, seed=seed)
    selection = ("--select", *select, "--indirect-selection", "cautious") if select else ()
    run_dbt(warehouse, work, "build", *selection)
    return Built(world, warehouse)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Seed 42, the whole project built and tested."""
    return _build(tmp_path_factory, 42)


@pytest.fixture(scope="module")
def built_seed7(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Seed 7, only what the project-provisioning control needs."""
    return _build(tmp_path_factory, 7, "+ctl_contract_without_project")


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
    currency_symbol = {c["id"]: c["symbol"] for c in world.netsuite["currency"]}
    ns_paid: dict[str, Decimal] = defaultdict(Decimal)
    for t in world.netsuite["transaction"]:
        if t["type"] == "CustPymt" and t["custbody_q2c_applied_to"]:
            # What reached the invoice (an overpayment's excess stays unapplied on the payment).
            used = t.get("foreignpaymentamountused")
            ns_paid[t["custbody_q2c_applied_to"]] += _money(t["foreigntotal"] if used is None else used)
    out = {}
    for t in world.netsuite["transaction"]:
        if t["type"] == "CustInvc":
            out[f"netsuite:{t['id']}"] = ExpectedInvoice(
                f"netsuite:{t['id']}",
                currency_symbol[t["currency"]],
                date.fromisoformat(t["duedate"]),
                _money(t["foreigntotal"]),
                ns_paid[t["id"]],
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
    return out


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


def _ledger_contract_ids(world: World) -> set[str]:
    return {
        e["objects"]["contract_id"] for e in world.ledger if e["kind"] == "contract_activated_without_project"
    }


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
        "marts.invoice_payment_status",
        "controls.ctl_contract_without_project",
        "reverse_etl.rev_crm_invoice_payment_status",
        "reverse_etl.rev_billing_schedule",
        "staging.stg_netsuite__transaction",
        "staging.stg_stripe__invoices",
    } <= names


def test_invoice_count_is_erp_plus_billing_platform(built: Built) -> None:
    w = built.world
    n_custinvc = sum(1 for t in w.netsuite["transaction"] if t["type"] == "CustInvc")
    n_stripe = len(_issued_stripe_invoices(w))
    counts = dict(built.query("select source_system, count(*) from canonical.invoice group by 1"))
    assert counts == {"netsuite": n_custinvc, "stripe": n_stripe}
    assert built.query("select count(*) from marts.invoice_payment_status")[0][0] == n_custinvc + n_stripe
    assert (
        built.query("select count(*) from reverse_etl.rev_crm_invoice_payment_status")[0][0]
        == n_custinvc + n_stripe
    )


def test_invoice_and_payment_totals_per_currency_match_the_world(built: Built) -> None:
    w = built.world
    currency_symbol = {c["id"]: c["symbol"] for c in w.netsuite["currency"]}
    invoiced: dict[str, Decimal] = defaultdict(Decimal)
    paid: dict[str, Decimal] = defaultdict(Decimal)  # every payment received
    applied: dict[str, Decimal] = defaultdict(Decimal)  # what of it reached an invoice
    for t in w.netsuite["transaction"]:
        currency = currency_symbol[t["currency"]]
        if t["type"] == "CustInvc":
            invoiced[currency] += _money(t["foreigntotal"])
        elif t["type"] == "CustPymt":
            paid[currency] += _money(t["foreigntotal"])
            if t["custbody_q2c_applied_to"]:
                applied[currency] += _money(t["foreignpaymentamountused"])
    for inv in _issued_stripe_invoices(w):
        invoiced[inv["currency"].upper()] += _stripe_major(inv["total"])
        if inv["amount_paid"] > 0:
            paid[inv["currency"].upper()] += _stripe_major(inv["amount_paid"])
            applied[inv["currency"].upper()] += _stripe_major(inv["amount_paid"])

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


@pytest.mark.parametrize("which", ["built", "built_seed7"])
def test_project_provisioning_control_equals_the_ledger(which: str, request: pytest.FixtureRequest) -> None:
    b: Built = request.getfixturevalue(which)
    expected = _ledger_contract_ids(b.world)
    assert expected, "the world should inject at least one contract without a project"
    rows = b.query(
        "select contract_id, rule_id, control_point, owner_team, severity, days_since_activation, "
        "as_of_date, exception_id from controls.ctl_contract_without_project"
    )
    assert {r[0] for r in rows} == expected
    for _, rule, point, team, severity, days, as_of, exc_id in rows:
        assert (rule, point, team, severity, as_of) == (
            "PP-001",
            "project_provisioning",
            "Delivery Operations",
            "high",
            AS_OF,
        )
        assert days > 14 and len(exc_id) == 32


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
