"""Columnar tables for the world's three largest objects: timecard headers, splits, billing event items.

At the large end of the scale knob these are most of the records (millions). A dict per record
costs ~4 KB; here a record is a row of 64-bit integers (ids by number, dates by day number,
times as unix seconds, amounts in cents, hours in tenths, repeated strings by index into a
pool): ~150 bytes. They render to exactly the wire records the generic tables would give,
with the same lifecycle (submitted -> approved (maybe late) -> billed), through the same
position-based interface (``render_at``, ``lifecycle``, ``positions_between``, ``at``).

What the generator hands over per row is a dict of the column values (see ``COLUMNS``); strings
are pooled on append.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from typing import Any

from sandbox.world_model import DAY, DAY_FIELDS, SF_FIELDS, from_day, sf_id, sf_ts

NONE = -1


class ColumnTable:
    """Rows of integer columns; ``STRINGS`` columns hold indexes into ``pool``."""

    system = "salesforce"
    obj = ""
    COLUMNS: tuple[str, ...] = ()
    STRINGS: frozenset[str] = frozenset()
    VISIBLE_FROM = "t_sub"  # the column holding when a row becomes visible (unix seconds)

    def __init__(self) -> None:
        # Unix times need 64 bits; everything else (ids, days, cents, tenths, pool indexes) fits in 32.
        self.cols = {c: array("q" if c.startswith(("t_", "v_")) or c == "t" else "i") for c in self.COLUMNS}
        self._appenders = [(c, self.cols[c].append, c in self.STRINGS) for c in self.COLUMNS]
        self.pool: list[str] = []
        self._pool_index: dict[str, int] = {}
        self._keys: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.cols[self.COLUMNS[0]])

    def _intern(self, value: str | None) -> int:
        if value is None:
            return NONE
        idx = self._pool_index.get(value)
        if idx is None:
            idx = self._pool_index[value] = len(self.pool)
            self.pool.append(value)
        return idx

    def append(self, row: dict[str, Any]) -> None:
        get, intern = row.get, self._intern
        for c, add, is_string in self._appenders:
            v = get(c)
            add(NONE if v is None else intern(v) if is_string else v)
        self._keys = None

    def _s(self, c: str, pos: int) -> str | None:
        i = self.cols[c][pos]
        return None if i == NONE else self.pool[i]

    # ---------------------------------------------------------------- the Table interface
    def key_of(self, pos: int) -> str:
        return sf_id(self.obj, self.cols["n"][pos])

    def get_pos(self, key: str) -> int | None:
        if self._keys is None:
            self._keys = {self.key_of(p): p for p in range(len(self))}
        return self._keys.get(key)

    def lifecycle(self, pos: int) -> tuple[int, int, list[tuple[int, int, bool]]]:
        raise NotImplementedError

    def render_at(self, pos: int, cutoff: int) -> dict[str, Any] | None:
        raise NotImplementedError

    def modstamps(self, positions: Iterable[int], cutoff: int) -> array:
        """``SystemModstamp`` (unix seconds) at ``cutoff`` of the visible rows at ``positions``."""
        raise NotImplementedError

    def at(self, cutoff: int) -> list[dict[str, Any]]:
        out = []
        for pos in range(len(self)):
            r = self.render_at(pos, cutoff)
            if r is not None:
                out.append(r)
        return out

    def positions_between(self, old_day: int, new_day: int) -> list[int]:
        lo, hi = (old_day + 1) * DAY, (new_day + 1) * DAY
        out = []
        for pos in range(len(self)):
            t0, vis0, events = self.lifecycle(pos)
            if lo <= vis0 < hi or any(lo <= vis < hi for vis, _, _ in events):
                out.append(pos)
        return out


def _days(mask: int, per_day: int) -> dict[str, float]:
    return {f: (per_day / 10 if mask >> i & 1 else 0.0) for i, f in enumerate(DAY_FIELDS)}


def _system(created: int, mod: int) -> dict[str, Any]:
    return {"IsDeleted": False, "CreatedDate": sf_ts(created), "LastModifiedDate": sf_ts(mod),
            "SystemModstamp": sf_ts(mod)}


class TimecardHeaders(ColumnTable):
    """``pse__Timecard_Header__c``: a resource's week on a project (Submitted -> Approved)."""

    obj = "pse__Timecard_Header__c"
    COLUMNS = ("n", "project", "resource", "assignment", "currency", "monday", "mask", "per_day", "tenths", "rate",
               "amount", "billable", "t_sub", "t_appr", "v_appr")
    STRINGS = frozenset({"project", "resource", "assignment", "currency"})
    FIELDS = SF_FIELDS["pse__Timecard_Header__c"]

    def lifecycle(self, pos: int) -> tuple[int, int, list[tuple[int, int, bool]]]:
        c = self.cols
        t_appr = c["t_appr"][pos]
        return c["t_sub"][pos], c["t_sub"][pos], ([] if t_appr == NONE else [(c["v_appr"][pos], t_appr, False)])

    def render_at(self, pos: int, cutoff: int) -> dict[str, Any] | None:
        c = self.cols
        t_sub = c["t_sub"][pos]
        if t_sub > cutoff:
            return None
        t_appr = c["t_appr"][pos]
        approved = t_appr != NONE and c["v_appr"][pos] <= cutoff
        n, monday, rate = c["n"][pos], c["monday"][pos], c["rate"][pos]
        rec: dict[str, Any] = {
            "Id": sf_id(self.obj, n), "Name": f"TC-{n % 100_000_000:08d}", "pse__Project__c": self._s("project", pos),
            "pse__Resource__c": self._s("resource", pos), "pse__Assignment__c": self._s("assignment", pos),
            "pse__Start_Date__c": from_day(monday).isoformat(), "pse__End_Date__c": from_day(monday + 6).isoformat(),
            **_days(c["mask"][pos], c["per_day"][pos]), "pse__Total_Hours__c": c["tenths"][pos] / 10,
            "pse__Bill_Rate__c": None if rate == NONE else rate / 100,
            "pse__Total_Billable_Amount__c": c["amount"][pos] / 100, "pse__Billable__c": bool(c["billable"][pos]),
            "pse__Status__c": "Approved" if approved else "Submitted", "pse__Submitted__c": True,
            "pse__Approved__c": approved,
            "Approved_Date__c": from_day(t_appr // DAY).isoformat() if approved else None,
            "CurrencyIsoCode": self._s("currency", pos)}
        rec.update(_system(t_sub, t_appr if approved else t_sub))
        return rec

    def modstamps(self, positions: Iterable[int], cutoff: int) -> array:
        t_sub, t_appr, v_appr = self.cols["t_sub"], self.cols["t_appr"], self.cols["v_appr"]
        return array("q", (t_appr[p] if t_appr[p] != NONE and v_appr[p] <= cutoff else t_sub[p] for p in positions))


class TimecardSplits(ColumnTable):
    """``pse__Timecard__c``: the part of a header within one month (Submitted -> Approved -> Billed)."""

    obj = "pse__Timecard__c"
    COLUMNS = ("n", "header", "project", "resource", "assignment", "currency", "start", "end", "mask", "per_day",
               "tenths", "rate", "amount", "billable", "t_sub", "t_appr", "v_appr", "t_rel", "bei")
    STRINGS = frozenset({"project", "resource", "assignment", "currency"})

    def lifecycle(self, pos: int) -> tuple[int, int, list[tuple[int, int, bool]]]:
        c = self.cols
        events = []
        if c["t_appr"][pos] != NONE:
            events.append((c["v_appr"][pos], c["t_appr"][pos], False))
        if c["t_rel"][pos] != NONE:
            events.append((c["t_rel"][pos], c["t_rel"][pos], False))
        return c["t_sub"][pos], c["t_sub"][pos], events

    def render_at(self, pos: int, cutoff: int) -> dict[str, Any] | None:
        c = self.cols
        t_sub = c["t_sub"][pos]
        if t_sub > cutoff:
            return None
        t_appr, t_rel, rate = c["t_appr"][pos], c["t_rel"][pos], c["rate"][pos]
        approved = t_appr != NONE and c["v_appr"][pos] <= cutoff
        billed = t_rel != NONE and t_rel <= cutoff
        mod = max(t_sub, t_appr if approved else 0, t_rel if billed else 0)
        rec: dict[str, Any] = {
            "Id": sf_id(self.obj, c["n"][pos]), "pse__Project__c": self._s("project", pos),
            "pse__Resource__c": self._s("resource", pos), "pse__Start_Date__c": from_day(c["start"][pos]).isoformat(),
            "pse__End_Date__c": from_day(c["end"][pos]).isoformat(), "pse__Total_Hours__c": c["tenths"][pos] / 10,
            "pse__Bill_Rate__c": None if rate == NONE else rate / 100,
            "pse__Total_Billable_Amount__c": c["amount"][pos] / 100, "pse__Billable__c": bool(c["billable"][pos]),
            "pse__Approved__c": approved, "pse__Status__c": "Approved" if approved else "Submitted",
            "pse__Billed__c": billed, "CurrencyIsoCode": self._s("currency", pos),
            "pse__Timecard_Header__c": sf_id("pse__Timecard_Header__c", c["header"][pos]),
            "pse__Assignment__c": self._s("assignment", pos), **_days(c["mask"][pos], c["per_day"][pos]),
            "pse__Billing_Event_Item__c": sf_id("pse__Billing_Event_Item__c", c["bei"][pos]) if billed else None,
            "Approved_Date__c": from_day(t_appr // DAY).isoformat() if approved else None}
        rec.update(_system(t_sub, mod))
        return rec

    def modstamps(self, positions: Iterable[int], cutoff: int) -> array:
        c = self.cols
        t_sub, t_appr, v_appr, t_rel = c["t_sub"], c["t_appr"], c["v_appr"], c["t_rel"]
        out = array("q")
        add = out.append
        for p in positions:
            mod = t_sub[p]
            a = t_appr[p]
            if a != NONE and v_appr[p] <= cutoff and a > mod:
                mod = a
            r = t_rel[p]
            if r != NONE and r <= cutoff and r > mod:
                mod = r
            add(mod)
        return out


CATEGORIES = ("Timecard", "Expense", "Milestone")


class BillingEventItems(ColumnTable):
    """``pse__Billing_Event_Item__c``: one billed item (timecard split, expense or milestone)."""

    obj = "pse__Billing_Event_Item__c"
    COLUMNS = ("n", "event", "project", "category", "split", "object", "day", "qty", "unit", "amount",
               "description", "currency", "t")
    STRINGS = frozenset({"project", "object", "description", "currency"})
    VISIBLE_FROM = "t"

    def lifecycle(self, pos: int) -> tuple[int, int, list[tuple[int, int, bool]]]:
        t = self.cols["t"][pos]
        return t, t, []

    def render_at(self, pos: int, cutoff: int) -> dict[str, Any] | None:
        c = self.cols
        t = c["t"][pos]
        if t > cutoff:
            return None
        n, cat = c["n"][pos], CATEGORIES[c["category"][pos]]
        obj_id = sf_id("pse__Timecard__c", c["split"][pos]) if cat == "Timecard" else self._s("object", pos)
        rec: dict[str, Any] = {
            "Id": sf_id(self.obj, n), "Name": f"BEI-{n % 100_000_000:08d}",
            "pse__Billing_Event__c": sf_id("pse__Billing_Event__c", c["event"][pos]),
            "pse__Project__c": self._s("project", pos), "pse__Category__c": cat,
            "pse__Timecard_Split__c": obj_id if cat == "Timecard" else None,
            "pse__Expense__c": obj_id if cat == "Expense" else None,
            "pse__Milestone__c": obj_id if cat == "Milestone" else None, "pse__Object_Id__c": obj_id,
            "pse__Date__c": from_day(c["day"][pos]).isoformat(), "pse__Quantity__c": c["qty"][pos] / 100,
            "pse__Unit_Price__c": c["unit"][pos] / 100, "pse__Amount__c": c["amount"][pos] / 100,
            "pse__Description__c": self._s("description", pos), "CurrencyIsoCode": self._s("currency", pos)}
        rec.update(_system(t, t))
        return rec

    def modstamps(self, positions: Iterable[int], cutoff: int) -> array:
        t = self.cols["t"]
        return array("q", (t[p] for p in positions))


COLUMN_TABLES = {cls.obj: cls for cls in (TimecardHeaders, TimecardSplits, BillingEventItems)}
