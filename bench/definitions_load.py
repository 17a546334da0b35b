"""How long the Dagster code location takes to load: ``import orchestration.definitions``.

    python -m bench.definitions_load [--runs 5] [--out FILE]

The dbt manifest is prepared once (``q2c prepare``, in a temporary warehouse directory), then
the definitions are imported ``--runs`` times, each in a fresh child process, twice over:

- ``dagster dev``: with ``DAGSTER_IS_DEV_CLI=1``, the variable ``dagster dev`` sets in the code
  server that loads the location (where ``DbtProject.prepare_if_dev`` would run ``dbt parse``);
- ``plain``: without it (``dagster definitions validate``, the daemon's runs, tests).

Reported per mode: the median and each run of the import alone (``time.perf_counter`` around the
import in the child) and of the whole child process (interpreter start-up included), and whether
the manifest's modification time changed (it does if anything parses the dbt project).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
CHILD = ("import time; t = time.perf_counter(); import orchestration.definitions; "
         "print(time.perf_counter() - t)")


def _env(base: Path, dev: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"Q2C_WAREHOUSE_PATH": str(base / "warehouse" / "q2c.duckdb"),
                "Q2C_SANDBOX_DIR": str(base / "sandbox"), "DAGSTER_HOME": str(base / "dagster_home"),
                "GX_ANALYTICS_ENABLED": "false", "DLT_TELEMETRY": "false"})
    env.pop("DAGSTER_IS_DEV_CLI", None)
    if dev:
        env["DAGSTER_IS_DEV_CLI"] = "1"
    return env


def measure(base: Path, manifest: Path, runs: int, dev: bool) -> dict[str, Any]:
    imports, processes = [], []
    before = manifest.stat().st_mtime_ns
    for _ in range(runs):
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO_ROOT, env=_env(base, dev),
                             capture_output=True, text=True, check=True)
        processes.append(time.perf_counter() - started)
        imports.append(float(out.stdout.split()[-1]))
    return {"runs": runs, "import_s": [round(x, 2) for x in imports],
            "import_median_s": round(statistics.median(imports), 2),
            "process_s": [round(x, 2) for x in processes],
            "process_median_s": round(statistics.median(processes), 2),
            "manifest_rewritten": manifest.stat().st_mtime_ns != before}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="also write the results here (JSON)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="q2c_defs_load_") as tmp:
        base = Path(tmp)
        for sub in ("warehouse", "sandbox", "dagster_home"):
            (base / sub).mkdir()
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "orchestration.cli", "prepare"], cwd=REPO_ROOT,
                       env=_env(base, dev=False), capture_output=True, text=True, check=True)
        prepare_s = time.perf_counter() - started
        manifest = base / "warehouse" / "dbt_target" / "manifest.json"
        results = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "platform": platform.platform()},
            "prepare_s": round(prepare_s, 2),
            "dagster dev": measure(base, manifest, args.runs, dev=True),
            "plain": measure(base, manifest, args.runs, dev=False),
        }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
