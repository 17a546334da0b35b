"""Control points against the sandbox's anomaly ledger: each control finds exactly the ledger's cases.

At two seeds and two scales, the exceptions of every rule (the queue's rows with rule_name = the
anomaly kind) are the ledger's keys of that kind: precision and recall 1.0, per control point
model and in the unified queue. The queue's history is exercised on a copy of a built warehouse:
runs at increasing as-of dates with raw data changed between them.

Every world is built once per session (tests/fixtures/dbt_build.py) and shared with the other
dbt tests.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import date
from pathlib import Path

import duckdb
import pytest

from sandbox.world import World
from sandbox.world_anomalies import KINDS
from sandbox.world_audit import ledger_keys
from tests.fixtures.dbt_build import AS_OF, Built, run_dbt

WORLDS = [(42, 1.0), (7, 1.0), (42, 4.0), (7, 4.0)]
CONTROL_POINTS = ("contract_activation", "project_provisioning", "billing_eligibility", "invoice_release",
                  "cash_application", "master_data")
CONTROL_SELECTION = ("--select", "path:models/controls")
RULE_PREFIX = {"contract_activation": "CA", "project_provisioning": "PP", "billing_eligibility": "BE",
               "invoice_release": "IR", "cash_application": "CX", "master_data": "MD"}


def _catalogue() -> dict[str, str]:
    """Rule id per kind, as docs/controls.md numbers them: per control point, in KINDS order."""
    out: dict[str, str] = {}
    for kind, spec in KINDS.items():
        prefix = RULE_PREFIX[spec.control_point]
        out[kind] = f"{prefix}-{sum(1 for r in out.values() if r.startswith(prefix)) + 1:03d}"
    return out


def _by_kind(rows: list[tuple[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for kind, object_id in rows:
        out[kind].add(object_id)
    return out


def _report(expected: dict[str, set[str]], found: dict[str, set[str]]) -> str:
    lines = [f"{'kind':<42} {'ledger':>6} {'found':>6} {'missed':>6} {'extra':>6}"]
    for kind in sorted(set(expected) | set(found)):
        exp, got = expected.get(kind, set()), found.get(kind, set())
        lines.append(f"{kind:<42} {len(exp):>6} {len(got):>6} {len(exp - got):>6} {len(got - exp):>6}"
                     + (f"  missed {sorted(exp - got)[:3]} extra {sorted(got - exp)[:3]}" if exp != got else ""))
    return "\n".join(lines)


@pytest.mark.parametrize(("seed", "scale"), WORLDS, ids=[f"seed{s}-scale{x:g}" for s, x in WORLDS])
def test_every_control_finds_exactly_the_ledger_cases(seed: int, scale: float, world_builds) -> None:
    b: Built = world_builds.get(seed, scale)
    expected = ledger_keys(b.world)
    queue = b.query("select rule_name, object_id, control_point, description from controls.control_exceptions")
    found = _by_kind([(kind, object_id) for kind, object_id, *_ in queue])
    assert len(queue) == sum(map(len, found.values())), "one queue row per (rule, object)"
    assert set(found) <= set(KINDS), f"rule names that are no anomaly kind: {set(found) - set(KINDS)}"
    report = _report(expected, found)
    for kind in KINDS:
        assert found.get(kind, set()) == expected[kind], f"{kind} at seed {seed} scale {scale:g}:\n{report}"
    assert {(k, o) for k, objs in found.items() for o in objs} == {
        (k, o) for k, objs in expected.items() for o in objs}, report
    # Each rule sits at its kind's control point, and each control point model holds exactly its kinds.
    assert {(kind, point) for kind, _, point, _ in queue} <= {(k, v.control_point) for k, v in KINDS.items()}
    unnamed = [(kind, obj) for kind, obj, _, text in queue if obj.rpartition(":")[2] not in text]
    assert not unnamed, f"descriptions that do not name their record: {unnamed[:5]}"
    for point in CONTROL_POINTS:
        rows = b.query(f"select rule_name, object_id from controls.ctl_{point}")
        assert _by_kind(rows) == {k: v for k, v in expected.items() if v and KINDS[k].control_point == point}, point


@pytest.mark.parametrize(("seed", "scale"), WORLDS, ids=[f"seed{s}-scale{x:g}" for s, x in WORLDS])
def test_exceptions_date_from_when_the_case_became_one(seed: int, scale: float, world_builds) -> None:
    """detected_at_date is the ledger's `at`: the first day the case is an exception (e.g. approval +
    grace + 1 day); the queue's age counts from it, and the first build saw every case that day."""
    b: Built = world_builds.get(seed, scale)
    at = {(e["kind"], e["key"]): date.fromisoformat(e["at"]) for e in b.world.ledger}
    rows = b.query("select rule_name, object_id, detected_at_date, first_seen_on, age_days, as_of_date "
                   "from controls.control_exceptions")
    assert rows
    wrong = [(k, o, d, at.get((k, o))) for k, o, d, *_ in rows if d != at.get((k, o))]
    assert not wrong, f"detected_at_date != ledger at (kind, key, found, ledger): {wrong[:5]}"
    for kind, object_id, detected, first_seen, age, as_of in rows:
        assert (first_seen, as_of) == (AS_OF, AS_OF)
        assert age == (AS_OF - detected).days, (kind, object_id)


def test_every_kind_has_cases_across_the_worlds(world_builds) -> None:
    """Otherwise the precision/recall test above would prove nothing for that kind."""
    per_kind: dict[str, int] = defaultdict(int)
    rules: set[tuple[str, str]] = set()
    for seed, scale in WORLDS:
        b: Built = world_builds.get(seed, scale)
        for rule_id, kind, n in b.query(
                "select rule_id, rule_name, count(*) from controls.control_exceptions group by 1, 2"):
            per_kind[kind] += n
            rules.add((rule_id, kind))
    assert set(per_kind) == set(KINDS), f"kinds without any case: {sorted(set(KINDS) - set(per_kind))}"
    assert rules == {(rule_id, kind) for kind, rule_id in _catalogue().items()}
    assert _catalogue()["contract_activated_without_project"] == "PP-001"


def test_queue_escalates_by_severity_and_age(world_builds) -> None:
    b: Built = world_builds.get(42, 4.0)
    rows = b.query("select severity, age_days, escalation_level from controls.control_exceptions")
    thresholds = {"high": (3, 14, 30), "medium": (7, 30, 60), "low": (14, 60, 90)}  # docs/controls.md
    for severity, age, level in rows:
        assert level == sum(age >= t for t in thresholds[severity]), (severity, age, level)
    assert {level for *_, level in rows} >= {0, 3}, "the world has fresh and old exceptions"


# ------------------------------------------------------------------ history


def _pick_history_cases(world: World) -> tuple[str, str]:
    """(a billable split that is an approved_item_not_billed case, a customer project with legal entity
    and tax nexus set that is no exception of any kind), from the world's records."""
    ledger = ledger_keys(world)
    splits = {r["Id"] for r in world.salesforce["pse__Timecard__c"] if not r.get("IsDeleted")}
    unbilled_split = sorted(ledger["approved_item_not_billed"] & splits)[0]
    flagged = set().union(*ledger.values())
    clean_project = sorted(
        p["Id"] for p in world.salesforce["pse__Proj__c"]
        if not p.get("IsDeleted") and p["pse__Project_Type__c"] == "Customer Project"
        and p["Legal_Entity__c"] and p["Tax_Nexus__c"] and p["Id"] not in flagged)[0]
    return unbilled_split, clean_project


def test_history_keeps_each_exception_lifetime(world_builds, tmp_path: Path) -> None:
    source: Built = world_builds.get(42, 1.0)
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(source.warehouse, warehouse)
    day1, day2 = date(2026, 6, 30), date(2026, 7, 1)

    def build(as_of: date, *extra: str) -> None:
        run_dbt(warehouse, tmp_path, "build", *CONTROL_SELECTION, *extra, as_of=as_of)

    def query(sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    # Day 1 again (the shared build already observed it): the rerun replaces that day's rows.
    build(day1)
    queue1 = dict(query("select exception_id, first_seen_on from controls.control_exceptions"))
    assert queue1 and set(queue1.values()) == {day1}
    assert query("select count(*), count(distinct exception_id) from controls.control_exception_history") == [
        (len(queue1), len(queue1))]

    # Between the days: one split gets billed (resolves its case), one project loses its tax nexus (a new one).
    resolved_split, broken_project = _pick_history_cases(source.world)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update raw_certinia.pse_timecard_c set pse__billing_event_item__c = 'a2Ubilledlater01AAA' "
                    "where id = ?", [resolved_split])
        con.execute("update raw_certinia.pse_proj_c set tax_nexus__c = null where id = ?", [broken_project])

    build(day2)
    queue2 = {r[0]: r[1:] for r in query(
        "select exception_id, rule_name, object_id, first_seen_on, is_new from controls.control_exceptions")}
    objects2 = {(kind, obj) for kind, obj, *_ in queue2.values()}
    assert ("approved_item_not_billed", resolved_split) not in objects2
    assert ("project_missing_legal_entity_or_nexus", broken_project) in objects2
    for exception_id, (kind, obj, first_seen, is_new) in queue2.items():
        if exception_id in queue1:  # persisting: same id, first seen on day 1
            assert (first_seen, is_new) == (day1, False), (kind, obj)
        else:
            assert (first_seen, is_new) == (day2, True), (kind, obj)
    assert len(set(queue1) - set(queue2)) == 1  # only the billed split was resolved

    lifetimes = {(r[0], r[1]): r[2:] for r in query(
        "select rule_name, object_id, first_seen_on, last_seen_on, resolved_on, is_open "
        "from controls.control_exception_lifetimes")}
    assert lifetimes[("approved_item_not_billed", resolved_split)] == (day1, day1, day2, False)
    assert lifetimes[("project_missing_legal_entity_or_nexus", broken_project)] == (day2, day2, None, True)
    assert sum(1 for *_, is_open in lifetimes.values() if is_open) == len(queue2)

    # Day 2 again, and a --full-refresh build: neither duplicates nor loses history.
    history_sql = "select exception_id, as_of_date, is_open from controls.control_exception_history"
    history = sorted(query(history_sql))
    assert len(history) == len(queue1) + len(queue2) + len(set(queue1) - set(queue2))  # + 1 resolution row
    build(day2)
    assert sorted(query(history_sql)) == history
    build(day2, "--full-refresh")
    assert sorted(query(history_sql)) == history
    assert dict(query("select exception_id, first_seen_on from controls.control_exceptions")) == {
        exception_id: row[2] for exception_id, row in queue2.items()}
