"""The whole graph through Dagster against the sandbox on loopback, checked against the sandbox's truth."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.support.truth import sandbox_totals

pytestmark = pytest.mark.e2e

RAW_TABLES = {
    ("salesforce", "Account"): "raw_salesforce.account",
    ("salesforce", "Opportunity"): "raw_salesforce.opportunity",
    ("salesforce", "Contract"): "raw_salesforce.contract",
    ("salesforce", "Contact"): "raw_certinia.contact",
    ("salesforce", "pse__Proj__c"): "raw_certinia.pse_proj_c",
    ("salesforce", "pse__Timecard__c"): "raw_certinia.pse_timecard_c",
    ("stripe", "customers"): "raw_stripe.customers",
    ("stripe", "invoices"): "raw_stripe.invoices",
    ("netsuite", "subsidiary"): "raw_netsuite.subsidiary",
    ("netsuite", "currency"): "raw_netsuite.currency",
    ("netsuite", "customer"): "raw_netsuite.customer",
    ("netsuite", "transaction"): "raw_netsuite.transaction",
}


@pytest.fixture(scope="module")
def sandbox(q2c_env: Path):
    from orchestration.dbt_project import prepare_manifest
    from sandbox.server import Sandbox

    prepare_manifest()
    with Sandbox(q2c_env / "sandbox", seed=42, scale=1.0) as sb:
        yield sb


@pytest.fixture(scope="module")
def first_run(sandbox):
    from orchestration.runner import run_pipeline, summarize

    result = run_pipeline()
    return summarize(result)


def _warehouse(q2c_env: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(q2c_env / "warehouse" / "q2c.duckdb"), read_only=True)


_sandbox_truth = sandbox_totals  # the sandbox's own invoiced and paid per currency (tests/support/truth.py)


def test_run_succeeds_and_every_layer_did_work(first_run):
    assert first_run.success, first_run.render()
    assert set(first_run.rows_loaded) == {"salesforce", "certinia", "stripe", "netsuite", "legacy_erp"}
    assert first_run.models_built >= 15
    assert first_run.checks_failed == []
    assert first_run.checks_passed >= 20
    # It ends with the sync log, the alert log and the BI serving file in place (what `make demo` prints).
    assert first_run.sync_log_records and first_run.sync_log_records >= sum(first_run.written_back.values()) > 0
    assert first_run.alert_log and Path(first_run.alert_log).exists()
    assert first_run.serving_path and Path(first_run.serving_path).exists() and first_run.serving_tables > 0
    rendered = first_run.render()
    assert "Sync log" in rendered and "Alert log" in rendered and "BI serving file" in rendered


def test_raw_row_counts_equal_the_sandbox(first_run, sandbox, q2c_env):
    with _warehouse(q2c_env) as con:
        for (system, obj), relation in RAW_TABLES.items():
            (count,) = con.execute(f"select count(*) from {relation}").fetchone()
            assert count == len(sandbox.records(system, obj)), relation


def test_raw_materializations_carry_the_load_metrics(first_run, sandbox):
    """Rows extracted/loaded/quarantined and the cursor reached, per resource, on each raw asset."""
    from dagster import AssetKey, DagsterInstance

    instance = DagsterInstance.get()
    event = instance.get_latest_materialization_event(AssetKey(["raw", "certinia", "pse_timecard_c"]))
    metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    splits = len(sandbox.records("salesforce", "pse__Timecard__c"))
    assert metadata["q2c/rows_extracted"] == metadata["q2c/rows_loaded"] == splits
    assert metadata["q2c/rows_quarantined"] == 0 and metadata["q2c/cursor_reached"].startswith("20")


def test_mart_totals_reconcile_to_sandbox_invoices_and_payments(first_run, sandbox, q2c_env):
    invoiced, paid = _sandbox_truth(sandbox)
    with _warehouse(q2c_env) as con:
        rows = con.execute("""
            select currency, sum(total_amount), sum(paid_amount)
            from marts.invoice_payment_status group by currency""").fetchall()
    mart = {cur: (Decimal(str(t)), Decimal(str(p))) for cur, t, p in rows}
    assert set(mart) == set(invoiced) and {"USD", "GBP"} <= set(mart)
    for currency, (total, paid_amount) in mart.items():
        assert total == invoiced[currency], currency
        assert paid_amount == paid[currency], currency


def test_stripe_open_amounts_equal_what_stripe_says_remains(first_run, sandbox, q2c_env):
    """Credit notes issued before payment lower what is due: open = Stripe's amount_remaining."""
    remaining: dict[str, Decimal] = defaultdict(Decimal)
    credited: dict[str, Decimal] = defaultdict(Decimal)
    for inv in sandbox.records("stripe", "invoices"):
        if inv["status"] not in ("draft", "void"):
            remaining[inv["currency"].upper()] += Decimal(inv["amount_remaining"]) / 100
            credited[inv["currency"].upper()] += Decimal(inv.get("pre_payment_credit_notes_amount") or 0) / 100
    assert any(credited.values()), "the world should hold pre-payment credit notes"
    with _warehouse(q2c_env) as con:
        rows = con.execute("""
            select currency, sum(open_amount), sum(credited_amount) from marts.invoice_payment_status
            where source_system = 'stripe' group by currency""").fetchall()
    assert {cur: (Decimal(str(o)), Decimal(str(c))) for cur, o, c in rows} == {
        cur: (remaining[cur], credited[cur]) for cur in remaining}


def test_control_exceptions_equal_the_anomaly_ledger(first_run, sandbox, q2c_env):
    """Every control rule finds exactly the sandbox's cases of its anomaly kind, through Dagster."""
    from sandbox.world_anomalies import KINDS

    expected: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for e in sandbox.ledger():
        expected[e["kind"]].add(e["key"])
    assert sum(map(len, expected.values())) >= 10, "the sandbox injected (almost) no anomaly"
    with _warehouse(q2c_env) as con:
        rows = con.execute("select rule_name, object_id from controls.control_exceptions").fetchall()
    found: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for kind, object_id in rows:
        found.setdefault(kind, set()).add(object_id)
    assert len(rows) == sum(map(len, found.values())), "one queue row per (rule, object)"
    differences = {kind: (sorted(expected[kind] - found[kind]), sorted(found[kind] - expected[kind]))
                   for kind in found if found[kind] != expected.get(kind, set())}
    assert not differences, f"kind: (missed, not in the ledger): {differences}"
    # The run summary counts the same queue per rule.
    assert {k: n for k, n in first_run.control_exceptions.items() if n} == {
        kind: len(keys) for kind, keys in expected.items() if keys}


def test_each_writeback_arrived_exactly_once(first_run, sandbox, q2c_env):
    with _warehouse(q2c_env) as con:
        crm_keys = {r[0] for r in con.execute(
            "select external_id from reverse_etl.rev_crm_invoice_payment_status").fetchall()}
        billing_keys = {r[0] for r in con.execute(
            "select external_id from reverse_etl.rev_billing_schedule").fetchall()}
    assert crm_keys and billing_keys

    # Each invoice's status arrived in exactly one accepted upsert, and the CRM holds one record each.
    sent = Counter(rec["Q2C_Invoice_Id__c"] for w in sandbox.writes("salesforce")
                   if w["method"] == "PATCH" for rec in w["body"]["records"])
    assert set(sent) == crm_keys
    assert max(sent.values()) == 1
    crm_records = sandbox.records("salesforce", "Q2C_Invoice_Status__c")
    assert Counter(r["Q2C_Invoice_Id__c"] for r in crm_records) == Counter(crm_keys)
    with _warehouse(q2c_env) as con:
        payload = {r[0]: r[1:] for r in con.execute(
            """select external_id, "Payment_Status__c", "Open_Amount__c"
               from reverse_etl.rev_crm_invoice_payment_status""").fetchall()}
    for rec in crm_records:
        status, open_amount = payload[rec["Q2C_Invoice_Id__c"]]
        assert rec["Payment_Status__c"] == status
        assert Decimal(str(rec["Open_Amount__c"])) == open_amount

    items = sandbox.records("stripe", "invoiceitems")
    item_counts = Counter(i["metadata"]["q2c_external_id"] for i in items)
    assert set(item_counts) == billing_keys
    assert max(item_counts.values()) == 1
    with _warehouse(q2c_env) as con:
        lines = {r[0]: r[1:] for r in con.execute(
            """select external_id, stripe_customer_id, amount, currency, period_start, period_end
               from reverse_etl.rev_billing_schedule""").fetchall()}
    for item in items:
        assert (item["customer"], item["amount"], item["currency"], item["period"]["start"],
                item["period"]["end"]) == lines[item["metadata"]["q2c_external_id"]]
    creates = [w for w in sandbox.writes("stripe") if w["method"] == "POST" and not w["replayed"]]
    assert len(creates) == len(billing_keys)
    assert len({w["idempotency_key"] for w in creates}) == len(creates)

    assert first_run.written_back == {"crm/invoice_payment_status": len(crm_keys),
                                      "billing/billing_schedule": len(billing_keys)}


def test_rerun_sends_nothing(first_run, sandbox):
    """A rerun sends nothing; a BI connection held on the serving file works throughout and a new one sees the rerun."""
    from orchestration import settings
    from orchestration.runner import run_pipeline, summarize
    from tests.fixtures.serving import held_reader, new_connection, warehouse_counts

    writes_before = len(sandbox.writes())
    serving = settings.serving_path()  # published by the first run
    with duckdb.connect(str(serving), read_only=True) as con:
        opened = con.execute("select max(published_at), any_value(run_id), "
                             "(select count(*) from marts.invoice_payment_status) from serving_meta").fetchone()
    assert opened[1] == first_run.run_id
    with held_reader(serving) as reader:  # a dashboard's connection, held open through the whole rerun
        again = summarize(run_pipeline())
        new = new_connection(serving)
    assert again.success, again.render()
    reader.assert_undisturbed(opened)
    assert new["run_id"] == again.run_id and new["counts"] == warehouse_counts(settings.warehouse_path())
    assert again.written_back == {"crm/invoice_payment_status": 0, "billing/billing_schedule": 0}
    assert len(sandbox.writes()) == writes_before


def test_gx_suite_passes_on_the_mart_and_fails_on_a_bad_row(first_run, q2c_env, tmp_path):
    import shutil

    from expectations.runner import validate_table

    good = validate_table(q2c_env / "warehouse" / "q2c.duckdb", "invoice_payment_status")
    assert good.success, good.summary()
    assert good.rows > 0 and good.evaluated >= 10

    bad_path = tmp_path / "bad.duckdb"
    shutil.copy(q2c_env / "warehouse" / "q2c.duckdb", bad_path)
    with duckdb.connect(str(bad_path)) as con:
        # One invoice paid more than its total: a row no finance user should ever see.
        con.execute("""update marts.invoice_payment_status set paid_amount = total_amount + 1
                       where invoice_id = (select min(invoice_id) from marts.invoice_payment_status)""")
    bad = validate_table(bad_path, "invoice_payment_status")
    assert not bad.success
    assert [f["type"] for f in bad.failed] == ["expect_column_pair_values_a_to_be_greater_than_b"]


# ------------------------------------------------------------------ secrets left behind

# The header of every bearer token the sandbox issues (base64 of {"alg":"HS256","typ":"JWT"}).
TOKEN_HEADER = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"


def _sandbox_secrets() -> dict[str, str]:
    from sandbox.server import NETSUITE_CLIENT_SECRET, SALESFORCE_CLIENT_SECRET, STRIPE_API_KEY

    return {"Salesforce client secret": SALESFORCE_CLIENT_SECRET, "Stripe API key": STRIPE_API_KEY,
            "NetSuite client secret": NETSUITE_CLIENT_SECRET, "a bearer token": TOKEN_HEADER}


def _duckdb_leaks(path: Path, secrets: dict[str, str]) -> list[str]:
    """Every text (and JSON) value of every table and view of a DuckDB file, searched in SQL:
    the file's own bytes are compressed."""
    found = []
    with duckdb.connect(str(path), read_only=True) as con:
        columns = con.execute("""
            select schema_name, table_name, column_name from duckdb_columns()
            where data_type in ('VARCHAR', 'JSON') and database_name = current_database()""").fetchall()
        for schema, table, column in columns:
            for what, secret in secrets.items():
                (n,) = con.execute(f'select count(*) from "{schema}"."{table}" where contains(cast("{column}" as varchar), ?)',
                                   [secret]).fetchone()
                if n:
                    found.append(f"{what} in {path.name}: {schema}.{table}.{column} ({n} rows)")
    return found


def find_secrets(root: Path, secrets: dict[str, str], skip: tuple[Path, ...] = ()) -> list[str]:
    """Where under ``root`` any of ``secrets`` appears: files byte for byte, DuckDB files by SQL."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if any(path.is_relative_to(s) for s in skip):
            continue
        if path.suffix == ".duckdb":
            found += _duckdb_leaks(path, secrets)
            continue
        data = path.read_bytes()
        found += [f"{what} in {path.relative_to(root)}" for what, secret in secrets.items() if secret.encode() in data]
    return found


def test_the_secret_scan_finds_a_planted_secret(tmp_path):
    """The scan below can fail: a key in a log file and a token in a warehouse column are found."""
    secrets = _sandbox_secrets()
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "step.log").write_text(f"calling with key {secrets['Stripe API key']}\n")
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create schema raw_x")
        con.execute("create table raw_x.t as select ? as header", [f"Bearer {TOKEN_HEADER}.e30.sig"])
    assert find_secrets(tmp_path, secrets) == ["Stripe API key in logs/step.log",
                                               "a bearer token in w.duckdb: raw_x.t.header (1 rows)"]


def test_no_secret_is_left_anywhere_the_runs_wrote(first_run, q2c_env):
    """The sandbox's keys and the tokens it issued are in none of what the runs left behind:
    Dagster's run storage, event logs and compute logs, the warehouse and the BI serving file
    (every text value), the sync log, the alert log, dlt's pipeline state and load packages, dbt's
    artifacts and logs, the GX project and data docs. (The sandbox's own state directory holds
    its credentials by design and is skipped.)"""
    scanned = [p for p in q2c_env.rglob("*") if p.is_file() and not p.is_relative_to(q2c_env / "sandbox")]
    assert any(p.suffix == ".duckdb" for p in scanned) and any(p.name.endswith(".db") for p in scanned)
    assert len(scanned) > 50
    assert find_secrets(q2c_env, _sandbox_secrets(), skip=(q2c_env / "sandbox",)) == []
