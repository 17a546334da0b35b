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
