"""The ``q2c`` command.

    q2c sandbox serve      serve the simulated CRM/PSA, billing and ERP on 127.0.0.1 until stopped
    q2c sandbox status     is the sandbox up, where, and what does it hold (--json: counts per object)
    q2c sandbox advance    move the running sandbox's clock forward (--days N)
    q2c sandbox reset      forget what was written to the sandbox and how far its clock moved
    q2c prepare            parse the dbt project (the manifest Dagster loads)
    q2c demo               start the sandbox, run the whole graph once through Dagster, summarize, stop
    q2c ui                 start the sandbox and the Dagster web UI on 127.0.0.1
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from orchestration import settings
from sandbox import admin

DEFAULT_PORTS = {"salesforce": 18441, "stripe": 18442, "netsuite": 18443}


def running_sandbox_state() -> dict | None:
    """The state of a sandbox already serving from ``Q2C_SANDBOX_DIR``, if any."""
    return admin.running_state(settings.sandbox_dir())


@contextmanager
def sandbox_session(seed: int, scale: float, ports: dict[str, int] | None = None) -> Iterator[dict]:
    """Use the running sandbox, or start one for the duration of the block."""
    from sandbox.server import Sandbox

    state = running_sandbox_state()
    if state is not None:
        print(f"using the sandbox already running (pid {state.get('pid')})")
        yield state
        return
    sandbox = Sandbox(settings.sandbox_dir(), seed=seed, scale=scale, ports=ports if ports is not None else {})
    sandbox.start()
    try:
        yield sandbox.status() | {"urls": sandbox.urls, "ca_bundle": str(sandbox.ca_bundle)}
    finally:
        sandbox.stop()


def cmd_sandbox_serve(args: argparse.Namespace) -> int:
    from sandbox.server import Sandbox

    if running_sandbox_state():
        print(f"a sandbox is already serving from {settings.sandbox_dir()}; see `q2c sandbox status`")
        return 1
    ports = _ports(args.port_base)
    sandbox = Sandbox(settings.sandbox_dir(), seed=args.seed, scale=args.scale, host=args.host, ports=ports)
    sandbox.start()
    print(f"q2c sandbox (seed {args.seed}, scale {args.scale}, clock {sandbox.clock}) serving:")
    for system, url in sandbox.urls.items():
        print(f"  {system:<11} {url}")
    print(f"  CA bundle   {sandbox.ca_bundle}  (set Q2C_CA_BUNDLE to it outside q2c)")
    print("Ctrl-C to stop.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    sandbox.stop()
    print("sandbox stopped")
    return 0


def cmd_sandbox_status(args: argparse.Namespace) -> int:
    state = admin.read_state(settings.sandbox_dir())
    if state is None:
        print(json.dumps({"up": False, "state_dir": str(settings.sandbox_dir())}) if args.json
              else f"no sandbox has run from {settings.sandbox_dir()}")
        return 1
    up = admin.healthy(state)
    live = admin.live_status(state) if up else {}
    if args.json:
        print(json.dumps({"up": up, "seed": state.get("seed"), "scale": state.get("scale"),
                          "clock": live.get("clock", state.get("clock")), "urls": state.get("urls"),
                          "counts": live.get("counts", {}), "writes": live.get("writes"),
                          "faults": live.get("faults")}, indent=2, default=str))
        return 0 if up else 1
    print(f"sandbox {'UP' if up else 'DOWN'} (state {settings.sandbox_dir() / admin.STATE_FILE})")
    print(f"  seed {state.get('seed')}, scale {state.get('scale')}, clock {live.get('clock', state.get('clock'))}")
    for system, url in state.get("urls", {}).items():
        print(f"  {system:<11} {url}")
    if up:
        for system, counts in live.get("counts", {}).items():
            print(f"  {system}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
        print(f"  writes received: {live.get('writes')}")
    return 0 if up else 1


def cmd_sandbox_advance(args: argparse.Namespace) -> int:
    state = running_sandbox_state()
    if state is None:
        print(f"no sandbox is serving from {settings.sandbox_dir()}: start it with `q2c sandbox serve`")
        return 1
    report = admin.advance(state, args.days)
    print(json.dumps(report, indent=2, default=str))
    return 0


def cmd_sandbox_reset(_: argparse.Namespace) -> int:
    try:
        removed = admin.reset(settings.sandbox_dir())
    except admin.SandboxUnavailable as exc:
        print(exc)
        return 1
    print(f"sandbox reset to its seeded world ({len(removed)} logs removed from {settings.sandbox_dir()})")
    return 0


def cmd_prepare(_: argparse.Namespace) -> int:
    from orchestration.dbt_project import prepare_manifest

    prepare_manifest()
    print("dbt manifest prepared")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from orchestration.dbt_project import prepare_manifest
    from orchestration.runner import run_pipeline, summarize

    os.environ.setdefault("Q2C_TARGET", "sandbox")
    settings.warehouse_path().parent.mkdir(parents=True, exist_ok=True)
    print(f"warehouse: {settings.warehouse_path()}")
    print("[1/3] preparing the dbt manifest", flush=True)
    prepare_manifest()
    with sandbox_session(args.seed, args.scale) as state:
        print("[2/3] sandbox up: " + ", ".join(f"{k} {v}" for k, v in state["urls"].items()), flush=True)
        print("[3/3] running the q2c_pipeline job through Dagster", flush=True)
        started = time.monotonic()
        result = run_pipeline()
        summary = summarize(result)
        print()
        print(summary.render())
        print(f"\nfinished in {time.monotonic() - started:.0f} s; the run is in the Dagster UI (`make ui`).")
    return 0 if summary.success else 1


def _ports(port_base: int | None) -> dict[str, int]:
    if port_base is None:
        return dict(DEFAULT_PORTS)
    return {name: port_base + i for i, name in enumerate(DEFAULT_PORTS)}


def cmd_ui(args: argparse.Namespace) -> int:
    from orchestration.dbt_project import prepare_manifest

    os.environ.setdefault("Q2C_TARGET", "sandbox")
    prepare_manifest()
    with sandbox_session(args.seed, args.scale, ports=_ports(args.sandbox_port_base)):
        cmd = [sys.executable, "-m", "dagster", "dev", "-w", str(settings.REPO_ROOT / "workspace.yaml"),
               "-h", "127.0.0.1", "-p", str(args.port)]
        print(f"Dagster UI on http://127.0.0.1:{args.port} (Ctrl-C to stop)", flush=True)
        proc = subprocess.Popen(cmd, cwd=settings.REPO_ROOT)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            return proc.wait()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="q2c", description="q2c quote-to-cash data platform")
    sub = parser.add_subparsers(dest="command", required=True)

    sandbox = sub.add_parser("sandbox", help="the simulated source systems").add_subparsers(
        dest="sandbox_command", required=True)
    serve = sandbox.add_parser("serve", help="serve the sandbox until stopped")
    serve.add_argument("--seed", type=int, default=42)
    serve.add_argument("--scale", type=float, default=1.0)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port-base", type=int, default=None,
                       help="first of three consecutive ports (default 18441-18443)")
    serve.set_defaults(func=cmd_sandbox_serve)
    status = sandbox.add_parser("status", help="is the sandbox up, and what it holds")
    status.add_argument("--json", action="store_true", help="counts per object as JSON")
    status.set_defaults(func=cmd_sandbox_status)
    advance = sandbox.add_parser("advance", help="move the running sandbox's clock forward")
    advance.add_argument("--days", type=int, required=True)
    advance.set_defaults(func=cmd_sandbox_advance)
    sandbox.add_parser("reset", help="forget writes, events and advances (sandbox stopped)").set_defaults(
        func=cmd_sandbox_reset)

    sub.add_parser("prepare", help="parse the dbt project").set_defaults(func=cmd_prepare)
    demo = sub.add_parser("demo", help="run the whole pipeline once on the sandbox")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--scale", type=float, default=1.0)
    demo.set_defaults(func=cmd_demo)
    ui = sub.add_parser("ui", help="the Dagster web UI, with the sandbox running")
    ui.add_argument("--port", type=int, default=3000)
    ui.add_argument("--seed", type=int, default=42)
    ui.add_argument("--scale", type=float, default=1.0)
    ui.add_argument("--sandbox-port-base", type=int, default=None,
                    help="first of three consecutive sandbox ports (default 18441-18443)")
    ui.set_defaults(func=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
