"""A wrong credential stops a load at once, with an error naming the system, and loads nothing.

Each API source is run with one wrong secret against the sandbox (which answers as the vendor
does: 400/401 at the token or first call). The load fails before any package is loaded: the
warehouse has no raw table of that system and no completed load, and the wrong secret is not
repeated in clear.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

CASES = [
    ("salesforce", "SOURCES__SALESFORCE__CLIENT_SECRET", "wrong-sf-secret", "salesforce: OAuth2 token request failed"),
    ("certinia", "SOURCES__CERTINIA__CLIENT_SECRET", "wrong-psa-secret", "certinia: OAuth2 token request failed"),
    ("stripe", "SOURCES__STRIPE__API_KEY", "sk_test_wrong_key_0000", "stripe: list events failed with HTTP 401"),
    ("netsuite", "SOURCES__NETSUITE__CLIENT_SECRET", "wrong-ns-secret", "netsuite: OAuth2 token request failed"),
]


@pytest.fixture(scope="module")
def sandbox_env(q2c_env: Path):
    from orchestration import sandbox_link
    from sandbox.server import Sandbox

    with Sandbox(q2c_env / "sandbox", seed=42, scale=1.0) as sb:
        os.environ.update(sandbox_link.source_environment(sandbox_link.read_state(q2c_env / "sandbox")))
        yield sb


@pytest.mark.parametrize(("system", "variable", "wrong", "says"), CASES, ids=[c[0] for c in CASES])
def test_a_wrong_secret_fails_the_load_naming_the_system_and_loads_nothing(
        sandbox_env, q2c_env: Path, monkeypatch, system: str, variable: str, wrong: str, says: str) -> None:
    from ingestion import pipelines

    monkeypatch.setenv(variable, wrong)
    warehouse = q2c_env / "warehouse" / f"{system}.duckdb"
    with pytest.raises(PipelineStepFailed) as failed:
        pipelines.run(system, warehouse, q2c_env / "warehouse" / f"dlt_{system}")
    message = str(failed.value)
    assert says in message
    assert wrong not in message
    if warehouse.exists():
        with duckdb.connect(str(warehouse), read_only=True) as con:
            tables = con.execute("select schema_name || '.' || table_name from duckdb_tables() "
                                 "where schema_name = ?", [f"raw_{system}"]).fetchall()
        assert tables == []


def _issuer(sb, api: str):
    return sb._injectors[api].app.tokens  # the vendor's token service


@pytest.mark.parametrize(("system", "api"), [("certinia", "salesforce"), ("netsuite", "netsuite")])
def test_a_token_that_expires_mid_load_is_renewed_and_the_load_completes(
        sandbox_env, q2c_env: Path, monkeypatch, system: str, api: str) -> None:
    from ingestion import pipelines

    issuer = _issuer(sandbox_env, api)
    issued = []
    real_issue = issuer.issue
    monkeypatch.setattr(issuer, "issue", lambda: issued.append(1) or real_issue())
    monkeypatch.setattr(issuer, "ttl", 1)  # every token dies a second after it is issued
    sandbox_env.set_faults(api, latency_ms=[250, 250])  # and the load takes several seconds
    warehouse = q2c_env / "warehouse" / f"expiring_{system}.duckdb"
    try:
        pipelines.run(system, warehouse, q2c_env / "warehouse" / f"dlt_expiring_{system}")
    finally:
        sandbox_env.clear_faults(api)
    assert len(issued) >= 2, "the token never had to be renewed: the test did not test anything"
    table, obj = ("raw_certinia.pse_proj_c", "pse__Proj__c") if system == "certinia" else \
        ("raw_netsuite.transaction", "transaction")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (rows,) = con.execute(f"select count(*) from {table}").fetchone()
    assert rows == len(sandbox_env.records(api, obj))


@pytest.mark.parametrize(("system", "api", "says"), [
    ("certinia", "salesforce", "certinia: OAuth2 token request failed with HTTP 400"),
    ("netsuite", "netsuite", "netsuite: OAuth2 token request failed with HTTP 40")])
def test_a_token_that_expires_after_the_secret_was_revoked_fails_naming_the_system_and_loads_nothing(
        sandbox_env, q2c_env: Path, monkeypatch, system: str, api: str, says: str) -> None:
    """The first token works; when it expires the secret has been rotated: the renewal is refused."""
    from ingestion import pipelines

    app = sandbox_env._injectors[api].app
    issuer = app.tokens
    real_issue = issuer.issue

    def issue_then_revoke():
        token = real_issue()
        monkeypatch.setattr(app, "_client_secret", "rotated-by-the-admin")
        return token

    monkeypatch.setattr(issuer, "issue", issue_then_revoke)
    monkeypatch.setattr(issuer, "ttl", 1)
    sandbox_env.set_faults(api, latency_ms=[250, 250])
    warehouse = q2c_env / "warehouse" / f"revoked_{system}.duckdb"
    try:
        with pytest.raises(PipelineStepFailed) as failed:
            pipelines.run(system, warehouse, q2c_env / "warehouse" / f"dlt_revoked_{system}")
    finally:
        sandbox_env.clear_faults(api)
    message = str(failed.value)
    assert says in message, message[-2000:]
    assert "rotated-by-the-admin" not in message
    if warehouse.exists():
        with duckdb.connect(str(warehouse), read_only=True) as con:
            tables = con.execute("select table_name from duckdb_tables() where schema_name = ? "
                                 "and table_name not like '\\_dlt%' escape '\\'", [f"raw_{system}"]).fetchall()
        assert tables == [], "a partial load landed"
