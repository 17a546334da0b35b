"""Is the sandbox the bottleneck? Serving rate per API beside the ingestion rate, measured in one run.

    python -m bench.sandbox_serving [--scale 10] [--out bench/results/sandbox_serving.json]

For each API the biggest object is read in full three ways, on the same sandbox in the same
process:

- ``serve``: a bare client that only pages through the API (HTTPS + JSON decode): the rate the
  sandbox can serve at;
- ``minimal loader``: the same paging plus a DuckDB insert from Arrow: the floor any loader
  pays (the reference for the ingestion target ratio);
- ``q2c ingestion``: our dlt source and pipeline (parquet loader, merge on primary key).

Figures are records per second; ratios within one run are what to compare (machines are shared).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ingestion.netsuite.helpers import NetSuiteClient
from ingestion.pipelines import make_pipeline
from ingestion.salesforce.helpers import SalesforceClient
from ingestion.stripe.helpers import StripeClient
from sandbox.server import Sandbox

RESULTS = Path(__file__).parent / "results"


def _pages_salesforce(sb: Sandbox) -> tuple[str, Callable[[], Iterator[list[dict[str, Any]]]]]:
    creds = sb.credentials["salesforce"]
    client = SalesforceClient(sb.urls["salesforce"], creds["client_id"], creds["client_secret"],
                              ca_bundle=str(sb.ca_bundle))
    fields = client.describe_fields("pse__Timecard__c")
    soql = f"SELECT {', '.join(fields)} FROM pse__Timecard__c"
    return "pse__Timecard__c", lambda: client.query_all(soql, "bench")


def _pages_stripe(sb: Sandbox) -> tuple[str, Callable[[], Iterator[list[dict[str, Any]]]]]:
    client = StripeClient(sb.urls["stripe"], sb.credentials["stripe"]["api_key"], ca_bundle=str(sb.ca_bundle))
    return "invoices", lambda: client.list_pages("invoices")


def _pages_netsuite(sb: Sandbox) -> tuple[str, Callable[[], Iterator[list[dict[str, Any]]]]]:
    creds = sb.credentials["netsuite"]
    client = NetSuiteClient(sb.urls["netsuite"], creds["client_id"], creds["client_secret"],
                            ca_bundle=str(sb.ca_bundle))
    return "transaction", lambda: client.suiteql_pages("SELECT * FROM transaction ORDER BY id", "bench")


APIS = {"salesforce": _pages_salesforce, "stripe": _pages_stripe, "netsuite": _pages_netsuite}
INGESTION_SOURCE = {"salesforce": ("certinia", "pse_timecard_c"), "stripe": ("stripe", "invoices"),
                    "netsuite": ("netsuite", "transaction")}


def _timed(fn: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    rows = fn()
    return rows, time.perf_counter() - started


def serve(pages: Callable[[], Iterator[list[dict[str, Any]]]]) -> int:
    return sum(len(page) for page in pages())


def minimal_loader(pages: Callable[[], Iterator[list[dict[str, Any]]]], db: Path, table: str) -> int:
    """Pages to Arrow (columns unified across pages: APIs omit null fields), one DuckDB insert."""
    tables = [pa.Table.from_pylist([{k: (json.dumps(v) if isinstance(v, dict | list) else v)
                                     for k, v in rec.items()} for rec in page]) for page in pages()]
    if not tables:
        return 0
    arrow = pa.concat_tables(tables, promote_options="permissive")
    with duckdb.connect(str(db)) as con:
        con.register("pages", arrow)
        con.execute(f'create or replace table "{table}" as select * from pages')
    return arrow.num_rows


def q2c_ingestion(sb: Sandbox, system: str, db: Path, workdir: Path) -> int:
    source_name, table = INGESTION_SOURCE[system]
    from ingestion.pipelines import SOURCES

    creds = sb.credentials["salesforce" if source_name == "certinia" else source_name]
    kwargs: dict[str, Any] = {"base_url": sb.urls[system], "ca_bundle": str(sb.ca_bundle), **creds}
    source = SOURCES[source_name](**kwargs).with_resources(table)
    info = make_pipeline(source_name, db, workdir).run(source, loader_file_format="parquet")
    info.raise_on_failed_jobs()
    with duckdb.connect(str(db), read_only=True) as con:
        (count,) = con.execute(f"select count(*) from raw_{source_name}.{table}").fetchone()
    return int(count)


def run(scale: float) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="q2c-bench-"))
    try:
        started = time.perf_counter()
        with Sandbox(workdir / "sandbox", seed=42, scale=scale) as sb:
            build_seconds = time.perf_counter() - started
            results: dict[str, Any] = {}
            for system, factory in APIS.items():
                obj, pages = factory(sb)
                records, serve_s = _timed(lambda pages=pages: serve(pages))
                loaded, minimal_s = _timed(lambda pages=pages, system=system, obj=obj: minimal_loader(
                    pages, workdir / f"minimal_{system}.duckdb", obj.lower()))
                ingested, ingest_s = _timed(lambda system=system: q2c_ingestion(
                    sb, system, workdir / f"q2c_{system}.duckdb", workdir / "dlt"))
                assert records == loaded == ingested, (system, records, loaded, ingested)
                results[system] = {
                    "object": obj, "records": records,
                    "serve_rps": round(records / serve_s), "minimal_loader_rps": round(records / minimal_s),
                    "q2c_ingestion_rps": round(records / ingest_s),
                    "ingestion_vs_minimal": round(minimal_s / ingest_s, 2),
                    "serve_vs_ingestion": round(ingest_s / serve_s, 2),
                }
        return {"scale": scale, "world_build_and_start_s": round(build_seconds, 2),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "machine": f"{platform.machine()}, {platform.python_version()}", "apis": results}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def render(report: dict[str, Any], command: str) -> str:
    lines = [f"Scale {report['scale']}, world built and served in {report['world_build_and_start_s']} s, "
             f"peak RSS {report['peak_rss_mb']} MB. Command: `{command}`", "",
             "| API | object | records | sandbox serves (rec/s) | minimal loader (rec/s) | q2c ingestion (rec/s) "
             "| q2c / minimal | serving headroom (× ingestion) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for system, r in report["apis"].items():
        lines.append(f"| {system} | {r['object']} | {r['records']} | {r['serve_rps']:,} | {r['minimal_loader_rps']:,} "
                     f"| {r['q2c_ingestion_rps']:,} | {r['ingestion_vs_minimal']} | {r['serve_vs_ingestion']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "sandbox_serving.json")
    args = parser.parse_args()
    report = run(args.scale)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(render(report, f"python -m bench.sandbox_serving --scale {args.scale:g}"))


if __name__ == "__main__":
    main()
