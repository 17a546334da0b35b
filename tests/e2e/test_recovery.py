"""What happens after things go wrong: a run killed hard, a changed source record, a bad row."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e
RUN_ONCE = ("from orchestration.runner import run_pipeline, summarize; "
            "import sys; s = summarize(run_pipeline()); print(s.render()); sys.exit(0 if s.success else 1)")


@pytest.fixture(scope="module")
def sandbox(q2c_env: Path):
    from orchestration.dbt_project import prepare_manifest
    from sandbox.server import Sandbox

    prepare_manifest()
    with Sandbox(q2c_env / "sandbox", seed=7, scale=1.0) as sb:
        yield sb


def _warehouse(q2c_env: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(q2c_env / "warehouse" / "q2c.duckdb"), read_only=True)


def test_a_run_killed_mid_load_does_not_block_the_next_one(sandbox, q2c_env):
    from dagster import DagsterInstance

    log = q2c_env / "killed_run.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-c", RUN_ONCE], cwd=REPO_ROOT, start_new_session=True,
                                stdout=out, stderr=subprocess.STDOUT)
    instance = DagsterInstance.get()
    deadline = time.monotonic() + 180
    while (time.monotonic() < deadline and proc.poll() is None
           and not instance.event_log_storage.get_concurrency_run_ids()):
        time.sleep(0.2)
    assert instance.event_log_storage.get_concurrency_run_ids(), (
        "the run never claimed the warehouse pool:\n" + log.read_text()[-3000:])
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    rerun = subprocess.run([sys.executable, "-c", RUN_ONCE], cwd=REPO_ROOT, capture_output=True, text=True,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert "released the warehouse pool slot held by dead run" in rerun.stdout
    with _warehouse(q2c_env) as con:
        (accounts,) = con.execute("select count(*) from raw_salesforce.account").fetchone()
        (dupes,) = con.execute("select count(*) - count(distinct id) from raw_netsuite.transaction").fetchone()
    assert accounts == len(sandbox.records("salesforce", "Account"))
    assert dupes == 0


def test_changed_and_soft_deleted_records_arrive_on_the_next_run(sandbox, q2c_env):
    from orchestration.runner import run_pipeline

    later = (datetime.now(UTC) + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    account = sandbox.records("salesforce", "Account")[0]
    opportunity = sandbox.records("salesforce", "Opportunity")[-1]
    sandbox.patch_record("salesforce", "Account", account["Id"], Name="Renamed Holdings",
                         SystemModstamp=later, LastModifiedDate=later)
    sandbox.patch_record("salesforce", "Opportunity", opportunity["Id"], IsDeleted=True,
                         SystemModstamp=later, LastModifiedDate=later)
    assert run_pipeline().success
    with _warehouse(q2c_env) as con:
        (name,) = con.execute("select name from raw_salesforce.account where id = ?", [account["Id"]]).fetchone()
        (deleted,) = con.execute("select is_deleted from raw_salesforce.opportunity where id = ?",
                                 [opportunity["Id"]]).fetchone()
        (accounts,) = con.execute("select count(*) from raw_salesforce.account").fetchone()
        (opps,) = con.execute("select count(*) from raw_salesforce.opportunity").fetchone()
    assert name == "Renamed Holdings"
    assert deleted is True
    assert accounts == len(sandbox.records("salesforce", "Account"))
    assert opps == len(sandbox.records("salesforce", "Opportunity"))


def test_an_amended_contract_keeps_its_earlier_terms_in_the_snapshot(sandbox, q2c_env):
    """The contract-terms snapshot closes the old version and opens the new one; history is never lost."""
    from orchestration.runner import run_pipeline

    contract = next(c for c in sandbox.records("salesforce", "Contract") if not c["IsDeleted"])
    old_amount = contract["Contract_Amount__c"]
    later = (datetime.now(UTC) + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    sandbox.patch_record("salesforce", "Contract", contract["Id"], Contract_Amount__c=old_amount + 1000,
                         SystemModstamp=later, LastModifiedDate=later)
    assert run_pipeline().success
    with _warehouse(q2c_env) as con:
        versions = con.execute(
            "select contract_amount, dbt_valid_to is null from snapshots.contract_terms_history "
            "where contract_id = ? order by dbt_valid_from", [contract["Id"]]).fetchall()
        (current, contracts) = con.execute(
            "select count(*) filter (where dbt_valid_to is null), count(distinct contract_id) "
            "from snapshots.contract_terms_history").fetchone()
    assert [(float(a), is_current) for a, is_current in versions] == [
        (float(old_amount), False), (float(old_amount + 1000), True)]
    assert current == contracts == len(sandbox.records("salesforce", "Contract"))


def test_quarantined_records_warn_on_their_raw_asset_and_block_nothing(sandbox, q2c_env):
    """Drift makes a field's values unloadable: the records go to quarantine, the run goes on, the check warns."""
    from orchestration.runner import run_pipeline, summarize

    sandbox.advance(2)  # fresh timecards inside the lag window
    sandbox.set_faults("salesforce", schema_drift={
        "changed_type": {"object": "pse__Timecard__c", "field": "pse__Total_Hours__c", "to": "boolean"}})
    try:
        summary = summarize(run_pipeline())
    finally:
        sandbox.clear_faults("salesforce")
    assert summary.success, summary.render()
    assert summary.checks_failed == ["raw/certinia/pse_timecard_c:no_quarantined_records"]
    with _warehouse(q2c_env) as con:
        (quarantined,) = con.execute("select count(distinct record_id) from raw_certinia.q2c_quarantine "
                                     "where field = 'pse__Total_Hours__c'").fetchone()
    assert quarantined > 0
    # The drift over, the next run loads those records and the check passes again.
    assert summarize(run_pipeline()).checks_failed == []


def test_a_bad_row_fails_the_gx_check_and_blocks_the_crm_writeback(sandbox, q2c_env):
    from orchestration.runner import run_pipeline, summarize

    invoice = sandbox.records("stripe", "invoices")[0]
    # A currency no mart allows (and no FX rate exists for). Not a zero-decimal one: its amounts
    # would stop matching its payments', which the canonical reconciliations catch before the mart.
    patched = sandbox.patch_record("stripe", "invoices", invoice["id"], currency="chf")
    # Stripe tells of the change through an event (objects carry no updated timestamp); the loader reads events.
    end_of_day = int(datetime.combine(sandbox.clock, datetime.max.time(), UTC).timestamp())
    sandbox.store.emit_event("invoice.updated", patched, end_of_day, {"currency": invoice["currency"]})
    crm_writes = len(sandbox.writes("salesforce"))
    summary = summarize(run_pipeline())
    assert not summary.success
    # Caught four times: staging's accepted currencies and the missing FX rate (warnings), the
    # mart's GX suite and the CRM payload's (both blocking). The invoice is paid, so AR ageing
    # (a warning suite on open balances) does not see it.
    assert sorted(summary.checks_failed) == [
        "canonical/invoice:assert_every_fact_has_its_fx_rates",
        "marts/invoice_payment_status:gx_invoice_payment_status",
        "reverse_etl/rev_crm_invoice_payment_status:gx_rev_crm_invoice_payment_status",
        "staging/stg_stripe__invoices:accepted_values_stg_stripe__invoices__warn"]
    assert "crm/invoice_payment_status" not in summary.written_back
    assert len(sandbox.writes("salesforce")) == crm_writes
    assert summary.written_back.get("billing/billing_schedule") == 0  # unaffected, and nothing new to send
