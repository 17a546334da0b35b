"""The anomaly ledger: exact (precision and recall 1.0 against the reference detectors), complete, and
each kind's rate moves that kind's cases only."""

from __future__ import annotations

from collections import Counter

import pytest

from sandbox.world import DEFAULT_RATES, KINDS, build_world
from sandbox.world_audit import detect, ledger_keys

SEEDS = (42, 2)


@pytest.fixture(scope="module")
def worlds():
    return {seed: build_world(seed=seed) for seed in SEEDS}


@pytest.mark.parametrize("seed", [42, 2, 7])
def test_ledger_equals_what_each_rule_finds(seed):
    w = build_world(seed=seed)
    assert detect(w) == ledger_keys(w)


def test_every_kind_is_injected_at_scale_one_with_default_rates(worlds):
    present = Counter()
    for w in worlds.values():
        present.update({e["kind"] for e in w.ledger})
    assert set(present) == set(KINDS), sorted(set(KINDS) - set(present))


def test_ledger_entries_name_their_objects(worlds):
    for w in worlds.values():
        for e in w.ledger:
            assert e["control_point"] == KINDS[e["kind"]].control_point
            assert e["key"] and e["objects"] and e["at"] <= w.clock.isoformat()
            assert e["key"] in {str(v) for v in e["objects"].values() if not isinstance(v, list)} | {
                f"{e['objects'].get('system')}:{e['objects'].get('invoice_id')}"}
    pp = [e for e in worlds[42].ledger if e["kind"] == "contract_activated_without_project"]
    assert pp and all(set(e["objects"]) == {"contract_id", "opportunity_id", "account_id"} for e in pp)


def test_a_rate_at_zero_removes_that_kind_and_nothing_else(worlds):
    base = worlds[2]
    for kind in KINDS:
        w = build_world(seed=2, rates={kind: 0})
        assert not any(e["kind"] == kind for e in w.ledger), kind
        assert w.ledger == [e for e in base.ledger if e["kind"] != kind], kind
        assert detect(w) == ledger_keys(w), kind


def test_higher_rates_mean_more_cases_of_that_kind_only(worlds):
    base = worlds[42]
    w = build_world(seed=42, rates={"invoice_missing_tax_code": 0.5})
    before = Counter(e["kind"] for e in base.ledger)
    after = Counter(e["kind"] for e in w.ledger)
    assert after["invoice_missing_tax_code"] > before["invoice_missing_tax_code"]
    assert [e for e in w.ledger if e["kind"] != "invoice_missing_tax_code"] == \
        [e for e in base.ledger if e["kind"] != "invoice_missing_tax_code"]
    assert detect(w) == ledger_keys(w)


def test_rates_are_validated():
    assert set(DEFAULT_RATES) == set(KINDS)
    with pytest.raises(ValueError, match="unknown anomaly kind"):
        build_world(rates={"no_such_kind": 0.1})
    with pytest.raises(ValueError, match="within"):
        build_world(rates={"contract_activated_without_project": 0.9})
