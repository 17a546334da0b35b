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
from collections.abc import Iterator
from pathlib import Path

import duckdb
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


class GraphQLError(RuntimeError):
    pass


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    resp = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": query, "variables": variables or {}},
                         timeout=30)
    resp.raise_for_status()
    body = resp.json()
    if body.get("errors"):
        raise GraphQLError(body["errors"])
    return body["data"]


REPOSITORY = {"repositoryLocationName": "q2c", "repositoryName": "__repository__"}
UI_SANDBOX_BASE: dict[str, int] = {}  # the sandbox ports `q2c ui` was given, for the listening test


def _listening(port: int) -> set[str]:
    """The local addresses on which something listens on TCP ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if fields[3] != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            if name == "tcp":
                found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:  # four little-endian 32-bit words
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


@pytest.fixture(scope="module")
def web_ui(q2c_env: Path) -> Iterator[int]:
    """`q2c ui` (sandbox + `dagster dev`) on a free port, its code location loaded; started once per module."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    UI_SANDBOX_BASE["base"] = base = _free_port_base()
    proc = subprocess.Popen([*Q2C, "ui", "--port", str(port), "--sandbox-port-base", str(base)],
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
            except (requests.RequestException, GraphQLError, KeyError, TypeError):
                continue
            entries = data["workspaceOrError"]["locationEntries"]
            loaded = bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)
        assert loaded, "the code location did not load"
        assert entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation", entries
        yield port
    finally:
        _stop(proc)


def test_web_ui_and_sandbox_listen_on_loopback_only(web_ui: int):
    """By default nothing is reachable from another machine: every listening socket is 127.0.0.1."""
    base = UI_SANDBOX_BASE["base"]
    for port in (web_ui, base, base + 1, base + 2):
        assert _listening(port) == {"127.0.0.1"}, (port, _listening(port))


def test_web_ui_serves_the_lineage_graph(web_ui: int):
    port = web_ui
    nodes = _graphql(port, "{ assetNodes { assetKey { path } groupName dependencyKeys { path } } }")["assetNodes"]
    by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    assert {"raw/netsuite/transaction", "marts/invoice_payment_status",
            "writeback/crm/invoice_payment_status", "writeback/billing/billing_schedule"} <= set(by_key)
    crm_deps = {"/".join(d["path"]) for d in by_key["writeback/crm/invoice_payment_status"]["dependencyKeys"]}
    assert crm_deps == {"reverse_etl/rev_crm_invoice_payment_status", "marts/invoice_payment_status"}
    page = requests.get(f"http://127.0.0.1:{port}/asset-groups", timeout=30)
    assert page.status_code == 200


def test_web_ui_shows_every_asset_schedule_and_sensor_of_the_definitions(web_ui: int):
    """The UI's graph is the whole code location: every asset key in its group, every schedule and
    sensor by name with its status (a fresh instance: the default status of each)."""
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    expected_assets = {"/".join(k.path): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    repo = defs.get_repository_def()
    expected_schedules = {s.name: (s.cron_schedule, s.default_status.value) for s in repo.schedule_defs}
    expected_sensors = {s.name: s.default_status.value for s in repo.sensor_defs}
    assert "q2c_pipeline_hourly" in expected_schedules

    nodes = _graphql(web_ui, "{ assetNodes { assetKey { path } groupName } }")["assetNodes"]
    assert {"/".join(n["assetKey"]["path"]): n["groupName"] for n in nodes} == expected_assets

    data = _graphql(web_ui, """query($repo: RepositorySelector!) {
        schedulesOrError(repositorySelector: $repo) { __typename ... on PythonError { message }
          ... on Schedules { results { name cronSchedule scheduleState { status } } } }
        sensorsOrError(repositorySelector: $repo) { __typename ... on PythonError { message }
          ... on Sensors { results { name sensorState { status } } } } }""", {"repo": REPOSITORY})
    assert data["schedulesOrError"]["__typename"] == "Schedules", data["schedulesOrError"]
    assert data["sensorsOrError"]["__typename"] == "Sensors", data["sensorsOrError"]
    schedules = {s["name"]: (s["cronSchedule"], s["scheduleState"]["status"])
                 for s in data["schedulesOrError"]["results"]}
    sensors = {s["name"]: s["sensorState"]["status"] for s in data["sensorsOrError"]["results"]}
    assert schedules == expected_schedules
    assert sensors == expected_sensors


SEEDS = [["staging", "legal_entities"], ["staging", "erp_cutovers"]]


def test_web_ui_launches_a_run_that_succeeds(web_ui: int, q2c_env: Path):
    """Launch the two dbt seeds (no network, seconds of work) with their dbt tests through GraphQL,
    as the UI's "Materialize selected" does, and follow the run through the queue to SUCCESS."""
    launched = _graphql(web_ui, """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
        __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
        ... on RunConfigValidationInvalid { errors { message } } ... on InvalidSubsetError { message } } }""",
                        {"p": {"selector": {**REPOSITORY, "jobName": "__ASSET_JOB",
                                            "assetSelection": [{"path": path} for path in SEEDS]},
                               "runConfigData": {}}})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    deadline = time.monotonic() + 150
    status = None
    while time.monotonic() < deadline and status not in ("SUCCESS", "FAILURE", "CANCELED"):
        time.sleep(2)
        run = _graphql(web_ui, """query($id: ID!) { runOrError(runId: $id) { __typename
            ... on Run { status stepStats { stepKey status } } } }""", {"id": run_id})["runOrError"]
        status = run.get("status")
    assert status == "SUCCESS", run

    for path in SEEDS:
        asset = _graphql(web_ui, """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) {
            ... on Asset { assetMaterializations(limit: 1) { runId } } } }""", {"key": {"path": path}})
        assert asset["assetOrError"]["assetMaterializations"][0]["runId"] == run_id, path
    checks = _graphql(web_ui, """query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) {
        ... on AssetNode { assetChecksOrError { ... on AssetChecks { checks { name
          executionForLatestMaterialization { runId status } } } } } } }""",
                      {"key": {"path": SEEDS[0]}})["assetNodeOrError"]["assetChecksOrError"]["checks"]
    assert checks and all(c["executionForLatestMaterialization"] == {"runId": run_id, "status": "SUCCEEDED"}
                          for c in checks), checks
    with duckdb.connect(str(q2c_env / "warehouse" / "q2c.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from staging.legal_entities").fetchone()[0] > 0
