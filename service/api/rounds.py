"""Survey rounds over the API: the rounds a token may view with their totals, and one round's
coverage as the coverage page counts it (reports/round_coverage.py, from the round's kept counts
or, closed, its frozen ones).

A round over an area above the token's own (the street's, seen by a community's token) shows
only its part, as on the pages: the figures start at the token's area and leave out per day and
per outcome, which are counted for the whole round only. Coverage holds figures and the office's
surveyors, no household's data, so nothing here is audited.
"""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from service.api import auth, bp, ok, operation, query
from service.api.responses import text
from service.office import policy
from service.reports import round_coverage
from service.reports.coverage import Tally
from service.storage.models import SurveyRound, User


class RoundsQuery(BaseModel):
    form: str | None = text("Only the rounds of this form")


class CoverageQuery(BaseModel):
    area: str | None = text("Show the parts of this area (default: the top of what the token "
                            "sees of the round)")


class Counts(BaseModel):
    target: int = Field(description="done + attempted + not_yet")
    done: int
    attempted: int
    not_yet: int
    flagged: int = Field(description="Attempted often enough to need the office, not yet done")
    left: int = Field(description="Out of the target: closed, moved out or merged undone")
    percent: float = Field(description="done ÷ target")


class RoundOut(BaseModel):
    id: int
    name: str
    form_id: str
    area: str = Field(description="The round's area (code)")
    part: str | None = Field(description="A round over an area above the token's: the token's "
                                         "part starts at this area (code); null: the whole round")
    starts_on: dt.date
    ends_on: dt.date
    status: Literal["open", "closed"]
    closed_at: dt.datetime | None = Field(description="UTC")
    totals: Counts = Field(description="Of the whole round, or of the token's part")


class RoundList(BaseModel):
    rounds: list[RoundOut] = Field(description="Open rounds first, then the latest")


class PartCounts(BaseModel):
    area: str | None = Field(description="An area one level below `level` (its whole subtree); "
                                         "null: the households of `level` itself")
    name: str
    counts: Counts


class SurveyorCounts(BaseModel):
    surveyor: str | None = Field(description="The username; null: households not assigned")
    name: str
    assigned: Counts = Field(description="The households assigned to them")
    did: int = Field(description="Households they did (whoever they were assigned to)")


class DayDone(BaseModel):
    day: dt.date
    done: int
    so_far: int


class RoundCoverage(BaseModel):
    round: RoundOut
    top: str = Field(description="Where the token's share of the round starts (code)")
    level: str = Field(description="The area whose parts are listed (code)")
    totals: Counts
    level_totals: Counts
    parts: list[PartCounts]
    surveyors: list[SurveyorCounts] = Field(description="At the round's own area everyone; below "
                                                        "it the surveyors of that area")
    unlisted_surveyors: int = Field(description="Surveyors left out (those with the most "
                                                "households left are listed)")
    days: list[DayDone] | None = Field(description="The whole round only")
    outcomes: dict[str, int] | None = Field(description="The whole round only: households by how "
                                                        "they were done, or their latest attempt")


def _round(r: SurveyRound, part, totals: Tally) -> dict:
    return {"id": r.id, "name": r.name, "form_id": r.form_id, "area": r.area.code,
            "part": part.code if part is not None and part.id != r.area_id else None,
            "starts_on": r.starts_on, "ends_on": r.ends_on, "status": r.status,
            "closed_at": r.closed_at.isoformat() + "Z" if r.closed_at else None,
            "totals": totals.as_dict()}


@bp.get("/rounds")
@operation("rounds.view", resp=ok(RoundList), tags=["rounds"], query=RoundsQuery)
def list_rounds():
    """The survey rounds the token may view, each with the totals of its share."""
    form = query().form
    return RoundList.model_validate({"rounds": [
        _round(r, part, totals) for r, part, totals in round_coverage.listed(auth.holder())
        if form is None or r.form_id == form]})


@bp.get("/rounds/<int:round_id>/coverage")
@operation("rounds.view", resp=ok(RoundCoverage), tags=["rounds"], query=CoverageQuery)
def get_round_coverage(round_id):
    """One round's coverage: target, done, attempted, not yet, per area one level down (ask
    again with `area` to drill down), per surveyor, and for the whole round per day and outcome."""
    holder = auth.holder()
    r = policy.get_round_or_404(holder, round_id)
    seen = round_coverage.coverage(holder, r, query().area)
    ids = [u for u, *_rest in seen.people if u]
    usernames = dict(User.select(User.id, User.username).where(User.id.in_(ids)).tuples()) \
        if ids else {}
    part = policy.round_part(holder, r)
    return RoundCoverage.model_validate({
        "round": _round(r, part, seen.totals), "top": seen.top.code, "level": seen.level.code,
        "totals": seen.totals.as_dict(), "level_totals": seen.level_total.as_dict(),
        "parts": [{"area": a.code if a is not None else None,
                   "name": a.name if a is not None else seen.level.name,
                   "counts": t.as_dict()} for a, t in seen.parts],
        "surveyors": [{"surveyor": usernames.get(u), "name": name, "assigned": t.as_dict(),
                       "did": did} for u, name, t, did in seen.people],
        "unlisted_surveyors": seen.unlisted,
        "days": [{"day": d, "done": n, "so_far": k} for d, n, k in seen.days]
        if seen.days is not None else None,
        "outcomes": seen.outcomes})
