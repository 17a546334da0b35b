"""The whole pipeline at sizes S, M and L, and the growth curve: q2c's benchmark harness.

    python -m bench.e2e [--scales 1 20 75 215] [--compare-up-to 75] [--out bench/results/e2e.json]

Each scale is one sandbox world (timecard splits grow about as scale**1.5: 1 -> ~8 k (S), 75 ->
~1.1 M (M), 215 -> ~5.5 M (L)). For each, every step runs in a child process of its own, so its
time and peak memory (VmHWM) are its own:

- sandbox: world generation and start (in this process), and its serving rate: a bare client
  paging ``queryAll`` over ``pse__Timecard__c`` (at most 200,000 records);
- loaders side by side on that object (scales up to ``--compare-up-to``): a minimal hand-written
  loader (requests + json + one Arrow table + one DuckDB insert), q2c's Certinia resource, and
  dlt's stock ``rest_api`` source with default settings;
- full run: load every source, ``dbt build``, the GX suites, both writebacks (first sync: every
  payload record), and the hand-written DuckDB SQL script computing the same marts
  (``bench/hand_marts.sql``) next to a ``dbt run`` of those marts and their parents;
- the sandbox clock moves one day, then the incremental run: load, ``dbt build``, GX,
  writebacks.

End to end is the sum of a run's steps: what one Dagster run of the graph does, step by step,
without Dagster's own cost. Ratios are measured within one run of this command (the machines
are shared and noisy). Results go to ``--out`` (JSON), plots to ``docs/img/``, and the tables
to the block of ``docs/performance.md`` between the ``bench:e2e`` markers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench.ingestion import peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
DOCS = ROOT / "docs" / "performance.md"
IMAGES = ROOT / "docs" / "img"
SIZES = {1.0: "S", 75.0: "M", 215.0: "L"}
SERVE_LIMIT = 200_000
OBJECT = "pse__Timecard__c"
API = "/services/data/v59.0"


# ------------------------------------------------------------------ children (one process per step)

def _sandbox_env(state_dir: Path) -> dict[str, Any]:
    from orchestration import sandbox_link

    state = sandbox_link.read_state(state_dir)
    os.environ.update(sandbox_link.source_environment(state))
    # requests lets REQUESTS_CA_BUNDLE (set on these machines) override a session's verify:
    # trust the sandbox's CA the same way (stack-notes, 6).
    os.environ["REQUESTS_CA_BUNDLE"] = str(state["ca_bundle"])
    return state


def _credentials() -> dict[str, str]:
    from sandbox.server import DEFAULT_CREDENTIALS

    return DEFAULT_CREDENTIALS["salesforce"]


def _salesforce_session(state: dict[str, Any]):
    import requests

    creds = _credentials()
    url = state["urls"]["salesforce"]
    session = requests.Session()
    session.verify = state["ca_bundle"]
    token = session.post(f"{url}/services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": creds["client_id"],
        "client_secret": creds["client_secret"]}).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    return session, url, token


def _soql(session, url: str) -> str:
    fields = [f["name"] for f in session.get(f"{url}{API}/sobjects/{OBJECT}/describe").json()["fields"]]
    return f"SELECT {', '.join(fields)} FROM {OBJECT} ORDER BY SystemModstamp ASC, Id ASC"


def child_serve(state_dir: Path, _db: Path) -> dict[str, Any]:
    """The sandbox's serving rate: page queryAll with a bare client, decode, keep nothing."""
    state = _sandbox_env(state_dir)
    session, url, _ = _salesforce_session(state)
    started = time.perf_counter()
    body = session.get(f"{url}{API}/queryAll/", params={"q": _soql(session, url)}).json()
    records = 0
    while True:
        records += len(body["records"])
        if body.get("done", True) or records >= SERVE_LIMIT:
            break
        body = session.get(url + body["nextRecordsUrl"]).json()
    return {"records": records, "seconds": time.perf_counter() - started}


def child_minimal(state_dir: Path, db: Path) -> dict[str, Any]:
    from bench.ingestion import _child_minimal

    state = _sandbox_env(state_dir)
    started = time.perf_counter()
    out = _child_minimal({"url": state["urls"]["salesforce"], "ca_bundle": state["ca_bundle"],
                          "credentials": _credentials()}, db)
    return {"records": out["rows"], "seconds": time.perf_counter() - started}


def child_q2c_object(state_dir: Path, db: Path) -> dict[str, Any]:
    from bench.ingestion import _child_q2c

    state = _sandbox_env(state_dir)
    creds = _credentials()
    started = time.perf_counter()
    out = _child_q2c({"url": state["urls"]["salesforce"], "ca_bundle": state["ca_bundle"],
                      "credentials": {"client_id": creds["client_id"], "client_secret": creds["client_secret"]}}, db)
    return {"records": out["rows"], "seconds": time.perf_counter() - started}


def child_rest_api(state_dir: Path, db: Path) -> dict[str, Any]:
    """dlt's stock rest_api source on the same endpoint, default settings (dict rows, insert_values)."""
    import dlt
    import duckdb
    from dlt.sources.rest_api import rest_api_source

    state = _sandbox_env(state_dir)
    started = time.perf_counter()
    session, url, token = _salesforce_session(state)
    source = rest_api_source({
        "client": {"base_url": f"{url}{API}/", "auth": {"type": "bearer", "token": token},
                   "paginator": {"type": "json_link", "next_url_path": "nextRecordsUrl"}},
        "resources": [{"name": "pse_timecard_c", "primary_key": "Id", "write_disposition": "merge",
                       "endpoint": {"path": "queryAll/", "params": {"q": _soql(session, url)},
                                    "data_selector": "records"}}],
    })
    pipeline = dlt.pipeline("bench_rest_api", destination=dlt.destinations.duckdb(str(db)),
                            dataset_name="raw_rest_api", pipelines_dir=str(db.parent / "dlt_rest_api"))
    pipeline.run(source).raise_on_failed_jobs()
    with duckdb.connect(str(db), read_only=True) as con:
        (rows,) = con.execute("select count(*) from raw_rest_api.pse_timecard_c").fetchone()
    return {"records": int(rows), "seconds": time.perf_counter() - started}


def child_load(state_dir: Path, db: Path) -> dict[str, Any]:
    from bench.dbt_build import _child_load

    out = _child_load(state_dir, db)
    return {"records": sum(out["rows"].values()), "rows": out["rows"], "seconds": out["seconds"]}


def _dbt(db: Path, as_of: str, *args: str) -> dict[str, Any]:
    from dbt.cli.main import dbtRunner

    from bench.dbt_build import prepare_parse, set_as_of
    from orchestration import settings

    paths = ["--project-dir", str(settings.DBT_PROJECT_DIR), "--profiles-dir", str(settings.DBT_PROJECT_DIR),
             "--target-path", str(db.parent / "dbt_target"), "--log-path", str(db.parent / "dbt_logs"), "--quiet"]
    os.environ["Q2C_WAREHOUSE_PATH"] = str(db)
    prepare_parse(db, paths)
    set_as_of(db, as_of)
    started = time.perf_counter()
    result = dbtRunner().invoke([*args, *paths])
    seconds = time.perf_counter() - started
    if not result.success:
        failed = [r.node.unique_id for r in (result.result or []) if str(r.status) in ("error", "fail")]
        raise RuntimeError(f"dbt {args[0]} failed: {failed[:20]} {result.exception or ''}")
    return {"nodes": len(list(result.result or [])), "seconds": seconds}


def child_dbt_build(as_of: str, db: Path) -> dict[str, Any]:
    # As the scheduled builds run (orchestration/transform.py): unit tests are code tests, run in CI.
    return _dbt(db, as_of, "build", "--exclude-resource-type", "unit_test")


def child_dbt_marts(as_of: str, db: Path) -> dict[str, Any]:
    """`dbt run` of the hand script's marts and everything they read (models only, no tests)."""
    from bench.hand_marts import TABLES

    return _dbt(db, as_of, "run", "--full-refresh", "--select", *(f"+{m}" for m in TABLES))


def child_hand(as_of: str, db: Path) -> dict[str, Any]:
    from bench.hand_marts import run_script

    out = run_script(db, date.fromisoformat(as_of))
    return {"seconds": out["seconds"], "records": sum(out["rows"].values())}


def child_gx(_arg: str, db: Path) -> dict[str, Any]:
    from expectations import suite_names
    from expectations.runner import validate_table

    os.environ["Q2C_WAREHOUSE_PATH"] = str(db)
    import great_expectations  # noqa: F401  (its import is not the validation's work)

    started = time.perf_counter()
    rows = 0
    failed = []
    for name in suite_names():
        outcome = validate_table(db, name, run_name="bench")
        rows += outcome.rows
        if not outcome.success:
            failed.append(name)
    return {"records": rows, "suites": len(suite_names()), "failed": failed,
            "seconds": time.perf_counter() - started}


def child_writeback(state_dir: Path, db: Path) -> dict[str, Any]:
    import dlt
    import duckdb

    from ingestion.salesforce.helpers import SalesforceClient
    from ingestion.stripe.helpers import StripeClient
    from reverse_etl import engine
    from reverse_etl.sinks.salesforce import SalesforceUpsertSink
    from reverse_etl.sinks.stripe import StripeInvoiceItemSink
    from reverse_etl.targets import (
        BILLING_SCHEDULE,
        CRM_EXTERNAL_ID_FIELD,
        CRM_OBJECT,
        CRM_PAYMENT_STATUS,
        billing_schedule_payload,
        crm_payment_status_payload,
    )

    _sandbox_env(state_dir)
    crm = SalesforceUpsertSink(SalesforceClient(base_url=dlt.config["sources.salesforce.base_url"],
                                                client_id=dlt.config["sources.salesforce.client_id"],
                                                client_secret=dlt.secrets["sources.salesforce.client_secret"]),
                               CRM_OBJECT, CRM_EXTERNAL_ID_FIELD, name=CRM_PAYMENT_STATUS.name)
    billing = StripeInvoiceItemSink(StripeClient(base_url=dlt.config["sources.stripe.base_url"],
                                                 api_key=dlt.secrets["sources.stripe.api_key"]),
                                    name=BILLING_SCHEDULE.name)
    out: dict[str, Any] = {"records": 0, "seconds": 0.0}
    with duckdb.connect(str(db)) as con:
        for sink, target, payload_of in ((crm, CRM_PAYMENT_STATUS, crm_payment_status_payload),
                                         (billing, BILLING_SCHEDULE, billing_schedule_payload)):
            started = time.perf_counter()
            result = engine.sync(con, sink, target.relation, payload_of, mode=target.mode,
                                 correlation=target.correlation)
            seconds = time.perf_counter() - started
            out[target.name] = {"sent": result.sent, "failed": result.failed, "seconds": round(seconds, 2),
                                "batch_size": sink.batch_size}
            out["records"] += result.sent
            out["seconds"] += seconds
    return out


CHILDREN = {"serve": child_serve, "minimal": child_minimal, "q2c_object": child_q2c_object,
            "rest_api": child_rest_api, "load": child_load, "dbt_build": child_dbt_build,
            "dbt_marts": child_dbt_marts, "hand": child_hand, "gx": child_gx, "writeback": child_writeback}
PATH_ARG = {"serve", "minimal", "q2c_object", "rest_api", "load", "writeback"}


def child_main(kind: str, arg: str, db: Path) -> None:
    fn = CHILDREN[kind]
    out = fn(Path(arg) if kind in PATH_ARG else arg, db)  # type: ignore[operator]
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def _step(kind: str, arg: str | Path, db: Path) -> dict[str, Any]:
    env = {**os.environ, "DLT_TELEMETRY": "false", "RUNTIME__LOG_LEVEL": "WARNING",
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "GX_ANALYTICS_ENABLED": "false"}
    wall = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench.e2e", "--child", kind, str(arg), str(db)],
                          stdout=subprocess.PIPE, text=True, env=env, check=False, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"step {kind} failed (exit {proc.returncode})")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_s"] = time.perf_counter() - wall
    rate = f", {out['records'] / out['seconds']:,.0f} rec/s" if out.get("records") and out["seconds"] else ""
    print(f"    {kind:<11} {out['seconds']:8.1f} s{rate}, peak {out['peak_rss_mb']:,} MB", flush=True)
    return out


# ------------------------------------------------------------------ driver

def _run(state_dir: Path, db: Path, as_of: str, *, full: bool) -> dict[str, Any]:
    steps = {"load": _step("load", state_dir, db), "dbt_build": _step("dbt_build", as_of, db),
             "gx": _step("gx", as_of, db), "writeback": _step("writeback", state_dir, db)}
    if full:
        steps["hand"] = _step("hand", as_of, db)
        steps["dbt_marts"] = _step("dbt_marts", as_of, db)
    pipeline = ("load", "dbt_build", "gx", "writeback")
    steps["e2e_s"] = sum(steps[s]["seconds"] for s in pipeline)
    steps["e2e_peak_rss_mb"] = max(steps[s]["peak_rss_mb"] for s in pipeline)
    return steps


def run_scale(scale: float, workdir: Path, compare: bool) -> dict[str, Any]:
    from sandbox.server import Sandbox

    state_dir = workdir / "sandbox"
    db = workdir / "warehouse" / "q2c.duckdb"
    db.parent.mkdir(parents=True)
    started = time.perf_counter()
    with Sandbox(state_dir, seed=42, scale=scale) as sb:
        out: dict[str, Any] = {"scale": scale, "size": SIZES.get(scale, ""),
                               "sandbox_start_s": time.perf_counter() - started, "sandbox_peak_rss_mb": peak_rss_mb()}
        counts = sb.status()["counts"]
        out["splits"] = counts["salesforce"][OBJECT]
        out["records_served"] = sum(sum(objs.values()) for objs in counts.values())
        print(f"scale {scale:g}: {out['splits']:,} splits, {out['records_served']:,} records, "
              f"sandbox up in {out['sandbox_start_s']:.1f} s", flush=True)
        out["serve"] = _step("serve", state_dir, db)
        if compare:
            for kind in ("minimal", "q2c_object", "rest_api"):
                side = workdir / kind / "side.duckdb"
                side.parent.mkdir()
                out[kind] = _step(kind, state_dir, side)
                shutil.rmtree(side.parent, ignore_errors=True)
        print("  full run", flush=True)
        out["full"] = _run(state_dir, db, sb.clock.isoformat(), full=True)
        sb.advance(1)
        print("  one sandbox day later", flush=True)
        out["incremental"] = _run(state_dir, db, sb.clock.isoformat(), full=False)
    out["warehouse_mb"] = round(db.stat().st_size / 2**20)
    out["incremental_share"] = out["incremental"]["e2e_s"] / out["full"]["e2e_s"]
    return out


# ------------------------------------------------------------------ report

def _rate(step: dict[str, Any]) -> str:
    return f"{step['records'] / step['seconds']:,.0f}" if step.get("seconds") else "-"


def render(report: dict[str, Any], command: str) -> str:
    runs = report["runs"]
    out = [f"Command: `{command}` ({report['machine']}, {report['date']}). Times in seconds; "
           "peak memory is each step's own process (VmHWM), in MB.", "",
           "### Each size, step by step", "",
           "| size | scale | splits | sandbox start | serves (rec/s) | load | dbt build | GX | writeback (rec/s) "
           "| end to end | peak MB | after 1 day: load | dbt build | GX | writeback | end to end | incremental / full |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
           "| ---: | ---: |"]
    for r in runs:
        f, i = r["full"], r["incremental"]
        out.append(
            f"| {r['size'] or '-'} | {r['scale']:g} | {r['splits']:,} | {r['sandbox_start_s']:.1f} | {_rate(r['serve'])} "
            f"| {f['load']['seconds']:.1f} | {f['dbt_build']['seconds']:.1f} | {f['gx']['seconds']:.1f} "
            f"| {f['writeback']['seconds']:.1f} ({_rate(f['writeback'])}) | **{f['e2e_s']:.1f}** | {f['e2e_peak_rss_mb']:,} "
            f"| {i['load']['seconds']:.1f} | {i['dbt_build']['seconds']:.1f} | {i['gx']['seconds']:.1f} "
            f"| {i['writeback']['seconds']:.1f} | **{i['e2e_s']:.1f}** | **{r['incremental_share']:.0%}** |")
    out += ["", "### Peak memory per step (MB)", "",
            "| size | scale | sandbox (serving process) | load | dbt build | GX | writeback | hand SQL | "
            "load after 1 day | dbt build after 1 day |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in runs:
        f, i = r["full"], r["incremental"]
        out.append(f"| {r['size'] or '-'} | {r['scale']:g} | {r['sandbox_peak_rss_mb']:,} | {f['load']['peak_rss_mb']:,} "
                   f"| {f['dbt_build']['peak_rss_mb']:,} | {f['gx']['peak_rss_mb']:,} | {f['writeback']['peak_rss_mb']:,} "
                   f"| {f['hand']['peak_rss_mb']:,} | {i['load']['peak_rss_mb']:,} | {i['dbt_build']['peak_rss_mb']:,} |")
    out += ["", "### Side by side (same run)", "",
            "| size | scale | minimal loader (rec/s) | q2c (rec/s) | q2c / minimal | dlt rest_api defaults (rec/s) "
            "| q2c / rest_api | hand SQL script | dbt run, same marts | dbt run / script | dbt build, whole project "
            "| dbt build / script |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in runs:
        f = r["full"]
        loaders = "| - | - | - | - | - "
        if "minimal" in r:
            mn, q, ra = (r[k]["records"] / r[k]["seconds"] for k in ("minimal", "q2c_object", "rest_api"))
            loaders = f"| {mn:,.0f} | {q:,.0f} | {q / mn:.2f} | {ra:,.0f} | {q / ra:.1f} "
        out.append(f"| {r['size'] or '-'} | {r['scale']:g} {loaders}| {f['hand']['seconds']:.1f} "
                   f"| {f['dbt_marts']['seconds']:.1f} | {f['dbt_marts']['seconds'] / f['hand']['seconds']:.1f}x "
                   f"| {f['dbt_build']['seconds']:.1f} | {f['dbt_build']['seconds'] / f['hand']['seconds']:.1f}x |")
    return "\n".join(out)


def plot(report: dict[str, Any], directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(report["runs"], key=lambda r: r["splits"])
    splits = [r["splits"] for r in runs]
    directory.mkdir(parents=True, exist_ok=True)

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    full = [r["full"]["e2e_s"] for r in runs]
    inc = [r["incremental"]["e2e_s"] for r in runs]
    left.plot(splits, full, "o-", label="full run (load, dbt, GX, writeback)")
    left.plot(splits, inc, "s-", label="incremental run after one sandbox day")
    left.plot(splits, [r["full"]["dbt_build"]["seconds"] for r in runs], "^--", label="dbt build (full)")
    left.plot(splits, [r["full"]["hand"]["seconds"] for r in runs], "v:", label="hand SQL script (same marts)")
    # Linear growth through the largest full run, for reference.
    left.plot(splits, [full[-1] * s / splits[-1] for s in splits], color="grey", lw=0.8, ls="--",
              label="linear in size (through the largest full run)")
    left.set(xscale="log", yscale="log", xlabel="timecard splits", ylabel="seconds",
             title="Time against world size")
    left.legend(fontsize=7)
    right.plot(splits, [r["full"]["e2e_peak_rss_mb"] for r in runs], "o-", label="full run, largest step")
    right.plot(splits, [r["incremental"]["e2e_peak_rss_mb"] for r in runs], "s-", label="incremental run, largest step")
    right.plot(splits, [r["sandbox_peak_rss_mb"] for r in runs], "d:", label="sandbox (serves the world from memory)")
    right.set(xscale="log", xlabel="timecard splits", ylabel="peak RSS, MB", title="Memory against world size")
    right.legend(fontsize=7)
    fig.tight_layout()
    growth = directory / "bench_growth.png"
    fig.savefig(growth, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.2))
    labels: list[str] = []
    stages = ("load", "dbt_build", "gx", "writeback")
    shares: dict[str, list[float]] = {s: [] for s in stages}
    totals: list[float] = []
    for r in runs:
        for phase in ("full", "incremental"):
            labels.append(f"{r['size'] or format(r['scale'], 'g')}\n{phase}")
            total = sum(r[phase][s]["seconds"] for s in stages)
            totals.append(total)
            for s in stages:
                shares[s].append(100 * r[phase][s]["seconds"] / total)
    bottoms = [0.0] * len(labels)
    for s in stages:
        ax.bar(labels, shares[s], bottom=bottoms, label=s.replace("_", " "))
        bottoms = [b + v for b, v in zip(bottoms, shares[s], strict=True)]
    for x, total in enumerate(totals):
        ax.annotate(f"{total:,.0f} s", (x, 101), ha="center", fontsize=8)
    ax.set(ylabel="share of the run's time, %", ylim=(0, 110),
           title="Where a run's time goes (total above each bar)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    stages_png = directory / "bench_stages.png"
    fig.savefig(stages_png, dpi=110)
    plt.close(fig)
    return [growth, stages_png]


def write_docs(markdown: str, doc: Path = DOCS) -> None:
    """Replace the block between the bench:e2e markers in docs/performance.md with ``markdown``."""
    text = doc.read_text()
    start, end = "<!-- bench:e2e:start -->", "<!-- bench:e2e:end -->"
    block = f"{start}\n{markdown}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.write_text(text)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[3], Path(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 20.0, 75.0, 215.0])
    parser.add_argument("--compare-up-to", type=float, default=75.0,
                        help="run the three loaders side by side up to this scale")
    parser.add_argument("--out", type=Path, default=RESULTS / "e2e.json")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.md and its plots")
    args = parser.parse_args()
    command = "python -m bench.e2e --scales " + " ".join(f"{s:g}" for s in args.scales)
    report: dict[str, Any] = {"machine": f"{platform.machine()}, Python {platform.python_version()}, "
                                         f"{os.cpu_count()} cores", "date": date.today().isoformat(),
                              "command": command, "runs": []}
    for scale in args.scales:
        workdir = Path(tempfile.mkdtemp(prefix="q2c-bench-e2e-"))
        try:
            report["runs"].append(run_scale(scale, workdir, compare=scale <= args.compare_up_to))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, default=float) + "\n")  # after each scale
    markdown = render(report, command)
    print(markdown)
    if not args.no_docs:
        images = plot(report, IMAGES)
        write_docs(markdown + "\n\n" + "\n".join(f"![{p.stem}](img/{p.name})" for p in images))


if __name__ == "__main__":
    main()
