"""The Dagster code location: loads fast, one lineage graph from raw tables to writebacks, one writer pool."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import AssetKey

from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def defs(q2c_env):
    from orchestration.dbt_project import prepare_manifest

    prepare_manifest()
    from orchestration.definitions import defs

    return defs


def test_definitions_load_without_network_or_gx(q2c_env, defs):
    code = ("import socket, sys, time\n"
            "def refuse(*a, **k): raise RuntimeError('network used at definitions load')\n"
            "socket.socket.connect = refuse\n"
            "socket.create_connection = refuse\n"
            "t = time.time(); import orchestration.definitions\n"
            "print(time.time() - t); print('great_expectations' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    seconds, gx_loaded = out.stdout.split()
    assert gx_loaded == "False"
    assert float(seconds) < 15


# The child records every process it starts, then times the import of the definitions.
_TIMED_IMPORT = """
import json, subprocess, time
started_processes = []
_popen_init = subprocess.Popen.__init__
def _record(self, args, *a, **k):
    started_processes.append([str(x) for x in args] if isinstance(args, (list, tuple)) else [str(args)])
    _popen_init(self, args, *a, **k)
subprocess.Popen.__init__ = _record
t = time.perf_counter()
import orchestration.definitions
print(json.dumps({"seconds": time.perf_counter() - t, "processes": started_processes}))
"""


def _import_definitions(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _TIMED_IMPORT], cwd=REPO_ROOT, capture_output=True, text=True,
                          env={**os.environ, **env})


def test_dagster_dev_loads_the_definitions_without_parsing_dbt(q2c_env, defs):
    """Under `dagster dev` (DAGSTER_IS_DEV_CLI=1) the code location loads from the prepared manifest:
    no dbt process, the manifest untouched, and a load time in seconds (a dbt parse adds 8-20 s)."""
    from orchestration.dbt_project import dbt_project

    manifest = dbt_project().manifest_path
    before = manifest.stat().st_mtime_ns
    out = _import_definitions(DAGSTER_IS_DEV_CLI="1")
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert [p for p in report["processes"] if "dbt" in {Path(arg).name for arg in p}] == []
    assert manifest.stat().st_mtime_ns == before, "something parsed the dbt project at import"
    print(f"definitions import under DAGSTER_IS_DEV_CLI=1: {report['seconds']:.2f} s")
    assert report["seconds"] < 15  # about 3.5 s unloaded (docs/performance.md)


def test_missing_manifest_names_the_command_that_prepares_it(tmp_path):
    """With no manifest the load fails at once and says what to run, even under `dagster dev`."""
    out = _import_definitions(Q2C_WAREHOUSE_PATH=str(tmp_path / "q2c.duckdb"), DAGSTER_IS_DEV_CLI="1")
    assert out.returncode != 0
    assert "ManifestMissingError" in out.stderr and "run `q2c prepare`" in out.stderr, out.stderr[-3000:]
    assert not (tmp_path / "dbt_target" / "manifest.json").exists()


# Every asset group is a layer of the platform.
LAYER_GROUPS = {"ingestion", "seeds", "staging", "snapshots", "canonical", "marts", "controls", "observability",
                "reverse_etl", "writeback", "serving"}


def test_every_asset_is_in_a_layer_group_described_and_owned(defs):
    from orchestration.dbt_project import dbt_project

    graph = defs.resolve_asset_graph()
    groups: dict[str, set[AssetKey]] = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name in LAYER_GROUPS, (key, node.group_name)
        groups.setdefault(node.group_name, set()).add(key)
        # dagster-dbt appends the node's SQL: the description must say more than that.
        assert (node.description or "").split("#### Raw SQL")[0].strip(), key
        assert node.owners and all(owner.startswith("team:") for owner in node.owners), (key, node.owners)
    assert {"ingestion", "seeds", "staging", "snapshots", "canonical", "marts", "controls", "observability",
            "reverse_etl", "writeback"} <= set(groups)

    # dbt nodes: models in the group of their folder under models/, seeds in seeds, snapshots in snapshots.
    manifest = json.loads(dbt_project().manifest_path.read_text())
    from orchestration.transform import q2c_dbt_assets

    by_type: dict[str, set[AssetKey]] = {}
    for spec in q2c_dbt_assets.specs:
        dbt_node = manifest["nodes"][spec.metadata["dagster_dbt/unique_id"]]
        by_type.setdefault(dbt_node["resource_type"], set()).add(spec.key)
        if dbt_node["resource_type"] == "model":
            folder = Path(dbt_node["original_file_path"]).parts[1]  # models/<folder>/...
            assert graph.get(spec.key).group_name == folder, spec.key
    assert by_type["snapshot"] == groups["snapshots"] == {AssetKey(["snapshots", "contract_terms_history"]),
                                                         AssetKey(["snapshots", "billing_schedule_history"])}
    assert by_type["seed"] == groups["seeds"]


def _upstream(graph, key: AssetKey) -> set[AssetKey]:
    seen: set[AssetKey] = set()
    todo = [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def test_one_lineage_graph_from_raw_tables_to_writebacks(defs):
    graph = defs.resolve_asset_graph()
    upstream_crm = _upstream(graph, AssetKey(["writeback", "crm", "invoice_payment_status"]))
    for raw in (["raw", "netsuite", "transaction"], ["raw", "stripe", "invoices"], ["raw", "stripe", "customers"]):
        assert AssetKey(raw) in upstream_crm, raw
    assert AssetKey(["marts", "invoice_payment_status"]) in upstream_crm
    upstream_billing = _upstream(graph, AssetKey(["writeback", "billing", "billing_schedule"]))
    assert AssetKey(["raw", "salesforce", "contract"]) in upstream_billing
    assert AssetKey(["raw", "stripe", "customers"]) in upstream_billing
    # Every dbt source resolves to an ingestion asset: no orphan external nodes.
    assert all(graph.get(k).is_materializable for k in graph.get_all_asset_keys())
    # One raw asset per resource of every source system (NetSuite at depth, the legacy ERP included).
    from ingestion.pipelines import SOURCES
    from orchestration.ingestion import _PLACEHOLDER_ARGS

    expected = {AssetKey(["raw", system, name]) for system, source in SOURCES.items()
                for name in source(**_PLACEHOLDER_ARGS[system]).resources}
    assert {k for k in graph.get_all_asset_keys() if k.path[0] == "raw"} == expected
    assert {AssetKey(["raw", "netsuite", "transactionline"]), AssetKey(["raw", "netsuite", "currencyrate"]),
            AssetKey(["raw", "legacy_erp", "ar_invoice_hdr"]), AssetKey(["raw", "legacy_erp", "ar_receipt"])} <= expected


def test_gx_check_blocks_the_crm_writeback(defs):
    graph = defs.resolve_asset_graph()
    key = next(k for k in graph.asset_check_keys if k.name == "gx_invoice_payment_status")
    assert key.asset_key == AssetKey(["marts", "invoice_payment_status"])
    assert graph.get_check_spec(key).blocking
    crm = graph.get(AssetKey(["writeback", "crm", "invoice_payment_status"]))
    assert AssetKey(["marts", "invoice_payment_status"]) in crm.parent_keys


def test_every_warehouse_writer_shares_one_pool_of_one(defs, q2c_env):
    from dagster import DagsterInstance

    graph = defs.resolve_asset_graph()
    pools = {tuple(sorted(graph.get(k).pools or ())) for k in graph.get_all_asset_keys()}
    assert pools == {("duckdb_writer",)}
    gx = next(k for k in graph.asset_check_keys if k.name == "gx_invoice_payment_status")
    assert graph.get_check_spec(gx) is not None
    assert defs.resolve_assets_def(gx.asset_key) is not None
    check_defs = [c for c in defs.asset_checks if gx in c.check_keys]
    assert [c.op.pool for c in check_defs] == ["duckdb_writer"]
    # The instance the Makefile and tests use holds that pool to one step at a time.
    assert DagsterInstance.get().get_concurrency_config().pool_config.default_pool_limit == 1


def test_definitions_validate_cli(q2c_env, defs):
    started = time.monotonic()
    out = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "dagster") if (REPO_ROOT / ".venv").exists()
                          else "dagster", "definitions", "validate", "-w", "workspace.yaml"],
                         cwd=REPO_ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert time.monotonic() - started < 120
