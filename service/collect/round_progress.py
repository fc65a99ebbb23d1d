"""The current survey round on the phone's visit list (service/collect/visit.py): which round a
surveyor sees, its figures for their own households, which of them are still to visit (listed
first), and the words of its progress block, which static/visits.js draws again without signal.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import gettext as _
from peewee import Expression, fn

from service.office import clock, policy
from service.records import rounds
from service.reports.coverage import Tally
from service.storage.models import RoundCount, RoundHousehold, SurveyRound

#: A round's households still to visit (rounds.py's states): listed first on the phone.
TO_VISIT = ("not_yet", "attempted")


@dataclass(frozen=True)
class RoundProgress:
    """The round the visit list shows: the newest open round of a listed form over the user's
    area, with its figures for the user's own households (those assigned to them; when nobody in
    their area has any assigned, those of their area). Read from RoundCount and the indexes on
    round_household, so a district's round costs the phone's list a few index lookups."""

    round: SurveyRound
    assigned: bool        # the user's households are those assigned to them (else: their area's)
    mine: Expression      # the condition on RoundHousehold that selects them
    tally: Tally
    started: bool

    @classmethod
    def of(cls, user, forms) -> "RoundProgress | None":
        """The round running today (the newest if several), else the next to start, or None.
        A round whose last day has passed is left out though still open: visits no longer count
        for it, and the office closes it."""
        area = getattr(user, "area", None)
        if area is None or not forms:
            return None
        today = clock.today()
        found = [r for spec in forms for r in rounds.open_rounds_of(spec.id, area)
                 if _date(r.ends_on) >= today]
        running = [r for r in found if _date(r.starts_on) <= today]
        if running:
            r = max(running, key=lambda r: (_date(r.starts_on), r.id))
        elif found:
            r = min(found, key=lambda r: (_date(r.starts_on), r.id))
        else:
            return None
        member, below = RoundHousehold.round == r.id, policy.area_ids_under(area)
        yours = member & (RoundHousehold.assigned_to == user.id)
        started = _date(r.starts_on) <= today
        if RoundHousehold.select().where(yours).exists() or (_anyone_assigned(r) and (
                RoundHousehold.select().where(member & RoundHousehold.area.in_(below) &
                                              RoundHousehold.assigned_to.is_null(False))
                .exists())):
            return cls(r, True, yours, _tally(r, "assignee", [str(user.id)]), started)
        areas = [str(i) for (i,) in below.tuples()]
        return cls(r, False, member & RoundHousehold.area.in_(below),
                   _tally(r, "area", areas), started)

    def to_visit(self):
        """A subquery of the ids of the user's households still to visit."""
        return RoundHousehold.select(RoundHousehold.household).where(
            self.mine & RoundHousehold.state.in_(TO_VISIT))

    def is_to_visit(self, household_id: int) -> bool:
        return RoundHousehold.select().where(
            self.mine & RoundHousehold.state.in_(TO_VISIT) &
            (RoundHousehold.household == household_id)).exists()

    def members(self, household_ids: list[int]) -> dict[int, dict]:
        """Where each listed household of the user's stands in the round (by household id)."""
        if not household_ids:
            return {}
        return {h: {"state": state, "attempts": attempts,
                    "flagged": state == "attempted" and attempts >= rounds.FLAG_ATTEMPTS}
                for h, state, attempts in RoundHousehold.select(
                    RoundHousehold.household, RoundHousehold.state, RoundHousehold.attempts)
                .where(self.mine & RoundHousehold.household.in_(household_ids)).tuples()}

    def as_dict(self) -> dict:
        """The progress block, for the page and for the phone to draw again without signal."""
        t = self.tally
        return {"id": self.round.id, "name": self.round.name,
                "starts_on": _date(self.round.starts_on).isoformat(),
                "ends_on": _date(self.round.ends_on).isoformat(), "started": self.started,
                "assigned": self.assigned, "target": t.target, "done": t.done,
                "attempted": t.attempted, "flagged": t.flagged, "not_yet": t.not_yet,
                "percent": t.done * 100 // t.target if t.target else 0}


def _date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _anyone_assigned(r: SurveyRound) -> bool:
    """Whether any of the round's households is assigned to anyone (its kept counts say)."""
    return RoundCount.select().where(
        (RoundCount.round == r.id) & (RoundCount.dim == "assignee") & (RoundCount.key != "0") &
        (RoundCount.n != 0)).exists()


def _tally(r: SurveyRound, dim: str, keys: list[str]) -> Tally:
    """The round's kept counts of `dim` (assignee, area) for `keys`, added up."""
    tally = Tally()
    for state, n in RoundCount.select(RoundCount.state, fn.SUM(RoundCount.n)).where(
            (RoundCount.round == r.id) & (RoundCount.dim == dim) &
            RoundCount.key.in_(keys)).group_by(RoundCount.state).tuples():
        tally.add(state, int(n or 0))
    return tally


def round_words() -> dict[str, str]:
    """The words of the progress block and of a household's standing, `{name}` filled in by
    `fill` on the page and by static/visits.js without signal (the page carries them as JSON)."""
    flag = str(rounds.FLAG_ATTEMPTS)
    return {
        "dates": _("{start} to {end}"), "not_started": _("not started yet"),
        "done": _("Done {done} of {target} ({percent}%)"),
        "attempted": _("Attempted, not yet done: {n}"),
        "flagged": _("Flagged ({flag} or more failed attempts): {n}").replace("{flag}", flag),
        "not_yet": _("Not yet visited: {n}"),
        "assigned": _("Your households in this round; those still to visit come first below."),
        "area": _("Your area's households in this round; those still to visit come first "
                  "below."),
        "none_yours": _("No household of this round is assigned to you."),
        "state_not_yet": _("Not yet visited in this round"),
        "state_attempted": _("Tried {n} times, not yet done"),
        "state_flagged": _("flagged"),
        "queued": _("Visited: sent when there is signal"),
        "sent": _("Visited: sent"),
        "waiting": _("{n} visits on this phone wait for signal."),
    }


def fill(text: str, **values) -> str:
    """`text` with each `{name}` replaced (the placeholders static/visits.js fills the same way)."""
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text
