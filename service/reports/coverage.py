"""A round's coverage: target, done, attempted and not yet, per area (drilling down the tree), per
surveyor, per day, and the outcomes, from the round's counts (RoundCount, kept by rounds.py).

`Figures` reads the same rows whether they are live (an open round: RoundCount as it stands) or
frozen (a closed round: the rows, area names and surveyor names stored in `SurveyRound.frozen` when
it closed), so every page and download of a closed round shows what was reported, however the
ledger, the areas or the accounts change afterwards.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

from service.storage.models import Area, RoundCount, SurveyRound, User

#: The columns of a count row, as stored in RoundCount and in a frozen round.
ROW = ("area_id", "assigned_to", "state", "flagged", "outcome", "day", "done_by", "n")


@dataclass
class Tally:
    """Households of a part of the round: the target (every member that has not left) and where
    they stand."""

    done: int = 0
    attempted: int = 0
    not_yet: int = 0
    flagged: int = 0     # attempted FLAG_ATTEMPTS times or more (rounds.py), not yet done
    left: int = 0        # no longer active and not done: out of the target

    @property
    def target(self) -> int:
        return self.done + self.attempted + self.not_yet

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.target if self.target else 0.0

    def add(self, state: str, flagged: bool, n: int) -> None:
        setattr(self, state, getattr(self, state) + n)
        if flagged:
            self.flagged += n

    def as_dict(self) -> dict:
        return {"target": self.target, "done": self.done, "attempted": self.attempted,
                "not_yet": self.not_yet, "flagged": self.flagged, "left": self.left,
                "percent": round(self.percent, 1)}


@dataclass
class AreaInfo:
    id: int
    code: str
    name: str
    path: str
    parent_id: int | None


@dataclass
class Figures:
    round: SurveyRound
    rows: list[tuple]
    areas: dict[int, AreaInfo]
    users: dict[int, str] = field(default_factory=dict)

    @classmethod
    def of(cls, r: SurveyRound) -> "Figures":
        """The round's figures: frozen if it is closed, else live."""
        if r.frozen:
            kept = json.loads(r.frozen)
            return cls(r, [tuple(row) for row in kept["rows"]],
                       {int(i): AreaInfo(int(i), *a) for i, a in kept["areas"].items()},
                       {int(i): name for i, name in kept["users"].items()})
        rows = list(RoundCount.select(*[getattr(RoundCount, c) for c in ROW]).where(
            (RoundCount.round == r.id) & (RoundCount.n != 0)).tuples())
        root = r.area if isinstance(r.area, Area) else Area.get_by_id(r.area_id)
        areas = {a.id: AreaInfo(a.id, a.code, a.name, a.path, a.parent_id) for a in
                 Area.select().where(Area.path.startswith(root.path))}
        people = {x for row in rows for x in (row[1], row[6]) if x}
        users = {u.id: u.display_name or u.username for u in
                 User.select().where(User.id.in_(sorted(people)))} if people else {}
        return cls(r, rows, areas, users)

    def frozen(self, report: dict | None = None) -> str:
        """The figures as JSON, for `SurveyRound.frozen` (rounds.close), with the round's
        report figures (round_report.py) beside them."""
        return json.dumps({
            "rows": self.rows,
            "areas": {i: [a.code, a.name, a.path, a.parent_id] for i, a in self.areas.items()},
            "users": self.users, "report": report or {}}, ensure_ascii=False)

    # --- views -----------------------------------------------------------------------------

    def totals(self) -> Tally:
        total = Tally()
        for _area, _who, state, flagged, _o, _d, _by, n in self.rows:
            total.add(state, flagged, n)
        return total

    def root(self) -> AreaInfo:
        return self.areas[self.round.area_id]

    def children(self, parent: AreaInfo) -> list[AreaInfo]:
        return sorted((a for a in self.areas.values() if a.parent_id == parent.id),
                      key=lambda a: a.code)

    def by_area(self, parent: AreaInfo | None = None) -> list[tuple[AreaInfo | None, Tally]]:
        """One row per area directly below `parent` (the round's area by default), each counting
        its whole subtree, then (area None) the households of `parent` itself, if any."""
        parent = parent or self.root()
        below = {a.id: a for a in self.children(parent)}
        tallies: dict = defaultdict(Tally)
        depth = parent.path.count("/")
        for area, _who, state, flagged, _o, _d, _by, n in self.rows:
            info = self.areas.get(area)
            if info is None or not info.path.startswith(parent.path):
                continue
            if info.id == parent.id:
                tallies[None].add(state, flagged, n)
                continue
            child = int(info.path.split("/")[depth])     # the next id on its path: "/1/4/9/"
            tallies[child].add(state, flagged, n)
        out = [(a, tallies[a.id]) for a in below.values() if tallies[a.id].target or
               tallies[a.id].left]
        if None in tallies:
            out.append((None, tallies[None]))
        return out

    def area_total(self, area: AreaInfo) -> Tally:
        total = Tally()
        for area_id, _who, state, flagged, _o, _d, _by, n in self.rows:
            info = self.areas.get(area_id)
            if info is not None and info.path.startswith(area.path):
                total.add(state, flagged, n)
        return total

    def by_surveyor(self) -> list[tuple[int, str, Tally, int]]:
        """(user id or 0, name, their assigned households' tally, households they did) per
        assigned surveyor, and anyone who did a household; 0 is "not assigned"."""
        assigned: dict = defaultdict(Tally)
        did: dict = defaultdict(int)
        for _area, who, state, flagged, _o, _d, by, n in self.rows:
            assigned[who].add(state, flagged, n)
            if state == "done" and by:
                did[by] += n
        people = sorted(set(assigned) | set(did), key=lambda u: (u == 0, self.users.get(u, "")))
        return [(u, self.users.get(u, ""), assigned.get(u, Tally()), did.get(u, 0))
                for u in people]

    def by_day(self) -> list[tuple[str, int, int]]:
        """(day, households done that day, done so far) in day order."""
        days: dict = defaultdict(int)
        for _area, _who, state, _f, _o, day, _by, n in self.rows:
            if state == "done" and day:
                days[day] += n
        out, running = [], 0
        for day in sorted(days):
            running += days[day]
            out.append((day, days[day], running))
        return out

    def outcomes(self) -> dict[str, int]:
        """Households by how they were done (form, no_change, moved_out) and, for those attempted
        and not yet done, their latest outcome (not_home, refused, vacant)."""
        out: dict = defaultdict(int)
        for _area, _who, state, _f, outcome, _d, _by, n in self.rows:
            if state in ("done", "attempted") and outcome:
                out[outcome] += n
        return dict(out)


def freeze(r: SurveyRound) -> str:
    """What closing `r` stores: its coverage and its report as they stand now."""
    from service.reports import round_report
    return Figures.of(r).frozen(round_report.figures_json(r))
