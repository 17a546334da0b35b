"""`dbt docs generate` documents every model BI tools and writebacks read: each mart, canonical,
control and observability model has a description, and so does every column it really has."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.dbt_build import Built

DOCUMENTED_LAYERS = ("canonical", "marts", "controls", "observability", "reverse_etl")


@pytest.fixture(scope="module")
def docs(world_builds) -> tuple[dict, dict]:
    b: Built = world_builds.get(42, 1.0)
    b.dbt("docs", "generate")
    target = b.work_dir / "target"
    return json.loads((target / "manifest.json").read_text()), json.loads((target / "catalog.json").read_text())


def test_every_model_and_column_of_the_read_layers_is_documented(docs: tuple[dict, dict]) -> None:
    manifest, catalog = docs
    models = {uid: n for uid, n in manifest["nodes"].items()
              if n["resource_type"] == "model" and n["fqn"][1] in DOCUMENTED_LAYERS}
    layers = {n["fqn"][1] for n in models.values()}
    assert {"canonical", "marts", "controls", "reverse_etl"} <= layers
    undocumented = []
    for uid, node in models.items():
        if not node["description"].strip():
            undocumented.append(f"{node['name']}: no description")
        built_columns = catalog["nodes"].get(uid, {}).get("columns", {})
        assert built_columns, f"{node['name']} is not in the catalog (not built?)"
        described = {name.lower() for name, c in node["columns"].items() if c["description"].strip()}
        undocumented += [f"{node['name']}.{col}" for col in built_columns if col.lower() not in described]
    assert not undocumented, "undocumented: " + ", ".join(sorted(undocumented))


def test_marts_enforce_their_contracts(docs: tuple[dict, dict]) -> None:
    manifest, _ = docs
    marts = [n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["fqn"][1] == "marts"]
    assert marts
    assert [n["name"] for n in marts if not n["config"]["contract"]["enforced"]] == []


def test_exposures_cover_the_dashboards_and_the_writebacks(docs: tuple[dict, dict]) -> None:
    manifest, _ = docs
    exposures = manifest["exposures"].values()
    depends = {dep for e in exposures for dep in e["depends_on"]["nodes"]}
    assert {e["type"] for e in exposures} >= {"dashboard", "application"}
    for model in ("rev_billing_schedule", "rev_crm_invoice_payment_status"):
        assert f"model.q2c.{model}" in depends
    marts = {uid for uid, n in manifest["nodes"].items() if n["resource_type"] == "model" and n["fqn"][1] == "marts"}
    assert marts <= depends, f"marts no dashboard reads: {sorted(marts - depends)}"
