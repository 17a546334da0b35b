"""The sandbox world: a seeded, deterministic professional-services firm, with a clock.

``build_world(seed, scale, clock, rates)`` returns every record the simulated systems serve as
of ``clock``, already in each vendor's wire format (Salesforce field API names and timestamp
strings, Stripe minor units and unix times, NetSuite SuiteQL column names, the legacy ERP's
upper-case columns, cents and YYYYMMDD text), plus the ground-truth ledger of the anomalies
that were injected. Same seed, scale, rates and clock: same world, byte for byte.

``World.advance(days)`` moves the clock: new deals and their activity appear, records move
through their lifecycles (timecard approvals, billing event release, invoicing, payment,
amendments, project close), some changes arrive late (visible only after a loader's high-water
mark passed their cursor value), and records are deleted (Salesforce ``IsDeleted``, NetSuite rows
that vanish from SuiteQL, Stripe invoices voided). ``World.changes`` of an advance lists them
record by record. The world after ``advance(a)`` then ``advance(b)`` equals the world after
``advance(a + b)``: both are the same timeline rendered on the same date.

The firm has three legal entities (US/USD, UK/GBP, DE/EUR) with daily FX rates; UK and DE moved
(or move) from the legacy ERP to NetSuite on their cut-over dates. See ``sandbox/README.md`` for
the objects of each system and ``sandbox.world_anomalies`` for the anomaly kinds and their rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sandbox.clock import Change, cutoff_of
from sandbox.world_anomalies import DEFAULT_RATES, KINDS, resolve_rates
from sandbox.world_gen import Generator
from sandbox.world_model import (
    BILLING_SYSTEM,
    CURRENCIES,
    DEFAULT_CLOCK,
    DEFAULT_SEED,
    LEGAL_ENTITIES,
    PROJECT_GRACE_DAYS,
    PSA_BILLING_TYPE,
    SF_PREFIX,
    add_months,
    day_number,
    from_day,
    sf_ts,
)

__all__ = [
    "BILLING_SYSTEM", "CURRENCIES", "DEFAULT_CLOCK", "DEFAULT_RATES", "DEFAULT_SEED", "KINDS", "LEGAL_ENTITIES",
    "PROJECT_GRACE_DAYS", "PSA_BILLING_TYPE", "SF_PREFIX", "Change", "World", "add_months", "build_world",
    "sf_system",
]
SYSTEMS = ("salesforce", "stripe", "netsuite", "legacy")


def sf_system(created: datetime, modified: datetime | None = None) -> dict[str, Any]:
    """The system fields every Salesforce record carries."""
    modified = modified or created
    return {"IsDeleted": False, "CreatedDate": sf_ts(int(created.timestamp())),
            "LastModifiedDate": sf_ts(int(modified.timestamp())), "SystemModstamp": sf_ts(int(modified.timestamp()))}


@dataclass
class World:
    """Every record of every simulated system as of ``clock``, in wire format, plus the anomaly ledger.

    ``salesforce``/``stripe``/``netsuite``/``legacy`` map object name -> records (rendered when
    the world is built or advanced). ``ledger`` holds the anomalies that are exceptions as of the
    clock; ``base_clock`` is the clock it was built for and ``history`` the advances since.
    """

    seed: int
    scale: float
    clock: date
    salesforce: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    stripe: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    netsuite: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    legacy: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    base_clock: date | None = None
    history: list[int] = field(default_factory=list)
    # Columnar objects of at least this many rows render on demand (sandbox.lazy); None: always render.
    lazy_rows: int | None = None
    _gen: Generator | None = field(default=None, repr=False, compare=False)

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            "salesforce": {k: len(v) for k, v in self.salesforce.items()},
            "stripe": {k: len(v) for k, v in self.stripe.items()},
            "netsuite": {k: len(v) for k, v in self.netsuite.items()},
        }

    # ------------------------------------------------------------------------------ clock
    @property
    def generator(self) -> Generator:
        if self._gen is None:
            raise RuntimeError("this World has no timeline (it was not made by build_world)")
        return self._gen

    def advance(self, days: int, *, materialize: bool = True) -> list[Change]:
        """Move the clock ``days`` forward; returns what changed, record by record (all systems)."""
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            raise ValueError(f"days must be a non-negative integer, got {days!r}")
        gen = self.generator
        old_day = day_number(self.clock)
        new_day = old_day + days
        gen.ensure(new_day)
        changes = list(gen.tl.changes(old_day, new_day))
        self.clock = from_day(new_day)
        self.history.append(days)
        if materialize:
            self.render()
        return changes

    def render(self) -> None:
        """Re-render every system's records and the ledger as of the clock."""
        gen = self.generator
        day = day_number(self.clock)
        self.salesforce = gen.tl.render_system("salesforce", day, self.lazy_rows)
        self.stripe = gen.tl.render_system("stripe", day)
        self.netsuite = gen.tl.render_system("netsuite", day)
        self.legacy = gen.tl.render_system("legacy", day)
        self.ledger = ledger_as_of(gen, self.clock)

    # ------------------------------------------------------------------------------ truth
    def deletions(self) -> list[dict[str, Any]]:
        """Every deletion visible as of the clock: system, object, id, deleted_at, visible_at (unix)."""
        return self.generator.tl.deletions(day_number(self.clock))

    def late_changes(self, since: date | None = None) -> list[dict[str, Any]]:
        """Inserts/updates that became visible after the cursor value they carry (optionally since a date)."""
        since_day = None if since is None else day_number(since)
        return self.generator.tl.late_changes(day_number(self.clock), since_day)

    def cutover_dates(self) -> dict[str, str | None]:
        """Per legal entity, the day NetSuite replaced the legacy ERP (None: always on NetSuite)."""
        return {le: None if d is None else d.isoformat() for le, d in self.generator.cutover.items()}

    def timeline_counts(self) -> dict[str, dict[str, int]]:
        """Records in the timeline (including those not visible yet), per system and object."""
        return self.generator.tl.counts()


def ledger_as_of(gen: Generator, clock: date) -> list[dict[str, Any]]:
    day = clock.isoformat()
    out = [dict(e) for e in gen.ledger if e["at"] <= day]
    out.sort(key=lambda e: (e["at"], e["kind"], e["key"]))
    return out


def build_world(seed: int = DEFAULT_SEED, scale: float = 1.0, clock: date = DEFAULT_CLOCK,
                rates: dict[str, float] | None = None, *, materialize: bool = True,
                lazy_rows: int | None = None, stripe_activity: dict[str, float] | None = None) -> World:
    """Generate the world for ``seed`` and ``scale`` as of ``clock``.

    ``rates`` overrides anomaly rates per kind (``sandbox.world_anomalies.KINDS``; defaults in
    ``DEFAULT_RATES``). ``materialize=False`` builds the timeline only (for measuring large
    scales): call ``World.render()`` to get the records. Columnar objects (timecard headers and
    splits, billing event items) of at least ``lazy_rows`` rows are not rendered but served on
    demand (``sandbox.lazy``); the sandbox server sets it, other callers get plain lists.
    ``stripe_activity`` overrides the rates of Stripe credit notes and subscription schedules
    (``sandbox.world_model.STRIPE_ACTIVITY_RATES``; at 0 a kind is off and nothing else changes).
    """
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    resolved = resolve_rates(rates)
    gen = Generator(seed, scale, clock, resolved, stripe_activity)
    gen.ensure(day_number(clock))
    world = World(seed=seed, scale=scale, clock=clock, rates=resolved, base_clock=clock, lazy_rows=lazy_rows,
                  _gen=gen)
    if materialize:
        world.render()
    return world


def replay_world(seed: int, scale: float, clock: date, rates: dict[str, float] | None,
                 advances: list[int]) -> World:
    """The world built for (seed, scale, clock, rates) and advanced by each of ``advances`` in turn."""
    world = build_world(seed, scale, clock, rates, materialize=False)
    for days in advances:
        world.advance(days, materialize=False)
    world.render()
    return world


def visible_cutoff(clock: date) -> int:
    """Unix seconds of the last instant visible on ``clock``."""
    return cutoff_of(day_number(clock))


def measure(seed: int = DEFAULT_SEED, scale: float = 1.0, render: bool = False) -> dict[str, Any]:
    """Generation time, peak memory and sizes for (seed, scale): ``python -m sandbox.world --scale 200``."""
    import resource
    import time

    start = time.perf_counter()
    world = build_world(seed, scale, materialize=False)
    out: dict[str, Any] = {"seed": seed, "scale": scale, "generate_s": round(time.perf_counter() - start, 2)}
    tl = world.generator.tl
    splits = tl.tables[("salesforce", "pse__Timecard__c")]
    cutoff = visible_cutoff(world.clock)
    out["timecard_splits_visible"] = sum(1 for t in splits.cols["t_sub"] if t <= cutoff)
    out["timecard_splits_timeline"] = len(splits)
    out["timeline_records"] = sum(len(t) for t in tl.tables.values())
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if render:
        start = time.perf_counter()
        world.render()
        out["render_s"] = round(time.perf_counter() - start, 2)
        out["records_visible"] = sum(len(v) for s in (world.salesforce, world.stripe, world.netsuite, world.legacy)
                                     for v in s.values())
        out["peak_rss_after_render_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


if __name__ == "__main__":  # pragma: no cover - a measuring tool
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m sandbox.world", description=measure.__doc__)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--render", action="store_true", help="also render every record as of the clock")
    args = parser.parse_args()
    print(json.dumps(measure(args.seed, args.scale, args.render)))
