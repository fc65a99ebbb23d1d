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

from peewee import fn

from service.storage.models import Area, RoundCount, SurveyRound, User

#: The columns of a count row, as stored in RoundCount and in a frozen round.
ROW = ("dim", "key", "state", "n")


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

    def add(self, state: str, n: int) -> None:
        setattr(self, state, getattr(self, state) + n)

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
        people = {int(key) for dim, key, _s, _n in rows if dim in ("assignee", "doer")} - {0}
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

    def _of(self, dim: str):
        return ((key, state, n) for d, key, state, n in self.rows if d == dim)

    def totals(self) -> Tally:
        total = Tally()
        for _key, state, n in self._of("area"):
            total.add(state, n)
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
        for key, state, n in self._of("area"):
            info = self.areas.get(int(key))
            if info is None or not info.path.startswith(parent.path):
                continue
            if info.id == parent.id:
                tallies[None].add(state, n)
                continue
            child = int(info.path.split("/")[depth])     # the next id on its path: "/1/4/9/"
            tallies[child].add(state, n)
        out = [(a, tallies[a.id]) for a in below.values() if tallies[a.id].target or
               tallies[a.id].left]
        if None in tallies:
            out.append((None, tallies[None]))
        return out

    def area_total(self, area: AreaInfo) -> Tally:
        total = Tally()
        for key, state, n in self._of("area"):
            info = self.areas.get(int(key))
            if info is not None and info.path.startswith(area.path):
                total.add(state, n)
        return total

    def by_surveyor(self) -> list[tuple[int, str, Tally, int]]:
        """(user id or 0, name, their assigned households' tally, households they did) per
        assigned surveyor, and anyone who did a household; 0 is "not assigned"."""
        assigned: dict = defaultdict(Tally)
        did: dict = defaultdict(int)
        for key, state, n in self._of("assignee"):
            assigned[int(key)].add(state, n)
        for key, _state, n in self._of("doer"):
            if key != "0":
                did[int(key)] += n
        people = sorted(set(assigned) | set(did), key=lambda u: (u == 0, self.users.get(u, "")))
        return [(u, self.users.get(u, ""), assigned.get(u, Tally()), did.get(u, 0))
                for u in people]

    def by_day(self) -> list[tuple[str, int, int]]:
        """(day, households done that day, done so far) in day order."""
        out, running = [], 0
        for day, n in sorted((key, n) for key, _state, n in self._of("day") if key):
            running += n
            out.append((day, n, running))
        return out

    def outcomes(self) -> dict[str, int]:
        """Households by how they were done (form, no_change, moved_out) and, for those attempted
        and not yet done, their latest outcome (not_home, refused, vacant)."""
        out: dict = defaultdict(int)
        for key, state, n in self._of("outcome"):
            if state in ("done", "attempted"):
                out[key] += n
        return dict(out)


def totals_of(round_ids: list[int], within: Area | None = None) -> dict[int, Tally]:
    """Each listed round's totals (its counts as kept; a list of rounds, without their areas),
    or with `within` those of its households in that area and below (by today's tree)."""
    out: dict = defaultdict(Tally)
    if not round_ids:
        return out
    where = RoundCount.round.in_(round_ids) & (RoundCount.dim == "area")
    if within is not None:      # an area count's key is the area's id as text
        where &= RoundCount.key.in_(Area.select(Area.id.cast("text")).where(
            Area.path.startswith(within.path)))
    for round_id, state, n in RoundCount.select(RoundCount.round, RoundCount.state,
                                                fn.SUM(RoundCount.n)).where(where).group_by(
            RoundCount.round, RoundCount.state).tuples():
        out[round_id].add(state, n or 0)
    return out


def freeze(r: SurveyRound) -> str:
    """What closing `r` stores: its coverage and its report as they stand now."""
    from service.reports import round_report
    return Figures.of(r).frozen(round_report.figures_json(r))
