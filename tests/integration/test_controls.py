"""Control points against the sandbox's anomaly ledger: each control finds exactly the ledger's cases.

Every world is built once per session (tests/fixtures/dbt_build.py) and shared with the other
dbt tests.
"""

from __future__ import annotations

import pytest

from sandbox.world import World
from tests.fixtures.dbt_build import AS_OF, Built

WORLDS = [(42, 1.0), (7, 1.0)]


def _ledger_contract_ids(world: World) -> set[str]:
    return {e["objects"]["contract_id"] for e in world.ledger if e["kind"] == "contract_activated_without_project"}


@pytest.mark.parametrize(("seed", "scale"), WORLDS)
def test_project_provisioning_control_equals_the_ledger(seed: int, scale: float, world_builds) -> None:
    b: Built = world_builds.get(seed, scale)
    expected = _ledger_contract_ids(b.world)
    assert expected, "the world should inject at least one contract without a project"
    rows = b.query(
        "select contract_id, rule_id, control_point, owner_team, severity, days_since_activation, "
        "as_of_date, exception_id from controls.ctl_contract_without_project"
    )
    assert {r[0] for r in rows} == expected
    for _, rule, point, team, severity, days, as_of, exc_id in rows:
        assert (rule, point, team, severity, as_of) == (
            "PP-001", "project_provisioning", "Delivery Operations", "high", AS_OF)
        assert days > 14 and len(exc_id) == 32
