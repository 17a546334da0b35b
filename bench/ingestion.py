"""Ingestion at volume: q2c's loader against a minimal hand-written loader on the same sandbox API.

    python -m bench.ingestion [--scales 20 75] [--out bench/results/ingestion.json]

For each scale (timecard splits grow about as scale**1.5; scale 75 serves about 1.05 M) one
sandbox is started and, each in a child process of its own (so its peak memory is its own and it
does not share an interpreter with the sandbox):

- ``minimal``: plain HTTP paging of ``queryAll`` over ``pse__Timecard__c`` + ``json`` decoding +
  one Arrow table + one DuckDB insert - the floor any loader pays;
- ``q2c full``: the Certinia source's ``pse__Timecard__c`` resource through dlt into DuckDB
  (typed Arrow batches, merge on Id, metrics and quarantine);
- ``q2c incremental``: the sandbox clock moves one day, then the same pipeline runs again (its
  SystemModstamp cursor minus the 5-day lag window).

Reported: records/s of each, q2c / minimal (target >= 0.7), incremental / full time (target
<= 5 %), and each child's peak RSS. Times start after the child's imports (a scheduled run pays
those once per process) and end when the rows are committed. Ratios measured in one run are what to compare: the machine is
shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
OBJECT = "pse__Timecard__c"
TABLE = "pse_timecard_c"


# ------------------------------------------------------------------ children

def _child_minimal(state: dict[str, Any], db: Path) -> dict[str, Any]:
    import duckdb
    import pyarrow as pa
    import requests

    creds = state["credentials"]
    session = requests.Session()
    verify = state["ca_bundle"]
    token = session.post(f"{state['url']}/services/oauth2/token", verify=verify, data={
        "grant_type": "client_credentials", "client_id": creds["client_id"],
        "client_secret": creds["client_secret"]}).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    api = f"{state['url']}/services/data/v59.0"
    fields = [f["name"] for f in session.get(f"{api}/sobjects/{OBJECT}/describe", verify=verify).json()["fields"]]
    body = session.get(f"{api}/queryAll/", verify=verify, params={
        "q": f"SELECT {', '.join(fields)} FROM {OBJECT} ORDER BY SystemModstamp ASC, Id ASC"}).json()
    tables = []
    while True:
        records = body["records"]
        for r in records:
            r.pop("attributes", None)
        tables.append(pa.Table.from_pylist(records))
        if body.get("done", True):
            break
        body = session.get(state["url"] + body["nextRecordsUrl"], verify=verify).json()
    arrow = pa.concat_tables(tables, promote_options="permissive")
    with duckdb.connect(str(db)) as con:
        con.register("pages", arrow)
        con.execute(f"create or replace table {TABLE} as select * from pages")
    return {"rows": arrow.num_rows}


def _child_q2c(state: dict[str, Any], db: Path) -> dict[str, Any]:
    import duckdb

    from ingestion.certinia import certinia_source
    from ingestion.pipelines import LOADER_FILE_FORMAT, make_pipeline
    from ingestion.salesforce.settings import PSA_OBJECTS

    assert OBJECT in PSA_OBJECTS
    source = certinia_source(base_url=state["url"], ca_bundle=state["ca_bundle"], objects=[OBJECT],
                             **state["credentials"])
    info = make_pipeline("certinia", db, db.parent / "dlt").run(source, loader_file_format=LOADER_FILE_FORMAT)
    info.raise_on_failed_jobs()
    with duckdb.connect(str(db), read_only=True) as con:
        (rows,) = con.execute(f"select count(*) from raw_certinia.{TABLE}").fetchone()
        (extracted,) = con.execute("select rows_extracted from raw_certinia.q2c_load_metrics "
                                   "order by finished_at desc limit 1").fetchone()
    return {"rows": int(rows), "extracted": int(extracted)}


def child_main(kind: str, state_file: Path, db: Path) -> None:
    state = json.loads(state_file.read_text())
    # Imports are not the loader's work (a scheduled run pays them once per process): load them first.
    import duckdb  # noqa: F401
    import pyarrow  # noqa: F401
    import requests  # noqa: F401

    if kind != "minimal":
        import ingestion.certinia  # noqa: F401
        import ingestion.pipelines  # noqa: F401
    started = time.perf_counter()
    out = (_child_minimal if kind == "minimal" else _child_q2c)(state, db)
    out["seconds"] = time.perf_counter() - started
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def peak_rss_mb() -> int:
    """This process's peak resident memory since it exec'd (VmHWM).

    Not ``ru_maxrss``: that survives exec and so counts the parent's memory the child held for a
    moment between fork and exec - here the sandbox's whole world.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # not Linux


def _run_child(kind: str, state_file: Path, db: Path) -> dict[str, Any]:
    env = {**os.environ, "DLT_TELEMETRY": "false", "RUNTIME__LOG_LEVEL": "WARNING"}
    proc = subprocess.run([sys.executable, "-m", "bench.ingestion", "--child", kind, str(state_file), str(db)],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ driver

def run_scale(scale: float, workdir: Path) -> dict[str, Any]:
    from sandbox.server import Sandbox

    started = time.perf_counter()
    with Sandbox(workdir / f"sandbox_{scale:g}", seed=42, scale=scale) as sb:
        start_s = time.perf_counter() - started
        splits = sb.status()["counts"]["salesforce"][OBJECT]
        print(f"scale {scale:g}: sandbox up in {start_s:.0f} s serving {splits:,} splits", flush=True)
        state_file = workdir / f"state_{scale:g}.json"
        state_file.write_text(json.dumps({"url": sb.urls["salesforce"], "ca_bundle": str(sb.ca_bundle),
                                          "credentials": sb.credentials["salesforce"]}))
        minimal = _run_child("minimal", state_file, workdir / f"minimal_{scale:g}.duckdb")
        print(f"  minimal loader: {minimal['rows']:,} rows in {minimal['seconds']:.1f} s", flush=True)
        q2c_db = workdir / f"q2c_{scale:g}.duckdb"
        full = _run_child("q2c", state_file, q2c_db)
        print(f"  q2c full load:  {full['rows']:,} rows in {full['seconds']:.1f} s", flush=True)
        sb.advance(1)
        after = sb.status()["counts"]["salesforce"][OBJECT]
        incremental = _run_child("q2c", state_file, q2c_db)
        print(f"  q2c incremental after one day: {incremental['extracted']:,} rows read in "
              f"{incremental['seconds']:.1f} s", flush=True)
    assert minimal["rows"] == full["rows"] == splits, (minimal, full, splits)
    assert incremental["rows"] == after, (incremental, after)
    return {
        "scale": scale, "splits": splits, "sandbox_start_s": round(start_s, 1),
        "minimal_rps": round(splits / minimal["seconds"]), "q2c_full_rps": round(splits / full["seconds"]),
        "q2c_vs_minimal": round(minimal["seconds"] / full["seconds"], 2),
        "full_s": round(full["seconds"], 1), "incremental_s": round(incremental["seconds"], 1),
        "incremental_rows_read": incremental["extracted"],
        "incremental_share_of_full": round(incremental["seconds"] / full["seconds"], 3),
        "minimal_peak_rss_mb": minimal["peak_rss_mb"], "q2c_full_peak_rss_mb": full["peak_rss_mb"],
        "q2c_incremental_peak_rss_mb": incremental["peak_rss_mb"],
    }


def render(report: dict[str, Any], command: str) -> str:
    lines = [f"Command: `{command}` ({report['machine']})", "",
             "| scale | splits | minimal loader (rec/s) | q2c full (rec/s) | q2c / minimal | full | incremental after 1 day "
             "| incremental / full | peak RSS minimal / q2c full / q2c incremental |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in report["scales"]:
        lines.append(
            f"| {r['scale']:g} | {r['splits']:,} | {r['minimal_rps']:,} | {r['q2c_full_rps']:,} | {r['q2c_vs_minimal']} "
            f"| {r['full_s']} s | {r['incremental_s']} s ({r['incremental_rows_read']:,} rows) "
            f"| {r['incremental_share_of_full']:.1%} | {r['minimal_peak_rss_mb']} / {r['q2c_full_peak_rss_mb']} / "
            f"{r['q2c_incremental_peak_rss_mb']} MB |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.ingestion", description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[20.0, 75.0])
    parser.add_argument("--out", type=Path, default=RESULTS / "ingestion.json")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="q2c-bench-ingestion-"))
    try:
        report = {"machine": f"{platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} cores",
                  "scales": [run_scale(s, workdir) for s in args.scales]}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(render(report, "python -m bench.ingestion --scales " + " ".join(f"{s:g}" for s in args.scales)))


if __name__ == "__main__":
    main()
