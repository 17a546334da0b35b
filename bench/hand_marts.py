"""The engine's limit: four marts computed by one hand-written DuckDB script (bench/hand_marts.sql).

    python -m bench.hand_marts --warehouse PATH [--as-of 2026-06-30]

``run_script`` executes bench/hand_marts.sql in one DuckDB connection on ``warehouse`` (a file
holding the raw_* schemas dlt loads) and writes hand.invoice_payment_status, hand.ar_ageing,
hand.wip and hand.utilization. ``compare`` lists, for each of them, the rows that are in the
hand-written table and not in the dbt mart (marts.<table>) and the other way round (EXCEPT ALL,
so duplicates count; numeric columns are compared exactly, as stored). The CLI runs the script
and prints its time and the comparison (the warehouse must hold the dbt-built marts too).
This is the reference `dbt build` / `dbt run` of the same marts is timed against
(docs/performance.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

import duckdb

SCRIPT = Path(__file__).with_name("hand_marts.sql")
TABLES = ("invoice_payment_status", "ar_ageing", "wip", "utilization")
AS_OF_PLACEHOLDER = "{{as_of_date}}"


def render(as_of: date) -> str:
    """The script with its as-of date placeholder replaced by a DATE literal."""
    if not isinstance(as_of, date):
        raise TypeError(f"as_of must be a date, got {type(as_of).__name__}")
    return SCRIPT.read_text().replace(AS_OF_PLACEHOLDER, f"DATE '{as_of.isoformat()}'")


def run_script(warehouse: Path, as_of: date) -> dict:
    """Run the script on ``warehouse`` in one connection: {'seconds': float, 'rows': {table: count}}.

    ``seconds`` covers connecting, the script and its commit (not the row counts after it).
    """
    sql = render(as_of)
    started = time.perf_counter()
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(sql)
        seconds = time.perf_counter() - started
        rows = {t: con.execute(f"select count(*) from hand.{t}").fetchone()[0] for t in TABLES}
    finally:
        con.close()
    return {"seconds": seconds, "rows": rows}


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "select column_name from information_schema.columns"
        " where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()]


def compare(warehouse: Path, tables: tuple[str, ...] = TABLES) -> dict[str, list]:
    """Differences between hand.<t> and marts.<t>, per table.

    Each entry is a list of ('hand_only' | 'dbt_only', row) pairs: the rows of one side that the
    other lacks, with multiplicity (EXCEPT ALL both ways). A column set that differs is one
    ('columns', (hand columns, dbt columns)) entry. Empty lists mean the tables are equal.
    """
    out: dict[str, list] = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table in tables:
            hand_cols, dbt_cols = _columns(con, "hand", table), _columns(con, "marts", table)
            if hand_cols != dbt_cols:
                out[table] = [("columns", (hand_cols, dbt_cols))]
                continue
            cols = ", ".join(f'"{c}"' for c in dbt_cols)
            diffs: list = []
            for label, left, right in (("hand_only", "hand", "marts"), ("dbt_only", "marts", "hand")):
                rows = con.execute(
                    f"select {cols} from {left}.{table} except all select {cols} from {right}.{table}"
                ).fetchall()
                diffs.extend((label, row) for row in rows)
            out[table] = diffs
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True, help="DuckDB file with raw_* and marts")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 6, 30))
    parser.add_argument("--no-compare", action="store_true", help="only run the script")
    args = parser.parse_args(argv)

    result = run_script(args.warehouse, args.as_of)
    print(f"hand_marts.sql on {args.warehouse} as of {args.as_of}: {result['seconds']:.3f} s")
    for table, n in result["rows"].items():
        print(f"  hand.{table}: {n:,} rows")
    if args.no_compare:
        return 0
    differences = compare(args.warehouse)
    failed = False
    for table, diffs in differences.items():
        print(f"  {table}: {'identical to marts.' + table if not diffs else f'{len(diffs)} differences'}")
        for label, row in diffs[:10]:
            print(f"    {label}: {row}")
        failed = failed or bool(diffs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
