"""The whole pipeline on PostgreSQL: a production-shaped deployment on a real server.

dlt loads the raw layer into PostgreSQL, dbt builds there, the GX suites and the writeback engine
read and keep their state there, and Dagster itself keeps its runs, event logs and schedule state
in a second PostgreSQL database, configured by the production instance file
``deploy/dagster.yaml`` (docs/deploy.md). No DuckDB file and no SQLite storage appear.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import psycopg2
import pytest
from psycopg2 import sql

from tests.conftest import REPO_ROOT
from tests.support.postgres import SUPERUSER, PostgresServer, postgres_server  # noqa: F401  (the fixture)
from tests.support.truth import sandbox_totals

pytestmark = pytest.mark.e2e

WAREHOUSE_DB = "q2c_warehouse"
DAGSTER_DB = "q2c_dagster"


def _create_database(server: PostgresServer, name: str) -> str:
    """A new database owned by the (non-superuser) login role; its DSN."""
    admin = psycopg2.connect(host=str(server.socket_dir), port=server.port, user=SUPERUSER, dbname="postgres")
    try:
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(name), sql.Identifier(server.user)))
    finally:
        admin.close()
    return server.dsn.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="module")
def deployment(q2c_env: Path, postgres_server: PostgresServer) -> dict[str, str]:  # noqa: F811  (the fixture)
    """q2c configured for PostgreSQL everywhere, Dagster with the production instance file."""
    dsns = {"warehouse": _create_database(postgres_server, WAREHOUSE_DB),
            "dagster": _create_database(postgres_server, DAGSTER_DB)}
    shutil.copy(REPO_ROOT / "deploy" / "dagster.yaml", Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml")
    os.environ.update({"Q2C_DESTINATION": "postgres", "Q2C_POSTGRES_DSN": dsns["warehouse"],
                       "DAGSTER_PG_HOST": postgres_server.host, "DAGSTER_PG_PORT": str(postgres_server.port),
                       "DAGSTER_PG_DB": DAGSTER_DB, "DAGSTER_PG_USERNAME": postgres_server.user,
                       "DAGSTER_PG_PASSWORD": postgres_server.password})
    os.environ.pop("Q2C_DBT_TARGET", None)  # follows the destination
    return dsns


@pytest.fixture(scope="module")
def sandbox(deployment, q2c_env: Path):
    from orchestration.dbt_project import prepare_manifest
    from sandbox.server import Sandbox

    prepare_manifest()
    with Sandbox(q2c_env / "sandbox", seed=42, scale=0.5) as sb:
        yield sb


_RUN = """
import dataclasses, json
from orchestration.runner import run_pipeline, summarize
print("RUN-SUMMARY " + json.dumps(dataclasses.asdict(summarize(run_pipeline()))))
"""


def _run_pipeline() -> SimpleNamespace:
    """One run of the whole graph, in a process of its own: the definitions are built from the
    environment when first imported, and this test session has imported them for DuckDB before."""
    proc = subprocess.run([sys.executable, "-c", _RUN], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RUN-SUMMARY ")]
    assert proc.returncode == 0 and lines, proc.stdout[-4000:] + proc.stderr[-4000:]
    return SimpleNamespace(**json.loads(lines[-1].removeprefix("RUN-SUMMARY ")))


@pytest.fixture(scope="module")
def first_run(sandbox) -> SimpleNamespace:
    return _run_pipeline()


def _query(dsn: str, statement: str, params: tuple = ()) -> list[tuple]:
    with psycopg2.connect(dsn) as con, con.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall()


def test_every_layer_runs_on_postgres(first_run, deployment, q2c_env: Path) -> None:
    assert first_run.success, first_run
    assert set(first_run.rows_loaded) == {"salesforce", "certinia", "stripe", "netsuite", "legacy_erp"}
    assert first_run.checks_failed == []
    assert first_run.models_built >= 80
    # Every GX suite ran (on data read from PostgreSQL) and passed.
    assert first_run.checks_passed >= 300
    assert sum(n for n in first_run.control_exceptions.values() if n > 0) > 0
    schemas = {s for (s,) in _query(deployment["warehouse"], "select schema_name from information_schema.schemata")}
    assert {"raw_salesforce", "raw_certinia", "raw_stripe", "raw_netsuite", "raw_legacy_erp", "staging", "canonical",
            "marts", "controls", "reverse_etl", "q2c_sync"} <= schemas
    # Nothing fell back to the local files of the default deployment.
    assert not Path(os.environ["Q2C_WAREHOUSE_PATH"]).exists()
    assert first_run.serving_path is None  # BI reads PostgreSQL itself
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    assert not list(dagster_home.rglob("*.db")), "Dagster wrote SQLite storage instead of PostgreSQL"


def test_marts_equal_the_sandbox_truth(first_run, sandbox, deployment) -> None:
    invoiced, paid = sandbox_totals(sandbox)
    rows = _query(deployment["warehouse"],
                  "select currency, sum(total_amount), sum(paid_amount) from marts.invoice_payment_status group by 1")
    mart = {currency: (Decimal(str(total)), Decimal(str(paid_amount))) for currency, total, paid_amount in rows}
    assert set(mart) == set(invoiced) and {"USD", "GBP"} <= set(mart)
    for currency, (total, paid_amount) in mart.items():
        assert total == invoiced[currency], currency
        assert paid_amount == paid[currency], currency


def test_writebacks_arrive_exactly_once_and_the_sync_log_is_in_postgres(first_run, sandbox, deployment) -> None:
    crm_keys = {k for (k,) in _query(deployment["warehouse"],
                                     'select "Q2C_Invoice_Id__c" from reverse_etl.rev_crm_invoice_payment_status')}
    billing_keys = {k for (k,) in _query(deployment["warehouse"], "select external_id from reverse_etl.rev_billing_schedule")}
    assert crm_keys and billing_keys
    sent = Counter(rec["Q2C_Invoice_Id__c"] for w in sandbox.writes("salesforce")
                   if w["method"] == "PATCH" for rec in w["body"]["records"])
    assert set(sent) == crm_keys and max(sent.values()) == 1
    items = Counter(i["metadata"]["q2c_external_id"] for i in sandbox.records("stripe", "invoiceitems"))
    assert set(items) == billing_keys and max(items.values()) == 1
    assert first_run.written_back == {"crm/invoice_payment_status": len(crm_keys),
                                      "billing/billing_schedule": len(billing_keys)}
    logged = dict(_query(deployment["warehouse"],
                         "select target, count(*) from q2c_sync.sync_log where status = 'ok' group by 1"))
    assert logged == {"crm_payment_status": len(crm_keys), "billing_schedule": len(billing_keys)}


def test_dagster_keeps_the_run_its_events_and_assets_in_postgres(first_run, deployment) -> None:
    """Dagster's own storage is the second database. (A rerun sending nothing is shown on PostgreSQL
    by tests/unit/test_writeback_engine.py, and after every case of the fault campaign.)"""
    runs = dict(_query(deployment["dagster"], "select run_id, status from runs"))
    assert runs == {first_run.run_id: "SUCCESS"}
    (events,) = _query(deployment["dagster"], "select count(*) from event_logs where run_id = %s", (first_run.run_id,))[0]
    assert events > 100
    materialized = {k for (k,) in _query(deployment["dagster"], "select asset_key from asset_keys")}
    assert '["writeback", "crm", "invoice_payment_status"]' in materialized
