"""Secrets left behind: where the sandbox's keys, or any token it issued, appear under a directory.

``find_secrets`` reads every file byte for byte and every text value of every DuckDB file (their
bytes are compressed). The campaign scans everything its runs wrote; ``tests/unit/test_secret_scan.py``
shows the scan finds a planted secret.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

# The header of every bearer token the sandbox issues (base64 of {"alg":"HS256","typ":"JWT"}).
TOKEN_HEADER = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"


def sandbox_secrets() -> dict[str, str]:
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
