"""The Dagster code location: loads fast, one lineage graph from raw tables to writebacks, one writer pool."""

from __future__ import annotations

import subprocess
import sys
import time

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
