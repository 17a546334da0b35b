"""The user-facing commands as a user runs them: `q2c sandbox serve/status` and the Dagster web UI."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e
Q2C = [sys.executable, "-m", "orchestration.cli"]


def _free_port_base(count: int = 3) -> int:
    """A port p such that p .. p+count-1 are all free on 127.0.0.1."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count >= 65535:
            continue
        try:
            socks = []
            for i in range(count):
                sock = socket.socket()
                sock.bind(("127.0.0.1", base + i))
                socks.append(sock)
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no free port range")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_sandbox_serve_prints_urls_and_status_sees_it(q2c_env: Path):
    base = _free_port_base()
    proc = subprocess.Popen([*Q2C, "sandbox", "serve", "--port-base", str(base)], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("Ctrl-C" in line for line in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        urls = dict(re.findall(r"^\s+(salesforce|stripe|netsuite)\s+(https://127\.0\.0\.1:\d+)\s*$",
                               "".join(lines), flags=re.M))
        assert urls == {"salesforce": f"https://127.0.0.1:{base}", "stripe": f"https://127.0.0.1:{base + 1}",
                        "netsuite": f"https://127.0.0.1:{base + 2}"}, "".join(lines)

        status = subprocess.run([*Q2C, "sandbox", "status"], cwd=REPO_ROOT, capture_output=True, text=True)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "sandbox UP" in status.stdout
        assert "writes received: 0" in status.stdout

        as_json = subprocess.run([*Q2C, "sandbox", "status", "--json"], cwd=REPO_ROOT, capture_output=True, text=True)
        assert as_json.returncode == 0, as_json.stderr
        report = json.loads(as_json.stdout)
        from sandbox.world import build_world

        world = build_world(seed=42, scale=1.0)
        assert report["up"] is True
        assert {k: report["counts"]["salesforce"][k] for k in world.salesforce} == {
            k: len(v) for k, v in world.salesforce.items()}
        assert report["counts"]["netsuite"]["transaction"] == len(world.netsuite["transaction"])

        refused = subprocess.run([*Q2C, "sandbox", "reset"], cwd=REPO_ROOT, capture_output=True, text=True)
        assert refused.returncode == 1 and "stop it before resetting" in refused.stdout

        from sandbox.server import DEFAULT_CREDENTIALS

        state_text = (q2c_env / "sandbox" / "sandbox.json").read_text()
        json.loads(state_text)
        secrets = [v for creds in DEFAULT_CREDENTIALS.values() for v in creds.values() if "secret" in v or v.startswith("sk_")]
        assert len(secrets) == 3
        for secret in secrets:
            assert secret not in state_text
            assert secret not in "".join(lines) + status.stdout
    finally:
        _stop(proc)
    assert proc.returncode == 0
    down = subprocess.run([*Q2C, "sandbox", "status"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert down.returncode == 1
    assert "sandbox DOWN" in down.stdout
    (q2c_env / "sandbox" / "writes.jsonl").write_text("{}\n")
    reset = subprocess.run([*Q2C, "sandbox", "reset"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert reset.returncode == 0, reset.stdout
    assert not list((q2c_env / "sandbox").glob("*.jsonl"))
    assert (q2c_env / "sandbox" / "ca.pem").exists()


def _graphql(port: int, query: str) -> dict:
    resp = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=30)
    resp.raise_for_status()
    return resp.json()["data"]


def test_web_ui_serves_the_lineage_graph(q2c_env: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([*Q2C, "ui", "--port", str(port), "--sandbox-port-base", str(_free_port_base())],
                            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        loaded = False
        while time.monotonic() < deadline and not loaded:
            time.sleep(2)
            assert proc.poll() is None, "q2c ui exited early"
            try:
                data = _graphql(port, """{ workspaceOrError { ... on Workspace { locationEntries {
                    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }""")
            except (requests.RequestException, KeyError, TypeError):
                continue
            entries = data["workspaceOrError"]["locationEntries"]
            loaded = bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)
        assert loaded, "the code location did not load"
        assert entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation", entries

        nodes = _graphql(port, "{ assetNodes { assetKey { path } groupName dependencyKeys { path } } }")["assetNodes"]
        by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
        assert {"raw/netsuite/transaction", "marts/invoice_payment_status",
                "writeback/crm/invoice_payment_status", "writeback/billing/billing_schedule"} <= set(by_key)
        crm_deps = {"/".join(d["path"]) for d in by_key["writeback/crm/invoice_payment_status"]["dependencyKeys"]}
        assert crm_deps == {"reverse_etl/rev_crm_invoice_payment_status", "marts/invoice_payment_status"}
        page = requests.get(f"http://127.0.0.1:{port}/asset-groups", timeout=30)
        assert page.status_code == 200
    finally:
        _stop(proc)
