"""The production recipe (deploy/, docs/deploy.md), run here without a container engine.

The image's two steps are run as they are written: `q2c prepare` with the build's placeholder
DSN (parsing must not need a database), then the code server with the Helm chart's arguments,
which Dagster's own health check must reach.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"


def _dockerfile() -> str:
    return (DEPLOY / "Dockerfile").read_text()


def _helm_args() -> list[str]:
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    return [str(a) for a in deployment["dagsterApiGrpcArgs"]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_image_and_the_chart_start_the_same_code_server() -> None:
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", _dockerfile(), re.M).group(1))
    assert cmd[:3] == ["dagster", "api", "grpc"]
    assert cmd[3:3 + len(_helm_args())] == _helm_args()


def test_the_build_step_prepares_without_a_database_and_the_code_server_answers(tmp_path: Path) -> None:
    build_dsn = re.search(r"Q2C_POSTGRES_DSN=(\S+) q2c prepare", _dockerfile()).group(1)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "Q2C_DESTINATION": "postgres", "Q2C_POSTGRES_DSN": build_dsn, "Q2C_TARGET": "live",
           "Q2C_WAREHOUSE_PATH": str(tmp_path / "warehouse" / "q2c.duckdb"), "DAGSTER_HOME": str(tmp_path),
           "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env.pop("Q2C_DBT_TARGET", None)
    prepared = subprocess.run([str(bin_dir / "q2c"), "prepare"], env=env, cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=300)
    assert prepared.returncode == 0, prepared.stdout[-2000:] + prepared.stderr[-2000:]
    assert (tmp_path / "warehouse" / "dbt_target_postgres" / "manifest.json").exists()

    port = _free_port()
    log = (tmp_path / "code_server.log").open("w")  # a file, not a pipe nobody reads while it runs
    server = subprocess.Popen([str(bin_dir / "dagster"), "api", "grpc", *_helm_args(), "--host", "127.0.0.1",
                               "--port", str(port)], env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            check = subprocess.run([str(bin_dir / "dagster"), "api", "grpc-health-check", "--host", "127.0.0.1",
                                    "--port", str(port)], env=env, capture_output=True, text=True, timeout=60)
            if check.returncode == 0:
                break
            assert server.poll() is None, f"the code server exited:\n{(tmp_path / 'code_server.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no healthy code server after 120 s: {check.stdout}{check.stderr}"
            time.sleep(1)
        listed = subprocess.run([str(bin_dir / "dagster"), "job", "list", "--grpc-host", "127.0.0.1",
                                 "--grpc-port", str(port)], env=env, capture_output=True, text=True, timeout=120)
        assert listed.returncode == 0, listed.stderr[-2000:]
        assert "q2c_pipeline" in listed.stdout and "q2c_reconcile" in listed.stdout
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:  # it drains its requests first; the test is over
            server.kill()
            server.wait(timeout=10)
        log.close()
