"""The same dlt pipelines load a real PostgreSQL server when configured to (``Q2C_DESTINATION=postgres``).

The server is a throwaway cluster started for the session (tests/support/postgres.py); the
sources read a sandbox on loopback. Counts are checked against the sandbox's own records, a
second run must merge (no duplicate keys, same counts), and the password must never show.
"""

from __future__ import annotations

import io
import logging
import os
import traceback
from pathlib import Path

import psycopg2
import pytest

from ingestion import destinations, pipelines
from ingestion.netsuite import INCREMENTAL_TABLES, REFERENCE_TABLES
from ingestion.salesforce import table_name
from ingestion.salesforce.settings import CRM_OBJECTS, PSA_OBJECTS
from tests.support.postgres import PostgresServer, postgres_server  # noqa: F401  (the fixture)

SYSTEMS = ("salesforce", "certinia", "stripe", "netsuite")


def _expected_tables() -> dict[tuple[str, str], tuple[str, str]]:
    """(sandbox system, object) -> (dataset, table) for every table the four sources load."""
    tables: dict[tuple[str, str], tuple[str, str]] = {}
    for obj in CRM_OBJECTS:
        tables[("salesforce", obj)] = ("raw_salesforce", table_name(obj))
    for obj in PSA_OBJECTS:
        tables[("salesforce", obj)] = ("raw_certinia", table_name(obj))
    for name in ("customers", "invoices"):
        tables[("stripe", name)] = ("raw_stripe", name)
    for name in (*REFERENCE_TABLES, *INCREMENTAL_TABLES):
        tables[("netsuite", name)] = ("raw_netsuite", name)
    return tables


TABLES = _expected_tables()


@pytest.fixture(scope="module")
def pg_env(q2c_env: Path, postgres_server: PostgresServer):  # noqa: F811  (the imported fixture)
    """Point q2c at the Postgres server (q2c_env restores the environment after the module)."""
    os.environ["Q2C_DESTINATION"] = "postgres"
    os.environ["Q2C_POSTGRES_DSN"] = postgres_server.dsn
    return postgres_server


@pytest.fixture(scope="module")
def sandbox(q2c_env: Path, pg_env):
    from orchestration import sandbox_link
    from sandbox.server import Sandbox

    with Sandbox(q2c_env / "sandbox") as sb:
        sandbox_link.configure()  # SOURCES__* for every connector, from the sandbox's state file
        yield sb


def _load_all(q2c_env: Path) -> dict[str, object]:
    infos = {}
    for system in SYSTEMS:
        info = pipelines.run(system, pipelines_dir=q2c_env / "dlt")
        info.raise_on_failed_jobs()
        infos[system] = info
    return infos


@pytest.fixture(scope="module")
def first_load(sandbox, q2c_env: Path):
    return _load_all(q2c_env)


def _query(server: PostgresServer, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg2.connect(server.dsn) as con, con.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    con.close()
    return rows


def _primary_key(dataset: str, table: str, q2c_env: Path) -> list[str]:
    """The table's primary key, as the source declared it (dlt's schema)."""
    system = dataset.removeprefix("raw_")
    schema = pipelines.make_pipeline(system, pipelines_dir=q2c_env / "dlt").default_schema
    key = [name for name, col in schema.get_table_columns(table).items() if col.get("primary_key")]
    assert key, f"{dataset}.{table} has no primary key"
    return key


def _counts(server: PostgresServer, q2c_env: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """(dataset, table) -> (rows, distinct primary keys)."""
    out = {}
    for dataset, table in TABLES.values():
        key = ", ".join(f'"{k}"' for k in _primary_key(dataset, table, q2c_env))
        (rows, keys), = _query(server, f'select (select count(*) from "{dataset}"."{table}"), '
                                       f'(select count(*) from (select distinct {key} from "{dataset}"."{table}") k)')
        out[(dataset, table)] = (rows, keys)
    return out


def _quarantined(server: PostgresServer, dataset: str, obj: str) -> int:
    """Records of ``obj`` held back in ``q2c_quarantine`` (they are not in the object's table)."""
    exists, = _query(server, "select to_regclass(%s) is not null", (f"{dataset}.q2c_quarantine",))
    if not exists[0]:
        return 0
    (n,), = _query(server, f'select count(distinct record_id) from "{dataset}".q2c_quarantine where object = %s',
                   (obj,))
    return n


def test_loads_go_to_postgres_in_its_loader_format(first_load, pg_env):
    for system, info in first_load.items():
        assert info.destination_type == "dlt.destinations.postgres", system
        assert info.dataset_name == f"raw_{system}"
        formats = {job.job_file_info.file_format
                   for package in info.load_packages for job in package.jobs["completed_jobs"]}
        assert formats - {"sql"} == {destinations.loader_file_format("postgres")}, system  # sql: dlt's merges
    schemas = {r[0] for r in _query(pg_env, "select schema_name from information_schema.schemata")}
    assert {f"raw_{s}" for s in SYSTEMS} <= schemas


def test_the_postgres_format_is_lossless_and_takes_empty_arrow_tables(pg_env, q2c_env):
    """Why insert_values: '' stays '' (csv COPY makes it NULL), a zero-row Arrow table loads (ADBC fails)."""
    import dlt
    import pyarrow as pa

    @dlt.resource(name="dicts", primary_key="id", write_disposition="merge", max_table_nesting=0)
    def dicts():
        yield [{"id": "a", "note": "", "meta": {"k": 1}}, {"id": "b", "note": None, "meta": {"k": 2}}]

    @dlt.resource(name="arrow", primary_key="id", write_disposition="merge")
    def arrow():
        yield pa.table({"id": ["a", "b"], "note": pa.array(["", None], pa.string())})

    @dlt.resource(name="empty", primary_key="id", write_disposition="merge")
    def empty():
        yield pa.table({"id": pa.array([], pa.string()), "note": pa.array([], pa.string())})

    pipeline = dlt.pipeline("q2c_format_check", destination=destinations.make_destination(),
                            dataset_name="format_check", pipelines_dir=str(q2c_env / "dlt-format"))
    pipeline.run([dicts(), arrow(), empty()], loader_file_format=destinations.loader_file_format()
                 ).raise_on_failed_jobs()
    for table in ("dicts", "arrow"):
        rows = _query(pg_env, f"select id, note from format_check.{table} order by id")
        assert rows == [("a", ""), ("b", None)], table
    assert _query(pg_env, "select count(*) from format_check.empty") == [(0,)]
    assert _query(pg_env, "select pg_typeof(meta)::text from format_check.dicts limit 1") == [("jsonb",)]


def test_row_counts_equal_the_sandbox(first_load, sandbox, pg_env, q2c_env):
    counts = _counts(pg_env, q2c_env)
    assert sum(rows for rows, _ in counts.values()) > 5000  # the default world, not a handful of rows
    for (system, obj), (dataset, table) in TABLES.items():
        rows, keys = counts[(dataset, table)]
        expected = len(sandbox.records(system, obj)) - _quarantined(pg_env, dataset, obj)
        assert rows == expected, f"{dataset}.{table}: {rows} rows, sandbox has {expected}"
        assert keys == rows, f"{dataset}.{table}: duplicate primary keys"
    # queryAll: soft-deleted CRM/PSA records are loaded too (flagged), not dropped
    deleted = sum(1 for obj in (*CRM_OBJECTS, *PSA_OBJECTS)
                  for r in sandbox.records("salesforce", obj) if r.get("IsDeleted"))
    flagged = sum(_query(pg_env, f'select count(*) from "{d}"."{t}" where is_deleted')[0][0]
                  for (s, _), (d, t) in TABLES.items() if s == "salesforce")
    assert flagged == deleted > 0


def test_second_run_merges_without_duplicates(first_load, sandbox, pg_env, q2c_env):
    before = _counts(pg_env, q2c_env)
    again = _load_all(q2c_env)
    # The second run did load rows again (Stripe lists in full, the CRM re-reads its lag window)...
    reloaded = pipelines.make_pipeline("stripe", pipelines_dir=q2c_env / "dlt").last_trace
    assert reloaded.last_normalize_info.row_counts.get("customers", 0) > 0
    assert all(info.load_packages for info in again.values())
    # ...and merged them on the primary key: same counts, still one row per key.
    after = _counts(pg_env, q2c_env)
    assert after == before
    assert all(rows == keys for rows, keys in after.values())
    loads = _query(pg_env, "select count(*) from raw_stripe._dlt_loads where status = 0")
    assert loads[0][0] == 2


def test_the_password_never_shows(first_load, pg_env, q2c_env, capfd):
    password = pg_env.password
    texts: list[str] = []
    records = io.StringIO()
    handler = logging.StreamHandler(records)
    handler.setLevel(logging.DEBUG)
    loggers = [logging.getLogger(), logging.getLogger("dlt")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        pipeline = pipelines.make_pipeline("netsuite", pipelines_dir=q2c_env / "dlt")
        info = pipeline.run(pipelines.make_source("netsuite"),
                            loader_file_format=pipelines.loader_file_format())
        texts += [str(info), repr(info), repr(pipeline), str(pipeline.destination), repr(pipeline.destination),
                  str(pipeline.last_trace), destinations.describe(), repr(destinations.postgres_credentials()),
                  str(destinations.postgres_credentials()), repr(pg_env)]
        assert "***" in destinations.describe()

        # A failing login: the error (and its whole chain) names neither password.
        wrong = "Wr0ngPassw0rd-" + password[:4]
        os.environ["Q2C_POSTGRES_DSN"] = pg_env.dsn_with_password(wrong)
        try:
            with pytest.raises(Exception) as failed:
                pipelines.run("netsuite", pipelines_dir=q2c_env / "dlt-wrong")
        finally:
            os.environ["Q2C_POSTGRES_DSN"] = pg_env.dsn
        assert "password authentication failed" in "".join(traceback.format_exception(failed.value))
        texts += ["".join(traceback.format_exception(failed.value)), str(failed.value), repr(failed.value)]
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
    out, err = capfd.readouterr()
    texts += [records.getvalue(), out, err]
    assert records.getvalue(), "nothing was logged: the check would prove nothing"
    for text in texts:
        assert password not in text
        assert wrong not in text
    # nor does dlt keep it in the pipelines' working directories
    for path in [*(q2c_env / "dlt").rglob("*"), *(q2c_env / "dlt-wrong").rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert password.encode() not in data and wrong.encode() not in data, path


def test_missing_postgres_binaries_fail_with_how_to_install(monkeypatch, tmp_path):
    from tests.support import postgres as support

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(support, "PG_BIN_GLOB", str(tmp_path / "none" / "*" / "bin"))
    with pytest.raises(support.PostgresUnavailable, match=r"apt-get install -y postgresql"):
        support.find_bin_dir()
