"""Run the sandbox in the foreground: ``python -m sandbox --state-dir .sandbox``.

Prints the sandbox's status (urls, CA bundle; no secrets) as JSON and serves until interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import threading
from pathlib import Path

from sandbox.server import SYSTEMS, Sandbox
from sandbox.world import DEFAULT_SEED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, default=Path(".sandbox"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--host", default="127.0.0.1")
    for system in SYSTEMS:
        parser.add_argument(f"--{system}-port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--no-tls", action="store_true", help="serve plain HTTP (debugging only)")
    parser.add_argument("--faults", type=json.loads, default=None, metavar="JSON",
                        help='fault knobs per system, e.g. \'{"stripe": {"rate_limit": 0.1}}\' (see sandbox/faults.py)')
    parser.add_argument("--rates", type=json.loads, default=None, metavar="JSON",
                        help='anomaly rates per kind, e.g. \'{"overpayment": 0.1}\' (see sandbox/world_anomalies.py)')
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    ports = {system: getattr(args, f"{system}_port") for system in SYSTEMS}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Sandbox(args.state_dir, seed=args.seed, scale=args.scale, host=args.host, ports=ports,
                 tls=not args.no_tls, faults=args.faults, rates=args.rates) as sb:
        status = sb.status()
        print(json.dumps({k: status[k] for k in ("urls", "ca_bundle", "seed", "scale", "clock", "state_dir")},
                         indent=2), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
