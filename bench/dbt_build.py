"""The dbt project at volume: a full build, then an incremental build after one sandbox day.

    python -m bench.dbt_build [--scale 215] [--out bench/results/dbt_build.json]

One sandbox is started at ``--scale`` (timecard splits grow about as scale**1.5; scale 215 serves
about 5.5 M). Every step runs in a child process of its own, so its time and peak memory
(VmHWM) are its own:

1. ``load``: the five sources through the real ingestion pipelines into one DuckDB file;
2. ``dbt full``: ``dbt build`` on the fresh warehouse (every model, incremental ones from
   scratch, every test). The project is parsed once before, untimed, as ``q2c prepare`` does for
   the scheduled builds, so every timed build parses partially;
3. the sandbox clock moves one day; ``load`` again (the sources' incremental cursors);
4. ``dbt incremental``: ``dbt build`` again (incremental models merge what changed; the tests of
   the big staging views read the rows of the new loads; the other models and tests run as they
   always do);
5. ``dbt unchanged``: ``dbt build`` once more with nothing new: the floor of any build of the
   whole graph (dbt's start-up and per-node costs, the tables rebuilt and the tests run
   whatever changed).

Reported: rows and splits, each step's seconds and peak RSS, incremental / full dbt time
(target <= 10 %), and how the incremental build splits into that floor and the work of the
day's changes. Ratios measured in one run are what to compare: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.ingestion import peak_rss_mb

RESULTS = Path(__file__).parent / "results"
SPLITS = "pse__Timecard__c"


# ------------------------------------------------------------------ children

def _child_load(state_dir: Path, db: Path) -> dict[str, Any]:
    from ingestion import pipelines
    from orchestration import sandbox_link

    os.environ.update(sandbox_link.source_environment(sandbox_link.read_state(state_dir)))
    started = time.perf_counter()
    rows: dict[str, int] = {}
    for system in pipelines.SOURCES:
        info = pipelines.run(system, db, db.parent / "dlt")
        info.raise_on_failed_jobs()
        counts = info.pipeline.last_trace.last_normalize_info.row_counts if info.pipeline.last_trace else {}
        rows[system] = sum(n for table, n in counts.items() if not table.startswith("_dlt"))
        print(f"  loaded {system}: {rows[system]:,} rows", file=sys.stderr, flush=True)
    return {"seconds": time.perf_counter() - started, "rows": rows}


def set_as_of(db: Path, as_of: str) -> None:
    """The as-of date as the scheduled builds give it (orchestration/transform.py write_run_context):
    in q2c_meta.run_context, not --vars, so that dbt parses only what changed."""
    import duckdb

    with duckdb.connect(str(db)) as con:
        con.execute("create schema if not exists q2c_meta")
        con.execute("create table if not exists q2c_meta.run_context (as_of_date date not null, "
                    "written_at timestamp not null)")
        con.execute("delete from q2c_meta.run_context")
        con.execute("insert into q2c_meta.run_context values (cast(? as date), current_timestamp)", [as_of])


def prepare_parse(db: Path, paths: list[str]) -> None:
    """Parse the project once into the bench's target directory, untimed, as `q2c prepare` does for
    the scheduled builds: every timed build then parses partially, the full one included (the first
    build would otherwise pay a full parse the others do not)."""
    from dbt.cli.main import dbtRunner

    if (db.parent / "dbt_target" / "partial_parse.msgpack").exists():
        return
    result = dbtRunner().invoke(["parse", *paths])
    if not result.success:
        raise RuntimeError(f"dbt parse failed: {result.exception or ''}")


def _child_dbt(as_of: str, db: Path) -> dict[str, Any]:
    from dbt.cli.main import dbtRunner

    from orchestration import settings

    target = db.parent / "dbt_target"
    paths = ["--project-dir", str(settings.DBT_PROJECT_DIR), "--profiles-dir", str(settings.DBT_PROJECT_DIR),
             "--target-path", str(target), "--log-path", str(db.parent / "dbt_logs"), "--quiet"]
    # As the scheduled builds run (orchestration/transform.py): unit tests are code tests, run in CI.
    args = ["build", *paths, "--exclude-resource-type", "unit_test"]
    os.environ["Q2C_WAREHOUSE_PATH"] = str(db)
    prepare_parse(db, paths)
    set_as_of(db, as_of)
    started = time.perf_counter()
    result = dbtRunner().invoke(args)
    seconds = time.perf_counter() - started
    if not result.success:
        failed = [r.node.unique_id for r in (result.result or []) if str(r.status) in ("error", "fail")]
        raise RuntimeError(f"dbt build failed: {failed[:20]} {result.exception or ''}")
    nodes = list(result.result or [])
    slowest = sorted(((r.execution_time, r.node.unique_id) for r in nodes), reverse=True)[:8]
    return {"seconds": seconds, "nodes": len(nodes),
            "slowest": [{"node": n, "seconds": round(s, 2)} for s, n in slowest]}


def child_main(kind: str, arg: str, db: Path) -> None:
    out = _child_load(Path(arg), db) if kind == "load" else _child_dbt(arg, db)
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def _run_child(kind: str, arg: str, db: Path) -> dict[str, Any]:
    env = {**os.environ, "DLT_TELEMETRY": "false", "RUNTIME__LOG_LEVEL": "WARNING",
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    proc = subprocess.run([sys.executable, "-m", "bench.dbt_build", "--child", kind, arg, str(db)],
                          stdout=subprocess.PIPE, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} child failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ driver

def run(scale: float, workdir: Path) -> dict[str, Any]:
    from sandbox.server import Sandbox

    started = time.perf_counter()
    state_dir = workdir / "sandbox"
    db = workdir / "warehouse" / "q2c.duckdb"
    db.parent.mkdir(parents=True)
    with Sandbox(state_dir, seed=42, scale=scale) as sb:
        start_s = time.perf_counter() - started
        splits = sb.status()["counts"]["salesforce"][SPLITS]
        print(f"scale {scale:g}: sandbox up in {start_s:.0f} s serving {splits:,} splits", flush=True)
        load = _run_child("load", str(state_dir), db)
        print(f"  full load: {sum(load['rows'].values()):,} rows in {load['seconds']:.0f} s", flush=True)
        full = _run_child("dbt", sb.clock.isoformat(), db)
        print(f"  dbt build (full): {full['nodes']} nodes in {full['seconds']:.1f} s", flush=True)
        sb.advance(1)
        load_inc = _run_child("load", str(state_dir), db)
        print(f"  incremental load after one day: {sum(load_inc['rows'].values()):,} rows in "
              f"{load_inc['seconds']:.0f} s", flush=True)
        inc = _run_child("dbt", sb.clock.isoformat(), db)
        print(f"  dbt build (incremental): {inc['nodes']} nodes in {inc['seconds']:.1f} s", flush=True)
        unchanged = _run_child("dbt", sb.clock.isoformat(), db)
        print(f"  dbt build (nothing new): {unchanged['nodes']} nodes in {unchanged['seconds']:.1f} s", flush=True)
    return {
        "scale": scale, "splits": splits, "sandbox_start_s": round(start_s, 1),
        "load_s": round(load["seconds"], 1), "rows_loaded": load["rows"],
        "dbt_full_s": round(full["seconds"], 1), "dbt_full_peak_rss_mb": full["peak_rss_mb"],
        "incremental_load_s": round(load_inc["seconds"], 1), "incremental_rows_loaded": load_inc["rows"],
        "dbt_incremental_s": round(inc["seconds"], 1), "dbt_incremental_peak_rss_mb": inc["peak_rss_mb"],
        "incremental_share_of_full": round(inc["seconds"] / full["seconds"], 3),
        "dbt_unchanged_s": round(unchanged["seconds"], 1),
        # What the day's changes cost beyond the floor, as a share of what the full build's data cost beyond it.
        "changes_share_above_floor": round(max(inc["seconds"] - unchanged["seconds"], 0.0)
                                           / max(full["seconds"] - unchanged["seconds"], 1e-9), 3),
        "warehouse_mb": round(db.stat().st_size / 2**20),
        "slowest_full": full["slowest"], "slowest_incremental": inc["slowest"],
    }


def render(report: dict[str, Any], command: str) -> str:
    r = report["run"]
    lines = [f"Command: `{command}` ({report['machine']})", "",
             "| scale | splits | load | dbt build (full) | load after 1 day | dbt build (incremental) "
             "| incremental / full | dbt build (nothing new) | day's changes above that floor, vs full "
             "| peak RSS dbt full / incremental | warehouse |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
             f"| {r['scale']:g} | {r['splits']:,} | {r['load_s']} s | {r['dbt_full_s']} s | {r['incremental_load_s']} s "
             f"| {r['dbt_incremental_s']} s | {r['incremental_share_of_full']:.1%} | {r['dbt_unchanged_s']} s "
             f"| {r['changes_share_above_floor']:.1%} "
             f"| {r['dbt_full_peak_rss_mb']} / {r['dbt_incremental_peak_rss_mb']} MB | {r['warehouse_mb']:,} MB |",
             "", "Slowest nodes of the full build: " + ", ".join(
                 f"{s['node'].split('.')[2]} {s['seconds']} s" for s in r["slowest_full"]),
             "", "Slowest nodes of the incremental build: " + ", ".join(
                 f"{s['node'].split('.')[2]} {s['seconds']} s" for s in r["slowest_incremental"])]
    return "\n".join(lines)


def plot(report: dict[str, Any], directory: Path) -> Path:
    """``bench_dbt_build.png``: the three builds against the 10 % target, and where the incremental
    build's time goes (its slowest nodes against everything else)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = report["run"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 1.3]})
    builds = [("full", r["dbt_full_s"]), ("incremental\nafter one day", r["dbt_incremental_s"]),
              ("nothing new", r["dbt_unchanged_s"])]
    left.barh([b[0] for b in builds], [b[1] for b in builds], color=["#4c72b0", "#dd8452", "#8c8c8c"])
    for y, (_, seconds) in enumerate(builds):
        left.annotate(f"{seconds:.1f} s ({seconds / r['dbt_full_s']:.0%})", (seconds, y), xytext=(4, 0),
                      textcoords="offset points", va="center", fontsize=8)
    target = r["dbt_full_s"] * 0.10
    left.axvline(target, color="red", ls="--", lw=1)
    left.annotate("target: 10 % of full", (target, 2.45), xytext=(4, 0), textcoords="offset points",
                  color="red", fontsize=8)
    left.invert_yaxis()
    left.set(xlabel="seconds", xlim=(0, r["dbt_full_s"] * 1.35),
             title=f"dbt build at {r['splits']:,} timecard splits")

    slowest = r["slowest_incremental"][:6]
    names = [s["node"].split(".")[2] for s in slowest]  # model name, or the test's name without its hash
    seconds = [s["seconds"] for s in slowest]
    right.barh(names, seconds, color="#dd8452")
    right.invert_yaxis()
    right.tick_params(axis="y", labelsize=7)
    right.set(xlabel="seconds (thread time; two threads)",
              title="Slowest nodes of the incremental build")
    fig.tight_layout()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "bench_dbt_build.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[3], Path(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.dbt_build", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=215.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "dbt_build.json")
    parser.add_argument("--plot-dir", type=Path, default=Path(__file__).parent.parent / "docs" / "img",
                        help="where bench_dbt_build.png is written")
    parser.add_argument("--plot-only", action="store_true", help="plot the results in --out again, run nothing")
    args = parser.parse_args()
    if args.plot_only:
        print(plot(json.loads(args.out.read_text()), args.plot_dir))
        return
    workdir = Path(tempfile.mkdtemp(prefix="q2c-bench-dbt-"))
    try:
        report = {"machine": f"{platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} cores",
                  "run": run(args.scale, workdir)}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(render(report, f"python -m bench.dbt_build --scale {args.scale:g}"))
    print(plot(report, args.plot_dir))


if __name__ == "__main__":
    main()
