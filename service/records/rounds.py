"""Survey rounds: a named period of visits of one ledger form over an area and everything below it.

The target is the households active in the round's areas when it is created; a household registered
(by a visit or an import) in those areas before the round ends joins it. Where each member stands
(`RoundHousehold`) is never counted up or down: `refresh` derives it again from the household's
visits and outcomes recorded within the round's dates whenever one is stored, voided or restored,
or the household is merged or changes status, all in the transaction that acknowledges the change.
So coverage always equals a recount from the visits (`standing`), and `RoundCount`, kept with every
change of a member's standing, lets the coverage page read a few rows however large the round.

- done: a visit with the form (any valid submission: a surveyor's, or the household's own report),
  or the outcome "checked, no change" or "moved out";
- attempted: not at home, refused or vacant, before it was done; FLAG_ATTEMPTS or more: flagged;
- left: no longer active (closed, moved out or merged by the office) and not done: out of the target.

A closed round is never refreshed: its members stand as they did, and its figures are frozen in
`SurveyRound.frozen` (reports/coverage.py), so later corrections never rewrite what was reported.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from peewee import Case, Cast, Value, fn

from service.office import clock, policy
from service.storage.db import db, insert_rows
from service.storage.models import (
    Area, Household, RoundCount, RoundHousehold, Submission, SurveyRound, User, VisitOutcome,
    utcnow,
)

DONE_OUTCOMES = ("no_change", "moved_out")
FAILED_OUTCOMES = ("not_home", "refused", "vacant")
FLAG_ATTEMPTS = 2
STATES = ("not_yet", "attempted", "done", "left")
COUNT_FIELDS = ("round", "dim", "key", "state", "n")


class RoundError(ValueError):
    """A round that cannot be made or changed as asked; `reason` is a code, the message is shown."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Standing:
    """Where one household stands in a round, as its visits and outcomes say."""

    state: str = "not_yet"
    attempts: int = 0
    last_outcome: str | None = None
    done_kind: str | None = None
    done_day: str | None = None
    done_by: int | None = None


FIELDS = tuple(Standing.__dataclass_fields__)


def window(r: SurveyRound) -> tuple[dt.datetime, dt.datetime]:
    """The round's dates as UTC moments: from the start of its first day to the end of its last,
    in the office's time zone."""
    starts = r.starts_on if isinstance(r.starts_on, dt.date) else dt.date.fromisoformat(r.starts_on)
    ends = r.ends_on if isinstance(r.ends_on, dt.date) else dt.date.fromisoformat(r.ends_on)
    return clock.day_start_utc(starts), clock.day_start_utc(ends + dt.timedelta(days=1))


# --- where a household stands -------------------------------------------------------------------

def standing(r: SurveyRound, household_id: int, status: str | None = None) -> Standing:
    """Where the household stands, from its (and its merged ones') valid visits and outcomes
    within the round's dates, oldest first."""
    start, end = window(r)
    # the household and those merged into it, and into them (their visits count for it); one
    # plain statement, as every visit to a household of an open round asks
    param = db.obj.param
    family = ('WITH RECURSIVE family(id) AS (SELECT ' + param + ' UNION SELECT h."id" FROM '
              '"household" h JOIN family f ON h."merged_into_id" = f.id) ')
    events = db.execute_sql(
        family + 'SELECT "received_at", "day", "surveyor_id", \'form\' FROM "submission" '
        'WHERE "household_id" IN (SELECT id FROM family) AND "status" = \'valid\' '
        'AND "erased_at" IS NULL '
        f'AND "received_at" >= {param} AND "received_at" < {param} UNION ALL '
        'SELECT "received_at", "day", "surveyor_id", "outcome" FROM "visit_outcome" '
        f'WHERE "household_id" IN (SELECT id FROM family) AND "received_at" >= {param} '
        f'AND "received_at" < {param}', (household_id, start, end, start, end)).fetchall()
    attempts, last = 0, None
    for _at, day, by, kind in sorted(events, key=lambda e: (str(e[0]), e[3] != "form")):
        if kind == "form" or kind in DONE_OUTCOMES:
            return Standing("done", attempts, last, kind, day, by)
        if kind in FAILED_OUTCOMES:
            attempts, last = attempts + 1, kind
    if status is None:
        status = Household.select(Household.status).where(Household.id == household_id).scalar()
    if status != "active":
        return Standing("left", attempts, last)
    return Standing("attempted" if attempts else "not_yet", attempts, last)


def contributions(member: dict) -> list[tuple[str, str, str]]:
    """The (dim, key, state) counts one member adds to (a dict of RoundHousehold's columns): its
    area and its assignee (and "flagged" beside the state when attempted FLAG_ATTEMPTS times
    or more), and, once done, who did it and the day; how it was done, or its latest attempt."""
    state = member["state"]
    made = [("area", str(member["area"] or 0), state),
            ("assignee", str(member["assigned_to"] or 0), state)]
    if state == "attempted" and member["attempts"] >= FLAG_ATTEMPTS:
        made += [("area", made[0][1], "flagged"), ("assignee", made[1][1], "flagged")]
    if state == "done":
        made += [("doer", str(member["done_by"] or 0), state), ("day", member["done_day"], state)]
    outcome = member["done_kind"] if state == "done" else member["last_outcome"]
    if outcome:
        made.append(("outcome", outcome, state))
    return made


def _add_counts(r_id: int, members: list[dict], n: int) -> None:
    """Add `n` to the counts each member contributes to (an upsert per count)."""
    rows = Counter(c for m in members for c in contributions(m))
    insert_rows(RoundCount, [(r_id, dim, key, state, n * k) for (dim, key, state), k in
                             sorted(rows.items())],
                add_on_conflict=(("round_id", "dim", "key", "state"), "n"), names=COUNT_FIELDS)


def _move_counts(r_id: int, before: dict, after: dict) -> None:
    """A member's standing changed: its counts move, in one statement (only those that differ:
    an upsert may not touch one count twice)."""
    delta = Counter(contributions(after))
    delta.subtract(contributions(before))
    insert_rows(RoundCount, [(r_id, dim, key, state, k) for (dim, key, state), k in
                             sorted(delta.items()) if k],
                add_on_conflict=(("round_id", "dim", "key", "state"), "n"), names=COUNT_FIELDS)


def expected_counts(r: SurveyRound) -> Counter:
    """The counts as its members say they should be (a check: tests, the benchmark)."""
    made: Counter = Counter()
    for member in RoundHousehold.select(*_MEMBER).where(RoundHousehold.round == r.id).dicts():
        made.update(contributions(member))
    return made


def kept_counts(r: SurveyRound) -> Counter:
    """The counts as kept (RoundCount), without those at zero."""
    return Counter({(dim, key, state): n for dim, key, state, n in RoundCount.select(
        RoundCount.dim, RoundCount.key, RoundCount.state, RoundCount.n).where(
        (RoundCount.round == r.id) & (RoundCount.n != 0)).tuples()})


_MEMBER = (RoundHousehold.id, RoundHousehold.round, RoundHousehold.area,
           RoundHousehold.assigned_to, RoundHousehold.state, RoundHousehold.attempts,
           RoundHousehold.last_outcome, RoundHousehold.done_kind, RoundHousehold.done_day,
           RoundHousehold.done_by)


def _members(where) -> list[dict]:
    """Members of open rounds, as dicts of their columns, with their round's dates."""
    return list(RoundHousehold.select(*_MEMBER, SurveyRound.starts_on, SurveyRound.ends_on).join(
        SurveyRound, on=(RoundHousehold.round == SurveyRound.id))
        .where(where & (SurveyRound.status == "open")).dicts())


def refresh(household_id: int) -> None:
    """Derive again where the household stands in each open round it belongs to, and move its
    count. Call inside the write transaction that changed its visits, outcomes or status."""
    if not _any_open("household_id", household_id):
        return
    for member in _members(RoundHousehold.household == household_id):
        r = SurveyRound(id=member["round"], starts_on=member["starts_on"],
                        ends_on=member["ends_on"])
        now = standing(r, household_id)
        if all(member[f] == getattr(now, f) for f in FIELDS):
            continue
        RoundHousehold.update(**{f: getattr(now, f) for f in FIELDS}).where(
            RoundHousehold.id == member["id"]).execute()
        _move_counts(r.id, member, {**member, **now.__dict__})


def _any_open(column: str, value) -> bool:
    """Whether an open round holds this household (column household_id) or is of this form
    (form_id): one plain query, since every ledger visit asks and rounds are rarely open."""
    param = db.obj.param
    if column == "household_id":
        sql = ('SELECT 1 FROM "round_household" m JOIN "survey_round" r ON r."id" = m."round_id" '
               f'WHERE m."household_id" = {param} AND r."status" = \'open\' LIMIT 1')
    else:
        sql = (f'SELECT 1 FROM "survey_round" WHERE "form_id" = {param} '
               "AND \"status\" = 'open' LIMIT 1")
    return db.execute_sql(sql, (value,)).fetchone() is not None


def join(households: list[tuple[int, int | None]], form_id: str,
         first_visit: Submission | None = None) -> int:
    """New households (id, area id) join every open round of their form whose areas hold them
    and that has not ended (an import; a registration, whose `first_visit` makes it done in a
    round whose dates hold it: the standing `standing` would derive); returns how many."""
    if not households or not _any_open("form_id", form_id):
        return 0
    rounds = [r for r in SurveyRound.select(SurveyRound, Area).join(Area).where(
        (SurveyRound.form_id == form_id) & (SurveyRound.status == "open") &
        (SurveyRound.ends_on >= clock.today()))]
    if not rounds:
        return 0
    paths = dict(Area.select(Area.id, Area.path).where(
        Area.id.in_(sorted({a for _h, a in households if a}))).tuples())
    made = 0
    for r in rounds:
        inside = [(h, a) for h, a in households
                  if a in paths and paths[a].startswith(r.area.path)]
        if not inside:
            continue
        now, (start, end) = Standing(), window(r)
        if first_visit is not None and start <= first_visit.received_at < end:
            now = Standing("done", 0, None, "form", first_visit.day, first_visit.surveyor_id)
        members = [{"household": h, "area": a, "assigned_to": None, **now.__dict__}
                   for h, a in inside]
        insert_rows(RoundHousehold, [(r.id, m["household"], m["area"], "registered",
                                      *(m[f] for f in FIELDS)) for m in members],
                    names=("round", "household", "area", "joined") + FIELDS)
        _add_counts(r.id, members, +1)
        made += len(inside)
    return made


def merged(duplicate_id: int, into_id: int) -> None:
    """`duplicate_id` was merged into `into_id`: in each open round the duplicate leaves (its
    visits now count for the household it went into, which takes its place if it was not a
    member), then both are derived again."""
    for member in _members(RoundHousehold.household == duplicate_id):
        taken = RoundHousehold.select().where(
            (RoundHousehold.round == member["round"]) &
            (RoundHousehold.household == into_id)).exists()
        if taken:
            RoundHousehold.delete().where(RoundHousehold.id == member["id"]).execute()
            _add_counts(member["round"], [member], -1)
        else:
            RoundHousehold.update(household=into_id).where(
                RoundHousehold.id == member["id"]).execute()
    refresh(into_id)


# --- rounds -----------------------------------------------------------------------------------

def create(name: str, spec, area: Area, starts_on: dt.date, ends_on: dt.date, user=None,
           report_questions=None) -> SurveyRound:
    """A new round, its target (the form's active households in `area` and below) and the
    standing of those already visited since its start. Call inside a write transaction."""
    name = (name or "").strip()
    if not name:
        raise RoundError("name")
    if not getattr(spec, "ledger", False):
        raise RoundError("form")
    if ends_on < starts_on:
        raise RoundError("dates")
    r = SurveyRound.create(name=name[:200], form_id=spec.id, area=area, starts_on=starts_on,
                           ends_on=ends_on, created_by=user if isinstance(user, User) else None,
                           report_questions=report_questions)
    target = Household.select(Value(r.id), Household.id, Household.area, Value("target"),
                              Value("not_yet"), Value(0)).where(
        (Household.form_id == spec.id) & (Household.status == "active") &
        Household.area.in_(policy.area_ids_under(area)))
    RoundHousehold.insert_from(target, [
        RoundHousehold.round, RoundHousehold.household, RoundHousehold.area,
        RoundHousehold.joined, RoundHousehold.state, RoundHousehold.attempts]).execute()
    start, end = window(r)
    members = RoundHousehold.select(RoundHousehold.household).where(RoundHousehold.round == r.id)
    visited = {h for (h,) in Submission.select(Submission.household).where(
        Submission.household.in_(members) & (Submission.received_at >= start) &
        (Submission.received_at < end)).distinct().tuples()}
    visited |= {h for (h,) in VisitOutcome.select(VisitOutcome.household).where(
        VisitOutcome.household.in_(members) & (VisitOutcome.received_at >= start) &
        (VisitOutcome.received_at < end)).distinct().tuples()}
    for household_id in sorted(visited):
        now = standing(r, household_id)
        RoundHousehold.update(**now.__dict__).where(
            (RoundHousehold.round == r.id) & (RoundHousehold.household == household_id)).execute()
    recount(r)
    return r


def recount(r: SurveyRound, dims: tuple[str, ...] | None = None) -> None:
    """Make the round's counts again from its members (a new round; a reassignment: only the
    assignees' counts, `dims=("assignee",)`): each kind of count grouped in SQL, so a district's
    million members never come into Python."""
    gone = RoundCount.delete().where(RoundCount.round == r.id)
    (gone if dims is None else gone.where(RoundCount.dim.in_(dims))).execute()
    m = RoundHousehold
    flagged = (m.state == "attempted") & (m.attempts >= FLAG_ATTEMPTS)
    done = m.state == "done"
    outcome = Case(None, [(done, m.done_kind)], m.last_outcome)
    for dim, key, state, where in (
            ("area", m.area, m.state, None), ("area", m.area, "flagged", flagged),
            ("assignee", m.assigned_to, m.state, None),
            ("assignee", m.assigned_to, "flagged", flagged),
            ("doer", m.done_by, m.state, done), ("day", m.done_day, m.state, done),
            ("outcome", outcome, m.state, outcome.is_null(False))):
        if dims is not None and dim not in dims:
            continue
        text = key if dim in ("day", "outcome") else Cast(fn.COALESCE(key, 0), "TEXT")
        grouped = (text,) if isinstance(state, str) else (text, state)
        query = m.select(Value(r.id), Value(dim), text,
                         Value(state) if isinstance(state, str) else state, fn.COUNT(m.id))
        query = query.where(m.round == r.id if where is None else (m.round == r.id) & where)
        RoundCount.insert_from(query.group_by(*grouped),
                               [getattr(RoundCount, f) for f in COUNT_FIELDS]).execute()


def assign(r: SurveyRound, surveyor: User | None, *, area: Area | None = None,
           household_ids: list[int] | None = None) -> int:
    """Assign the round's households in `area` (and below), or those listed, to `surveyor`
    (None: unassign); returns how many. The surveyor must be able to visit them. Call inside a
    write transaction."""
    if r.status != "open":
        raise RoundError("closed")
    where = RoundHousehold.round == r.id
    if area is not None:
        where &= RoundHousehold.area.in_(policy.area_ids_under(area))
    if household_ids is not None:
        where &= RoundHousehold.household.in_(household_ids)
    if surveyor is not None:
        if surveyor.role != "surveyor" or not surveyor.active or surveyor.area_id is None:
            raise RoundError("surveyor")
        reach = policy.area_ids_under(surveyor.area)
        if RoundHousehold.select().where(where & (RoundHousehold.area.is_null() |
                                                  RoundHousehold.area.not_in(reach))).exists():
            raise RoundError("scope")      # a household the surveyor could not visit
    changed = RoundHousehold.update(assigned_to=surveyor.id if surveyor else None).where(
        where).execute()
    recount(r, ("assignee",))       # nothing else a member is counted by has changed
    return changed


def close(r: SurveyRound, user, frozen: str) -> None:
    """Close the round with its figures as they are (`frozen`, JSON made by
    reports/coverage.py): from now on it is shown from them and never refreshed."""
    if r.status != "open":
        raise RoundError("closed")
    SurveyRound.update(status="closed", closed_at=utcnow(), frozen=frozen,
                       closed_by=user if isinstance(user, User) else None).where(
        SurveyRound.id == r.id).execute()
    r.status, r.frozen = "closed", frozen


def open_rounds_of(form_id: str, area: Area | None = None):
    """The form's open rounds, newest first (with `area`: those whose areas hold it)."""
    query = (SurveyRound.select(SurveyRound, Area).join(Area)
             .where((SurveyRound.form_id == form_id) & (SurveyRound.status == "open"))
             .order_by(SurveyRound.starts_on.desc(), SurveyRound.id.desc()))
    if area is None:
        return list(query)
    return [r for r in query if area.path.startswith(r.area.path)]
