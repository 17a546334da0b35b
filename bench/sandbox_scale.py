"""How large a world the sandbox serves: start time, memory, first page and paging rate at one scale.

    python -m bench.sandbox_scale --scale 215 [--rows 200000] [--out bench/results/sandbox_scale_215.json]

Starts a sandbox at ``--scale`` (timecard splits grow about as scale**1.5: 40 -> 0.4 M, 100 -> 1.7 M,
215 -> 5.5 M), then pages ``queryAll`` over ``pse__Timecard__c`` ordered by ``SystemModstamp, Id``
(the incremental loader's query) through the real HTTPS API for ``--rows`` records.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from ingestion.salesforce.helpers import SalesforceClient
from sandbox.server import Sandbox


def _rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def measure(scale: float, rows: int) -> dict:
    started = time.perf_counter()
    sb = Sandbox(Path(tempfile.mkdtemp(prefix="q2c-scale-")), scale=scale).start()
    out: dict = {"scale": scale, "start_s": round(time.perf_counter() - started, 1), "rss_after_start_mb": _rss_mb(),
                 "splits_served": sb.status()["counts"]["salesforce"]["pse__Timecard__c"]}
    print(f"started in {out['start_s']} s, {out['splits_served']:,} splits, {out['rss_after_start_mb']} MB", flush=True)
    try:
        creds = sb.credentials["salesforce"]
        client = SalesforceClient(sb.urls["salesforce"], creds["client_id"], creds["client_secret"],
                                  ca_bundle=str(sb.ca_bundle))
        fields = client.describe_fields("pse__Timecard__c")
        soql = (f"SELECT {', '.join(fields)} FROM pse__Timecard__c WHERE SystemModstamp > 2000-01-01T00:00:00Z "
                "ORDER BY SystemModstamp ASC, Id ASC")
        t0 = time.perf_counter()
        n, first = 0, None
        for page in client.query_all(soql, "bench"):
            n += len(page)
            first = first if first is not None else time.perf_counter() - t0
            if n % 50_000 < len(page):
                print(f"  {n:,} records", flush=True)
            if n >= rows:
                break
        elapsed = time.perf_counter() - t0
        out.update({"first_page_s": round(first or 0.0, 2), "records_paged": n,
                    "paging_records_per_s": round(n / elapsed), "peak_rss_mb": _rss_mb()})
    finally:
        sb.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_scale", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=40)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = measure(args.scale, args.rows)
    print(json.dumps(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
