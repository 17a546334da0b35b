"""The dbt project builds, and its tests pass, on PostgreSQL as on DuckDB, with the same figures.

A sandbox is loaded by the ingestion pipelines twice: into a real throwaway PostgreSQL server
(``Q2C_DESTINATION=postgres``; tests/support/postgres.py) and into a DuckDB file. ``dbt build``
(seeds, models, tests) then runs on each target with the connection orchestration derives for
it (``orchestration.dbt_project.profile_environment``), and the key figures are compared: the
payment-status mart per currency, the control exception queue, the writeback payloads'
content hashes (which hash the values' text, so they also pin how each warehouse renders them).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg2
import pytest
from psycopg2 import sql

from tests.fixtures.dbt_build import dbt_executable
from tests.support.postgres import SUPERUSER, PostgresServer, postgres_server  # noqa: F401  (the fixture)

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DATABASE = "q2c_dbt"  # its own database: the session's server also serves other modules' loads
SYSTEMS = ("salesforce", "certinia", "stripe", "netsuite", "legacy_erp")
MODEL_SCHEMAS = ("staging", "canonical", "marts", "controls", "reverse_etl")


@dataclass
class Build:
    target: str
    stdout: str
    log_dir: Path
    run_results: dict
    query: Callable[[str], list[tuple]]


@pytest.fixture(scope="module")
def pg(q2c_env: Path, postgres_server: PostgresServer) -> PostgresServer:  # noqa: F811  (the imported fixture)
    """A fresh database owned by the login role; q2c pointed at it (q2c_env restores the environment)."""
    admin = psycopg2.connect(host=str(postgres_server.socket_dir), port=postgres_server.port, user=SUPERUSER,
                             dbname="postgres")
    try:
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(DATABASE), sql.Identifier(postgres_server.user)))
    finally:
        admin.close()
    server = PostgresServer(base=postgres_server.base, bin_dir=postgres_server.bin_dir, port=postgres_server.port,
                            password=postgres_server.password, host=postgres_server.host, database=DATABASE)
    os.environ["Q2C_DESTINATION"] = "postgres"
    os.environ["Q2C_POSTGRES_DSN"] = server.dsn
    os.environ.pop("Q2C_DBT_TARGET", None)
    return server


@pytest.fixture(scope="module")
def loaded(q2c_env: Path, pg: PostgresServer):
    """One sandbox, every source loaded into Postgres (the configured destination) and into DuckDB."""
    from ingestion import pipelines
    from orchestration import sandbox_link, settings
    from sandbox.server import Sandbox

    with Sandbox(q2c_env / "sandbox"):
        sandbox_link.configure()  # SOURCES__* for every connector, from the sandbox's state file
        for system in SYSTEMS:
            pipelines.run(system, pipelines_dir=q2c_env / "dlt_postgres").raise_on_failed_jobs()
            pipelines.run(system, warehouse_path=settings.warehouse_path(), pipelines_dir=q2c_env / "dlt_duckdb",
                          destination="duckdb").raise_on_failed_jobs()
        yield sandbox_link.as_of_date()


def _start_dbt_build(target: str, q2c_env: Path, as_of: str) -> tuple[subprocess.Popen[str], Path]:
    """Start ``dbt build --target <target>`` in a subprocess, with the profile environment orchestration sets."""
    from orchestration.dbt_project import profile_environment

    work = q2c_env / f"dbt_{target}"
    env = {**os.environ, **profile_environment(target), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    cmd = [dbt_executable(), "build", "--target", target,
           "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
           "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
           "--vars", json.dumps({"as_of_date": as_of})]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, work


def _pg_query(server: PostgresServer) -> Callable[[str], list[tuple]]:
    def query(statement: str) -> list[tuple]:
        con = psycopg2.connect(server.dsn)
        try:
            with con.cursor() as cur:
                cur.execute(statement)
                return cur.fetchall()
        finally:
            con.close()
    return query


def _duckdb_query(path: Path) -> Callable[[str], list[tuple]]:
    def query(statement: str) -> list[tuple]:
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute(statement).fetchall()
    return query


@pytest.fixture(scope="module")
def builds(loaded, q2c_env: Path, pg: PostgresServer) -> dict[str, Build]:
    """Both builds, run at the same time (separate warehouses, separate target directories)."""
    from orchestration import settings

    queries = {"postgres": _pg_query(pg), "duckdb": _duckdb_query(settings.warehouse_path())}
    started = {target: _start_dbt_build(target, q2c_env, loaded.isoformat()) for target in queries}
    out = {}
    for target, (proc, work) in started.items():
        try:
            stdout, stderr = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        assert proc.returncode == 0, f"dbt build --target {target} failed:\n{stdout[-8000:]}\n{stderr[-3000:]}"
        run_results = json.loads((work / "target" / "run_results.json").read_text())
        out[target] = Build(target, stdout + stderr, work / "logs", run_results, queries[target])
    return out


def _results(build: Build) -> dict[str, str]:
    """Status per node that does work (exposures are listed too, as no-ops)."""
    return {r["unique_id"]: r["status"] for r in build.run_results["results"]
            if not r["unique_id"].startswith("exposure.")}


# ---------------------------------------------------------------- tests


def test_dbt_targets_the_ingestion_database(pg: PostgresServer):
    """Orchestration builds where the raw layer is loaded, with the ingestion's own Postgres configuration."""
    from orchestration.dbt_project import PG_PASSWORD_ENV, dbt_target, profile_environment

    assert dbt_target() == "postgres"  # follows Q2C_DESTINATION unless Q2C_DBT_TARGET says otherwise
    env = profile_environment()
    assert (env["Q2C_PG_HOST"], env["Q2C_PG_PORT"], env["Q2C_PG_USER"], env["Q2C_PG_DBNAME"]) == (
        pg.host, str(pg.port), pg.user, DATABASE)
    assert env[PG_PASSWORD_ENV] == pg.password and env["PGTZ"] == "UTC"
    os.environ["Q2C_DBT_TARGET"] = "duckdb"
    try:
        assert dbt_target() == "duckdb"
        assert set(profile_environment()) == {"Q2C_WAREHOUSE_PATH", "DBT_TARGET_PATH"}
    finally:
        del os.environ["Q2C_DBT_TARGET"]


def test_build_succeeds_on_postgres_with_every_node_of_the_duckdb_build(builds: dict[str, Build]):
    pg_results, duck_results = _results(builds["postgres"]), _results(builds["duckdb"])
    assert set(pg_results.values()) <= {"success", "pass"}, {k: v for k, v in pg_results.items()
                                                              if v not in ("success", "pass")}
    assert pg_results == duck_results
    kinds = {uid.split(".")[0] for uid in pg_results}
    assert {"seed", "model", "test"} <= kinds
    assert sum(1 for uid in pg_results if uid.startswith("test.")) >= 50
    models = builds["postgres"].query(
        "select table_schema || '.' || table_name from information_schema.tables "
        f"where table_schema in ({', '.join(repr(s) for s in MODEL_SCHEMAS)})")
    assert {"marts.invoice_payment_status", "controls.control_exceptions",
            "reverse_etl.rev_billing_schedule", "staging.legal_entities"} <= {r[0] for r in models}


def test_the_password_never_shows_in_dbt_output(builds: dict[str, Build], pg: PostgresServer):
    build = builds["postgres"]
    texts = [build.stdout, *(p.read_text(errors="replace") for p in build.log_dir.rglob("*") if p.is_file())]
    assert any("invoice_payment_status" in t for t in texts)  # the logs were written
    assert all(pg.password not in t for t in texts)


PAYMENT_STATUS_FIGURES = """
    select currency, count(*), sum(total_amount), sum(paid_amount), sum(open_amount), sum(days_past_due)
    from marts.invoice_payment_status group by currency order by currency
"""
BUCKETS = """
    select payment_status, aging_bucket, count(*) from marts.invoice_payment_status
    group by 1, 2 order by 1, 2
"""
CONTROL_QUEUE = """
    select exception_id, rule_id, object_id, customer_id, contract_id, project_id, invoice_id, description,
           owner_team, severity, amount_at_risk, currency, detected_at_date, first_seen_on, age_days,
           escalation_level, as_of_date
    from controls.control_exceptions order by exception_id
"""
CRM_PAYLOAD = 'select external_id, content_hash from reverse_etl.rev_crm_invoice_payment_status order by 1'
BILLING_PAYLOAD = """
    select external_id, amount, currency, description, period_start, period_end, content_hash
    from reverse_etl.rev_billing_schedule order by 1
"""
CANONICAL_COUNTS = """
    select 'customer', count(*) from canonical.customer union all
    select 'contract', count(*) from canonical.contract union all
    select 'invoice', count(*) from canonical.invoice union all
    select 'payment', count(*) from canonical.payment union all
    select 'payment_amount', sum(amount) from canonical.payment
    order by 1
"""


@pytest.mark.parametrize("statement", [PAYMENT_STATUS_FIGURES, BUCKETS, CONTROL_QUEUE, CRM_PAYLOAD, BILLING_PAYLOAD,
                                       CANONICAL_COUNTS],
                         ids=["payment_status_per_currency", "status_and_bucket", "control_exceptions",
                              "crm_payload_hashes", "billing_payload", "canonical_counts"])
def test_key_figures_equal_the_duckdb_build(builds: dict[str, Build], statement: str):
    # Sorted here: ORDER BY on text follows each database's collation.
    on_postgres = sorted(builds["postgres"].query(statement))
    on_duckdb = sorted(builds["duckdb"].query(statement))
    assert on_postgres, "no rows: the comparison would prove nothing"
    assert on_postgres == on_duckdb


def test_the_figures_are_not_vacuous(builds: dict[str, Build]):
    rows = builds["postgres"].query(PAYMENT_STATUS_FIGURES)
    assert sum(r[1] for r in rows) > 100 and all(isinstance(r[2], Decimal) for r in rows)
    assert len({r[1] for r in builds["postgres"].query(CONTROL_QUEUE)}) >= 10  # the world injects most kinds
    assert {r[1] for r in builds["postgres"].query(BUCKETS)} >= {"paid", "current", "90+"}
