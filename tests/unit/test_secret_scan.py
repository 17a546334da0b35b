"""The secret scan the campaign runs over everything its runs wrote can fail: it finds planted secrets."""

from __future__ import annotations

import duckdb

from tests.support.secrets import TOKEN_HEADER, find_secrets, sandbox_secrets


def test_the_secret_scan_finds_a_planted_secret(tmp_path):
    """A key in a log file and a token in a warehouse column are found; a skipped directory is not read."""
    secrets = sandbox_secrets()
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "step.log").write_text(f"calling with key {secrets['Stripe API key']}\n")
    (tmp_path / "sandbox").mkdir()
    (tmp_path / "sandbox" / "state.json").write_text(secrets["NetSuite client secret"])
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create schema raw_x")
        con.execute("create table raw_x.t as select ? as header", [f"Bearer {TOKEN_HEADER}.e30.sig"])
    assert find_secrets(tmp_path, secrets, skip=(tmp_path / "sandbox",)) == [
        "Stripe API key in logs/step.log", "a bearer token in w.duckdb: raw_x.t.header (1 rows)"]
    assert find_secrets(tmp_path, secrets) == [
        "Stripe API key in logs/step.log", "NetSuite client secret in sandbox/state.json",
        "a bearer token in w.duckdb: raw_x.t.header (1 rows)"]
