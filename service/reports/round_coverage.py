"""A round's coverage for one holder, as the coverage page (/admin/rounds/<id>) shows it and the
JSON API returns it: where the holder's share of the round starts (policy.round_part), the level
asked for below it, that level's parts, surveyors, and, for the whole round only, days and
outcomes; and the rounds list's totals of each round's part. Read from reports/coverage.py's
`Figures` (kept counts, or a closed round's frozen ones), never from households.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import abort

from service.office import policy
from service.reports.coverage import AreaInfo, Figures, Tally, totals_of
from service.storage.models import Area, SurveyRound, User

#: The most surveyors the coverage page lists at one level (drill down for the others).
SURVEYOR_ROWS = 100


def top_of(figures: Figures, holder) -> AreaInfo:
    """The top of what `holder` sees of the round's figures (policy.round_part): the round's area,
    or their own below it; 404 if a closed round's figures do not hold it (an area made after it
    closed). The coverage page and the report (round_report.py) start there."""
    found = figures.areas.get(policy.round_part(holder, figures.round).id)
    if found is None:
        abort(404)
    return found


def level_of(figures: Figures, top: AreaInfo, code: str | None) -> AreaInfo:
    """The area a coverage page shows the parts of: `top`, or one below it by code (from the
    figures' areas: a closed round's as they were); 404 for any other."""
    if not code:
        return top
    found = next((a for a in figures.areas.values() if a.code == code), None)
    if found is None or not found.path.startswith(top.path):
        abort(404)
    return found


def surveyor_rows(figures: Figures, level: AreaInfo) -> tuple[list, int]:
    """The per-surveyor rows: at the round's own area everyone and "not assigned", below it the
    surveyors whose own area lies there; past SURVEYOR_ROWS those with the most households left
    (a district's thousands of surveyors would make one slow, unreadable page). Also how many
    were left out."""
    people = figures.by_surveyor()
    if level.id != figures.round.area_id:
        here = {i for (i,) in User.select(User.id).join(Area).where(
            Area.path.startswith(level.path)).tuples()}
        people = [p for p in people if p[0] in here]
    if len(people) <= SURVEYOR_ROWS:
        return people, 0
    most = {p[0] for p in sorted(people, key=lambda p: -(p[2].not_yet + p[2].attempted))
            [:SURVEYOR_ROWS]}
    return [p for p in people if p[0] in most], len(people) - SURVEYOR_ROWS


@dataclass
class Coverage:
    figures: Figures
    top: AreaInfo           # where the holder's share starts
    level: AreaInfo         # the area whose parts are shown
    whole: bool             # the holder sees the whole round (else their part of it)
    totals: Tally           # of the whole round, or of the holder's part
    level_total: Tally
    parts: list             # (AreaInfo one level down, or None: the level itself; Tally)
    people: list            # (user id or 0, name, Tally of their assigned, households they did)
    unlisted: int           # surveyors left out of `people`
    days: list | None       # the whole round only: (day, done that day, done so far)
    outcomes: dict | None   # the whole round only


def coverage(holder, r: SurveyRound, code: str | None = None) -> Coverage:
    figures = Figures.of(r)
    top = top_of(figures, holder)
    whole = top.id == r.area_id        # else a round over an area above: the holder's part
    level = level_of(figures, top, code)
    totals = figures.totals() if whole else figures.area_total(top)
    people, unlisted = surveyor_rows(figures, level)
    # per day and per outcome are counted for the whole round only (RoundCount): a part's
    # figures leave them out rather than show those of other offices' areas
    return Coverage(figures, top, level, whole, totals,
                    totals if level.id == top.id else figures.area_total(level),
                    figures.by_area(level), people, unlisted,
                    figures.by_day() if whole else None, figures.outcomes() if whole else None)


def listed(holder) -> list[tuple[SurveyRound, Area, Tally]]:
    """The rounds `holder` may view (policy.rounds_for), open ones first, each with where the
    holder's share starts and that share's totals: the whole round's, or a covering round's part
    (open ones counted in one query; closed ones from what they kept, placed by the tree as it
    was)."""
    rounds = list(policy.rounds_for(holder).select(SurveyRound, Area).join(Area).order_by(
        SurveyRound.status != "open", SurveyRound.starts_on.desc(), SurveyRound.id.desc()))
    parts = {r.id: policy.round_part(holder, r) for r in rounds}
    covering = [r for r in rounds if parts[r.id].id != r.area_id]
    # a closed round's counts are never touched again (rounds.py refreshes open rounds only):
    # they are its frozen figures, so one query serves the whole list
    totals = totals_of([r.id for r in rounds if parts[r.id].id == r.area_id])
    totals.update(totals_of([r.id for r in covering if r.status == "open"], within=holder.area))
    for r in covering:
        if r.status != "open":
            figures = Figures.of(r)
            own = figures.areas.get(holder.area.id)      # (covering: the holder has one)
            totals[r.id] = figures.area_total(own) if own is not None else Tally()
    return [(r, parts[r.id], totals[r.id]) for r in rounds]
